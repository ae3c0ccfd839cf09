package heraldtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// Frame is one server frame as a test sees it.
type Frame struct {
	Op        string            `json:"op"`
	ID        uint64            `json:"id"`
	Channel   string            `json:"channel"`
	Data      json.RawMessage   `json:"data"`
	Client    string            `json:"client"`
	Node      string            `json:"node"`
	Code      int               `json:"code"`
	Reason    string            `json:"reason"`
	Reconnect bool              `json:"reconnect"`
	Epoch     string            `json:"epoch"`
	Offset    uint64            `json:"offset"`
	Recovered *bool             `json:"recovered"`
	Messages  []json.RawMessage `json:"messages"`
	Error     *struct {
		Code    string `json:"code"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	} `json:"error"`
}

// WS is a plain WebSocket client speaking Herald's protocol.
type WS struct {
	t       testing.TB
	Conn    net.Conn // the socket, for tests that write raw frames or close it
	rd      io.Reader
	Welcome Frame
	NextID  uint64  // the last command id used
	pending []Frame // frames read while waiting for something else

	mu     sync.Mutex
	closed *wsutil.ClosedError
}

// DialWS opens a WebSocket to addr and reads its welcome; it is closed
// when the test ends.
func DialWS(t testing.TB, addr string, hdr http.Header) *WS {
	t.Helper()
	c, err := TryDialWS(addr, hdr)
	if err != nil {
		t.Fatalf("dial ws %s: %v", addr, err)
	}
	c.t = t
	t.Cleanup(func() { c.Conn.Close() })
	return c
}

// TryDialWS opens a WebSocket to addr's /ws and reads its welcome.
func TryDialWS(addr string, hdr http.Header) (*WS, error) { return TryDialWSQuery(addr, "", hdr) }

// DialWSQuery is DialWS with a query string (such as "token=...").
func DialWSQuery(t testing.TB, addr, query string, hdr http.Header) *WS {
	t.Helper()
	c, err := TryDialWSQuery(addr, query, hdr)
	if err != nil {
		t.Fatalf("dial ws %s: %v", addr, err)
	}
	c.t = t
	t.Cleanup(func() { c.Conn.Close() })
	return c
}

// TryDialWSQuery opens a WebSocket to addr's /ws?query and reads its
// welcome. A refused upgrade's error is a ws.StatusError with the status.
func TryDialWSQuery(addr, query string, hdr http.Header) (*WS, error) {
	c, f, err := Handshake(addr, Dial{Query: query, Header: hdr})
	if err != nil {
		return nil, err
	}
	if f.Op != "welcome" {
		c.Conn.Close()
		return nil, fmt.Errorf("first frame is %q, not welcome", f.Op)
	}
	c.Welcome = f
	return c, nil
}

// Dial says how Handshake connects.
type Dial struct {
	Query   string                                                 // the query string of /ws, such as "token=..."
	Header  http.Header                                            // extra handshake headers
	Source  string                                                 // the local IP address to connect from; "": any
	Control func(network, address string, c syscall.RawConn) error // set socket options before connecting
	Timeout time.Duration                                          // for the handshake and the first frame; 0: 5s
}

// Handshake opens a WebSocket to addr's /ws as o says, and returns the
// client and the first frame the server sent, whatever it is. The caller
// closes the client's Conn (or binds it to a test).
func Handshake(addr string, o Dial) (*WS, Frame, error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	d := ws.Dialer{Timeout: o.Timeout}
	if o.Header != nil {
		d.Header = ws.HandshakeHeaderHTTP(o.Header)
	}
	d.NetDial = func(ctx context.Context, network, a string) (net.Conn, error) {
		nd := net.Dialer{Control: o.Control}
		if o.Source != "" {
			nd.LocalAddr = &net.TCPAddr{IP: net.ParseIP(o.Source)}
		}
		return nd.DialContext(ctx, network, a)
	}
	u := "ws://" + addr + "/ws"
	if o.Query != "" {
		u += "?" + o.Query
	}
	conn, br, _, err := d.Dial(context.Background(), u)
	if err != nil {
		return nil, Frame{}, err
	}
	c := &WS{Conn: conn, rd: conn}
	if br != nil {
		c.rd = io.MultiReader(br, conn)
	}
	f, err := c.Next(o.Timeout)
	if err != nil {
		conn.Close()
		return nil, Frame{}, err
	}
	return c, f, nil
}

// Bind makes the test t the owner of c: failures of c's helpers fail
// it, and c is closed when it ends.
func (c *WS) Bind(t testing.TB) *WS {
	c.t = t
	t.Cleanup(func() { c.Conn.Close() })
	return c
}

// Raw reads the next text frame's payload, answering pings. It waits
// at most within; 0: as long as it takes.
func (c *WS) Raw(within time.Duration) ([]byte, error) {
	var by time.Time
	if within > 0 {
		by = time.Now().Add(within)
	}
	_ = c.Conn.SetReadDeadline(by)
	for {
		msgs, err := wsutil.ReadServerMessage(c.rd, nil)
		if err != nil {
			var ce wsutil.ClosedError
			if errors.As(err, &ce) {
				c.mu.Lock()
				c.closed = &ce
				c.mu.Unlock()
			}
			return nil, err
		}
		for _, m := range msgs {
			switch m.OpCode {
			case ws.OpPing:
				_ = wsutil.WriteClientMessage(c.Conn, ws.OpPong, m.Payload)
			case ws.OpClose:
				code, reason := ws.ParseCloseFrameData(m.Payload)
				ce := wsutil.ClosedError{Code: code, Reason: reason}
				c.mu.Lock()
				c.closed = &ce
				c.mu.Unlock()
				return nil, ce
			case ws.OpText:
				return m.Payload, nil
			}
		}
	}
}

// Next returns the next frame, a kept one first.
func (c *WS) Next(within time.Duration) (Frame, error) {
	if len(c.pending) > 0 {
		f := c.pending[0]
		c.pending = c.pending[1:]
		return f, nil
	}
	b, err := c.Raw(within)
	if err != nil {
		return Frame{}, err
	}
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return Frame{}, fmt.Errorf("Frame %q: %w", b, err)
	}
	return f, nil
}

// Message waits for the next message frame.
func (c *WS) Message(within time.Duration) Frame {
	c.t.Helper()
	for {
		f, err := c.Next(within)
		if err != nil {
			c.t.Fatalf("waiting for a message: %v", err)
		}
		if f.Op == "message" {
			return f
		}
		c.t.Fatalf("unexpected frame while waiting for a message: %+v", f)
	}
}

// RawMessage waits for the next message frame and returns its bytes.
func (c *WS) RawMessage(within time.Duration) []byte {
	c.t.Helper()
	b, err := c.Raw(within)
	if err != nil {
		c.t.Fatalf("waiting for a message: %v", err)
	}
	return b
}

// SendText sends a text frame.
func (c *WS) SendText(s string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.Conn, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Command sends a command and returns its reply; messages read meanwhile
// are kept for later.
func (c *WS) Command(op, channel string, data string) Frame {
	c.t.Helper()
	c.NextID++
	id := c.NextID
	cmd := fmt.Sprintf(`{"id":%d,"op":%q`, id, op)
	if channel != "" {
		ch, _ := json.Marshal(channel)
		cmd += `,"channel":` + string(ch)
	}
	if data != "" {
		cmd += `,"data":` + data
	}
	c.SendText(cmd + "}")
	return c.ReplyTo(id)
}

// Do sends {"id":N,"op":op,...fields} (fields: more JSON members, such
// as `"channel":"a","token":"..."`, or "") and returns its reply.
func (c *WS) Do(op, fields string) Frame {
	c.t.Helper()
	c.NextID++
	id := c.NextID
	cmd := fmt.Sprintf(`{"id":%d,"op":%q`, id, op)
	if fields != "" {
		cmd += "," + fields
	}
	c.SendText(cmd + "}")
	return c.ReplyTo(id)
}

// ReplyTo waits for the reply to command id; frames read meanwhile are
// kept for later.
func (c *WS) ReplyTo(id uint64) Frame {
	c.t.Helper()
	var kept []Frame
	defer func() { c.pending = append(kept, c.pending...) }()
	for {
		b, err := c.Raw(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for reply %d: %v", id, err)
		}
		var f Frame
		if err := json.Unmarshal(b, &f); err != nil {
			c.t.Fatalf("frame %q: %v", b, err)
		}
		if f.Op == "reply" && f.ID == id {
			return f
		}
		kept = append(kept, f)
	}
}

// SubscribeSince subscribes with a resume position (since: its JSON)
// and returns the reply; it fails the test if refused.
func (c *WS) SubscribeSince(channel, since string) Frame {
	c.t.Helper()
	c.NextID++
	c.SendText(fmt.Sprintf(`{"id":%d,"op":"subscribe","channel":%q,"since":%s}`, c.NextID, channel, since))
	r := c.ReplyTo(c.NextID)
	if r.Error != nil {
		c.t.Fatalf("subscribe %s since %s: %s: %s", channel, since, r.Error.Code, r.Error.Message)
	}
	return r
}

// Subscribe subscribes to channel and fails the test if refused.
func (c *WS) Subscribe(channel string) {
	c.t.Helper()
	if r := c.Command("subscribe", channel, ""); r.Error != nil {
		c.t.Fatalf("subscribe %s: %s: %s", channel, r.Error.Code, r.Error.Message)
	}
}

// CloseCode reads until the server closes and returns the disconnect
// frame and the close code.
func (c *WS) CloseCode(within time.Duration) (Frame, int) {
	c.t.Helper()
	var disc Frame
	for {
		f, err := c.Next(within)
		if err != nil {
			c.mu.Lock()
			ce := c.closed
			c.mu.Unlock()
			if ce == nil {
				c.t.Fatalf("connection ended without a close frame: %v", err)
			}
			return disc, int(ce.Code)
		}
		if f.Op == "disconnect" {
			disc = f
		}
	}
}

// Reader reads the raw stream after the handshake (what the server sent
// with its handshake response included), for tests that read frames
// themselves.
func (c *WS) Reader() io.Reader { return c.rd }

// Closed returns the close frame's code, once the server closed the
// connection with one (0 before).
func (c *WS) Closed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed == nil {
		return 0
	}
	return int(c.closed.Code)
}

// Kept returns the frames read while waiting for replies and not yet
// taken by Next.
func (c *WS) Kept() []Frame { return c.pending }
