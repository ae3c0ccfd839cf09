package protocol

import (
	"fmt"
	"strconv"
	"strings"
)

// Position is where a client is in a channel's history: the epoch of the
// channel's history and the offset of the last message it has. The zero
// Position (no epoch, offset 0) stands before the first message of
// whatever epoch comes.
type Position struct {
	Epoch  string
	Offset uint64
}

// MaxEpochLength bounds an epoch string.
const MaxEpochLength = 32

// ValidEpoch reports whether e can be an epoch: letters and digits only,
// at most MaxEpochLength bytes (the empty epoch is the zero Position's).
func ValidEpoch(e string) bool {
	if len(e) > MaxEpochLength {
		return false
	}
	for i := 0; i < len(e); i++ {
		c := e[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Cursor is the resume point of an SSE stream or a long-poll session: one
// entry per channel, in the order the client named them, nil for a channel
// without history.
type Cursor []*Position

// AppendCursor appends c as text: "epoch:offset" per channel, "-" for a
// channel without history, joined by ','.
func AppendCursor(b []byte, c Cursor) []byte {
	for i, p := range c {
		if i > 0 {
			b = append(b, ',')
		}
		if p == nil {
			b = append(b, '-')
			continue
		}
		b = append(b, p.Epoch...)
		b = append(b, ':')
		b = strconv.AppendUint(b, p.Offset, 10)
	}
	return b
}

// ParseCursor reads a cursor of n channels.
func ParseCursor(s string, n int) (Cursor, *Error) {
	bad := func(format string, args ...any) (Cursor, *Error) {
		return nil, NewError(CodeBadRequest, "cursor: "+fmt.Sprintf(format, args...))
	}
	if len(s) > n*(MaxEpochLength+22) {
		return bad("longer than %d channels' positions can be", n)
	}
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return bad("has %d positions for %d channels; give the channels in the order of the stream the cursor came from", len(parts), n)
	}
	c := make(Cursor, n)
	for i, part := range parts {
		if part == "-" {
			continue
		}
		epoch, off, ok := strings.Cut(part, ":")
		if !ok || !ValidEpoch(epoch) {
			return bad("position %d is not epoch:offset or '-'", i+1)
		}
		o, err := strconv.ParseUint(off, 10, 64)
		if err != nil {
			return bad("position %d has an offset that is not a whole number", i+1)
		}
		c[i] = &Position{Epoch: epoch, Offset: o}
	}
	return c, nil
}
