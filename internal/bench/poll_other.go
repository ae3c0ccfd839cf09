//go:build !linux

package bench

import (
	"errors"
	"sync"
	"sync/atomic"
)

// readers serve subscribed connections with a goroutine each.
type readers struct {
	ended   func(c *conn, err error)
	closing atomic.Bool
	serving sync.WaitGroup
	mu      sync.Mutex
	conns   []*conn
}

func newReaders(ended func(*conn, error)) (*readers, error) {
	return &readers{ended: ended}, nil
}

func (r *readers) add(c *conn) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing.Load() {
		c.nc.Close()
		return nil
	}
	r.conns = append(r.conns, c)
	r.serving.Go(func() {
		err := c.serve()
		if !r.closing.Load() {
			r.ended(c, err)
		}
		c.nc.Close()
	})
	return nil
}

func (r *readers) close() {
	r.mu.Lock()
	r.closing.Store(true)
	conns := r.conns
	r.conns = nil
	r.mu.Unlock()
	for _, c := range conns {
		c.nc.Close()
	}
	r.serving.Wait()
}

// writeFD is not used off Linux: connections keep their net.Conn.
func writeFD(int, []byte) error { return errors.New("bench: no raw descriptors here") }
