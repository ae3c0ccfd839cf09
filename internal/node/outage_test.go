package node_test

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/heraldtest"
	"github.com/nats-io/nats-server/v2/server"
)

// startNATS runs a standalone NATS server on addr, as a user's own NATS.
func startNATS(t *testing.T, addr string) *server.Server {
	t.Helper()
	return startNATSWith(t, addr, "")
}

// startNATSWith runs a standalone NATS server on addr, with JetStream
// keeping its data in storeDir when that is set.
func startNATSWith(t *testing.T, addr, storeDir string) *server.Server {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	ns, err := server.NewServer(&server.Options{Host: host, Port: p, NoSigs: true, NoLog: true, JetStream: storeDir != "", StoreDir: storeDir})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func TestNATSOutageAndRecovery(t *testing.T) {
	natsAddr := heraldtest.FreeAddr(t)
	ns := startNATS(t, natsAddr)
	cfg := heraldtest.Config("survivor")
	cfg.NATSURL = "nats://" + natsAddr
	n := heraldtest.StartNode(t, cfg)

	c := heraldtest.DialWS(t, n.Addr(), nil)
	c.Subscribe("status")
	heraldtest.MustPublish(t, n.Addr(), "status", `"before"`)
	if f := c.Message(5 * time.Second); string(f.Data) != `"before"` {
		t.Fatalf("before the outage: %s", f.Data)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	heraldtest.Eventually(t, 10*time.Second, "readyz to report the outage", func() bool { return !heraldtest.Ready(n.Addr()) })
	if got := heraldtest.Metric(t, n.Addr(), "herald_nats_connected"); got != 0 {
		t.Fatalf("herald_nats_connected = %v during the outage", got)
	}
	status, body := heraldtest.Publish(t, n.Addr(), "/api/publish", `{"channel":"status","data":"during"}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("publish during the outage: %d %s, want 503 unavailable", status, body)
	}
	// The client is kept through the outage.
	if r := c.Command("ping", "", ""); r.Error != nil {
		t.Fatalf("ping during the outage: %+v", r.Error)
	}

	startNATS(t, natsAddr)
	heraldtest.Eventually(t, 20*time.Second, "readyz after NATS is back", func() bool { return heraldtest.Ready(n.Addr()) })
	heraldtest.MustPublish(t, n.Addr(), "status", `"after"`)
	if f := c.Message(5 * time.Second); string(f.Data) != `"after"` {
		t.Fatalf("after the outage: %s", f.Data)
	}
	if got := heraldtest.Metric(t, n.Addr(), "herald_nats_reconnects_total"); got < 1 {
		t.Fatalf("herald_nats_reconnects_total = %v", got)
	}
}

// TestHistoryPublishDuringOutageFailsFastAndIsNeverStored publishes to a
// history channel while the node's NATS is down: the publish is refused at
// once, not after its deadline, and is not sent once NATS is back (it was
// answered as failed, so a client that retries would store it twice).
// Failed publishes are logged once per interval, not once per request.
func TestHistoryPublishDuringOutageFailsFastAndIsNeverStored(t *testing.T) {
	natsAddr, store := heraldtest.FreeAddr(t), t.TempDir()
	ns := startNATSWith(t, natsAddr, store)
	cfg := historyConfig(t, "outage-history")
	cfg.NATSURL = "nats://" + natsAddr
	logBuf := heraldtest.NewLogBuffer()
	n := heraldtest.LaunchNode(t, cfg, slog.New(slog.NewTextHandler(logBuf, nil)))
	waitHistory(t, n)
	const ch = "news.outage"
	epoch := publishRange(t, n.Addr(), ch, 1, 2)

	ns.Shutdown()
	ns.WaitForShutdown()
	heraldtest.Eventually(t, 10*time.Second, "the node to see the outage", func() bool { return !n.Bus().Connected() })
	for i := range 20 {
		start := time.Now()
		status, body := heraldtest.Publish(t, n.Addr(), "/api/publish", `{"channel":"`+ch+`","data":"during"}`)
		if status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
			t.Fatalf("publish %d during the outage: %d %s, want 503 unavailable", i, status, body)
		}
		// Its deadline is --write-timeout (10s): an answer well before it
		// means the node did not wait for JetStream.
		if took := time.Since(start); took > cfg.WriteTimeout/2 {
			t.Fatalf("publish %d during the outage took %s, want a fast failure", i, took)
		}
	}
	if lines := strings.Count(logBuf.String(), "publish failed"); lines != 1 {
		t.Errorf("%d 'publish failed' lines for 20 failed publishes, want 1:\n%s", lines, logBuf.String())
	}

	startNATSWith(t, natsAddr, store)
	heraldtest.Eventually(t, 30*time.Second, "a publish after NATS is back", func() bool {
		status, _ := heraldtest.Publish(t, n.Addr(), "/api/publish", `{"channel":"`+ch+`","data":{"n":3},"idempotency_key":"after"}`)
		return status == http.StatusOK
	})
	// Had a failed publish been kept and sent on reconnect, it would have
	// been stored first, and "after" would not be offset 3.
	status, body := heraldtest.Get(t, "http://"+n.Addr()+"/api/history?channel="+ch)
	if status != http.StatusOK {
		t.Fatalf("history: %d %s", status, body)
	}
	var h struct {
		Offset   uint64 `json:"offset"`
		Messages []struct {
			Epoch  string          `json:"epoch"`
			Offset uint64          `json:"offset"`
			Data   json.RawMessage `json:"data"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	if h.Offset != 3 || len(h.Messages) != 3 {
		t.Fatalf("history after the outage: %s; want offsets 1-3, nothing from the outage", body)
	}
	for i, m := range h.Messages {
		if m.Epoch != epoch || m.Offset != uint64(i+1) || strings.Contains(string(m.Data), "during") {
			t.Fatalf("history after the outage: %s; want offsets 1-3, nothing from the outage", body)
		}
	}
}

// TestNotReadyUntilHistoryWorks starts a node with history on a NATS
// without JetStream: connected, but unable to keep history, it says it is
// not ready. NATS comes back with JetStream, and the node becomes ready
// only once a history publish works.
func TestNotReadyUntilHistoryWorks(t *testing.T) {
	natsAddr := heraldtest.FreeAddr(t)
	ns := startNATS(t, natsAddr) // no JetStream
	cfg := historyConfig(t, "wait-history")
	cfg.NATSURL = "nats://" + natsAddr
	n := heraldtest.LaunchNode(t, cfg, nil)
	heraldtest.Eventually(t, 10*time.Second, "the node on NATS", func() bool { return n.Bus().Connected() })
	// Past a few checks of its history, it is still not ready.
	for range 20 {
		status, body := heraldtest.Get(t, "http://"+n.Addr()+"/readyz")
		if status != http.StatusServiceUnavailable || !strings.Contains(body, `"history unavailable"`) {
			t.Fatalf("readyz with NATS up but no JetStream: %d %s, want 503 history unavailable", status, body)
		}
		time.Sleep(50 * time.Millisecond) // sampling readiness over time: nothing to wait on
	}
	ns.Shutdown()
	ns.WaitForShutdown()
	startNATSWith(t, natsAddr, t.TempDir())
	heraldtest.Eventually(t, 30*time.Second, "ready once history works", func() bool { return heraldtest.Ready(n.Addr()) })
	if status, body := heraldtest.Publish(t, n.Addr(), "/api/publish", `{"channel":"news.ready","data":1}`); status != http.StatusOK {
		t.Fatalf("a history publish once ready: %d %s", status, body)
	}
}
