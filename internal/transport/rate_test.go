package transport

import (
	"testing"

	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/metrics"
	"github.com/heraldrt/herald/internal/protocol"
)

// TestThrottleNeedsNoBucketWithinTheBurst has a connection use its first
// burst of commands with nothing allocated for it, then get buckets that
// count what it already used: past the burst it is refused at once.
func TestThrottleNeedsNoBucketWithinTheBurst(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.ClientCommandRate, cfg.ClientCommandBurst = 1, 10
	cfg.ClientPublishRate, cfg.ClientPublishBurst = 1, 3
	s := &Server{cfg: &cfg, Deps: Deps{Metrics: metrics.New(metrics.Sources{})}}
	c := &wsConn{s: s}
	for i := range 3 {
		if perr := c.throttle(protocol.OpPublish); perr != nil {
			t.Fatalf("publish %d within the burst: %v", i, perr)
		}
	}
	for i := range 7 {
		if perr := c.throttle(protocol.OpPing); perr != nil {
			t.Fatalf("command %d within the burst: %v", i+3, perr)
		}
	}
	if c.limits != nil {
		t.Fatal("a connection within its burst was given buckets")
	}
	if perr := c.throttle(protocol.OpPing); perr == nil || perr.Code != protocol.CodeRateLimited {
		t.Fatalf("the command past the burst: %v, want rate_limited", perr)
	}
	if c.limits == nil || c.limits.commands == nil || c.limits.publish == nil {
		t.Fatalf("no buckets once the burst was used: %+v", c.limits)
	}

	// The publish burst runs out first: the fourth publish makes the
	// buckets, and the publish bucket is empty.
	c2 := &wsConn{s: s}
	for range 3 {
		_ = c2.throttle(protocol.OpPublish)
	}
	if perr := c2.throttle(protocol.OpPublish); perr == nil || perr.Code != protocol.CodeRateLimited {
		t.Fatalf("the fourth publish: %v, want rate_limited", perr)
	}
	if perr := c2.throttle(protocol.OpPing); perr != nil {
		t.Fatalf("a ping while commands are left: %v", perr)
	}
}
