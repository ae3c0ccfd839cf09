package history

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/protocol"
)

// Offsets of one channel grow with stream sequence numbers, and every
// message a channel keeps belongs to its current epoch (an epoch begins
// only when the channel has no message left). So a channel's history is
// read by finding the first wanted offset with a binary search over
// sequence numbers, then walking forward message by message.

// Read returns channel's messages with offsets after+1 to upto, in order,
// all of epoch (any epoch when epoch is "" and after is 0).
func (s *Store) Read(ctx context.Context, ch, epoch string, after, upto uint64) ([]*hub.Message, error) {
	if upto <= after {
		return nil, nil
	}
	r := s.rule(ch)
	if r == nil {
		return nil, ErrNoHistory
	}
	st, err := s.stream(ctx, r)
	if err != nil {
		return nil, err
	}
	subject := r.subject + ch
	first, err := s.next(ctx, st, 1, subject)
	if errors.Is(err, bus.ErrMsgNotFound) {
		return nil, hub.ErrExpired // nothing kept
	}
	if err != nil {
		return nil, err
	}
	switch {
	case epoch != "" && first.pos.Epoch != epoch:
		return nil, hub.ErrEpochChanged
	case first.pos.Offset > after+1:
		return nil, hub.ErrExpired
	}
	return s.walk(ctx, st, ch, subject, first, tip{}, after, upto)
}

// Recent returns the position of channel's newest message and up to limit
// messages: those after `after` when it is set, else the newest ones. A
// request for messages no longer kept starts at the oldest one kept.
func (s *Store) Recent(ctx context.Context, ch string, after *uint64, limit int) (protocol.Position, []*hub.Message, error) {
	r := s.rule(ch)
	if r == nil {
		return protocol.Position{}, nil, ErrNoHistory
	}
	st, err := s.stream(ctx, r)
	if err != nil {
		return protocol.Position{}, nil, err
	}
	subject := r.subject + ch
	last, err := s.loadTip(ctx, st, subject)
	if err != nil || last.seq == 0 || limit <= 0 {
		return last.pos, nil, err
	}
	first, err := s.next(ctx, st, 1, subject)
	if errors.Is(err, bus.ErrMsgNotFound) {
		return last.pos, nil, nil
	}
	if err != nil {
		return last.pos, nil, err
	}
	var from uint64
	if after != nil {
		from = *after
	} else if last.pos.Offset > uint64(limit) {
		from = last.pos.Offset - uint64(limit)
	}
	from = max(from, first.pos.Offset-1)
	if from >= last.pos.Offset {
		return last.pos, nil, nil // nothing after it yet
	}
	upto := min(last.pos.Offset, from+uint64(limit))
	msgs, err := s.walk(ctx, st, ch, subject, first, last, from, upto)
	return last.pos, msgs, err
}

// stored is one message read back.
type stored struct {
	seq  uint64
	pos  protocol.Position
	data []byte
}

// next reads the first message of subject at or after sequence seq.
func (s *Store) next(ctx context.Context, st *bus.Stream, seq uint64, subject string) (stored, error) {
	m, err := st.Get(ctx, seq, subject)
	if err != nil {
		return stored{}, err
	}
	pos, err := position(m)
	if err != nil {
		return stored{}, err
	}
	return stored{seq: m.Seq, pos: pos, data: m.Data}, nil
}

// walk reads offsets after+1 to upto of subject, given its first kept
// message (whose offset is at most after+1) and, when known (seq not 0),
// its last.
func (s *Store) walk(ctx context.Context, st *bus.Stream, ch, subject string, first stored, last tip, after, upto uint64) ([]*hub.Message, error) {
	cur := first
	if cur.pos.Offset <= after { // find the first wanted offset
		if last.seq == 0 {
			var err error
			if last, err = s.loadTip(ctx, st, subject); err != nil {
				return nil, err
			}
		}
		if last.pos.Offset <= after || last.pos.Epoch != first.pos.Epoch {
			return nil, fmt.Errorf("history: %s ends at offset %d, before %d", subject, last.pos.Offset, after+1)
		}
		lo, hi := cur.seq+1, last.seq
		found := false
		for lo <= hi {
			mid := lo + (hi-lo)/2
			m, err := s.next(ctx, st, mid, subject)
			if err != nil {
				return nil, err
			}
			if m.pos.Offset >= after+1 {
				cur, found = m, true
				if m.pos.Offset == after+1 {
					break
				}
				hi = mid - 1
			} else {
				lo = m.seq + 1
			}
		}
		if !found || cur.pos.Offset != after+1 {
			return nil, fmt.Errorf("history: offset %d of %s not found", after+1, subject)
		}
	}
	msgs := make([]*hub.Message, 0, upto-after)
	var batch []stored // read ahead by a consumer, for long ranges
	for {
		if cur.pos.Epoch != first.pos.Epoch || cur.pos.Offset != after+uint64(len(msgs))+1 {
			return nil, fmt.Errorf("history: %s is not contiguous at sequence %d", subject, cur.seq)
		}
		pos := cur.pos
		msgs = append(msgs, &hub.Message{Channel: ch, Data: cur.data, Pos: &pos})
		if pos.Offset >= upto {
			return msgs, nil
		}
		left := int(upto - pos.Offset)
		if len(batch) == 0 && left > consumerReadMin {
			var err error
			if batch, err = s.consume(ctx, st, subject, cur.seq+1, left); err != nil {
				return nil, err
			}
		}
		if len(batch) > 0 {
			cur, batch = batch[0], batch[1:]
			continue
		}
		var err error
		if cur, err = s.next(ctx, st, cur.seq+1, subject); err != nil {
			return nil, err
		}
	}
}

// consumerReadMin is the length of a range from which reading it through
// a consumer (one request for many messages) beats a request per message.
const consumerReadMin = 16

// consume reads up to n messages of subject from sequence seq on, in one
// request.
func (s *Store) consume(ctx context.Context, st *bus.Stream, subject string, seq uint64, n int) ([]stored, error) {
	got, err := st.Fetch(ctx, subject, seq, n)
	if err != nil {
		return nil, fmt.Errorf("history: read %s: %w", subject, err)
	}
	out := make([]stored, len(got))
	for i, m := range got {
		if !m.HasPos {
			return nil, fmt.Errorf("history: a message of %s has no valid position", subject)
		}
		out[i] = stored{seq: m.Seq, pos: m.Pos, data: m.Data}
	}
	return out, nil
}
