package transport

import (
	"context"

	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/protocol"
)

// HistoryReader reads the history of channels that keep it.
type HistoryReader interface {
	// Keeps reports whether channel keeps history.
	Keeps(channel string) bool
	// Recent returns the position of channel's newest message and up to
	// limit messages: those after `after` when set, else the newest.
	Recent(ctx context.Context, channel string, after *uint64, limit int) (protocol.Position, []*hub.Message, error)
}

// replyRoom leaves space in a queue for the frames a client's own commands
// and keepalive need while a replay fills it.
const replyRoom = 8

// room is what a client's queue can take of a replay for channel ch: at
// most --history-max-replay messages, and what fits in the queue now.
func (s *Server) room(out *outbox, ch string) hub.Room {
	frames, bytes := out.room()
	n := max(0, min(s.cfg.HistoryMaxReplay, frames-replyRoom))
	return hub.Room{Messages: n, Bytes: bytes, PerMessage: len(ch) + 96}
}

// historyLimit is the number of messages a history read returns when the
// client asks for limit (0: the default).
func (s *Server) historyLimit(limit int) int {
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	return min(limit, s.cfg.HistoryMaxReplay)
}

// defaultHistoryLimit is how many messages a history read returns when
// the client does not say.
const defaultHistoryLimit = 100

// streamCursor is the cursor of an SSE stream or long-poll session: the
// position of each of its channels that keeps history.
type streamCursor struct {
	positions protocol.Cursor // nil entries: channels without history
	idx       map[string]int
}

// newCursor returns the cursor of a stream of chans, or nil when none of
// them keeps history.
func (s *Server) newCursor(chans []string) *streamCursor {
	if s.History == nil {
		return nil
	}
	var c *streamCursor
	for i, ch := range chans {
		if !s.History.Keeps(ch) {
			continue
		}
		if c == nil {
			c = &streamCursor{positions: make(protocol.Cursor, len(chans)), idx: make(map[string]int, len(chans))}
		}
		c.positions[i] = &protocol.Position{}
		c.idx[ch] = i
	}
	return c
}

// follow moves the cursor past m: a message's position, or the position
// a recovery notice that could not recover leaves the client at. (A
// recovered notice is followed by the replay, which moves it.)
func (c *streamCursor) follow(m *hub.Message) {
	i, ok := c.idx[m.Channel]
	switch {
	case !ok:
	case m.Notice != nil && m.Notice.History && !m.Notice.Recovered:
		c.set(i, m.Notice.Position)
	case m.Pos != nil:
		c.set(i, *m.Pos)
	}
}

// set moves channel i to pos; channels without history stay as they are.
func (c *streamCursor) set(i int, pos protocol.Position) {
	if p := c.positions[i]; p != nil {
		*p = pos
	}
}

// pastAllowed returns the resume a subscribe to ch by the client of a may make of the one it
// asked for: that one, or nil when the client may not read ch's past.
// denied turns the outcome of the join into what the client is told: as
// asked, or, when the resume was refused, recovered:false for that reason.
func (s *Server) pastAllowed(a *access, ch string, asked *protocol.Resume) (resume *protocol.Resume, denied func(protocol.Recovery) protocol.Recovery) {
	if asked == nil || s.mayReadPast(a, ch) == nil {
		return asked, func(r protocol.Recovery) protocol.Recovery { return r }
	}
	return nil, func(r protocol.Recovery) protocol.Recovery {
		if r.History {
			r.Recovered, r.Reason = false, protocol.ReasonForbidden
			s.Metrics.Resumed(protocol.ReasonForbidden, 0)
		}
		return r
	}
}

// joinChannels subscribes sub, an SSE stream or long-poll session, to
// chans, each channel resuming from its position in from, if any. For each
// channel with history, moved sets its position in the stream's cursor:
// where the client was when the missed messages follow (they move it on),
// else where it now is; a resume is reported in band by a recovery notice.
// It returns the positions the client starts from (nil entries: channels
// without history) and how many channels it subscribed, the failed one
// included.
func (s *Server) joinChannels(ctx context.Context, a *access, chans []string, from protocol.Cursor, sub hub.Subscriber, out *outbox, moved func(i int, pos protocol.Position)) (protocol.Cursor, int, error) {
	start := make(protocol.Cursor, len(chans))
	for i, ch := range chans {
		var asked *protocol.Resume
		if from != nil && from[i] != nil {
			asked = &protocol.Resume{From: *from[i]}
		}
		resume, denied := s.pastAllowed(a, ch, asked)
		joined := func(rec protocol.Recovery) {
			if !rec.History {
				return
			}
			start[i] = &rec.Position
			if asked == nil {
				moved(i, rec.Position)
				return
			}
			if resume == nil { // refused: told so, and live from here
				rec = denied(rec)
				moved(i, rec.Position)
				sub.Deliver(&hub.Message{Channel: ch, Notice: &rec})
				return
			}
			start[i] = &resume.From
			if rec.Recovered {
				moved(i, resume.From)
			} else {
				moved(i, rec.Position)
			}
			sub.Deliver(&hub.Message{Channel: ch, Notice: &rec})
		}
		if _, err := s.Hub.Join(ctx, ch, sub, resume, s.room(out, ch), joined); err != nil {
			return start, i + 1, err
		}
	}
	return start, len(chans), nil
}
