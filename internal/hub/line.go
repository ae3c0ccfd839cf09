package hub

import (
	"context"
	"errors"
	"time"

	"github.com/heraldrt/herald/internal/protocol"
)

// History is the store behind channels that keep history.
type History interface {
	// Keeps reports whether channel keeps history.
	Keeps(channel string) bool
	// Last returns the position of channel's newest message, or the zero
	// Position when it has none.
	Last(ctx context.Context, channel string) (protocol.Position, error)
	// Read returns channel's messages with offsets after+1 to upto, in
	// order, all of epoch (any epoch when epoch is "" and after is 0). It
	// fails with ErrExpired when after+1 is no longer kept and with
	// ErrEpochChanged when the channel's epoch is another.
	Read(ctx context.Context, channel, epoch string, after, upto uint64) ([]*Message, error)
}

// Errors a History reports.
var (
	ErrExpired      = errors.New("hub: the messages asked for are no longer in history")
	ErrEpochChanged = errors.New("hub: the channel's history epoch changed")
)

// Room is how much a resuming subscriber can take at once: replaying more
// would overflow its queue, so it is told recovered:false instead.
type Room struct {
	Messages   int
	Bytes      int
	PerMessage int // bytes a message takes in the queue beyond its data
}

// fetchTimeout bounds the fetch of messages a node missed.
const fetchTimeout = 5 * time.Second

// The ring of recent messages each history channel keeps, so that most
// resumes are served from memory.
const (
	ringMessages = 128
	ringBytes    = 256 << 10
)

// line is the ordered stream of a channel that keeps history: the node's
// position in it, recent messages, and the subscribers that joined ahead
// of it. Its lock is taken after the shard lock.
type line struct {
	anchored bool              // top is known; before, no subscriber has joined
	blind    bool              // the anchor failed: the next message sets top, unchecked
	top      protocol.Position // the last message delivered to the live subscribers
	ring     []*Message        // contiguous messages ending at top
	ringSize int               // bytes of data in ring
	floors   map[Subscriber]protocol.Position

	filling bool       // missed messages are being fetched
	pending []*Message // live messages held until they are
}

// advance makes m, which follows top, the new top.
func (l *line) advance(m *Message) {
	if len(l.ring) > 0 && (l.top.Epoch != m.Pos.Epoch || l.top.Offset+1 != m.Pos.Offset) {
		l.clearRing()
	}
	l.top = *m.Pos
	l.ring = append(l.ring, m)
	l.ringSize += len(m.Data)
	for len(l.ring) > 1 && (len(l.ring) > ringMessages || l.ringSize > ringBytes) {
		l.ringSize -= len(l.ring[0].Data)
		l.ring[0] = nil
		l.ring = l.ring[1:]
	}
	if cap(l.ring) > 4*ringMessages { // reslicing from the front: copy now and then
		l.ring = append(make([]*Message, 0, ringMessages+1), l.ring...)
	}
}

// remember keeps the messages of a replay that ends at top in the ring,
// when they reach further back than it, so that the next client resuming
// from there is served from memory.
func (l *line) remember(replay []*Message) {
	if len(replay) <= len(l.ring) || *replay[len(replay)-1].Pos != l.top {
		return
	}
	l.clearRing()
	l.ring = append(l.ring, replay[max(0, len(replay)-ringMessages):]...)
	for _, m := range l.ring {
		l.ringSize += len(m.Data)
	}
	for len(l.ring) > 1 && l.ringSize > ringBytes {
		l.ringSize -= len(l.ring[0].Data)
		l.ring[0] = nil
		l.ring = l.ring[1:]
	}
}

func (l *line) clearRing() {
	clear(l.ring)
	l.ring, l.ringSize = l.ring[:0], 0
}

// fromRing returns the messages after offset, if the ring holds them all.
func (l *line) fromRing(after uint64) ([]*Message, bool) {
	if after >= l.top.Offset {
		return nil, true
	}
	if len(l.ring) == 0 || l.ring[0].Pos.Offset > after+1 {
		return nil, false
	}
	return l.ring[after+1-l.ring[0].Pos.Offset:], true
}

// publishLine delivers a message of a history channel: in order, once.
// When messages before it are missing, it holds it (and those that follow)
// and fetches the missing ones from history in a goroutine of its own, so
// the bus worker calling it goes on with other channels; without mayFetch
// it tells the subscribers of the gap instead. It returns the number of
// subscribers reached now.
func (h *Hub) publishLine(m *Message, mayFetch bool) int {
	sh := h.shard(m.Channel)
	sh.mu.RLock()
	c := sh.channels[m.Channel]
	if c == nil {
		sh.mu.RUnlock()
		return 0
	}
	l := c.line
	if l == nil {
		// A position on a channel this node keeps no history for (rules
		// that differ between nodes, or headers set by a NATS publisher):
		// deliver it as it comes.
		defer sh.mu.RUnlock()
		return c.deliverAll(m)
	}
	c.lineMu.Lock()
	if l.filling { // held until the fetch under way ends
		if len(l.pending) < maxPending {
			l.pending = append(l.pending, m)
		} // else dropped: the next message shows the gap again
		c.lineMu.Unlock()
		sh.mu.RUnlock()
		return 0
	}
	n, gap := h.accept(c, m)
	if !gap {
		c.lineMu.Unlock()
		sh.mu.RUnlock()
		return n
	}
	if !mayFetch || h.history == nil {
		n = h.skip(c, m)
		c.lineMu.Unlock()
		sh.mu.RUnlock()
		return n
	}
	l.filling, l.pending = true, append(l.pending[:0], m)
	from := l.top
	c.lineMu.Unlock()
	sh.mu.RUnlock()
	h.gaps.Add(1)
	go h.fill(c, from, m)
	return 0
}

// maxPending bounds the live messages a channel holds while it fetches
// what it missed.
const maxPending = 16384

// accept delivers m if it is the channel's next message, drops it if it
// is one already delivered, and reports a gap otherwise. Both locks are
// held.
func (h *Hub) accept(c *channel, m *Message) (n int, gap bool) {
	l := c.line
	top := l.top
	switch {
	case !l.anchored || l.blind:
		l.blind = false
		l.advance(m)
		return c.deliverLine(m), false
	case top.Epoch != "" && m.Pos.Epoch != top.Epoch:
		// The channel's history was reset: its subscribers may have
		// missed the end of the old epoch.
		c.deliverLine(&Message{Channel: m.Channel, Notice: &protocol.Recovery{
			Reason: protocol.ReasonReset, History: true, Position: protocol.Position{Epoch: m.Pos.Epoch},
		}})
		l.top = protocol.Position{Epoch: m.Pos.Epoch}
		l.clearRing()
		clear(l.floors)
		return h.accept(c, m)
	case m.Pos.Offset <= top.Offset:
		return 0, false // a duplicate: already delivered, or replayed on join
	case m.Pos.Offset == top.Offset+1:
		l.advance(m)
		return c.deliverLine(m), false
	}
	return 0, true
}

// skip delivers m after telling the subscribers that the messages before
// it are lost to them. Both locks are held.
func (h *Hub) skip(c *channel, m *Message) int {
	h.lost.Add(1)
	c.deliverLine(&Message{Channel: m.Channel, Notice: &protocol.Recovery{
		Reason: protocol.ReasonGap, History: true,
		Position: protocol.Position{Epoch: m.Pos.Epoch, Offset: m.Pos.Offset - 1},
	}})
	c.line.clearRing()
	c.line.advance(m)
	return c.deliverLine(m)
}

// fill fetches the messages after from that come before first, delivers
// them, then the messages held meanwhile. A held message that shows
// another gap starts another round.
func (h *Hub) fill(c *channel, from protocol.Position, first *Message) {
	ch := first.Channel
	for {
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		missed, err := h.history.Read(ctx, ch, first.Pos.Epoch, from.Offset, first.Pos.Offset-1)
		cancel()

		sh := h.shard(ch)
		sh.mu.RLock()
		if sh.channels[ch] != c { // the channel went (and maybe came back anew)
			sh.mu.RUnlock()
			return
		}
		l := c.line
		c.lineMu.Lock()
		if err == nil {
			for _, mm := range missed {
				h.accept(c, mm)
			}
		}
		pending := l.pending
		l.pending = nil
		again := false
		for i, pm := range pending {
			if _, gap := h.accept(c, pm); !gap {
				continue
			}
			if i == 0 { // what was missed before it could not be fetched
				h.skip(c, pm)
				continue
			}
			// Another gap further on: fetch again, holding the rest.
			l.pending = append(l.pending, pending[i:]...)
			from, first, again = l.top, pm, true
			break
		}
		if !again {
			l.filling = false
		}
		c.lineMu.Unlock()
		sh.mu.RUnlock()
		if !again {
			return
		}
		h.gaps.Add(1)
	}
}

// deliverLine hands m to the channel's subscribers, except those that
// joined already holding it. Both locks are held.
func (c *channel) deliverLine(m *Message) int {
	l := c.line
	n := 0
	pos := m.Pos
	if m.Notice != nil {
		pos = &m.Notice.Position
	}
	for _, s := range c.subs {
		if len(l.floors) > 0 {
			if f, ok := l.floors[s]; ok {
				if f.Epoch == pos.Epoch && pos.Offset <= f.Offset {
					continue // s has it already (or is past what a notice is about)
				}
				delete(l.floors, s)
			}
		}
		s.Deliver(m)
		n++
	}
	return n
}

// anchor sets the channel's position when it gains its first subscriber,
// before anyone joins: live messages from now on are checked against it.
func (h *Hub) anchor(ctx context.Context, ch string, c *channel) {
	pos, err := h.history.Last(ctx, ch)
	sh := h.shard(ch)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	c.lineMu.Lock()
	defer c.lineMu.Unlock()
	l := c.line
	l.anchored = true
	if err != nil {
		l.blind = l.top == (protocol.Position{})
		return
	}
	if pos.Epoch != l.top.Epoch && l.top.Epoch != "" {
		return // a live message of a newer epoch already came
	}
	if pos.Offset > l.top.Offset || l.top.Epoch == "" {
		l.top = pos
		l.clearRing()
	}
}

// maxJoinRounds bounds how often a join fetches from history while live
// messages keep moving past what the ring holds.
const maxJoinRounds = 8

// joinLine adds s to a history channel, first replaying what it missed
// since resume (nothing when resume is nil), and returns the outcome and
// the number of messages replayed. Fetches from history run with
// no lock held; the replay and the join itself happen under the channel's
// locks, so no live message can slip between them.
func (h *Hub) joinLine(ctx context.Context, ch string, c *channel, s Subscriber, resume *protocol.Resume, room Room, joined func(protocol.Recovery)) (protocol.Recovery, int) {
	var (
		rec      protocol.Recovery
		replayed int
		from     protocol.Position // the client's position
		epoch    string            // the epoch being replayed
		got      []*Message        // fetched: the messages right after from
		verify   bool              // from is ahead of the node: ask history whether it exists
		verified bool              // history holds from: the node is behind, not the client wrong
		// failReason, once set, ends the join with recovered:false.
		failReason string
	)
	for round := 0; ; round++ {
		var fetchAfter, fetchUpto uint64
		fetch := false
		h.locked(ch, c, func() {
			l := c.line
			top := l.top
			finish := func(r protocol.Recovery, replay []*Message) {
				rec, replayed = r, len(replay)
				h.addLocked(c, s)
				if joined != nil {
					joined(r)
				}
				for _, m := range replay {
					s.Deliver(m)
				}
			}
			fail := func(reason string) {
				finish(protocol.Recovery{Reason: reason, History: true, Position: top}, nil)
			}
			if failReason != "" {
				fail(failReason)
				return
			}
			if resume == nil {
				finish(protocol.Recovery{History: true, Position: top}, nil)
				return
			}
			if round == 0 {
				from = resume.From
				if resume.Rewind > 0 {
					n := min(resume.Rewind, top.Offset, uint64(max(room.Messages, 0)))
					from = protocol.Position{Epoch: top.Epoch, Offset: top.Offset - n}
				}
				epoch = top.Epoch
			}
			zero := from == protocol.Position{}
			switch {
			case !l.anchored || l.blind:
				fail(protocol.ReasonUnavailable)
				return
			case top.Epoch != epoch:
				fail(protocol.ReasonReset) // reset while this join was fetching
				return
			case !zero && from.Epoch != top.Epoch:
				fail(protocol.ReasonEpochChanged)
				return
			case from.Offset > top.Offset && !verified:
				// Ahead of this node: it came from a node that had seen
				// more, or its position was never given out. History
				// tells which, asked with no lock held.
				verify = true
				return
			case from.Offset >= top.Offset:
				// Nothing missed. A client ahead of this node (it came from
				// a node that had seen more) is not sent those again.
				if from.Offset > top.Offset {
					if l.floors == nil {
						l.floors = make(map[Subscriber]protocol.Position)
					}
					l.floors[s] = from
					top = from
				}
				finish(protocol.Recovery{Recovered: true, History: true, Position: top}, nil)
				return
			case top.Offset-from.Offset > uint64(max(room.Messages, 0)):
				fail(protocol.ReasonTooFarBehind)
				return
			}
			have := from.Offset + uint64(len(got))
			tail, ok := l.fromRing(have)
			if !ok {
				fetch, fetchAfter, fetchUpto = true, have, top.Offset
				return
			}
			replay := append(got, tail...)
			size := 0
			for _, m := range replay {
				size += len(m.Data) + room.PerMessage
			}
			if size > room.Bytes {
				fail(protocol.ReasonTooFarBehind)
				return
			}
			finish(protocol.Recovery{Recovered: true, History: true, Position: top}, replay)
			l.remember(replay)
		})
		if verify {
			verify = false
			last, err := h.history.Last(ctx, ch)
			switch {
			case err != nil:
				failReason = protocol.ReasonUnavailable
			case last.Epoch != from.Epoch || last.Offset < from.Offset:
				// Past anything stored: following it, the client would
				// skip live messages until offsets caught up with it.
				failReason = protocol.ReasonAhead
			default:
				verified = true
			}
			continue
		}
		if !fetch {
			return rec, replayed
		}
		if round >= maxJoinRounds {
			failReason = protocol.ReasonUnavailable
			continue
		}
		msgs, err := h.history.Read(ctx, ch, epoch, fetchAfter, fetchUpto)
		switch {
		case errors.Is(err, ErrExpired):
			failReason = protocol.ReasonExpired
		case errors.Is(err, ErrEpochChanged):
			failReason = protocol.ReasonEpochChanged
		case err != nil || uint64(len(msgs)) != fetchUpto-fetchAfter:
			failReason = protocol.ReasonUnavailable
		}
		got = append(got, msgs...)
	}
}

// CatchUp checks every history channel with local subscribers against its
// history and delivers what the node missed, such as the last messages
// published while its NATS connection was down (a gap only shows when the
// next message arrives; this does not wait for one).
func (h *Hub) CatchUp(ctx context.Context) {
	if h.history == nil {
		return
	}
	var chans []string
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.RLock()
		for name, c := range sh.channels {
			if c.line != nil {
				chans = append(chans, name)
			}
		}
		sh.mu.RUnlock()
	}
	for _, ch := range chans {
		if ctx.Err() != nil {
			return
		}
		last, err := h.history.Last(ctx, ch)
		if err != nil || last.Offset == 0 {
			continue
		}
		// Delivering the newest message goes through the gap check, which
		// fetches anything between.
		msgs, err := h.history.Read(ctx, ch, last.Epoch, last.Offset-1, last.Offset)
		if err == nil && len(msgs) == 1 {
			h.publishLine(msgs[0], true)
		}
	}
}
