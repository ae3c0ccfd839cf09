package node_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/heraldtest"
)

func TestGracefulShutdownTellsEveryClient(t *testing.T) {
	cfg := heraldtest.Config("leaving")
	cfg.DrainTimeout = 300 * time.Millisecond
	n := heraldtest.StartNode(t, cfg)

	clients := []*heraldtest.WS{heraldtest.DialWS(t, n.Addr(), nil), heraldtest.DialWS(t, n.Addr(), nil), heraldtest.DialWS(t, n.Addr(), nil)}
	for _, c := range clients {
		c.Subscribe("news")
	}
	sse := heraldtest.OpenSSE(t, n.Addr(), "news")
	// The long-poll client's first poll subscribes and then waits.
	polled := make(chan heraldtest.PollResponse, 1)
	go func() {
		_, r, _ := heraldtest.Poll(t, n.Addr(), "channel=news&timeout=30s")
		polled <- r
	}()
	heraldtest.Eventually(t, 5*time.Second, "all clients connected", func() bool {
		return heraldtest.Metric(t, n.Addr(), "herald_subscriptions") == 5
	})
	addr := n.Addr()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- n.Shutdown(ctx) }()

	for i, c := range clients {
		disc, code := c.CloseCode(5 * time.Second)
		if code != 3001 || disc.Code != 3001 || !disc.Reconnect || disc.Reason != "shutdown" {
			t.Errorf("client %d: close %d, disconnect %+v; want 3001 shutdown reconnect", i, code, disc)
		}
	}
	if ev := sse.Next(t, 5*time.Second); ev.Event != "disconnect" || ev.Data != `{"code":3001,"reason":"shutdown","reconnect":true}` {
		t.Errorf("SSE got %q %s, want the disconnect event", ev.Event, ev.Data)
	}
	select {
	case r := <-polled:
		if r.Disconnect == nil || r.Disconnect.Code != 3001 || !r.Disconnect.Reconnect {
			t.Errorf("long-poll answer %+v, want a 3001 disconnect", r)
		}
	case <-time.After(5 * time.Second):
		t.Error("the waiting long-poll was not answered")
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the node still accepts connections after shutdown")
	}
	if _, err := http.Get("http://" + addr + "/readyz"); err == nil {
		t.Fatal("readyz still answers after shutdown")
	}
}

// With --shutdown-delay, a stopping node first turns not ready while it
// keeps serving: new clients still connect and get messages; only then
// does it close its listener and tell clients to go.
func TestShutdownDelayKeepsServingWhileNotReady(t *testing.T) {
	cfg := heraldtest.Config("delayed")
	cfg.ShutdownDelay = 2 * time.Second // ample for the checks below
	cfg.DrainTimeout = 100 * time.Millisecond
	n := heraldtest.StartNode(t, cfg)
	addr := n.Addr()

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	started := time.Now()
	shut := make(chan error, 1)
	go func() { shut <- n.Shutdown(ctx) }()
	heraldtest.Eventually(t, 5*time.Second, "readyz to answer 503", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	c := heraldtest.DialWS(t, addr, nil) // a client the balancer sent before it noticed
	c.Subscribe("news")
	heraldtest.MustPublish(t, addr, "news", `"still here"`)
	if m := c.Message(5 * time.Second); string(m.Data) != `"still here"` {
		t.Fatalf("message during the delay: %s", m.Data)
	}
	select {
	case err := <-shut:
		t.Fatalf("shutdown ended during the delay: %v", err)
	default:
	}
	if since := time.Since(started); since >= cfg.ShutdownDelay {
		t.Fatalf("the checks took %s, longer than the delay: they prove nothing", since)
	}

	if _, code := c.CloseCode(10 * time.Second); code != 3001 {
		t.Fatalf("close code %d, want 3001", code)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if since := time.Since(started); since < cfg.ShutdownDelay {
		t.Fatalf("shutdown took %s, less than the delay", since)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Fatal("the node still accepts connections after shutdown")
	}
}
