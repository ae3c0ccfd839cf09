package node_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestGracefulShutdownTellsEveryClient(t *testing.T) {
	cfg := testConfig("leaving")
	cfg.DrainTimeout = 300 * time.Millisecond
	n := startNode(t, cfg)

	clients := []*wsClient{dialWS(t, n.Addr(), nil), dialWS(t, n.Addr(), nil), dialWS(t, n.Addr(), nil)}
	for _, c := range clients {
		c.subscribe("news")
	}
	sse := openSSE(t, n.Addr(), "news")
	// The long-poll client's first poll subscribes and then waits.
	polled := make(chan pollResponse, 1)
	go func() {
		_, r, _ := poll(t, n.Addr(), "channel=news&timeout=30s")
		polled <- r
	}()
	eventually(t, 5*time.Second, "all clients connected", func() bool {
		return metric(t, n.Addr(), "herald_subscriptions") == 5
	})
	addr := n.Addr()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- n.Shutdown(ctx) }()

	for i, c := range clients {
		disc, code := c.closeCode(5 * time.Second)
		if code != 3001 || disc.Code != 3001 || !disc.Reconnect || disc.Reason != "shutdown" {
			t.Errorf("client %d: close %d, disconnect %+v; want 3001 shutdown reconnect", i, code, disc)
		}
	}
	if ev := sse.next(t, 5*time.Second); ev.event != "disconnect" || ev.data != `{"code":3001,"reason":"shutdown","reconnect":true}` {
		t.Errorf("SSE got %q %s, want the disconnect event", ev.event, ev.data)
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
