package heraldtest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/node"
)

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// FreeAddr returns a loopback address with a port nobody listens on, for
// a server that must come back on the same port. It picks ports below the
// ephemeral range (32768-60999), which outgoing connections never take.
func FreeAddr(t testing.TB) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		addr := fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(22000))
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// Config is a node config on a random loopback port with short timers.
func Config(name string) config.Config {
	cfg := config.Default()
	cfg.Name = name
	cfg.Listen = "127.0.0.1:0"
	cfg.DrainTimeout = 200 * time.Millisecond
	return cfg
}

// StartNode starts a node, waits until it is ready, and stops it when the
// test ends.
func StartNode(t testing.TB, cfg config.Config) *node.Node {
	t.Helper()
	n := LaunchNode(t, cfg, nil)
	Eventually(t, 10*time.Second, cfg.Name+" ready", func() bool { return Ready(n.Addr()) })
	return n
}

// LaunchNode starts a node that logs to log (nil: nowhere) and stops it
// when the test ends; it returns as soon as the node listens, ready or not.
func LaunchNode(t testing.TB, cfg config.Config, log *slog.Logger) *node.Node {
	t.Helper()
	n, err := node.New(cfg, log)
	if err != nil {
		t.Fatalf("node %s: %v", cfg.Name, err)
	}
	if err := n.Start(); err != nil {
		t.Fatalf("start node %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return n
}

// Ready reports whether the node at addr answers /readyz with 200.
func Ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Publish posts to a node's publish API and returns the status and body.
func Publish(t testing.TB, addr, path, body string) (int, string) {
	t.Helper()
	resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Get sends a GET and returns the status and body.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// MustPublish publishes data (JSON) to channel through addr's API, and
// fails the test if that fails.
func MustPublish(t testing.TB, addr, channel, data string) {
	t.Helper()
	status, body := Publish(t, addr, "/api/publish", `{"channel":"`+channel+`","data":`+data+`}`)
	if status != http.StatusOK {
		t.Fatalf("publish to %s: %d %s", channel, status, body)
	}
}

// Metric reads one sample of a node's /metrics, 0 if absent.
func Metric(t testing.TB, addr, name string) float64 {
	t.Helper()
	text := MetricText(addr, name)
	switch text {
	case "?":
		t.Fatalf("cannot read the metrics of %s", addr)
	case "":
		return 0
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		t.Fatalf("metric %s %s: %v", name, text, err)
	}
	return v
}

// MetricText is one sample of a node's /metrics as it is written: "" if
// the node has no such sample, "?" if /metrics cannot be read. For
// messages and for tests that have no testing.TB at hand.
func MetricText(addr, name string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "?"
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}
