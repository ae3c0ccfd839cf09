package transport

import (
	"bytes"
	"encoding/binary"
	"strings"

	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/protocol"
)

// WebSocket opcodes used by the server.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// maxWSHeader is the longest unmasked server frame header.
const maxWSHeader = 10

// wsHeaderLen is the length of an unmasked server frame header.
func wsHeaderLen(n int) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xFFFF:
		return 4
	default:
		return 10
	}
}

// appendWSHeader appends a final, unmasked frame header.
func appendWSHeader(b []byte, op byte, n int) []byte {
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		return append(b, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(b, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(b, 127), uint64(n))
	}
}

// wsFrame wraps a payload in a text frame.
func wsFrame(payload []byte) []byte {
	b := make([]byte, 0, wsHeaderLen(len(payload))+len(payload))
	return append(appendWSHeader(b, opText, len(payload)), payload...)
}

// wsControl builds a control frame (payload at most 125 bytes).
func wsControl(op byte, payload []byte) []byte {
	return append(appendWSHeader(make([]byte, 0, 2+len(payload)), op, len(payload)), payload...)
}

// wsCloseFrame builds a close frame with a status code and reason.
func wsCloseFrame(code int, reason string) []byte {
	p := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code))
	if len(reason) > 123 {
		reason = strings.ToValidUTF8(reason[:123], "")
	}
	return wsControl(opClose, append(p, reason...))
}

var wsPingFrame = wsControl(opPing, nil)

// The wire formats of a published message (or recovery notice), each built
// once per message per node and shared by every subscriber.
var (
	wsFormat = hub.NewFormat(func(m *hub.Message) []byte {
		// One allocation: the payload is built after room for the longest
		// header, and the header goes just before it.
		b := appendPayload(make([]byte, maxWSHeader, maxWSHeader+96+len(m.Channel)+len(m.Data)), m, true)
		n := len(b) - maxWSHeader
		start := maxWSHeader - wsHeaderLen(n)
		appendWSHeader(b[start:start], opText, n)
		return b[start:]
	})
	sseFormat = hub.NewFormat(func(m *hub.Message) []byte {
		if m.Notice != nil {
			return appendSSEEvent(nil, "recovery", appendPayload(nil, m, false))
		}
		return appendSSEEvent(nil, "message", appendPayload(nil, m, false))
	})
	pollFormat = hub.NewFormat(func(m *hub.Message) []byte {
		return appendPayload(nil, m, false)
	})
)

// appendPayload appends m's JSON: the WebSocket op form, or the envelope
// of SSE and long-poll.
func appendPayload(b []byte, m *hub.Message, ws bool) []byte {
	switch {
	case m.Notice != nil:
		return protocol.AppendRecovery(b, ws, m.Channel, *m.Notice)
	case ws:
		return protocol.AppendMessage(b, m.Channel, m.Pos, m.Data)
	default:
		return protocol.AppendEnvelope(b, m.Channel, m.Pos, m.Data)
	}
}

// appendSSEEvent appends one event. Data holding line breaks (possible in
// insignificant JSON white space) is split over several data lines, which
// the browser joins with '\n'.
func appendSSEEvent(b []byte, event string, data []byte) []byte {
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, '\n')
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			break
		}
		b = append(append(append(b, "data: "...), data[:i]...), '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	b = append(append(append(b, "data: "...), data...), '\n')
	return append(b, '\n')
}
