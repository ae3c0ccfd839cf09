package transport

import (
	"context"
	"fmt"
	"slices"

	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/protocol"
)

// handle runs one client command and queues its reply.
func (c *wsConn) handle(frame []byte) {
	cmd, perr := protocol.DecodeCommand(frame)
	if perr == nil {
		perr = c.throttle(cmd.Op)
	}
	if perr == nil && cmd.Op != protocol.OpAuth && cmd.Op != protocol.OpPing && c.acc.waiting() {
		perr = &protocol.Error{Code: protocol.CodeUnauthorized, Reason: auth.ReasonMissing, Message: "authenticate first: send {\"op\":\"auth\",\"token\":\"...\"}"}
	}
	if perr == nil {
		switch cmd.Op {
		case protocol.OpAuth:
			c.auth(&cmd)
			return
		case protocol.OpSubscribe:
			if perr = c.subscribe(&cmd); perr == nil {
				return // replied when it joined
			}
		case protocol.OpUnsubscribe:
			perr = c.unsubscribe(cmd.Channel)
		case protocol.OpPublish:
			perr = c.publish(cmd.Channel, cmd.Data)
		case protocol.OpHistory:
			if perr = c.history(&cmd); perr == nil {
				return
			}
		case protocol.OpPing:
		}
	}
	c.reply(cmd.ID, perr)
}

// auth authenticates the connection, or refreshes its token. A first
// auth that fails closes the connection (3501) after its reply; a failed
// refresh leaves it as it was, until its token expires.
func (c *wsConn) auth(cmd *protocol.Command) {
	if c.acc == nil {
		c.reply(cmd.ID, protocol.NewError(protocol.CodeBadRequest, "this server does not use tokens"))
		return
	}
	first := c.acc.waiting()
	id, err := c.s.verify(cmd.Token)
	if err != nil {
		if first {
			reply := wsFrame(protocol.AppendReply(nil, cmd.ID, err))
			c.disconnectAfter(reply, protocol.Disconnect{Code: protocol.CloseUnauthorized, Reason: "unauthorized: " + err.Reason, Reconnect: false})
			return
		}
		c.reply(cmd.ID, err)
		return
	}
	was := c.acc.identity()
	if !first && !was.Anonymous() && was.User != id.User {
		c.s.Metrics.Forbidden(protocol.OpAuth)
		c.reply(cmd.ID, protocol.NewError(protocol.CodeForbidden, "a refreshed token must be for the connection's user (the same sub)"))
		return
	}
	c.acc.set(id)
	c.reply(cmd.ID, nil)
	if first || was.Anonymous() {
		c.joinClaimed(id)
	}
}

// joinClaimed subscribes the connection to the channels its token's
// channels claim names. They need no reply: their messages say their
// channel.
func (c *wsConn) joinClaimed(id *auth.Identity) {
	for _, ch := range id.Channels {
		if err := c.join(ch, nil, nil, nil); err != nil && err.Code != protocol.CodeAlreadySubscribed {
			c.s.log.Debug("cannot subscribe to a channel the token names", "channel", ch, "err", err.Message)
		}
	}
}

// grantEnded ends the subscription that rested on a subscription token
// that has expired, and tells the client.
func (c *wsConn) grantEnded(ch string) {
	c.mu.Lock()
	i := slices.Index(c.subs, ch)
	if i >= 0 {
		c.subs = slices.Delete(c.subs, i, i+1)
	}
	c.mu.Unlock()
	if i < 0 {
		return
	}
	c.s.Hub.Unsubscribe(ch, c)
	c.send(wsFrame(protocol.AppendUnsubscribed(nil, true, ch, protocol.ReasonTokenExpired)))
}

// subscribe joins a channel, replaying what the client missed when it
// asks to resume. The reply goes out on joining, before the replay.
func (c *wsConn) subscribe(cmd *protocol.Command) *protocol.Error {
	resumed := cmd.Resume != nil
	return c.join(cmd.Channel, cmd.Resume, &cmd.Token, func(r protocol.Recovery) {
		c.send(wsFrame(protocol.AppendSubscribeReply(nil, cmd.ID, r, resumed)))
	})
}

// join subscribes the connection to ch, if the rules allow it, with the
// subscription token *token when one is given. joined, if not nil, is
// called on joining with the outcome of the resume asked for.
func (c *wsConn) join(ch string, asked *protocol.Resume, token *string, joined func(protocol.Recovery)) *protocol.Error {
	if err := protocol.ValidateClientChannel(ch, c.s.cfg.MaxChannelLength); err != nil {
		return err
	}
	var g *auth.Grant
	if token != nil && *token != "" && c.acc != nil {
		var err *protocol.Error
		if g, err = c.s.grantFor(c.acc, ch, *token); err != nil {
			return err
		}
	}
	if err := c.s.authorizeSubscribe(c.acc, ch, g); err != nil {
		return err
	}
	c.mu.Lock()
	switch {
	case c.released:
		c.mu.Unlock()
		return protocol.NewError(protocol.CodeUnavailable, "connection is closing")
	case slices.Contains(c.subs, ch):
		c.mu.Unlock()
		return protocol.NewError(protocol.CodeAlreadySubscribed, "already subscribed to "+ch)
	case len(c.subs) >= c.s.cfg.MaxSubscriptions:
		c.mu.Unlock()
		return protocol.NewError(protocol.CodeTooManySubscriptions, fmt.Sprintf("at most %d subscriptions per connection", c.s.cfg.MaxSubscriptions))
	}
	c.subs = append(c.subs, ch)
	c.mu.Unlock()

	resume, denied := c.s.pastAllowed(c.acc, ch, asked)
	var onJoin func(protocol.Recovery)
	if joined != nil {
		onJoin = func(r protocol.Recovery) { joined(denied(r)) }
	}
	if _, err := c.s.Hub.Join(context.Background(), ch, c, resume, c.s.room(&c.out, ch), onJoin); err != nil {
		c.mu.Lock()
		c.subs = slices.DeleteFunc(c.subs, func(s string) bool { return s == ch })
		c.mu.Unlock()
		c.acc.drop(ch)
		return protocol.NewError(protocol.CodeUnavailable, "cannot subscribe now: "+err.Error())
	}
	c.mu.Lock()
	gone := c.released
	c.mu.Unlock()
	if gone { // released while subscribing: undo what release could not see
		c.s.Hub.Unsubscribe(ch, c)
	}
	return nil
}

func (c *wsConn) unsubscribe(ch string) *protocol.Error {
	if err := protocol.ValidateClientChannel(ch, c.s.cfg.MaxChannelLength); err != nil {
		return err
	}
	c.mu.Lock()
	i := slices.Index(c.subs, ch)
	if i < 0 {
		c.mu.Unlock()
		return protocol.NewError(protocol.CodeNotSubscribed, "not subscribed to "+ch)
	}
	c.subs = slices.Delete(c.subs, i, i+1)
	c.mu.Unlock()
	c.acc.drop(ch)
	c.s.Hub.Unsubscribe(ch, c)
	return nil
}

func (c *wsConn) publish(ch string, data []byte) *protocol.Error {
	if err := protocol.ValidateClientChannel(ch, c.s.cfg.MaxChannelLength); err != nil {
		return err
	}
	if err := c.s.authorizePublish(c.acc, ch); err != nil {
		return err
	}
	if len(data) > c.s.cfg.MaxMessageBytes {
		return protocol.NewError(protocol.CodeMessageTooLarge, fmt.Sprintf("data is over %d bytes", c.s.cfg.MaxMessageBytes))
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.WriteTimeout)
	defer cancel()
	if _, _, err := c.s.Publisher.Publish(ctx, ch, data, ""); err != nil {
		return protocol.NewError(protocol.CodeUnavailable, "cannot publish now: "+err.Error())
	}
	c.s.Metrics.Published.Inc()
	return nil
}

// history answers a history command with the channel's recent messages,
// if the client may read the channel's past (--client-history).
func (c *wsConn) history(cmd *protocol.Command) *protocol.Error {
	ch := cmd.Channel
	if err := protocol.ValidateClientChannel(ch, c.s.cfg.MaxChannelLength); err != nil {
		return err
	}
	if err := c.s.mayReadPast(c.acc, ch); err != nil {
		return err
	}
	if c.s.History == nil || !c.s.History.Keeps(ch) {
		return protocol.NewError(protocol.CodeNoHistory, ch+" keeps no history (see --history)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.WriteTimeout)
	defer cancel()
	top, msgs, err := c.s.History.Recent(ctx, ch, cmd.After, c.s.historyLimit(cmd.Limit))
	if err != nil {
		return protocol.NewError(protocol.CodeUnavailable, "cannot read history now: "+err.Error())
	}
	// The reply must fit in the client's queue, with room to spare: keep
	// the oldest messages that do (the newest without since), and let the
	// client page on with since.
	_, room := c.out.room()
	msgs = hub.Fit(msgs, cmd.After == nil, room/2-256, func(m *hub.Message) int { return len(m.Bytes(pollFormat)) + 1 })
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		bodies[i] = m.Bytes(pollFormat)
	}
	c.send(wsFrame(protocol.AppendHistoryReply(nil, cmd.ID, top, bodies)))
	return nil
}
