package bench

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// sinkConn returns the client end of a loopback TCP connection whose
// server end reads and discards everything, for the pongs a parser
// writes.
func sinkConn(t testing.TB) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
		_, _ = io.Copy(io.Discard, c)
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	t.Cleanup(func() {
		nc.Close()
		if peer != nil {
			peer.Close()
		}
	})
	return nc
}

func testConn(t testing.TB, sse bool) (*conn, *counters) {
	t.Helper()
	ctr := &counters{latency: NewHist()}
	c, err := newConn(sinkConn(t), ctr, sse)
	if err != nil {
		t.Fatal(err)
	}
	return c, ctr
}

func serverFrame(op ws.OpCode, payload string) []byte {
	b, err := ws.CompileFrame(ws.NewFrame(op, true, []byte(payload)))
	if err != nil {
		panic(err)
	}
	return b
}

func message(channel string, t int64, pad int) string {
	return fmt.Sprintf(`{"op":"message","channel":%q,"data":{"t":%d,"pad":"%s"}}`, channel, t, strings.Repeat("x", pad))
}

// wsStream is a session as a server sends it: welcome, reply, messages
// (one too long for a 16-bit length, one too long for a read buffer), a
// ping, a foreign message without a stamp, a disconnect and a close.
func wsStream() []byte {
	var b []byte
	b = append(b, serverFrame(ws.OpText, `{"op":"welcome","client":"c1","node":"n","ping":25}`)...)
	b = append(b, serverFrame(ws.OpText, `{"op":"reply","id":1}`)...)
	now := time.Now().UnixNano()
	b = append(b, serverFrame(ws.OpText, message("bench.1", now, 10))...)
	b = append(b, serverFrame(ws.OpPing, "")...)
	b = append(b, serverFrame(ws.OpText, message("bench.1", now, 70000))...)
	b = append(b, serverFrame(ws.OpText, message("bench.1", now, 300))...)
	b = append(b, serverFrame(ws.OpText, `{"op":"message","channel":"bench.1","data":"not ours"}`)...)
	b = append(b, serverFrame(ws.OpText, `{"op":"disconnect","code":3001,"reason":"shutdown","reconnect":true}`)...)
	b = append(b, serverFrame(ws.OpClose, "\x0b\xb9shutdown")...)
	return b
}

// feedAll feeds pieces until one fails, and returns that error.
func feedAll(c *conn, pieces ...[]byte) error {
	for _, p := range pieces {
		if err := c.feed(p); err != nil {
			return err
		}
	}
	return nil
}

func TestWSParserAtEverySplit(t *testing.T) {
	t.Parallel()
	stream := wsStream()
	check := func(name string, pieces ...[]byte) {
		t.Helper()
		c, ctr := testConn(t, false)
		err := feedAll(c, pieces...)
		if !errors.Is(err, errEnded) {
			t.Fatalf("%s: feed ended with %v, want errEnded", name, err)
		}
		if c.state != stReady || ctr.received.Load() != 3 || ctr.latency.Count() != 3 {
			t.Fatalf("%s: state %d, received %d, latencies %d", name, c.state, ctr.received.Load(), ctr.latency.Count())
		}
		if c.end != "disconnect 3001 shutdown" {
			t.Fatalf("%s: end %q", name, c.end)
		}
	}
	check("whole", stream)
	for i := 1; i < len(stream); i += 1 + i/50 {
		check(fmt.Sprintf("split at %d", i), stream[:i], stream[i:])
	}
	var bytewise [][]byte
	for i := range stream[:2000] {
		bytewise = append(bytewise, stream[i:i+1])
	}
	check("byte by byte", append(bytewise, stream[2000:])...)
}

func TestWSParserRefusals(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		stream []byte
		want   string
	}{
		{"subscribe error", append(serverFrame(ws.OpText, `{"op":"welcome"}`),
			serverFrame(ws.OpText, `{"op":"reply","id":1,"error":{"code":"invalid_channel","message":"no"}}`)...), "subscribe invalid_channel"},
		{"disconnect first", serverFrame(ws.OpText, `{"op":"disconnect","code":3001,"reason":"shutdown"}`), "disconnect 3001 shutdown"},
		{"masked", []byte{0x81, 0x85, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'}, "protocol error"},
		{"too long", []byte{0x81, 127, 0xff, 0, 0, 0, 0, 0, 0, 0}, "frame too long"},
	} {
		c, _ := testConn(t, false)
		if got := reason(c.feed(tt.stream)); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// sseStream is an event stream as the node sends it over HTTP/1.1: a
// response head, then events in chunks cut anywhere, a heartbeat, a
// disconnect and the last chunk.
func sseStream(chunked bool) []byte {
	now := time.Now().UnixNano()
	events := "event: welcome\ndata: {\"op\":\"welcome\",\"client\":\"c\",\"node\":\"n\",\"ping\":20}\n\n" +
		fmt.Sprintf("event: message\ndata: {\"channel\":\"bench.0\",\"data\":{\"t\":%d,\"pad\":\"xx\"}}\n\n", now) +
		": heartbeat\n\n" +
		fmt.Sprintf("event: message\r\ndata: {\"channel\":\"bench.0\",\"data\":{\"t\":%d,\"pad\":\"%s\"}}\r\n\r\n", now, strings.Repeat("y", 40000)) +
		"event: message\ndata: {\"channel\":\"bench.0\",\"data\":\"foreign\"}\n\n" +
		fmt.Sprintf("event: message\ndata: {\"channel\":\"bench.0\",\"data\":{\"t\":%d}}\n\n", now) +
		"event: disconnect\ndata: {\"code\":3001,\"reason\":\"shutdown\",\"reconnect\":true}\n\n"
	if !chunked {
		return []byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + events)
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
	for i, n := 0, 7; i < len(events); n = n*3 + 1 {
		n = min(n, len(events)-i)
		fmt.Fprintf(&b, "%x;ext=1\r\n%s\r\n", n, events[i:i+n])
		i += n
	}
	b.WriteString("0\r\n\r\n")
	return b.Bytes()
}

func TestSSEParserAtEverySplit(t *testing.T) {
	t.Parallel()
	for _, chunked := range []bool{true, false} {
		stream := sseStream(chunked)
		check := func(name string, pieces ...[]byte) {
			t.Helper()
			c, ctr := testConn(t, true)
			err := feedAll(c, pieces...)
			if chunked && !errors.Is(err, errEnded) {
				t.Fatalf("%s: feed ended with %v, want errEnded at the last chunk", name, err)
			}
			if !chunked && err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if c.state != stReady || ctr.received.Load() != 3 || ctr.latency.Count() != 3 || c.chunked != chunked {
				t.Fatalf("%s: state %d, received %d, latencies %d, chunked %t", name, c.state, ctr.received.Load(), ctr.latency.Count(), c.chunked)
			}
			if c.end != "disconnect 3001 shutdown" {
				t.Fatalf("%s: end %q", name, c.end)
			}
		}
		check(fmt.Sprintf("chunked %t whole", chunked), stream)
		for i := 1; i < len(stream); i += 1 + i/50 {
			check(fmt.Sprintf("chunked %t split at %d", chunked, i), stream[:i], stream[i:])
		}
	}
}

func TestSSEParserRefusals(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, stream, want string
	}{
		{"503", "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"code\":\"unavailable\",\"message\":\"x\"}}", "http 503 unavailable"},
		{"400 without body yet", "HTTP/1.1 400 Bad Request\r\n\r\n", "http 400"},
		{"not http", "SSH-2.0-OpenSSH\r\n\r\n", "protocol error"},
		{"disconnect first", "HTTP/1.1 200 OK\r\n\r\nevent: disconnect\ndata: {\"code\":3001,\"reason\":\"shutdown\"}\n", "disconnect 3001 shutdown"},
	} {
		c, _ := testConn(t, true)
		if got := reason(c.feed([]byte(tt.stream))); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestStamp(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{`{"op":"message","channel":"bench.1","data":{"t":1234,"pad":""}}`, 1234, true},
		{`{"t":1700000000123456789}`, 1700000000123456789, true},
		{`{"t":"1"}`, 0, false},
		{`{"x":1}`, 0, false},
		{`{"t":`, 0, false},
	} {
		got, ok := stamp([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("stamp(%s) = %d, %t; want %d, %t", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPublishBodies(t *testing.T) {
	t.Parallel()
	p := &publisher{pad: bytes.Repeat([]byte("x"), 100), size: 100}
	d := p.appendData(nil, time.Now().UnixNano())
	if len(d) != 100 {
		t.Errorf("data %q is %d bytes, want 100", d, len(d))
	}
	small := &publisher{size: 10}
	if d := small.appendData(nil, 42); string(d) != `{"t":42,"pad":""}` {
		t.Errorf("small data %q", d)
	}
	if b := p.appendBroadcast(nil, []string{"a", "b"}, 7); !bytes.HasPrefix(b, []byte(`{"channels":["a","b"],"data":{"t":7,"pad":"x`)) {
		t.Errorf("broadcast body %q", b)
	}
	if b := small.appendPublish(nil, "bench.3", 7); string(b) != `{"channel":"bench.3","data":{"t":7,"pad":""}}` {
		t.Errorf("publish body %q", b)
	}
}

func TestProcParsers(t *testing.T) {
	t.Parallel()
	// The command name may hold spaces and parentheses.
	stat := "4242 (herald (x) y) S 1 4242 4242 0 -1 4194560 1800 0 0 0 250 75 0 0 20 0 9 0 123 456 789\n"
	if v, err := parseStat([]byte(stat)); err != nil || v != 3.25 {
		t.Errorf("parseStat = %v, %v; want 3.25", v, err)
	}
	if _, err := parseStat([]byte("4242 (x) S 1")); err == nil {
		t.Error("a short stat line was accepted")
	}
	status := "Name:\therald\nVmPeak:\t  100 kB\nVmRSS:\t   2048 kB\nThreads:\t9\n"
	if v, err := parseRSS([]byte(status)); err != nil || v != 2048*1024 {
		t.Errorf("parseRSS = %v, %v", v, err)
	}
	if _, err := parseRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Error("a status without VmRSS was accepted")
	}
	// This process, as a real reader sees it.
	if v, err := procRSS(os.Getpid()); err != nil || v <= 0 {
		t.Errorf("procRSS(self) = %v, %v", v, err)
	}
	if _, err := procCPU(os.Getpid()); err != nil {
		t.Errorf("procCPU(self): %v", err)
	}

	metrics := `# HELP herald_connections Open client connections.
# TYPE herald_connections gauge
herald_connections{transport="longpoll"} 0
herald_connections{transport="sse"} 2
herald_connections{transport="websocket"} 5
process_resident_memory_bytes 3.2e+07
herald_channels 3
`
	s, err := parseMetrics(strings.NewReader(metrics), []string{"herald_connections", "process_resident_memory_bytes"})
	if err != nil {
		t.Fatal(err)
	}
	if s["herald_connections"] != 7 || s[`herald_connections{transport="sse"}`] != 2 ||
		s["process_resident_memory_bytes"] != 3.2e7 || len(s) != 5 {
		t.Errorf("parseMetrics = %v", s)
	}
}

func FuzzFeedWS(f *testing.F) {
	f.Add(wsStream()[:3000], uint16(100))
	f.Add([]byte{0x81, 0x7e, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'}, uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		splitInvariant(t, false, data, int(split))
	})
}

func FuzzFeedSSE(f *testing.F) {
	f.Add(sseStream(true)[:2000], uint16(100))
	f.Add(sseStream(false)[:500], uint16(70))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffff\r\n"), uint16(5))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		splitInvariant(t, true, data, int(split))
	})
}

// splitInvariant checks that a parser counts the same messages, reaches
// the same state and fails alike whether data arrives whole or in two
// reads.
func splitInvariant(t *testing.T, sse bool, data []byte, split int) {
	split = min(split, len(data))
	whole, wctr := testConn(t, sse)
	parts, pctr := testConn(t, sse)
	werr := feedAll(whole, data)
	perr := feedAll(parts, data[:split], data[split:])
	if reason(werr) != reason(perr) || whole.state != parts.state || wctr.received.Load() != pctr.received.Load() {
		t.Fatalf("whole: %v, state %d, %d messages; split at %d: %v, state %d, %d messages",
			werr, whole.state, wctr.received.Load(), split, perr, parts.state, pctr.received.Load())
	}
}
