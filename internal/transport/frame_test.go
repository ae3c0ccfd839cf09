package transport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/protocol"
)

func TestAppendWSHeader(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 125, 126, 127, 1000, 65535, 65536, 1 << 20, 1<<31 + 5} {
		for _, op := range []byte{opText, opClose, opPing, opPong} {
			if op != opText && n > 125 {
				continue // control frames carry at most 125 bytes
			}
			prefix := []byte{0xEE}
			b := appendWSHeader(prefix, op, n)
			if b[0] != 0xEE {
				t.Fatal("appendWSHeader overwrote its input")
			}
			hdr := b[1:]
			if len(hdr) != wsHeaderLen(n) {
				t.Errorf("n=%d: header of %d bytes, wsHeaderLen says %d", n, len(hdr), wsHeaderLen(n))
			}
			h, err := ws.ReadHeader(bytes.NewReader(hdr))
			if err != nil {
				t.Fatalf("n=%d op=%#x: ReadHeader(% x): %v", n, op, hdr, err)
			}
			if !h.Fin || h.Masked || h.Rsv != 0 || h.OpCode != ws.OpCode(op) || h.Length != int64(n) {
				t.Errorf("n=%d op=%#x: parsed %+v", n, op, h)
			}
			if err := ws.CheckHeader(h, ws.StateClientSide); err != nil {
				t.Errorf("n=%d op=%#x: a client would refuse the header: %v", n, op, err)
			}
		}
	}
}

// readServerFrame parses one whole frame as a client would.
func readServerFrame(t *testing.T, b []byte) (ws.Header, []byte) {
	t.Helper()
	r := bytes.NewReader(b)
	h, err := ws.ReadHeader(r)
	if err != nil {
		t.Fatalf("ReadHeader: %v", err)
	}
	if err := ws.CheckHeader(h, ws.StateClientSide); err != nil {
		t.Fatalf("header %+v: %v", h, err)
	}
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(r, payload); err != nil {
		t.Fatalf("payload: %v", err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes after the frame", r.Len())
	}
	return h, payload
}

func TestWSFrames(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 125, 126, 65535, 65536} {
		payload := bytes.Repeat([]byte{'x'}, n)
		h, got := readServerFrame(t, wsFrame(payload))
		if h.OpCode != ws.OpText || !bytes.Equal(got, payload) {
			t.Errorf("wsFrame(%d bytes): op %v, payload of %d bytes", n, h.OpCode, len(got))
		}
	}

	h, p := readServerFrame(t, wsPingFrame)
	if h.OpCode != ws.OpPing || len(p) != 0 {
		t.Errorf("ping frame: %+v %q", h, p)
	}

	for _, reason := range []string{"", "bye", strings.Repeat("r", 123), strings.Repeat("r", 500)} {
		h, p := readServerFrame(t, wsCloseFrame(protocol.CloseBadRequest, reason))
		if h.OpCode != ws.OpClose || len(p) > 125 {
			t.Fatalf("close frame: %+v, %d bytes", h, len(p))
		}
		code, got := ws.ParseCloseFrameData(p)
		if code != protocol.CloseBadRequest {
			t.Errorf("close code %d", code)
		}
		want := reason
		if len(want) > 123 {
			want = want[:123]
		}
		if got != want {
			t.Errorf("close reason of %d bytes, want %d", len(got), len(want))
		}
		if err := ws.CheckCloseFrameData(code, got); err != nil {
			t.Errorf("close frame data refused by a client: %v", err)
		}
	}
}

func TestWireFormats(t *testing.T) {
	t.Parallel()
	for _, data := range []string{`1`, `{"a":"b"}`, "{\n\"multi\":\r\n\"line\"\r}", strings.Repeat(`"x",`, 20000) + `0`} {
		if strings.HasPrefix(data, `"x"`) {
			data = "[" + data + "]"
		}
		m := &hub.Message{Channel: "chat.room", Data: []byte(data)}

		h, payload := readServerFrame(t, m.Bytes(wsFormat))
		if h.OpCode != ws.OpText || string(payload) != string(protocol.AppendMessage(nil, m.Channel, nil, m.Data)) {
			t.Errorf("ws format: %+v %.60q", h, payload)
		}
		if string(m.Bytes(pollFormat)) != string(protocol.AppendEnvelope(nil, m.Channel, nil, m.Data)) {
			t.Errorf("poll format: %.60q", m.Bytes(pollFormat))
		}
		events := parseSSE(t, m.Bytes(sseFormat))
		if len(events) != 1 || events[0].event != "message" || !json.Valid([]byte(events[0].data)) {
			t.Fatalf("sse format: %q", events)
		}
		var env struct {
			Channel string          `json:"channel"`
			Data    json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal([]byte(events[0].data), &env); err != nil || env.Channel != m.Channel {
			t.Errorf("sse envelope %.60q: %v", events[0].data, err)
		}
	}
}

type sseTestEvent struct{ event, data string }

// parseSSE reads events as a browser does (the EventSource rules: lines end
// with \r\n, \n or \r; data lines are joined with \n).
func parseSSE(t *testing.T, b []byte) []sseTestEvent {
	t.Helper()
	if !bytes.HasSuffix(b, []byte("\n\n")) {
		t.Fatalf("stream %q does not end with a blank line", b)
	}
	var (
		events []sseTestEvent
		ev     sseTestEvent
		data   []string
		seen   bool
	)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	sc.Split(func(b []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
			if b[i] == '\r' {
				if i+1 == len(b) && !atEOF {
					return 0, nil, nil // maybe \r\n
				}
				if i+1 < len(b) && b[i+1] == '\n' {
					return i + 2, b[:i], nil
				}
			}
			return i + 1, b[:i], nil
		}
		if atEOF && len(b) > 0 {
			t.Fatalf("unterminated line %q", b)
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			if seen {
				ev.data = strings.Join(data, "\n")
				events = append(events, ev)
			}
			ev, data, seen = sseTestEvent{}, nil, false
		case field == "event":
			ev.event, seen = value, true
		case field == "data":
			data, seen = append(data, value), true
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
	return events
}

func TestAppendSSEEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data string
		want string // the exact bytes
	}{
		{``, "event: e\ndata: \n\n"},
		{`{"a":1}`, "event: e\ndata: {\"a\":1}\n\n"},
		{"a\nb", "event: e\ndata: a\ndata: b\n\n"},
		{"a\r\nb", "event: e\ndata: a\ndata: b\n\n"},
		{"a\rb", "event: e\ndata: a\ndata: b\n\n"},
		{"a\n\nb", "event: e\ndata: a\ndata: \ndata: b\n\n"},
		{"a\r\rb", "event: e\ndata: a\ndata: \ndata: b\n\n"},
		{"a\n\rb", "event: e\ndata: a\ndata: \ndata: b\n\n"},
		{"a\r\n\r\nb", "event: e\ndata: a\ndata: \ndata: b\n\n"},
		{"\n", "event: e\ndata: \ndata: \n\n"},
		{"\r", "event: e\ndata: \ndata: \n\n"},
		{"\r\n", "event: e\ndata: \ndata: \n\n"},
		{"a\n", "event: e\ndata: a\ndata: \n\n"},
		{"\na", "event: e\ndata: \ndata: a\n\n"},
		{"data: x\n\nevent: y", "event: e\ndata: data: x\ndata: \ndata: event: y\n\n"},
	}
	for _, tt := range tests {
		b := appendSSEEvent([]byte("PRE"), "e", []byte(tt.data))
		if !bytes.HasPrefix(b, []byte("PRE")) {
			t.Fatal("appendSSEEvent overwrote its input")
		}
		b = b[3:]
		if string(b) != tt.want {
			t.Errorf("appendSSEEvent(%q) = %q, want %q", tt.data, b, tt.want)
		}
		// A browser gets the data back with every line break as \n, in
		// exactly one event: no injected events or fields.
		events := parseSSE(t, b)
		norm := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(tt.data)
		if len(events) != 1 || events[0].event != "e" || events[0].data != norm {
			t.Errorf("appendSSEEvent(%q) parses to %q, want one event with data %q", tt.data, events, norm)
		}
	}
}

func TestCloseEcho(t *testing.T) {
	for _, tt := range []struct {
		payload []byte
		want    int
	}{
		{nil, 1000},
		{[]byte{0x03}, 1002},
		{[]byte{0x03, 0xE8}, 1000},
		{[]byte{0x03, 0xE9, 'b', 'y', 'e'}, 1001},
		{[]byte{0x03, 0xED}, 1002}, // 1005 must never be sent
		{[]byte{0x03, 0xEE}, 1002}, // 1006 likewise
		{[]byte{0x03, 0xF7}, 1002}, // 1015 likewise
		{[]byte{0x0B, 0xB8}, 3000},
		{[]byte{0x13, 0x87}, 4999},
		{[]byte{0x13, 0x88}, 1002},
	} {
		if got := closeEcho(tt.payload); got != tt.want {
			t.Errorf("closeEcho(% x) = %d, want %d", tt.payload, got, tt.want)
		}
	}
}

func TestWireFormatsWithHistory(t *testing.T) {
	t.Parallel()
	pos := &protocol.Position{Epoch: "k3Xw9QpLzA", Offset: 7}
	m := &hub.Message{Channel: "c", Data: []byte(`{"a":1}`), Pos: pos}
	_, payload := readServerFrame(t, m.Bytes(wsFormat))
	if want := `{"op":"message","channel":"c","epoch":"k3Xw9QpLzA","offset":7,"data":{"a":1}}`; string(payload) != want {
		t.Errorf("ws format %s, want %s", payload, want)
	}
	if want := `{"channel":"c","epoch":"k3Xw9QpLzA","offset":7,"data":{"a":1}}`; string(m.Bytes(pollFormat)) != want {
		t.Errorf("poll format %s, want %s", m.Bytes(pollFormat), want)
	}
	if ev := parseSSE(t, m.Bytes(sseFormat)); len(ev) != 1 || ev[0].event != "message" || ev[0].data != `{"channel":"c","epoch":"k3Xw9QpLzA","offset":7,"data":{"a":1}}` {
		t.Errorf("sse format %q", ev)
	}

	n := &hub.Message{Channel: "c", Notice: &protocol.Recovery{Reason: protocol.ReasonGap, History: true, Position: protocol.Position{Epoch: "e", Offset: 311}}}
	_, payload = readServerFrame(t, n.Bytes(wsFormat))
	if want := `{"op":"recovery","channel":"c","recovered":false,"reason":"gap","epoch":"e","offset":311}`; string(payload) != want {
		t.Errorf("ws notice %s, want %s", payload, want)
	}
	env := `{"channel":"c","recovered":false,"reason":"gap","epoch":"e","offset":311}`
	if string(n.Bytes(pollFormat)) != env {
		t.Errorf("poll notice %s, want %s", n.Bytes(pollFormat), env)
	}
	if ev := parseSSE(t, n.Bytes(sseFormat)); len(ev) != 1 || ev[0].event != "recovery" || ev[0].data != env {
		t.Errorf("sse notice %q", ev)
	}
}
