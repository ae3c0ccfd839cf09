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

func (c *streamCursor) index(ch string) (int, bool) {
	i, ok := c.idx[ch]
	return i, ok
}

// set moves channel i to pos; channels without history stay as they are.
func (c *streamCursor) set(i int, pos protocol.Position) {
	if p := c.positions[i]; p != nil {
		*p = pos
	}
}
