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

// disconnectAll disconnects every client with d, spread evenly over
// spread so that they do not all reconnect at once, then waits until all
// are gone or ctx ends.
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

	var step time.Duration
	if len(all) > 1 {
		step = spread / time.Duration(len(all))
	}
	// Pace in batches so that a short step does not cost a timer per client.
	const minStep = 5 * time.Millisecond
	batch := 1
	if step > 0 && step < minStep {
		batch = int(minStep / step)
		step = minStep
	}
	t := time.NewTimer(step)
	defer t.Stop()
	for i, c := range all {
		c.disconnect(d)
		if step > 0 && (i+1)%batch == 0 && i+1 < len(all) {
			t.Reset(step)
			select {
			case <-t.C:
			case <-ctx.Done():
				step = 0 // out of time: disconnect the rest at once
			}
		}
	}
	select {
	case <-empty:
	case <-ctx.Done():
	}
}
