package node

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/history"
)

// streamCheck is how often a node checks, once its history works, that
// it still does: the streams exist with the replicas they should have, and
// the embedded JetStream can write.
const streamCheck = 5 * time.Second

// streamPatience is how long streams may take to be made (a cluster's
// JetStream electing its leader) before the node warns.
const streamPatience = 15 * time.Second

// keepStreams creates the history streams once JetStream can (a cluster's
// JetStream needs a leader first), then keeps them working: a deleted
// stream is made again, replicas follow the cluster's size, and an
// embedded JetStream that can no longer write its files (it ran out of
// descriptors) is restarted, until it can. Readiness follows: a node with
// history is ready only while its history works.
func (n *Node) keepStreams(ctx context.Context, store *history.Store) {
	delay := 250 * time.Millisecond
	ready, worked, warned, start := false, false, false, time.Now()
	for {
		health := n.bus.JetStreamHealth()
		if errors.Is(health, bus.ErrJetStreamBroken) {
			n.log.Error("history cannot be written; restarting JetStream to reopen its files", "err", health)
			if err := n.bus.RestartJetStream(); err != nil {
				n.log.Error("JetStream restart failed; trying again", "err", err)
			}
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := store.Ensure(cctx)
		if err == nil {
			err = store.Probe(cctx, n.id)
		}
		cancel()
		if err == nil {
			err = health
		}
		n.historyWorks.Store(err == nil)
		switch {
		case err == nil && !ready && worked:
			ready = true
			n.log.Info("history works again")
		case err == nil && !ready:
			ready, worked = true, true
			n.log.Info("history streams ready")
		case err != nil && ready:
			ready, delay = false, 250*time.Millisecond
			n.log.Warn("history is not working; not ready until it does", "err", err)
		case err != nil && !worked && !warned && time.Since(start) > streamPatience:
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
