package bench

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// These tests feed the Centrifugo parser frames as Centrifugo v6.9.1 was
// seen to write them; they need no Centrifugo.

// recordConn returns the client end of a loopback TCP connection whose
// server end reads the client's WebSocket frames, and a function that
// closes the client end and returns the text of every frame it sent.
func recordConn(t testing.TB) (net.Conn, func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	accepted := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		close(accepted)
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		var texts []string
		for range 1000 {
			p, err := wsutil.ReadClientText(c)
			if err != nil {
				break
			}
			texts = append(texts, string(p))
		}
		got <- texts
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	<-accepted // before the listener closes
	t.Cleanup(func() { nc.Close() })
	return nc, func() []string {
		nc.Close()
		return <-got
	}
}

// cfConn returns a connection that speaks Centrifugo's protocol, as
// dialWS makes it once it has sent the connect command.
func cfConn(t testing.TB, nc net.Conn) (*conn, *counters) {
	t.Helper()
	ctr := &counters{latency: NewHist()}
	c, err := newConn(nc, ctr, false)
	if err != nil {
		t.Fatal(err)
	}
	c.cf, c.channel = true, "bench.1"
	return c, ctr
}

func cfPub(channel string, t int64, pad int) string {
	return fmt.Sprintf(`{"push":{"channel":%q,"pub":{"data":{"t":%d,"pad":"%s"}}}}`, channel, t, strings.Repeat("x", pad))
}

// cfStream is a session as Centrifugo sends it: the connect and subscribe
// replies, publications one to a frame and batched, pings alone and
// batched with publications, a foreign publication without a stamp, one
// publication too long for a 16-bit length, and the close frame it ends
// a connection with. It holds 7 stamped publications and 3 pings.
func cfStream() []byte {
	now := time.Now().UnixNano()
	frames := []string{
		`{"id":1,"connect":{"client":"f2a13b35-52da-4c77-94c9-2441d46c120b","version":"6.9.1 OSS","ping":25,"pong":true}}`,
		`{"id":2,"subscribe":{}}`,
		cfPub("bench.1", now, 10),
		cfPub("bench.1", now, 10) + "\n" + cfPub("bench.1", now, 300) + "\n" + cfPub("bench.1", now, 0),
		`{}`,
		cfPub("bench.1", now, 70000),
		cfPub("bench.1", now, 5) + "\n{}\n" + `{"push":{"channel":"bench.1","pub":{"data":"not ours"}}}` + "\n{}",
		cfPub("bench.1", now, 20),
	}
	var b []byte
	for _, f := range frames {
		b = append(b, serverFrame(ws.OpText, f)...)
	}
	return append(b, serverFrame(ws.OpClose, "\x0b\xc4no pong")...)
}

func TestCentrifugoParserAtEverySplit(t *testing.T) {
	t.Parallel()
	stream := cfStream()
	check := func(name string, pieces ...[]byte) {
		t.Helper()
		nc, sent := recordConn(t)
		c, ctr := cfConn(t, nc)
		err := feedAll(c, pieces...)
		if !errors.Is(err, errEnded) {
			t.Fatalf("%s: feed ended with %v, want errEnded", name, err)
		}
		if c.state != stReady || ctr.received.Load() != 7 || ctr.latency.Count() != 7 {
			t.Fatalf("%s: state %d, received %d, latencies %d", name, c.state, ctr.received.Load(), ctr.latency.Count())
		}
		if c.end != "close 3012 no pong" {
			t.Fatalf("%s: end %q", name, c.end)
		}
		// The subscribe once connected, then one pong per ping.
		want := []string{`{"id":2,"subscribe":{"channel":"bench.1"}}`, "{}", "{}", "{}"}
		if got := sent(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: the client sent %q, want %q", name, got, want)
		}
	}
	check("whole", stream)
	for i := 1; i < len(stream); i += 1 + i/20 {
		check(fmt.Sprintf("split at %d", i), stream[:i], stream[i:])
	}
}

// TestCentrifugoBatchedFrame counts every publication of a frame that
// batches many, as Centrifugo's writer does under load.
func TestCentrifugoBatchedFrame(t *testing.T) {
	t.Parallel()
	c, ctr := cfConn(t, sinkConn(t))
	c.state = stReady
	lines := make([]string, 100)
	for i := range lines {
		lines[i] = cfPub("bench.1", time.Now().UnixNano(), i)
	}
	if err := c.feed(serverFrame(ws.OpText, strings.Join(lines, "\n"))); err != nil {
		t.Fatal(err)
	}
	if ctr.received.Load() != 100 || ctr.latency.Count() != 100 {
		t.Fatalf("received %d, latencies %d; want 100", ctr.received.Load(), ctr.latency.Count())
	}
}

// TestCentrifugoPingReply answers a ping, alone or batched, with one pong
// each, whether the connection is still in its handshake or served by a
// reader loop (which writes to the descriptor).
func TestCentrifugoPingReply(t *testing.T) {
	t.Parallel()
	nc, sent := recordConn(t)
	c, _ := cfConn(t, nc)
	c.state = stReady
	if err := c.feed(serverFrame(ws.OpText, "{}")); err != nil {
		t.Fatal(err)
	}
	if err := c.feed(serverFrame(ws.OpText, cfPub("bench.1", 1, 0)+"\n{}\n{}")); err != nil {
		t.Fatal(err)
	}
	if err := c.feed(serverFrame(ws.OpText, `{"push":{"channel":"bench.1","pub":{"data":{}}}}`)); err != nil {
		t.Fatal(err)
	}
	if got := sent(); fmt.Sprint(got) != "[{} {} {}]" {
		t.Fatalf("the client sent %q, want three pongs", got)
	}
}

func TestCentrifugoRefusals(t *testing.T) {
	t.Parallel()
	connected := serverFrame(ws.OpText, `{"id":1,"connect":{"client":"c","version":"6.9.1 OSS","ping":25,"pong":true}}`)
	for _, tt := range []struct {
		name   string
		stream []byte
		want   string
	}{
		{"connect refused", serverFrame(ws.OpText, `{"id":1,"error":{"code":101,"message":"unauthorized"}}`), "connect 101 unauthorized"},
		{"subscribe refused", append(connected, serverFrame(ws.OpText, `{"id":2,"error":{"code":103,"message":"permission denied"}}`)...),
			"subscribe 103 permission denied"},
		{"closed", serverFrame(ws.OpClose, "\x0d\xadbad request"), "closed by server"},
		{"masked", []byte{0x81, 0x82, 1, 2, 3, 4, '{' ^ 1, '}' ^ 2}, "protocol error"},
	} {
		c, _ := cfConn(t, sinkConn(t))
		if got := reason(c.feed(tt.stream)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCentrifugoAPIError(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ body, want string }{
		{`{"result":{}}`, ""},
		{`{"result":{"responses":[{"result":{}},{"result":{}}]}}`, ""},
		{`{"error":{"code":102,"message":"unknown channel"}}`, "api error 102 unknown channel"},
		{`{"result":{"responses":[{"result":{}},{"error":{"code":102,"message":"unknown channel"}},{"result":{}}]}}`, "api error 102 unknown channel"},
	} {
		err := cfAPIError([]byte(tt.body))
		if got := ""; err != nil {
			got = reason(err)
			if got != tt.want {
				t.Errorf("%s: %q, want %q", tt.body, got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("%s: no error, want %q", tt.body, tt.want)
		}
	}
}

func FuzzFeedCentrifugo(f *testing.F) {
	f.Add(cfStream()[:3000], uint16(100))
	f.Add(serverFrame(ws.OpText, "{}\n{}\n{\"id\":1,\"connect\":{}}\n{\"id\":2,\"subscribe\":{}}\n{\"push\":{\"t\":5}}"), uint16(9))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		split = min(split, uint16(len(data)))
		whole, wctr := cfConn(t, sinkConn(t))
		parts, pctr := cfConn(t, sinkConn(t))
		werr := feedAll(whole, data)
		perr := feedAll(parts, data[:split], data[split:])
		if reason(werr) != reason(perr) || whole.state != parts.state || wctr.received.Load() != pctr.received.Load() {
			t.Fatalf("whole: %v, state %d, %d messages; split at %d: %v, state %d, %d messages",
				werr, whole.state, wctr.received.Load(), split, perr, parts.state, pctr.received.Load())
		}
	})
}
