package node

import (
	"net"
	"net/http"
	"sync/atomic"
)

// Every client connection holds a file descriptor, and so do the things a
// node cannot do without: the embedded NATS server's sockets, JetStream's
// files, API requests and health checks. A node that let clients take
// every descriptor left JetStream unable to open a file, and its history
// broken until restart. So a node splits its open-files limit:
//
//	reserve      for NATS and JetStream: never handed to the HTTP listener
//	reserve      for requests: API calls, long polls, health checks
//	the rest     for WebSocket connections and SSE streams (--max-connections)
//
// The listener accepts at most limit - reserve sockets: past that, it
// closes new ones at once.

// budget is how a node divides its open-files limit.
type budget struct {
	files   int // the open-files limit; 0: unknown
	reserve int // descriptors kept from the listener, and again for requests
	clients int // --max-connections, derived or given
	listen  int // most sockets the HTTP listener holds; 0: no limit
	given   bool
}

// newBudget divides the open-files limit files (0: unknown) for a node
// whose --max-connections is maxConns (0: derive it).
func newBudget(files, maxConns int) budget {
	b := budget{files: files, clients: maxConns, given: maxConns > 0}
	if files <= 0 {
		if !b.given {
			b.clients = 1 << 30 // nothing known to bound it by
		}
		return b
	}
	b.reserve = min(max(files/20, 32), 1024)
	b.listen = files - b.reserve
	if !b.given {
		b.clients = max(1, files-2*b.reserve)
	} else if b.clients > files-2*b.reserve {
		// Honoured as given (the node warns): the listener makes room.
		b.listen = b.clients + b.reserve
	}
	return b
}

// over reports whether a given --max-connections eats into the reserve.
func (b budget) over() bool { return b.given && b.files > 0 && b.clients > b.files-2*b.reserve }

// cappedListener closes connections past the budget as soon as they are
// accepted, so that the process never runs out of descriptors for NATS
// and JetStream. It counts the sockets the HTTP server holds (through its
// ConnState hook) and those the transports took over (WebSockets).
type cappedListener struct {
	net.Listener
	limit   int64 // 0: none
	open    atomic.Int64
	taken   func() int // sockets taken over from the HTTP server
	refused func()
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.limit == 0 || l.open.Load()+int64(l.taken()) < l.limit {
			return c, err
		}
		c.Close()
		l.refused()
	}
}

// track follows the HTTP server's connections (http.Server.ConnState).
func (l *cappedListener) track(_ net.Conn, state http.ConnState) {
	switch state {
	case http.StateNew:
		l.open.Add(1)
	case http.StateHijacked, http.StateClosed:
		l.open.Add(-1)
	}
}
