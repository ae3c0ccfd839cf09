package cli

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// keptIn finds the data directory the demo reports.
var keptIn = regexp.MustCompile(`History: +updates=1000,1h, kept in (\S+)\n`)

func TestDemoKeepsHistoryInATemporaryDirectory(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as if interrupted once the demo runs
	res := run(t, ctx, nil, "demo", "--api-port", "0", "--gateway-ports", "0,0", "--log-level", "error")
	if res.code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr %q", res.code, res.stderr)
	}
	contains(t, "stdout", res.stdout, "Demo page:", "Stopping...")
	m := keptIn.FindStringSubmatch(res.stdout)
	if m == nil {
		t.Fatalf("stdout %q does not say where the history is kept", res.stdout)
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the demo's temporary data directory %s is still there after it stopped (%v)", m[1], err)
	}
}

func TestDemoDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := run(t, ctx, nil, "demo", "--api-port", "0", "--gateway-ports", "0,0", "--log-level", "error", "--data-dir", dir)
	if res.code != exitOK {
		t.Fatalf("exit code %d, want 0; stderr %q", res.code, res.stderr)
	}
	if m := keptIn.FindStringSubmatch(res.stdout); m == nil || m[1] != dir {
		t.Errorf("stdout %q does not say the history is kept in %s", res.stdout, dir)
	}
	// The api node's store stays for the next run.
	if fi, err := os.Stat(filepath.Join(dir, "api")); err != nil || !fi.IsDir() {
		t.Errorf("no store of the api node in %s: %v", dir, err)
	}
}

func TestDemoGatewayPorts(t *testing.T) {
	t.Parallel()
	res := run(t, context.Background(), nil, "demo", "--gateway-ports", "4001")
	if res.code != exitUsage {
		t.Errorf("exit code %d, want %d", res.code, exitUsage)
	}
	contains(t, "stderr", res.stderr, "--gateway-ports: give two ports")
}

// TestDemoTerminalStopsAndStartsGateways types commands at the demo's
// terminal, as a person following the README would.
func TestDemoTerminalStopsAndStartsGateways(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in, typed := io.Pipe()
	out := newOutput()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"demo", "--api-port", "0", "--gateway-ports", "0,0", "--log-level", "error"}, in, out, io.Discard)
	}()
	typeLine := func(line string) {
		t.Helper()
		if _, err := io.WriteString(typed, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	out.WaitFor(t, `Type "stop 1"`, waitTimeout)
	typeLine("stop 1")
	out.WaitFor(t, ": stopped", waitTimeout)
	typeLine("start node1")
	typeLine("status")
	// The last status lists both gateways running again.
	deadline := time.Now().Add(waitTimeout)
	for {
		s := out.String()
		if i := strings.LastIndex(s, "node1 on "); i > strings.Index(s, ": stopped") && strings.Count(s[i:], ": running") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("both gateways should be running after start:\n%s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	typed.Close()
	if code := <-done; code != exitOK {
		t.Fatalf("exit code %d", code)
	}
}
