package transport

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldrt/herald/internal/protocol"
)

// fakeClient records when it was told to go; it leaves the registry at
// once unless it is stuck.
type fakeClient struct {
	r       *registry
	stuck   bool
	mu      sync.Mutex
	told    time.Time
	aborted bool
}

func (c *fakeClient) disconnect(protocol.Disconnect) {
	c.mu.Lock()
	c.told = time.Now()
	c.mu.Unlock()
	if !c.stuck {
		c.r.remove(c)
	}
}

func (c *fakeClient) abort() {
	c.mu.Lock()
	c.aborted = true
	c.mu.Unlock()
	c.r.remove(c)
}

// TestDisconnectAllKeepsToItsSpread tells thousands of clients to go
// within the spread, whatever their number: batches, not a timer per
// client, and never more than the time given. (Once, 3000 clients took
// 15 seconds to be told over a spread of 10.)
func TestDisconnectAllKeepsToItsSpread(t *testing.T) {
	for _, n := range []int{1, 7, 300, 3000, 20000} {
		synctest.Test(t, func(t *testing.T) {
			r := newRegistry()
			clients := make([]*fakeClient, n)
			for i := range clients {
				clients[i] = &fakeClient{r: r}
				r.add(clients[i])
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			r.disconnectAll(ctx, protocol.DisconnectShutdown, 8*time.Second)
			took := time.Since(start)
			if took > 8*time.Second {
				t.Errorf("%d clients: told over %s, more than the spread of 8s", n, took)
			}
			if n >= 1600 && took < 7*time.Second {
				t.Errorf("%d clients: told over %s, not spread over the 8s given", n, took)
			}
			if r.len() != 0 {
				t.Errorf("%d clients: %d left", n, r.len())
			}
			for i, c := range clients {
				if c.told.IsZero() || c.aborted {
					t.Fatalf("%d clients: client %d told %v, aborted %v", n, i, c.told, c.aborted)
				}
			}
		})
	}
}

// TestDisconnectAllClosesWhoeverStays aborts, when time is up, the
// clients that were told but did not go.
func TestDisconnectAllClosesWhoeverStays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry()
		gone, stuck := &fakeClient{r: r}, &fakeClient{r: r, stuck: true}
		r.add(gone)
		r.add(stuck)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		r.disconnectAll(ctx, protocol.DisconnectShutdown, 8*time.Second)
		if took := time.Since(start); took != 10*time.Second {
			t.Errorf("returned after %s, want at the deadline, 10s", took)
		}
		if !stuck.aborted || gone.aborted || r.len() != 0 {
			t.Errorf("stuck aborted %v, gone aborted %v, %d left; want only the stuck one aborted, none left", stuck.aborted, gone.aborted, r.len())
		}
	})
}
