package cli

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/heraldrt/herald/internal/config"
)

func TestServeHelpListsEveryOption(t *testing.T) {
	t.Parallel()
	res := run(t, context.Background(), nil, "serve", "--help")
	if res.code != 0 {
		t.Fatalf("exit code %d, stderr %q", res.code, res.stderr)
	}
	contains(t, "help", res.stdout, "HERALD_NATS_URL", "HERALD_CONFIG", "--config", "Examples:")

	lines := strings.Split(res.stdout, "\n")
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	fs.VisitAll(func(f *pflag.Flag) {
		i := strings.Index(res.stdout, "--"+f.Name+" ")
		if i < 0 {
			t.Errorf("help does not list --%s", f.Name)
			return
		}
		line := lines[strings.Count(res.stdout[:i], "\n")]
		zero := map[string]bool{"": true, "0": true, "0s": true, "false": true, "[]": true}
		if !zero[f.DefValue] && !strings.Contains(line, "(default ") {
			t.Errorf("help for --%s does not give its default %s: %q", f.Name, f.DefValue, line)
		}
	})
}

func TestServeInvalidConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	badFile := filepath.Join(dir, "herald.json")
	if err := os.WriteFile(badFile, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"--role", "x", "--log-format", "xml"}, 1, []string{"herald serve: invalid configuration:\n", `  role: "x"`, `  log-format: "xml"`}},
		{[]string{"--config", badFile}, 1, []string{`unsupported extension ".json"`}},
		{[]string{"--max-subscriptions", "many"}, exitUsage, []string{`invalid argument "many" for "--max-subscriptions"`, "herald serve --help"}},
		{[]string{"extra"}, exitUsage, []string{`unknown command "extra"`}},
	}
	for _, tt := range tests {
		res := run(t, context.Background(), nil, append([]string{"serve"}, tt.args...)...)
		if res.code != tt.code {
			t.Errorf("%q: exit code %d, want %d", tt.args, res.code, tt.code)
		}
		contains(t, "stderr", res.stderr, tt.want...)
	}
}

func TestServeStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as if interrupted at once
	res := run(t, ctx, nil, "serve", "--listen", "127.0.0.1:0", "--log-level", "error")
	if res.code != 0 {
		t.Errorf("exit code %d, want 0; stderr %q", res.code, res.stderr)
	}
}

func TestNewLogger(t *testing.T) {
	t.Parallel()
	var out output
	log := newLogger(&out, "json", "warn")
	log.Info("hidden")
	log.Warn("shown", "k", "v")
	if got := out.String(); strings.Contains(got, "hidden") || !strings.Contains(got, `"msg":"shown","k":"v"`) {
		t.Errorf("json logger at warn wrote %q", got)
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	res := run(t, context.Background(), nil, "version")
	if res.code != 0 {
		t.Fatalf("exit code %d, stderr %q", res.code, res.stderr)
	}
	contains(t, "stdout", res.stdout, "herald dev\n", "commit: ", runtime.Version())

	res = run(t, context.Background(), nil, "--version")
	contains(t, "stdout", res.stdout, "herald dev")
}

func TestRoot(t *testing.T) {
	t.Parallel()
	res := run(t, context.Background(), nil)
	if res.code != 0 {
		t.Errorf("herald: exit code %d, want 0", res.code)
	}
	contains(t, "help", res.stdout, "serve", "publish", "sub", "version")

	res = run(t, context.Background(), nil, "serv")
	if res.code != exitUsage {
		t.Errorf("herald serv: exit code %d, want %d", res.code, exitUsage)
	}
	contains(t, "stderr", res.stderr, `unknown command "serv"`, "serve")
}
