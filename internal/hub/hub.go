package hub

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("hub: closed")

// Subscriber receives the messages of the channels it subscribed to.
type Subscriber interface {
	// Deliver hands m over without blocking. It is called with a shard's
	// read lock held, so it must not call back into the hub.
	Deliver(m *Message)
}

// Interest connects the hub to the bus: the node holds a bus subscription
// for a channel exactly while the channel has local subscribers.
type Interest interface {
	// Watch starts bus delivery of channel. It is called with a shard lock
	// held and must not block. The handle is given back to Unwatch.
	Watch(channel string) (handle any, err error)
	// Unwatch stops bus delivery for a handle from Watch; it must not block.
	Unwatch(handle any)
	// Sync waits until every Watch made so far is in effect at the bus.
	Sync(ctx context.Context) error
}

const numShards = 64

// syncTimeout bounds how long a first subscriber waits for the bus to
// confirm a new subscription; during a bus outage it proceeds without.
const syncTimeout = 2 * time.Second

// Hub is the node's registry of channel -> local subscribers, sharded by
// channel so that traffic on one channel does not contend with another.
type Hub struct {
	seed     maphash.Seed
	interest Interest
	shards   [numShards]shard

	channels atomic.Int64
	subs     atomic.Int64
	closed   atomic.Bool
}

type shard struct {
	mu       sync.RWMutex
	channels map[string]*channel
}

type channel struct {
	subs   []Subscriber
	pos    map[Subscriber]int
	handle any
	ready  chan struct{} // closed once the bus subscription is in effect
}

// New returns a hub that tells interest about channels gained and lost.
func New(interest Interest) *Hub {
	h := &Hub{seed: maphash.MakeSeed(), interest: interest}
	for i := range h.shards {
		h.shards[i].channels = make(map[string]*channel)
	}
	return h
}

func (h *Hub) shard(ch string) *shard {
	return &h.shards[maphash.String(h.seed, ch)%numShards]
}

// Subscribe adds s to channel ch and returns once the bus delivers ch to
// this node (or after a bounded wait while the bus is unreachable).
// Subscribing s twice to one channel is a no-op; callers track their own
// subscriptions.
func (h *Hub) Subscribe(ctx context.Context, ch string, s Subscriber) error {
	if h.closed.Load() {
		return ErrClosed
	}
	sh := h.shard(ch)
	sh.mu.Lock()
	c := sh.channels[ch]
	first := c == nil
	if first {
		handle, err := h.interest.Watch(ch)
		if err != nil {
			sh.mu.Unlock()
			return err
		}
		c = &channel{pos: make(map[Subscriber]int, 1), handle: handle, ready: make(chan struct{})}
		sh.channels[ch] = c
		h.channels.Add(1)
	}
	if _, dup := c.pos[s]; !dup {
		c.pos[s] = len(c.subs)
		c.subs = append(c.subs, s)
		h.subs.Add(1)
	}
	ready := c.ready
	sh.mu.Unlock()

	if first {
		sctx, cancel := context.WithTimeout(ctx, syncTimeout)
		_ = h.interest.Sync(sctx) // during an outage the bus restores it on reconnect
		cancel()
		close(ready)
		return nil
	}
	select {
	case <-ready:
	case <-ctx.Done():
	}
	return nil
}

// Unsubscribe removes s from ch. It reports whether s was subscribed.
func (h *Hub) Unsubscribe(ch string, s Subscriber) bool {
	sh := h.shard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c := sh.channels[ch]
	if c == nil {
		return false
	}
	i, ok := c.pos[s]
	if !ok {
		return false
	}
	last := len(c.subs) - 1
	if i != last {
		moved := c.subs[last]
		c.subs[i] = moved
		c.pos[moved] = i
	}
	c.subs[last] = nil
	c.subs = c.subs[:last]
	delete(c.pos, s)
	h.subs.Add(-1)
	if len(c.subs) == 0 {
		delete(sh.channels, ch)
		h.channels.Add(-1)
		h.interest.Unwatch(c.handle)
	}
	return true
}

// Publish delivers data, a valid JSON value, to every local subscriber of
// ch. The message is built once and shared by all of them. It returns the
// number of subscribers it reached.
func (h *Hub) Publish(ch string, data []byte) int {
	sh := h.shard(ch)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	c := sh.channels[ch]
	if c == nil {
		return 0
	}
	m := &Message{Channel: ch, Data: data}
	for _, s := range c.subs {
		s.Deliver(m)
	}
	return len(c.subs)
}

// Channels returns how many channels have local subscribers.
func (h *Hub) Channels() int { return int(h.channels.Load()) }

// Subscriptions returns how many (channel, subscriber) pairs there are.
func (h *Hub) Subscriptions() int { return int(h.subs.Load()) }

// Close makes further Subscribe calls fail. Existing subscribers stay until
// they unsubscribe.
func (h *Hub) Close() { h.closed.Store(true) }
