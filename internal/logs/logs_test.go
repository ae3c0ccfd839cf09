package logs

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestEveryWritesOncePerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		e := Every{Interval: 10 * time.Second}
		for range 5 {
			e.Log(log, slog.LevelWarn, "publish failed")
		}
		if n := strings.Count(buf.String(), "publish failed"); n != 1 {
			t.Fatalf("%d lines after a burst, want 1:\n%s", n, buf.String())
		}
		time.Sleep(10 * time.Second)
		e.Log(log, slog.LevelWarn, "publish failed")
		if !strings.Contains(buf.String(), "repeats=4") {
			t.Fatalf("the second line does not count the 4 left out:\n%s", buf.String())
		}
		e.Reset()
		e.Log(log, slog.LevelWarn, "publish failed")
		if n := strings.Count(buf.String(), "publish failed"); n != 3 {
			t.Fatalf("%d lines, want 3 (Reset writes the next at once):\n%s", n, buf.String())
		}
	})
}
