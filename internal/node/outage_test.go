package node_test

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATS runs a standalone NATS server on addr, as a user's own NATS.
func startNATS(t *testing.T, addr string) *server.Server {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	ns, err := server.NewServer(&server.Options{Host: host, Port: p, NoSigs: true, NoLog: true})
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
	natsAddr := freeAddr(t)
	ns := startNATS(t, natsAddr)
	cfg := testConfig("survivor")
	cfg.NATSURL = "nats://" + natsAddr
	n := startNode(t, cfg)

	c := dialWS(t, n.Addr(), nil)
	c.subscribe("status")
	mustPublish(t, n.Addr(), "status", `"before"`)
	if f := c.message(5 * time.Second); string(f.Data) != `"before"` {
		t.Fatalf("before the outage: %s", f.Data)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	eventually(t, 10*time.Second, "readyz to report the outage", func() bool { return !ready(n.Addr()) })
	if got := metric(t, n.Addr(), "herald_nats_connected"); got != 0 {
		t.Fatalf("herald_nats_connected = %v during the outage", got)
	}
	status, body := publish(t, n.Addr(), "/api/publish", `{"channel":"status","data":"during"}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"unavailable"`) {
		t.Fatalf("publish during the outage: %d %s, want 503 unavailable", status, body)
	}
	// The client is kept through the outage.
	if r := c.command("ping", "", ""); r.Error != nil {
		t.Fatalf("ping during the outage: %+v", r.Error)
	}

	startNATS(t, natsAddr)
	eventually(t, 20*time.Second, "readyz after NATS is back", func() bool { return ready(n.Addr()) })
	mustPublish(t, n.Addr(), "status", `"after"`)
	if f := c.message(5 * time.Second); string(f.Data) != `"after"` {
		t.Fatalf("after the outage: %s", f.Data)
	}
	if got := metric(t, n.Addr(), "herald_nats_reconnects_total"); got < 1 {
		t.Fatalf("herald_nats_reconnects_total = %v", got)
	}
}
