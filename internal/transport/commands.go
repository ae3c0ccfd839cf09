package transport

import (
	"context"
	"fmt"
	"slices"

	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/protocol"
)

// handle runs one client command and queues its reply.
func (c *wsConn) handle(frame []byte) {
	cmd, perr := protocol.DecodeCommand(frame)
	if perr == nil {
		perr = c.throttle(cmd.Op)
	}
	if perr == nil {
		switch cmd.Op {
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

// subscribe joins a channel, replaying what the client missed when it
// asks to resume. The reply goes out on joining, before the replay.
func (c *wsConn) subscribe(cmd *protocol.Command) *protocol.Error {
	ch := cmd.Channel
	if err := protocol.ValidateClientChannel(ch, c.s.cfg.MaxChannelLength); err != nil {
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

	resumed := cmd.Resume != nil
	resume, denied := c.s.pastAllowed(ch, cmd.Resume)
	joined := func(r protocol.Recovery) {
		c.send(wsFrame(protocol.AppendSubscribeReply(nil, cmd.ID, denied(r), resumed)))
	}
	if _, err := c.s.Hub.Join(context.Background(), ch, c, resume, c.s.room(&c.out, ch), joined); err != nil {
		c.mu.Lock()
		c.subs = slices.DeleteFunc(c.subs, func(s string) bool { return s == ch })
		c.mu.Unlock()
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
	c.s.Hub.Unsubscribe(ch, c)
	return nil
}

func (c *wsConn) publish(ch string, data []byte) *protocol.Error {
	if err := protocol.ValidateClientChannel(ch, c.s.cfg.MaxChannelLength); err != nil {
		return err
	}
	if !channelAllowed(c.s.cfg.ClientPublish, ch) {
		return protocol.NewError(protocol.CodeForbidden, "clients may not publish to "+ch+" (see --client-publish)")
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
	if !c.s.mayReadPast(ch) {
		return protocol.NewError(protocol.CodeForbidden, "clients may not read the history of "+ch+" (see --client-history)")
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
