package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/node"
)

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port nobody listens on, for
// a server that must come back on the same port. It picks ports below the
// ephemeral range (32768-60999), which outgoing connections never take.
func freeAddr(t testing.TB) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		addr := fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(22000))
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// testConfig is a node config on a random loopback port with short timers.
func testConfig(name string) config.Config {
	cfg := config.Default()
	cfg.Name = name
	cfg.Listen = "127.0.0.1:0"
	cfg.DrainTimeout = 200 * time.Millisecond
	return cfg
}

// startNode starts a node, waits until it is ready, and stops it when the
// test ends.
func startNode(t testing.TB, cfg config.Config) *node.Node {
	t.Helper()
	n := launchNode(t, cfg, nil)
	eventually(t, 10*time.Second, cfg.Name+" ready", func() bool { return ready(n.Addr()) })
	return n
}

// launchNode starts a node that logs to log (nil: nowhere) and stops it
// when the test ends; it returns as soon as the node listens, ready or not.
func launchNode(t testing.TB, cfg config.Config, log *slog.Logger) *node.Node {
	t.Helper()
	n, err := node.New(cfg, log)
	if err != nil {
		t.Fatalf("node %s: %v", cfg.Name, err)
	}
	if err := n.Start(); err != nil {
		t.Fatalf("start node %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

func ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// publish posts to a node's publish API and returns the status and body.
func publish(t testing.TB, addr, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// get sends a GET and returns the status and body.
func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mustPublish(t testing.TB, addr, channel, data string) {
	t.Helper()
	status, body := publish(t, addr, "/api/publish", `{"channel":"`+channel+`","data":`+data+`}`)
	if status != http.StatusOK {
		t.Fatalf("publish to %s: %d %s", channel, status, body)
	}
}

// metric reads one sample of a node's /metrics, 0 if absent.
func metric(t testing.TB, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

// frame is one server frame as a test sees it.
type frame struct {
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
		Message string `json:"message"`
	} `json:"error"`
}

// wsClient is a plain WebSocket client speaking Herald's protocol.
type wsClient struct {
	t       testing.TB
	conn    net.Conn
	rd      io.Reader
	welcome frame
	nextID  uint64
	pending []frame // frames read while waiting for something else

	mu     sync.Mutex
	closed *wsutil.ClosedError
}

func dialWS(t testing.TB, addr string, hdr http.Header) *wsClient {
	t.Helper()
	c, err := tryDialWS(addr, hdr)
	if err != nil {
		t.Fatalf("dial ws %s: %v", addr, err)
	}
	c.t = t
	t.Cleanup(func() { c.conn.Close() })
	return c
}

func tryDialWS(addr string, hdr http.Header) (*wsClient, error) {
	d := ws.Dialer{Timeout: 5 * time.Second}
	if hdr != nil {
		d.Header = ws.HandshakeHeaderHTTP(hdr)
	}
	conn, br, _, err := d.Dial(context.Background(), "ws://"+addr+"/ws")
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, rd: conn}
	if br != nil {
		c.rd = io.MultiReader(br, conn)
	}
	f, err := c.next(5 * time.Second)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if f.Op != "welcome" {
		conn.Close()
		return nil, fmt.Errorf("first frame is %q, not welcome", f.Op)
	}
	c.welcome = f
	return c, nil
}

// raw reads the next text frame's payload, answering pings.
func (c *wsClient) raw(within time.Duration) ([]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(within))
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
				_ = wsutil.WriteClientMessage(c.conn, ws.OpPong, m.Payload)
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

func (c *wsClient) next(within time.Duration) (frame, error) {
	if len(c.pending) > 0 {
		f := c.pending[0]
		c.pending = c.pending[1:]
		return f, nil
	}
	b, err := c.raw(within)
	if err != nil {
		return frame{}, err
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		return frame{}, fmt.Errorf("frame %q: %w", b, err)
	}
	return f, nil
}

// message waits for the next message frame.
func (c *wsClient) message(within time.Duration) frame {
	c.t.Helper()
	for {
		f, err := c.next(within)
		if err != nil {
			c.t.Fatalf("waiting for a message: %v", err)
		}
		if f.Op == "message" {
			return f
		}
		c.t.Fatalf("unexpected frame while waiting for a message: %+v", f)
	}
}

// rawMessage waits for the next message frame and returns its bytes.
func (c *wsClient) rawMessage(within time.Duration) []byte {
	c.t.Helper()
	b, err := c.raw(within)
	if err != nil {
		c.t.Fatalf("waiting for a message: %v", err)
	}
	return b
}

func (c *wsClient) sendText(s string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// command sends a command and returns its reply; messages read meanwhile
// are kept for later.
func (c *wsClient) command(op, channel string, data string) frame {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	cmd := fmt.Sprintf(`{"id":%d,"op":%q`, id, op)
	if channel != "" {
		ch, _ := json.Marshal(channel)
		cmd += `,"channel":` + string(ch)
	}
	if data != "" {
		cmd += `,"data":` + data
	}
	c.sendText(cmd + "}")
	return c.replyTo(id)
}

func (c *wsClient) replyTo(id uint64) frame {
	c.t.Helper()
	var kept []frame
	defer func() { c.pending = append(kept, c.pending...) }()
	for {
		b, err := c.raw(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for reply %d: %v", id, err)
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			c.t.Fatalf("frame %q: %v", b, err)
		}
		if f.Op == "reply" && f.ID == id {
			return f
		}
		kept = append(kept, f)
	}
}

func (c *wsClient) subscribe(channel string) {
	c.t.Helper()
	if r := c.command("subscribe", channel, ""); r.Error != nil {
		c.t.Fatalf("subscribe %s: %s: %s", channel, r.Error.Code, r.Error.Message)
	}
}

// closeCode reads until the server closes and returns the disconnect
// frame and the close code.
func (c *wsClient) closeCode(within time.Duration) (frame, int) {
	c.t.Helper()
	var disc frame
	for {
		f, err := c.next(within)
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

// sseStream is an open SSE connection.
type sseStream struct {
	resp    *http.Response
	events  chan sseEvent
	welcome sseEvent
}

type sseEvent struct {
	event string
	data  string
	id    string
}

func openSSE(t testing.TB, addr string, channels ...string) *sseStream {
	t.Helper()
	return openSSEFrom(t, addr, "", channels...)
}

// openSSEFrom opens an SSE stream that resumes from a cursor, sent as the
// Last-Event-ID header (none when cursor is empty).
func openSSEFrom(t testing.TB, addr, cursor string, channels ...string) *sseStream {
	t.Helper()
	q := url.Values{"channel": channels}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/sse?"+q.Encode(), nil)
	if cursor != "" {
		req.Header.Set("Last-Event-ID", cursor)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sse: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("sse: %d %s", resp.StatusCode, b)
	}
	s := &sseStream{resp: resp, events: make(chan sseEvent, 1024)}
	go readSSE(resp.Body, s.events)
	t.Cleanup(func() { resp.Body.Close() })
	ev := s.next(t, 5*time.Second)
	if ev.event != "welcome" {
		t.Fatalf("first SSE event is %q, not welcome", ev.event)
	}
	s.welcome = ev
	return s
}

func (s *sseStream) next(t testing.TB, within time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("SSE stream ended")
		}
		return ev
	case <-time.After(within):
		t.Fatalf("no SSE event within %s", within)
	}
	return sseEvent{}
}

// pollResponse is a long-poll answer.
type pollResponse struct {
	Messages []struct {
		Channel   string          `json:"channel"`
		Data      json.RawMessage `json:"data"`
		Epoch     string          `json:"epoch"`
		Offset    uint64          `json:"offset"`
		Recovered *bool           `json:"recovered"`
		Reason    string          `json:"reason"`
	} `json:"messages"`
	Session    string `json:"session"`
	Cursor     string `json:"cursor"`
	Disconnect *struct {
		Code      int  `json:"code"`
		Reconnect bool `json:"reconnect"`
	} `json:"disconnect"`
	Error *struct {
		Code string `json:"code"`
	} `json:"error"`
}

func poll(t testing.TB, addr, query string) (int, pollResponse, []byte) {
	t.Helper()
	return pollWith(t, addr, query, nil)
}

// pollWith sends a poll with extra headers (such as Origin) and returns
// the status and body.
func pollWith(t testing.TB, addr, query string, hdr http.Header) (int, pollResponse, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/poll?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var pr pollResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		t.Fatalf("poll body %q: %v", b, err)
	}
	return resp.StatusCode, pr, b
}

// envelopeData extracts the raw "data" bytes of {"channel":..,"data":..}
// as the server wrote them, without re-encoding.
func envelopeData(t testing.TB, b []byte) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(`"data":`))
	if i < 0 || b[len(b)-1] != '}' {
		t.Fatalf("no data in %q", b)
	}
	return b[i+len(`"data":`) : len(b)-1]
}

// readSSE parses an event stream into events until it ends.
func readSSE(body io.Reader, events chan<- sseEvent) {
	defer close(events)
	sc := bufio.NewScanner(body)
	var ev sseEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.event != "" || data != nil {
				ev.data = strings.Join(data, "\n")
				events <- ev
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			ev.event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = append(data, line[len("data: "):])
		case strings.HasPrefix(line, "id: "):
			ev.id = line[len("id: "):]
		}
	}
}
