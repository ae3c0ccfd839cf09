package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/protocol"
)

// The tests here run sub against a test double of a Herald node: a WebSocket
// server built with gobwas/ws that plays a script of protocol frames. The
// real node is written in parallel with this package; the double speaks only
// what sub needs: welcome, reply, message and disconnect frames.

// peer is the server side of one WebSocket connection from sub.
type peer struct {
	t      *testing.T
	conn   net.Conn
	br     *bufio.Reader
	origin string // the Origin header of the handshake
}

// send writes a text frame.
func (p *peer) send(frame string) {
	p.t.Helper()
	if err := wsutil.WriteServerText(p.conn, []byte(frame)); err != nil {
		p.t.Errorf("sending %s: %v", frame, err)
	}
}

// next reads the next frame from sub, control frames included.
func (p *peer) next() ws.Frame {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(waitTimeout))
	h, err := ws.ReadHeader(p.br)
	if err == nil && h.Length > 1<<20 {
		err = fmt.Errorf("a frame of %d bytes from sub", h.Length)
	}
	f := ws.Frame{Header: h}
	if err == nil {
		f.Payload = make([]byte, h.Length)
		_, err = io.ReadFull(p.br, f.Payload)
	}
	if err != nil {
		p.t.Errorf("reading a frame from sub: %v", err)
		return ws.Frame{}
	}
	if f.Header.Masked {
		f = ws.UnmaskFrameInPlace(f)
	}
	return f
}

// expectSubscribe reads a subscribe frame for channel with id.
func (p *peer) expectSubscribe(id int, channel string) {
	p.t.Helper()
	f := p.next()
	var got protocol.Command
	if err := json.Unmarshal(f.Payload, &got); err != nil || f.Header.OpCode != ws.OpText {
		p.t.Errorf("got frame %v %q, want a subscribe frame", f.Header.OpCode, f.Payload)
		return
	}
	if want := (protocol.Command{ID: uint64(id), Op: "subscribe", Channel: channel}); !reflect.DeepEqual(got, want) {
		p.t.Errorf("got %+v, want %+v", got, want)
	}
}

// expectClose reads a close frame with code.
func (p *peer) expectClose(code ws.StatusCode) {
	p.t.Helper()
	f := p.next()
	if f.Header.OpCode != ws.OpClose {
		p.t.Errorf("got frame %v %q, want a close frame", f.Header.OpCode, f.Payload)
		return
	}
	if got, _ := ws.ParseCloseFrameData(f.Payload); got != code {
		p.t.Errorf("close code = %d, want %d", got, code)
	}
}

// nodeDouble starts a WebSocket server at /ws that runs script on each
// connection. Done receives when a script has returned.
func nodeDouble(t *testing.T, script func(p *peer)) (srv *httptest.Server, done <-chan struct{}) {
	t.Helper()
	finished := make(chan struct{}, 1)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" { // sub asks as it connects
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status":"ready"}`)
			return
		}
		if r.URL.Path != "/ws" {
			t.Errorf("request for %s, want /ws", r.URL.Path)
			http.NotFound(w, r)
			return
		}
		conn, rw, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer conn.Close()
		script(&peer{t: t, conn: conn, br: rw.Reader, origin: r.Header.Get("Origin")})
		finished <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return srv, finished
}

// wait waits for done.
func wait(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for the server's script to finish")
	}
}

const (
	welcome  = `{"op":"welcome","client":"c1","node":"n1","ping":25}`
	message1 = `{"op":"message","channel":"news","data":{"title":"Hello"}}`
	message2 = `{"op":"message","channel":"alerts","data":"two"}`
)

func TestSubMessagesUntilShutdown(t *testing.T) {
	t.Parallel()
	srv, done := nodeDouble(t, func(p *peer) {
		if p.origin != "https://app.example" {
			p.t.Errorf("Origin = %q, want https://app.example", p.origin)
		}
		p.send(welcome)
		p.expectSubscribe(1, "news")
		p.expectSubscribe(2, "alerts")
		p.send(`{"op":"reply","id":1}`)
		p.send(message1) // before the second reply: sub must print it
		p.send(`{"op":"reply","id":2}`)

		p.conn.Write(ws.MustCompileFrame(ws.NewPingFrame([]byte("are you there"))))
		if f := p.next(); f.Header.OpCode != ws.OpPong || string(f.Payload) != "are you there" {
			p.t.Errorf("got frame %v %q, want the pong", f.Header.OpCode, f.Payload)
		}

		p.send(message2)
		p.send(`{"op":"disconnect","code":3001,"reason":"shutdown","reconnect":true}`)
		p.expectClose(ws.StatusNormalClosure)
	})

	res := run(t, context.Background(), nil, "sub", "--url", srv.URL, "--origin", "https://app.example", "news", "alerts")
	wait(t, done)
	if res.code != 0 {
		t.Errorf("exit code %d, want 0 after a shutdown; stderr %q", res.code, res.stderr)
	}
	if want := message1 + "\n" + message2 + "\n"; res.stdout != want {
		t.Errorf("stdout = %q, want %q", res.stdout, want)
	}
	contains(t, "stderr", res.stderr, "subscribed to news", "subscribed to alerts",
		`disconnected by the server: code 3001, reason "shutdown", reconnect true`)
}

func TestSubInterrupted(t *testing.T) {
	t.Parallel()
	srv, done := nodeDouble(t, func(p *peer) {
		p.send(welcome)
		p.expectSubscribe(1, "news")
		p.send(`{"op":"reply","id":1}`)
		p.send(message1)
		p.expectClose(ws.StatusNormalClosure)
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newOutput(), newOutput()
	code := make(chan int, 1)
	go func() {
		code <- Run(ctx, []string{"sub", "--url", srv.URL, "news"}, strings.NewReader(""), stdout, stderr)
	}()

	stdout.WaitFor(t, message1, waitTimeout)
	cancel() // as SIGINT does
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code %d, want 0 when interrupted; stderr %q", c, stderr)
		}
	case <-time.After(waitTimeout):
		t.Fatal("sub did not stop when interrupted")
	}
	wait(t, done)
	if got := stdout.String(); got != message1+"\n" {
		t.Errorf("stdout = %q, want %q", got, message1+"\n")
	}
}

func TestSubFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script func(p *peer)
		want   []string
	}{
		{
			name: "refused subscription",
			script: func(p *peer) {
				p.send(welcome)
				p.expectSubscribe(1, "news")
				p.expectSubscribe(2, "secret")
				p.send(`{"op":"reply","id":1}`)
				p.send(`{"op":"reply","id":2,"error":{"code":"forbidden","message":"channel secret is private"}}`)
				p.expectClose(ws.StatusNormalClosure)
			},
			want: []string{`subscribing to "secret": forbidden: channel secret is private`},
		},
		{
			name: "disconnect",
			script: func(p *peer) {
				p.send(welcome)
				p.expectSubscribe(1, "news")
				p.expectSubscribe(2, "secret")
				p.send(`{"op":"disconnect","code":4003,"reason":"slow consumer","reconnect":false}`)
				p.expectClose(ws.StatusNormalClosure)
			},
			want: []string{`code 4003, reason "slow consumer", reconnect false`},
		},
		{
			name: "close without disconnect",
			script: func(p *peer) {
				p.send(welcome)
				p.expectSubscribe(1, "news")
				p.expectSubscribe(2, "secret")
				p.conn.Write(ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "bye"))))
				p.expectClose(ws.StatusGoingAway) // wsutil's echo
			},
			want: []string{`the server closed the connection: code 1001, reason "bye"`},
		},
		{
			name: "no welcome",
			script: func(p *peer) {
				p.send(message1)
				p.expectClose(ws.StatusNormalClosure)
			},
			want: []string{`the server sent "message" before its welcome`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, done := nodeDouble(t, tt.script)
			res := run(t, context.Background(), nil, "sub", "--url", srv.URL, "news", "secret")
			wait(t, done)
			if res.code != 1 {
				t.Errorf("exit code %d, want 1", res.code)
			}
			contains(t, "stderr", res.stderr, append(tt.want, "herald sub: ")...)
		})
	}
}

func TestSubHandshakeRejected(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":{"code":"origin_not_allowed","message":"origin https://evil.example is not allowed"}}`))
	}))
	t.Cleanup(srv.Close)

	res := run(t, context.Background(), nil, "sub", "--url", srv.URL, "--origin", "https://evil.example", "news")
	if res.code != 1 {
		t.Errorf("exit code %d, want 1", res.code)
	}
	contains(t, "stderr", res.stderr, "ws://", "/ws", "origin_not_allowed: origin https://evil.example is not allowed (HTTP 403)")
}

func TestSubUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"sub"}, {"sub", "--url", "ftp://x", "news"}} {
		res := run(t, context.Background(), nil, args...)
		if res.code != exitUsage {
			t.Errorf("%q: exit code %d, want %d", args, res.code, exitUsage)
		}
		contains(t, "stderr", res.stderr, "herald sub --help")
	}
}

func TestEndpoint(t *testing.T) {
	t.Parallel()
	ws := map[string]string{"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
	tests := []struct{ base, want string }{
		{"http://localhost:8080", "ws://localhost:8080/ws"},
		{"https://herald.example.com/", "wss://herald.example.com/ws"},
		{"https://example.com/herald/?x=1", "wss://example.com/herald/ws"},
		{"ws://localhost:8080", "ws://localhost:8080/ws"},
	}
	for _, tt := range tests {
		got, err := endpoint(tt.base, "/ws", ws)
		if err != nil || got != tt.want {
			t.Errorf("endpoint(%q) = %q, %v; want %q", tt.base, got, err, tt.want)
		}
	}
	for _, bad := range []string{"localhost:8080", "ftp://x", "http://", "://"} {
		if _, err := endpoint(bad, "/ws", ws); err == nil {
			t.Errorf("endpoint(%q) succeeded, want an error", bad)
		}
	}
}

// TestSubSaysWhenTheNodeIsNotReady subscribes through a node that cannot
// reach its NATS: sub says so at once, rather than only "subscribed".
func TestSubSaysWhenTheNodeIsNotReady(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Name = "stranded"
	cfg.NATSURL = "nats://127.0.0.1:1" // nothing listens there
	url := startNodeUnready(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stderr := newOutput()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"sub", "--url", url, "news"}, strings.NewReader(""), io.Discard, stderr)
	}()
	stderr.WaitFor(t, "subscribed to news", waitTimeout)
	if !strings.Contains(stderr.String(), `warning: the node is not ready (nats disconnected)`) {
		t.Fatalf("stderr %q does not warn that the node is not ready", stderr.String())
	}
	cancel()
	<-done
}
