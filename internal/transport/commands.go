package transport

import (
	"context"
	"fmt"
	"slices"

	"github.com/heraldrt/herald/internal/protocol"
)

// handle runs one client command and queues its reply.
func (c *wsConn) handle(frame []byte) {
	cmd, perr := protocol.DecodeCommand(frame)
	if perr == nil {
		switch cmd.Op {
		case protocol.OpSubscribe:
			perr = c.subscribe(cmd.Channel)
		case protocol.OpUnsubscribe:
			perr = c.unsubscribe(cmd.Channel)
		case protocol.OpPublish:
			perr = c.publish(cmd.Channel, cmd.Data)
		case protocol.OpPing:
		}
	}
	c.reply(cmd.ID, perr)
}

func (c *wsConn) subscribe(ch string) *protocol.Error {
	if err := protocol.ValidateChannel(ch, c.s.cfg.MaxChannelLength); err != nil {
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

	if err := c.s.Hub.Subscribe(context.Background(), ch, c); err != nil {
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
	if err := protocol.ValidateChannel(ch, c.s.cfg.MaxChannelLength); err != nil {
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
	if err := protocol.ValidateChannel(ch, c.s.cfg.MaxChannelLength); err != nil {
		return err
	}
	if !channelAllowed(c.s.cfg.ClientPublish, ch) {
		return protocol.NewError(protocol.CodeForbidden, "clients may not publish to "+ch+" (see --client-publish)")
	}
	if len(data) > c.s.cfg.MaxMessageBytes {
		return protocol.NewError(protocol.CodeMessageTooLarge, fmt.Sprintf("data is over %d bytes", c.s.cfg.MaxMessageBytes))
	}
	if err := c.s.Publisher.Publish(ch, data); err != nil {
		return protocol.NewError(protocol.CodeUnavailable, "cannot publish now: NATS is not connected")
	}
	c.s.Metrics.Published.Inc()
	return nil
}
