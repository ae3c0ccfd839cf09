package main_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/heraldtest"
)

// sourceClient is an HTTP client whose connections come from the loopback
// address src, so that a test can be several clients to the per-address
// limits.
func sourceClient(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}}
}

// rssKiB reads a process's resident memory.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestLongPollSessionFloodIsBounded floods a node with long-poll sessions
// of 128 channels each from eight addresses, one of them greedier, none ever polled again, the
// way one client once drove a node from 27 MiB to 4 GiB in a minute. The
// node's limits refuse the excess with 429 and 503, count the refusals,
// and keep its memory bounded; the sessions end on their own soon after,
// and the node serves normally again.
func TestLongPollSessionFloodIsBounded(t *testing.T) {
	h := startHerald(t, "flood", "--max-poll-sessions", "400", "--max-poll-sessions-per-ip", "100", "--poll-session-ttl", "2s")
	before := rssKiB(t, h.cmd.Process.Pid)
	var channels strings.Builder
	for i := range 127 {
		fmt.Fprintf(&channels, "&channel=f.%d", i)
	}
	statuses := map[int]*atomic.Int64{200: {}, 429: {}, 503: {}}
	var other atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for s := 2; s <= 9; s++ {
		client := sourceClient(fmt.Sprintf("127.0.0.%d", s))
		workers := 3
		if s == 2 {
			workers = 12 // the greediest address meets its own limit first
		}
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					resp, err := client.Get(fmt.Sprintf("http://%s/poll?timeout=0s%s&channel=own.%d.%d.%d", h.addr, channels.String(), s, w, i))
					if err != nil {
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if c, ok := statuses[resp.StatusCode]; ok {
						c.Add(1)
					} else {
						other.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	peak := rssKiB(t, h.cmd.Process.Pid)
	ok, perIP, full := statuses[200].Load(), statuses[429].Load(), statuses[503].Load()
	t.Logf("flood: %d sessions made, %d refused per address (429), %d refused as the node was full (503); RSS %d KiB before, %d KiB after",
		ok, perIP, full, before, peak)
	if other.Load() > 0 || ok < 400 || perIP == 0 || full == 0 {
		t.Fatalf("flood answers: %d made, %d 429, %d 503, %d other; want the node filled, then both refusals", ok, perIP, full, other.Load())
	}
	// Each accepted session ended within its first-poll lifetime; at any
	// moment at most 400 lived, each holding 128 subscriptions.
	if got := heraldtest.MetricText(h.addr, `herald_limit_refusals_total{limit="max-poll-sessions"}`); got == "?" || got == "" || got == "0" {
		t.Errorf("node-wide refusals not counted: %s", got)
	}
	if got := heraldtest.MetricText(h.addr, `herald_limit_refusals_total{limit="max-poll-sessions-per-ip"}`); got == "?" || got == "" || got == "0" {
		t.Errorf("per-address refusals not counted: %s", got)
	}
	// The race detector multiplies a process's memory several times; 400
	// sessions of 128 channels stay far below this even so, while an
	// unbounded flood at this rate reached gigabytes.
	const bound = 768 << 10
	if peak > bound {
		t.Errorf("RSS %d KiB after the flood, want at most %d KiB", peak, bound)
	}
	heraldtest.Eventually(t, 15*time.Second, "the flooded sessions to end", func() bool {
		return heraldtest.MetricText(h.addr, `herald_connections{transport="longpoll"}`) == "0" && heraldtest.MetricText(h.addr, "herald_subscriptions") == "0"
	})
	resp, err := sourceClient("127.0.0.2").Get("http://" + h.addr + "/poll?channel=after&timeout=0s")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a session after the flood: %d", resp.StatusCode)
	}
}
