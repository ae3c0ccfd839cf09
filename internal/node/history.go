package node

import (
	"context"
	"strings"
	"time"

	"github.com/heraldrt/herald/internal/history"
)

// streamCheck is how often a node checks that its history streams exist
// with the replicas they should have.
const streamCheck = 15 * time.Second

// streamPatience is how long streams may take to be made (a cluster's
// JetStream electing its leader) before the node warns.
const streamPatience = 15 * time.Second

// keepStreams creates the history streams once JetStream can (a cluster's
// JetStream needs a leader first), then keeps them there: a deleted
// stream is made again, and replicas follow the cluster's size.
func (n *Node) keepStreams(ctx context.Context, store *history.Store) {
	delay := 250 * time.Millisecond
	ready, warned, start := false, false, time.Now()
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := store.Ensure(cctx)
		cancel()
		switch {
		case err == nil && !ready:
			ready = true
			n.log.Info("history streams ready")
		case err != nil && ready:
			n.log.Warn("history streams: cannot check them", "err", err)
		case err != nil && !warned && time.Since(start) > streamPatience:
			warned = true
			n.log.Warn("history streams cannot be made yet; publishes to history channels fail until they are", "err", err)
		case err != nil:
			n.log.Debug("history streams not ready yet", "err", err)
		}
		wait := streamCheck
		if !ready {
			wait, delay = delay, min(2*delay, 5*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// dirName makes a directory name from a node name.
func dirName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
}
