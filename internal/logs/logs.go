// Package logs holds what Herald's packages share about logging: a
// warning that repeats (a NATS outage seen by every publish, say) is
// written once, then at most once per interval with how many times it
// happened in between, so that a burst of failures does not flood the
// log.
package logs

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Every writes a recurring message at most once per Interval.
type Every struct {
	Interval time.Duration

	mu         sync.Mutex
	last       time.Time // when it was last written; zero: never
	suppressed int       // occurrences not written since
}

// Log writes msg at level unless it was written less than Interval ago,
// in which case it only counts it. A written message carries "repeats":
// the occurrences left out since the previous one.
func (e *Every) Log(log *slog.Logger, level slog.Level, msg string, args ...any) {
	e.mu.Lock()
	now := time.Now()
	if !e.last.IsZero() && now.Sub(e.last) < e.Interval {
		e.suppressed++
		e.mu.Unlock()
		return
	}
	repeats := e.suppressed
	e.last, e.suppressed = now, 0
	e.mu.Unlock()
	if repeats > 0 {
		args = append(args, "repeats", repeats)
	}
	log.Log(context.Background(), level, msg, args...)
}

// Reset makes the next Log write at once: the condition it reports ended.
func (e *Every) Reset() {
	e.mu.Lock()
	e.last, e.suppressed = time.Time{}, 0
	e.mu.Unlock()
}
