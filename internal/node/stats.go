package node

import (
	"context"
	"encoding/json"
	"time"

	"github.com/heraldrt/herald/internal/metrics"
)

// stats is one node's stats message.
type stats struct {
	Node     string `json:"node"`
	ID       string `json:"id"`
	Role     string `json:"role"`
	Time     string `json:"time"`
	Interval int    `json:"interval"` // seconds between messages
	metrics.Totals
	Subscriptions int    `json:"subscriptions"`
	Channels      int    `json:"channels"`
	NATS          string `json:"nats"`
}

// publishStats publishes the node's stats every interval until ctx ends,
// on NATS, where the dashboard of any node started with --ui reads them.
func (n *Node) publishStats(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if !n.bus.Connected() {
				continue
			}
			nats := "connected"
			msg, err := json.Marshal(stats{
				Node: n.cfg.Name, ID: n.id, Role: n.cfg.Role, Time: now.UTC().Format(time.RFC3339),
				Interval: max(1, int(interval.Round(time.Second)/time.Second)),
				Totals:   n.metrics.Totals(), Subscriptions: n.hub.Subscriptions(), Channels: n.hub.Channels(), NATS: nats,
			})
			if err == nil {
				_ = n.bus.PublishStats(msg)
			}
		}
	}
}
