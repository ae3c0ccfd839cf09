package main_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/heraldtest"
)

// openWebSockets opens up to n WebSocket connections to addr, from
// several loopback addresses, and returns those that were upgraded and
// how many the node refused with close 3504. It stops early once three
// attempts in a row got no answer at all: the node has no descriptor left
// to accept one.
func openWebSockets(t *testing.T, addr string, n int) (open []net.Conn, refused int) {
	t.Helper()
	silent := 0
	for i := 0; i < n && silent < 3; i++ {
		c, first, err := heraldtest.Handshake(addr, heraldtest.Dial{Source: fmt.Sprintf("127.0.0.%d", 2+i%8), Timeout: 2 * time.Second})
		switch {
		case err != nil:
			silent++
			continue
		case first.Op == "disconnect" && first.Code == 3504:
			refused++
			c.Conn.Close()
			continue
		case first.Op != "welcome":
			silent++
			c.Conn.Close()
			continue
		}
		conn := c.Conn
		silent = 0
		_ = conn.SetReadDeadline(time.Time{})
		open = append(open, conn)
	}
	return open, refused
}

// publishVia publishes data to a channel through client.
func publishVia(client *http.Client, addr, channel, data string) (int, string) {
	resp, err := client.Post("http://"+addr+"/api/publish", "application/json", strings.NewReader(fmt.Sprintf(`{"channel":%q,"data":%s}`, channel, data)))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDescriptorLimitKeepsHistoryWorking fills a node whose open-files
// limit is 300 with idle WebSocket connections. The node refuses them
// (close 3504) while it still has descriptors for NATS, JetStream and
// requests: history publishes work throughout, and the node stays ready.
func TestDescriptorLimitKeepsHistoryWorking(t *testing.T) {
	t.Parallel()
	h := startHeraldWithFiles(t, "fd-budget", 300, "--history", "news.>=1000", "--data-dir", t.TempDir(), "--ping-interval", "5m")
	heraldtest.Eventually(t, 20*time.Second, "history", func() bool { s, _ := publishVia(http.DefaultClient, h.addr, "news.a", "1"); return s == 200 })
	h.waitLog(t, "connection limits", 5*time.Second)
	conns, refused := openWebSockets(t, h.addr, 320)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	if refused == 0 || len(conns) > 300 {
		t.Fatalf("%d connections open, %d refused with 3504; want the node to refuse before its limit", len(conns), refused)
	}
	t.Logf("%d WebSocket connections held, %d refused with 3504", len(conns), refused)
	for i := range 20 {
		if s, b := publishVia(http.DefaultClient, h.addr, fmt.Sprintf("news.full%d", i), `"`+strings.Repeat("x", 60_000)+`"`); s != 200 {
			t.Fatalf("history publish %d while the node is full: %d %s", i, s, b)
		}
	}
	if !heraldtest.Ready(h.addr) {
		t.Fatal("the node says it is not ready while full, though everything works")
	}
	// The connections it holds are bounded, and so is its memory (the race
	// detector multiplies it several times).
	if rss := rssKiB(t, h.cmd.Process.Pid); rss > 512<<10 {
		t.Errorf("RSS %d KiB with %d connections held", rss, len(conns))
	}
	if got := heraldtest.MetricText(h.addr, `herald_limit_refusals_total{limit="max-connections"}`); got == "?" || got == "" || got == "0" {
		t.Errorf("refusals not counted: %s", got)
	}
}

// TestJetStreamRecoversAfterDescriptorExhaustion lets a node's WebSocket
// connections take every descriptor (an explicit --max-connections above
// its budget, which it warns about) and holds them until JetStream next
// needs a new file: it writes its state files every one to two minutes,
// fails, and from then on cannot store, as it once did until the node was
// restarted. Meanwhile the node says it is not ready. Once the clients
// leave, the node restarts JetStream by itself, history works again, and
// the node is ready.
func TestJetStreamRecoversAfterDescriptorExhaustion(t *testing.T) {
	t.Parallel()
	h := startHeraldWithFiles(t, "fd-exhausted", 300, "--history", "news.>=1000", "--data-dir", t.TempDir(),
		"--max-connections", "100000", "--ping-interval", "10m", "--write-timeout", "2s")
	h.waitLog(t, "--max-connections leaves NATS, JetStream and requests fewer descriptors than they need: at the open-files limit, history may fail", 5*time.Second)
	heraldtest.Eventually(t, 20*time.Second, "history", func() bool { s, _ := publishVia(http.DefaultClient, h.addr, "news.a", "1"); return s == 200 })

	// No idle connection of ours to the node may close later and hand
	// JetStream a descriptor.
	http.DefaultClient.CloseIdleConnections()
	conns, _ := openWebSockets(t, h.addr, 320)
	t.Logf("%d WebSocket connections hold the node's descriptors", len(conns))
	h.waitLogContaining(t, "Critical write error", 4*time.Minute)
	h.waitLog(t, "history is not working; not ready until it does", 30*time.Second)
	for _, c := range conns {
		c.Close()
	}
	h.waitLog(t, "history cannot be written; restarting JetStream to reopen its files", 30*time.Second)
	heraldtest.Eventually(t, 60*time.Second, "history publishes to work again", func() bool {
		s, _ := publishVia(http.DefaultClient, h.addr, "news.after", "1")
		return s == http.StatusOK
	})
	heraldtest.Eventually(t, 30*time.Second, "the node ready again", func() bool { return heraldtest.Ready(h.addr) })
}
