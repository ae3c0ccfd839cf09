package hub

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldrt/herald/internal/protocol"
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
	history  History // nil: no channel keeps history
	shards   [numShards]shard

	channels atomic.Int64
	subs     atomic.Int64
	closed   atomic.Bool
	gaps     atomic.Uint64 // live gaps found on history channels
	lost     atomic.Uint64 // gaps that could not be filled from history

	onResume func(rec protocol.Recovery, replayed int)
}

// OnResume sets f to be told of every join that asked to resume: its
// outcome and how many messages it replayed. Call it before any join.
func (h *Hub) OnResume(f func(rec protocol.Recovery, replayed int)) { h.onResume = f }

type shard struct {
	mu       sync.RWMutex
	channels map[string]*channel
}

type channel struct {
	subs    []Subscriber
	pos     map[Subscriber]int
	handle  any
	ready   chan struct{} // closed once the bus subscription is in effect
	joining int           // subscribers on their way in: keep the channel

	line   *line      // nil when the channel keeps no history
	lineMu sync.Mutex // guards line; taken after the shard lock
}

// New returns a hub that tells interest about channels gained and lost.
// history may be nil when no channel keeps history.
func New(interest Interest, history History) *Hub {
	h := &Hub{seed: maphash.MakeSeed(), interest: interest, history: history}
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
	_, err := h.Join(ctx, ch, s, nil, Room{}, nil)
	return err
}

// Join subscribes s to ch like Subscribe and, when ch keeps history and
// resume is set, first brings s up to date: the messages s missed are
// delivered to it in order before any live message, with no duplicate.
// joined, if not nil, is called just before those messages are delivered,
// with the outcome; s's queue must take them (room), or s is told
// recovered:false. The outcome is returned as well.
func (h *Hub) Join(ctx context.Context, ch string, s Subscriber, resume *protocol.Resume, room Room, joined func(protocol.Recovery)) (protocol.Recovery, error) {
	if h.closed.Load() {
		return protocol.Recovery{}, ErrClosed
	}
	c, err := h.attach(ctx, ch)
	if err != nil {
		return protocol.Recovery{}, err
	}
	defer h.detach(ch, c)
	var rec protocol.Recovery
	replayed := 0
	if c.line == nil {
		rec = protocol.Recovery{Reason: protocol.ReasonNoHistory}
		h.add(ch, c, s, func() {
			if joined != nil {
				joined(rec)
			}
		})
	} else {
		rec, replayed = h.joinLine(ctx, ch, c, s, resume, room, joined)
	}
	if resume != nil && h.onResume != nil {
		h.onResume(rec, replayed)
	}
	return rec, nil
}

// attach returns ch's channel, creating it (and the bus subscription) for
// the first subscriber, once the bus delivers it and, for a history
// channel, its position is known. The channel stays until detach.
func (h *Hub) attach(ctx context.Context, ch string) (*channel, error) {
	sh := h.shard(ch)
	sh.mu.Lock()
	c := sh.channels[ch]
	first := c == nil
	if first {
		handle, err := h.interest.Watch(ch)
		if err != nil {
			sh.mu.Unlock()
			return nil, err
		}
		c = &channel{pos: make(map[Subscriber]int, 1), handle: handle, ready: make(chan struct{})}
		if h.history != nil && h.history.Keeps(ch) {
			c.line = &line{}
		}
		sh.channels[ch] = c
		h.channels.Add(1)
	}
	c.joining++
	sh.mu.Unlock()

	if first {
		sctx, cancel := context.WithTimeout(ctx, syncTimeout)
		_ = h.interest.Sync(sctx) // during an outage the bus restores it on reconnect
		if c.line != nil {
			h.anchor(sctx, ch, c)
		}
		cancel()
		close(c.ready)
		return c, nil
	}
	select {
	case <-c.ready:
	case <-ctx.Done():
	}
	return c, nil
}

// detach ends a join: a channel left with no subscriber goes.
func (h *Hub) detach(ch string, c *channel) {
	sh := h.shard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c.joining--
	h.dropIfEmpty(sh, ch, c)
}

// dropIfEmpty forgets a channel nobody holds. The shard lock is held.
func (h *Hub) dropIfEmpty(sh *shard, ch string, c *channel) {
	if len(c.subs) == 0 && c.joining == 0 && sh.channels[ch] == c {
		delete(sh.channels, ch)
		h.channels.Add(-1)
		h.interest.Unwatch(c.handle)
	}
}

// add makes s a live subscriber of c; then, with the locks still held,
// runs then (which delivers what s must get before live messages).
func (h *Hub) add(ch string, c *channel, s Subscriber, then func()) {
	h.locked(ch, c, func() {
		h.addLocked(c, s)
		then()
	})
}

// locked runs f holding ch's shard lock and, for a history channel, its
// line lock.
func (h *Hub) locked(ch string, c *channel, f func()) {
	sh := h.shard(ch)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c.line != nil {
		c.lineMu.Lock()
		defer c.lineMu.Unlock()
	}
	f()
}

// addLocked adds s to c's subscribers; the locks are held.
func (h *Hub) addLocked(c *channel, s Subscriber) {
	if _, dup := c.pos[s]; !dup {
		c.pos[s] = len(c.subs)
		c.subs = append(c.subs, s)
		h.subs.Add(1)
	}
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
	if c.line != nil {
		c.lineMu.Lock()
		delete(c.line.floors, s)
		c.lineMu.Unlock()
	}
	h.dropIfEmpty(sh, ch, c)
	return true
}

// Publish delivers data, a valid JSON value, to every local subscriber of
// ch. The message is built once and shared by all of them. pos is the
// message's position when ch keeps history: such messages are delivered
// in order and once, and what the node missed is fetched from history
// first. It returns the number of subscribers reached.
func (h *Hub) Publish(ch string, data []byte, pos *protocol.Position) int {
	if pos != nil {
		return h.publishLine(&Message{Channel: ch, Data: data, Pos: pos}, true)
	}
	sh := h.shard(ch)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	c := sh.channels[ch]
	if c == nil {
		return 0
	}
	return c.deliverAll(&Message{Channel: ch, Data: data})
}

// deliverAll hands m to every subscriber of c; a shard lock is held.
func (c *channel) deliverAll(m *Message) int {
	for _, s := range c.subs {
		s.Deliver(m)
	}
	return len(c.subs)
}

// Channels returns how many channels have local subscribers.
func (h *Hub) Channels() int { return int(h.channels.Load()) }

// Subscriptions returns how many (channel, subscriber) pairs there are.
func (h *Hub) Subscriptions() int { return int(h.subs.Load()) }

// Gaps returns how many times a history channel's live stream skipped
// offsets, and how many of those could not be filled from history.
func (h *Hub) Gaps() (found, lost uint64) { return h.gaps.Load(), h.lost.Load() }

// Close makes further Subscribe calls fail. Existing subscribers stay until
// they unsubscribe.
func (h *Hub) Close() { h.closed.Store(true) }
