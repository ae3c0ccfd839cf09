package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/heraldrt/herald/internal/config"
)

// historyNode starts a real node keeping history for news.>.
func historyNode(t *testing.T) string {
	t.Helper()
	cfg := config.Default()
	cfg.Name = "cli-history"
	cfg.History = []string{"news.>=100"}
	cfg.DataDir = t.TempDir()
	return startNode(t, cfg)
}

// publish --idempotency-key against a real node: the position is printed,
// and a retry answers the same one as a duplicate.
func TestPublishIdempotencyKeyPrintsPosition(t *testing.T) {
	url := historyNode(t)
	var first, again struct {
		Epoch     string `json:"epoch"`
		Offset    uint64 `json:"offset"`
		Duplicate bool   `json:"duplicate"`
	}
	for i, out := range []any{&first, &again} {
		res := run(t, context.Background(), nil, "publish", "--url", url, "--idempotency-key", "k1", "news.cli", `{"n":1}`)
		if res.code != 0 {
			t.Fatalf("publish %d: exit %d, stderr %q", i, res.code, res.stderr)
		}
		if err := json.Unmarshal([]byte(res.stdout), out); err != nil {
			t.Fatalf("stdout %q: %v", res.stdout, err)
		}
	}
	if first.Offset != 1 || first.Duplicate || again.Epoch != first.Epoch || again.Offset != 1 || !again.Duplicate {
		t.Fatalf("first %+v, retry %+v", first, again)
	}
	res := run(t, context.Background(), nil, "publish", "--url", url, "--idempotency-key", "k1", "plain", `1`)
	if res.code != 1 || !strings.Contains(res.stderr, "history") {
		t.Fatalf("a key on a channel without history: exit %d, stderr %q", res.code, res.stderr)
	}
}

// sub --rewind N against a real node: the last N messages, then live.
func TestSubRewind(t *testing.T) {
	url := historyNode(t)
	for _, d := range []string{`"a"`, `"b"`, `"c"`} {
		if res := run(t, context.Background(), nil, "publish", "--url", url, "news.rw", d); res.code != 0 {
			t.Fatalf("publish: %q", res.stderr)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newOutput(), newOutput()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"sub", "--url", url, "--rewind", "2", "news.rw", "plain"}, strings.NewReader(""), stdout, stderr)
	}()
	stdout.WaitFor(t, `"offset":3,"data":"c"`, waitTimeout)
	if res := run(t, context.Background(), nil, "publish", "--url", url, "news.rw", `"d"`); res.code != 0 {
		t.Fatalf("publish: %q", res.stderr)
	}
	stdout.WaitFor(t, `"offset":4,"data":"d"`, waitTimeout)
	stderr.WaitFor(t, "plain: history not replayed (no_history)", waitTimeout)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("sub exit %d, stderr %q", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var offsets []string
	for _, l := range lines {
		var m struct {
			Offset json.Number `json:"offset"`
		}
		_ = json.Unmarshal([]byte(l), &m)
		offsets = append(offsets, m.Offset.String())
	}
	if strings.Join(offsets, " ") != "2 3 4" {
		t.Fatalf("offsets %v, want 2 3 4: the last two, then live", offsets)
	}
}
