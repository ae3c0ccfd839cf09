package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/heraldrt/herald/internal/config"
)

// benchNode starts a real node (all roles, embedded NATS) on a random
// loopback port and returns its base URL.
func benchNode(t *testing.T) string {
	t.Helper()
	cfg := config.Default()
	cfg.Name = "bench"
	cfg.StatsInterval = 0
	return startNode(t, cfg)
}

func TestBenchConnect(t *testing.T) {
	t.Parallel()
	u := benchNode(t)
	res := run(t, context.Background(), nil, "bench", "connect", "--url", u, "-n", "200", "--channels", "10")
	if res.code != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	contains(t, "stdout", res.stdout, "herald bench connect: 200 WebSocket connections", "200 connected, 0 failed", "handshake", "p99.9")
	contains(t, "stderr", res.stderr, "ramp: 200 connected")
}

func TestBenchFanoutJSON(t *testing.T) {
	t.Parallel()
	u := benchNode(t)
	res := run(t, context.Background(), nil, "bench", "fanout", "--url", u, "-n", "100", "--channels", "4",
		"--transport", "sse", "--rate", "20", "--duration", "1s", "--json")
	if res.code != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	var rep struct {
		Mode   string `json:"mode"`
		Fanout struct {
			Expected uint64 `json:"expected"`
			Received uint64 `json:"received"`
			Latency  struct {
				Count uint64  `json:"count"`
				P999  float64 `json:"p99_9_ms"`
			} `json:"latency"`
		} `json:"fanout"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, res.stdout)
	}
	// 20 messages, each to a channel of 25 subscribers.
	if f := rep.Fanout; rep.Mode != "fanout" || f.Expected != 500 || f.Received != 500 || f.Latency.Count != 500 || f.Latency.P999 <= 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestBenchPublish(t *testing.T) {
	t.Parallel()
	u := benchNode(t)
	res := run(t, context.Background(), nil, "bench", "publish", "--api", u, "--duration", "300ms", "--concurrency", "2", "--broadcast", "2")
	if res.code != 0 {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	contains(t, "stdout", res.stdout, "to /api/broadcast to 2 channels by 2 workers", "latency")
}

func TestBenchRefusals(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "connect", "--url", "http://192.0.2.1:8080"}, "--allow-remote"},
		{[]string{"bench", "fanout", "--url", "http://127.0.0.1:1", "--api", "http://192.0.2.1:80"}, "not a loopback address"},
		{[]string{"bench", "publish", "--api", "http://[2001:db8::1]:80"}, "not a loopback address"},
		{[]string{"bench", "connect", "--transport", "poll"}, `transport "poll"`},
		{[]string{"bench", "idle", "--protocol", "nats"}, `protocol "nats": want herald or centrifugo`},
		{[]string{"bench", "fanout", "--protocol", "centrifugo", "--transport", "sse"}, "the centrifugo protocol is benched over ws only"},
		{[]string{"bench", "publish", "--protocol", "centrifugo", "--api", "http://192.0.2.1:8000"}, "not a loopback address"},
		{[]string{"bench"}, "give a mode"},
	} {
		res := run(t, context.Background(), nil, tt.args...)
		if res.code != exitUsage || !strings.Contains(res.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, res.code, res.stderr, exitUsage, tt.want)
		}
	}
}

func TestBenchWorkerNeedsAJob(t *testing.T) {
	t.Parallel()
	res := run(t, context.Background(), strings.NewReader("not json\n"), "bench", "worker")
	if res.code != exitError || !strings.Contains(res.stderr, "not valid JSON") {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	help := run(t, context.Background(), nil, "bench", "--help")
	if strings.Contains(help.stdout, "\n  worker ") || !strings.Contains(help.stdout, "\n  fanout ") {
		t.Errorf("the hidden worker command shows in help:\n%s", help.stdout)
	}
}

// TestBenchCentrifugoProtocol checks that --protocol centrifugo reaches the
// run: the WebSocket path, the API key header, and errors in answers of
// status 200. The server here only records what it is asked.
func TestBenchCentrifugoProtocol(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+" "+r.Header.Get("X-API-Key"))
		mu.Unlock()
		if r.URL.Path == "/api/publish" {
			fmt.Fprint(w, `{"error":{"code":102,"message":"unknown channel"}}`)
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	res := run(t, context.Background(), nil, "bench", "connect", "--protocol", "centrifugo", "--url", srv.URL, "-n", "3")
	if res.code != 0 {
		t.Fatalf("connect: exit %d, stderr %q", res.code, res.stderr)
	}
	contains(t, "stdout", res.stdout, "3 Centrifugo WebSocket connections", "http 404: 3")
	res = run(t, context.Background(), nil, "bench", "publish", "--protocol", "centrifugo", "--api", srv.URL,
		"--api-key", "k", "--duration", "100ms", "--concurrency", "1")
	if res.code != 0 {
		t.Fatalf("publish: exit %d, stderr %q", res.code, res.stderr)
	}
	contains(t, "stdout", res.stdout, "(Centrifugo)", "api error 102 unknown channel")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 4 || seen[0] != "/connection/websocket " || seen[len(seen)-1] != "/api/publish k" {
		t.Errorf("the server saw %q", seen)
	}
}
