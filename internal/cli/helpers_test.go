package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/heraldtest"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// output is where a command writes; tests wait on it for what they expect.
type output = heraldtest.LogBuffer

func newOutput() *output { return heraldtest.NewLogBuffer() }

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
	cfg.Listen, cfg.DrainTimeout = "127.0.0.1:0", 100*time.Millisecond
	return "http://" + heraldtest.StartNode(t, cfg).Addr()
}

// startNodeUnready starts a real node like startNode, but returns its base
// URL as soon as it listens, ready or not.
func startNodeUnready(t *testing.T, cfg config.Config) string {
	t.Helper()
	cfg.Listen, cfg.DrainTimeout = "127.0.0.1:0", 100*time.Millisecond
	return "http://" + heraldtest.LaunchNode(t, cfg, nil).Addr()
}
