package transport

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// perIP counts what each client address holds (connections, or long-poll
// sessions) against a limit. An IPv6 client is counted by its /64, the
// block one host or one customer is usually given, so that it cannot get
// round the limit by using more of its own addresses.
type perIP struct {
	max int // 0: no limit

	mu sync.Mutex
	n  map[netip.Addr]int
}

func newPerIP(max int) *perIP { return &perIP{max: max, n: make(map[netip.Addr]int)} }

// acquire counts one more for a, unless a is at the limit. Without a
// limit it counts nothing, and costs nothing.
func (p *perIP) acquire(a netip.Addr) bool {
	if p.max == 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.max > 0 && p.n[a] >= p.max {
		return false
	}
	p.n[a]++
	return true
}

// release counts one less for a.
func (p *perIP) release(a netip.Addr) {
	if p.max == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[a] <= 1 {
		delete(p.n, a)
		return
	}
	p.n[a]--
}

// clientAddr is the address the per-IP limits count a request's client
// by: its peer address, an IPv6 one cut to its /64.
func clientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}
