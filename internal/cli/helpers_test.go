package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/node"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// output is an io.Writer that tests can read while a command writes to it.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // receives after each write
}

func newOutput() *output { return &output{changed: make(chan struct{}, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor waits until the output contains s.
func (o *output) waitFor(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(waitTimeout)
	for !strings.Contains(o.String(), s) {
		select {
		case <-o.changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %q in output %q", s, o.String())
		}
	}
}

// result is how a command line ended.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the command line args with stdin and returns how it ended.
func run(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr bytes.Buffer
	code := Run(ctx, args, stdin, &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// contains fails the test unless s contains each of want.
func contains(t *testing.T, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s %q does not contain %q", what, s, w)
		}
	}
}

// startNode starts a real node from cfg on a random loopback port, stops
// it when the test ends, and returns its base URL once it is ready.
func startNode(t *testing.T, cfg config.Config) string {
	t.Helper()
	u := startNodeUnready(t, cfg)
	deadline := time.Now().Add(waitTimeout)
	for {
		resp, err := http.Get(u + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return u
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // polling readiness: there is no event to wait on
	}
}

// startNodeUnready starts a real node like startNode, but returns its base
// URL as soon as it listens, ready or not.
func startNodeUnready(t *testing.T, cfg config.Config) string {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	cfg.DrainTimeout = 100 * time.Millisecond
	n, err := node.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	})
	return "http://" + n.Addr()
}
