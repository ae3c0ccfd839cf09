package node_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/heraldtest"
	"github.com/heraldrt/herald/internal/history"
)

// TestCommandFloodIsRateLimitedOthersUnaffected has one connection send
// commands far faster than --client-command-rate allows: past its burst
// they are refused with rate_limited, and as it keeps on it is closed
// with 3009. Another client meanwhile gets its messages and replies.
func TestCommandFloodIsRateLimitedOthersUnaffected(t *testing.T) {
	t.Parallel()
	cfg := heraldtest.Config("flood")
	cfg.ClientCommandRate = 1 // a token a second: the burst is nearly all it gets
	cfg.ClientCommandBurst = 50
	n := heraldtest.StartNode(t, cfg)
	other := heraldtest.DialWS(t, n.Addr(), nil)
	other.Subscribe("calm")

	flood := heraldtest.DialWS(t, n.Addr(), nil)
	start := time.Now()
	var sent strings.Builder
	for i := 1; i <= 400; i++ {
		fmt.Fprintf(&sent, `{"id":%d,"op":"ping"}`+"\x00", i)
	}
	for _, cmd := range strings.Split(strings.TrimSuffix(sent.String(), "\x00"), "\x00") {
		flood.SendText(cmd)
	}
	ok, limited := 0, 0
	var disc heraldtest.Frame
	for {
		f, err := flood.Next(5 * time.Second)
		if err != nil {
			t.Logf("read ended: %v", err)
			break
		}
		switch {
		case f.Op == "reply" && f.Error == nil:
			ok++
		case f.Op == "reply" && f.Error.Code == "rate_limited":
			limited++
		case f.Op == "disconnect":
			disc = f
		default:
			t.Fatalf("unexpected heraldtest.Frame %+v", f)
		}
	}
	closed := flood.Closed()
	// The burst, and a command per second the flood lasted.
	if most := 50 + int(time.Since(start)/time.Second) + 1; ok < 50 || ok > most || limited < 90 || closed != 3009 || disc.Code != 3009 || !disc.Reconnect {
		t.Fatalf("flood: %d answered, %d rate_limited, disconnect %+v, close %v; want about the burst (50) answered, the rest refused, then 3009 with reconnect", ok, limited, disc, closed)
	}
	if got := heraldtest.Metric(t, n.Addr(), `herald_limit_refusals_total{limit="client-command-rate"}`); got < 90 {
		t.Errorf("refusals counted %v, want at least 90", got)
	}

	heraldtest.MustPublish(t, n.Addr(), "calm", `"still here"`)
	if f := other.Message(5 * time.Second); string(f.Data) != `"still here"` {
		t.Fatalf("the other client got %s", f.Data)
	}
	if r := other.Command("ping", "", ""); r.Error != nil {
		t.Fatalf("the other client's ping: %+v", r.Error)
	}
}

// TestClientPublishRate lets a connection publish its burst, then refuses
// publishes beyond --client-publish-rate while other commands still work.
func TestClientPublishRate(t *testing.T) {
	t.Parallel()
	cfg := heraldtest.Config("publish-rate")
	cfg.ClientPublish = []string{"chat.>"}
	cfg.ClientPublishRate = 1
	cfg.ClientPublishBurst = 3
	n := heraldtest.StartNode(t, cfg)
	c := heraldtest.DialWS(t, n.Addr(), nil)
	for i := range 3 {
		if r := c.Command("publish", "chat.room", fmt.Sprint(i)); r.Error != nil {
			t.Fatalf("publish %d within the burst: %+v", i, r.Error)
		}
	}
	r := c.Command("publish", "chat.room", "3")
	if r.Error == nil || r.Error.Code != "rate_limited" || !strings.Contains(r.Error.Message, "--client-publish-rate") {
		t.Fatalf("publish past the burst: %+v, want rate_limited", r.Error)
	}
	if r := c.Command("ping", "", ""); r.Error != nil {
		t.Fatalf("ping after a refused publish: %+v", r.Error)
	}
	if got := heraldtest.Metric(t, n.Addr(), `herald_limit_refusals_total{limit="client-publish-rate"}`); got != 1 {
		t.Errorf("publish refusals counted %v, want 1", got)
	}
}

// TestClientPublishCannotFillTheDisk has clients that may publish to
// channels keeping history write far more than the rule's MAXBYTES: the
// stream keeps at most that much, dropping the oldest messages of any of
// its channels, and the data directory stays small.
func TestClientPublishCannotFillTheDisk(t *testing.T) {
	t.Parallel()
	cfg := historyConfig(t, "disk")
	cfg.History = []string{"chat.>=1000,,2MiB"}
	cfg.ClientPublish = []string{"chat.>"}
	cfg.ClientPublishRate, cfg.ClientCommandRate = 0, 0 // here the rule alone holds the line
	n := heraldtest.StartNode(t, cfg)
	heraldtest.Eventually(t, 20*time.Second, "history streams ready", func() bool {
		status, _ := heraldtest.Publish(t, n.Addr(), "/api/publish", `{"channel":"chat.warmup","data":0}`)
		return status == http.StatusOK
	})
	data := `"` + strings.Repeat("x", 30_000) + `"`
	const writers, each = 4, 100 // 12 MB in all, six times the rule's bound
	clients := make([]*heraldtest.WS, writers)
	for w := range clients {
		clients[w] = heraldtest.DialWS(t, n.Addr(), nil)
	}
	for i := range each {
		for w, c := range clients {
			if r := c.Command("publish", fmt.Sprintf("chat.%d.%d", w, i%25), data); r.Error != nil {
				t.Fatalf("writer %d, publish %d: %s", w, i, r.Error.Message)
			}
		}
	}
	js, err := n.Bus().JetStream()
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), history.StreamName(cfg.SubjectPrefix, "chat.>"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxBytes != 2<<20 || info.State.Bytes > 2<<20 || info.State.Msgs == 0 {
		t.Fatalf("stream holds %d messages, %d bytes (limit %d); want at most 2 MiB kept", info.State.Msgs, info.State.Bytes, info.Config.MaxBytes)
	}
	var disk int64
	_ = filepath.WalkDir(cfg.DataDir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				disk += fi.Size()
			}
		}
		return nil
	})
	t.Logf("12 MB published; the stream keeps %d messages, %d bytes; the data directory holds %d bytes", info.State.Msgs, info.State.Bytes, disk)
	if disk > 8<<20 {
		t.Errorf("the data directory holds %d bytes after 12 MB were published under a 2 MiB rule", disk)
	}
}

// dialFrom opens a WebSocket from the loopback address src and returns
// its first frame: the welcome, or the disconnect of a refusal.
func dialFrom(t *testing.T, addr, src string) (net.Conn, heraldtest.Frame) {
	t.Helper()
	c, f, err := heraldtest.Handshake(addr, heraldtest.Dial{Source: src})
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	c.Bind(t)
	return c.Conn, f
}

// sseFrom opens an SSE stream from src and returns the status of the
// answer and its body when it is an error.
func sseFrom(t *testing.T, addr, src string) (int, string) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	resp, err := client.Get("http://" + addr + "/sse?channel=c")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, ""
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestConnectionLimits fills a node's --max-connections-per-ip, then its
// --max-connections: WebSocket clients past them are told so with 3504
// (reconnect: true), SSE clients with 429 and 503; every refusal is
// counted, and a place freed is taken again.
func TestConnectionLimits(t *testing.T) {
	t.Parallel()
	cfg := heraldtest.Config("conn-limits")
	cfg.MaxConnections = 5
	cfg.MaxConnectionsPerIP = 3
	n := heraldtest.StartNode(t, cfg)
	var first net.Conn
	for i := range 2 {
		c, f := dialFrom(t, n.Addr(), "127.0.0.1")
		if f.Op != "welcome" {
			t.Fatalf("WebSocket %d: %+v", i, f)
		}
		if first == nil {
			first = c
		}
	}
	if status, body := sseFrom(t, n.Addr(), "127.0.0.1"); status != http.StatusOK {
		t.Fatalf("SSE as the third from one address: %d %s", status, body)
	}
	if _, f := dialFrom(t, n.Addr(), "127.0.0.1"); f.Op != "disconnect" || f.Code != 3504 || !f.Reconnect || !strings.Contains(f.Reason, "your address") {
		t.Fatalf("a fourth from one address: %+v, want disconnect 3504, reconnect, your address", f)
	}
	if status, body := sseFrom(t, n.Addr(), "127.0.0.1"); status != http.StatusTooManyRequests || !strings.Contains(body, "too_many_connections") {
		t.Fatalf("SSE past the address's limit: %d %s, want 429 too_many_connections", status, body)
	}
	for i := range 2 {
		if _, f := dialFrom(t, n.Addr(), "127.0.0.2"); f.Op != "welcome" {
			t.Fatalf("WebSocket %d from another address: %+v", i, f)
		}
	}
	if _, f := dialFrom(t, n.Addr(), "127.0.0.3"); f.Op != "disconnect" || f.Code != 3504 || !f.Reconnect || f.Reason != "node full" {
		t.Fatalf("past the node's limit: %+v, want disconnect 3504 node full, reconnect", f)
	}
	if status, body := sseFrom(t, n.Addr(), "127.0.0.3"); status != http.StatusServiceUnavailable || !strings.Contains(body, "--max-connections") {
		t.Fatalf("SSE past the node's limit: %d %s, want 503", status, body)
	}
	for limit, want := range map[string]float64{"max-connections-per-ip": 2, "max-connections": 2} {
		if got := heraldtest.Metric(t, n.Addr(), `herald_limit_refusals_total{limit="`+limit+`"}`); got != want {
			t.Errorf("refusals by %s counted %v, want %v", limit, got, want)
		}
	}
	first.Close()
	heraldtest.Eventually(t, 5*time.Second, "the closed connection's place to free", func() bool {
		return heraldtest.Metric(t, n.Addr(), `herald_connections{transport="websocket"}`) == 3
	})
	if _, f := dialFrom(t, n.Addr(), "127.0.0.3"); f.Op != "welcome" {
		t.Fatalf("once a place is free: %+v, want a welcome", f)
	}
}
