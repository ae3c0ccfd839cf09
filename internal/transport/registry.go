package transport

import (
	"context"
	"sync"
	"time"

	"github.com/heraldrt/herald/internal/protocol"
)

// client is any live client: a WebSocket or SSE connection, or a
// long-poll session.
type client interface {
	// disconnect tells the client why it is being closed and closes it.
	disconnect(d protocol.Disconnect)
	// abort closes the client at once, whatever it has left to write.
	abort()
}

// registry tracks live clients so that shutdown can reach every one.
type registry struct {
	mu      sync.Mutex
	clients map[client]struct{}
	empty   chan struct{} // closed when the registry drains empty during shutdown
}

func newRegistry() *registry {
	return &registry{clients: make(map[client]struct{})}
}

func (r *registry) add(c client) {
	r.mu.Lock()
	r.clients[c] = struct{}{}
	r.mu.Unlock()
}

func (r *registry) remove(c client) {
	r.mu.Lock()
	delete(r.clients, c)
	if len(r.clients) == 0 && r.empty != nil {
		close(r.empty)
		r.empty = nil
	}
	r.mu.Unlock()
}

func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.clients)
}

// minStep is the shortest pause between two batches of disconnects: a
// timer per client would cost more than it spreads.
const minStep = 5 * time.Millisecond

// disconnectAll disconnects every client with d, spread evenly over
// spread so that they do not all reconnect at once, and waits until all
// are gone or ctx ends; then it closes the rest at once. Clients are told
// in batches at least minStep apart, as many batches as spread allows.
func (r *registry) disconnectAll(ctx context.Context, d protocol.Disconnect, spread time.Duration) {
	r.mu.Lock()
	all := make([]client, 0, len(r.clients))
	for c := range r.clients {
		all = append(all, c)
	}
	empty := make(chan struct{})
	if len(r.clients) == 0 {
		close(empty)
	} else {
		r.empty = empty
	}
	r.mu.Unlock()

	batches := min(len(all), int(spread/minStep))
	if batches < 2 {
		batches = 1
	}
	per := (len(all) + batches - 1) / batches
	step := spread / time.Duration(batches)
	t := time.NewTimer(step)
	defer t.Stop()
	for i, c := range all {
		c.disconnect(d)
		if batches > 1 && (i+1)%per == 0 && i+1 < len(all) {
			t.Reset(step)
			select {
			case <-t.C:
			case <-ctx.Done():
				batches = 1 // out of time: disconnect the rest at once
			}
		}
	}
	select {
	case <-empty:
		return
	case <-ctx.Done():
	}
	r.mu.Lock()
	left := make([]client, 0, len(r.clients))
	for c := range r.clients {
		left = append(left, c)
	}
	r.mu.Unlock()
	for _, c := range left {
		c.abort()
	}
}
