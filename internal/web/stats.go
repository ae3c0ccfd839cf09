package web

import (
	"net/http"
	"sync"
	"time"

	"github.com/heraldrt/herald/internal/protocol"
)

// Stats is where the dashboard's node stats come from: every node's
// messages on NATS, outside the channels clients can reach.
type Stats interface {
	// WatchStats calls f with each node's stats messages until stop is
	// called.
	WatchStats(f func(data []byte)) (stop func(), err error)
}

// statsBuffer is how many stats messages a dashboard stream may fall
// behind by; past it, messages are dropped for it (the next one repeats
// every counter, so nothing is lost for good).
const statsBuffer = 64

// statsHeartbeat keeps proxies from closing a dashboard stream that has
// nothing to say (a cluster whose nodes all went away).
const statsHeartbeat = 15 * time.Second

// statsWriteTimeout bounds one write to a dashboard.
const statsWriteTimeout = 10 * time.Second

// feed fans the stats messages out to the dashboards open on this node,
// each through a bounded channel.
type feed struct {
	src Stats

	mu        sync.Mutex
	listeners map[chan []byte]struct{}
	stop      func() // the NATS subscription, while anyone listens
	closed    bool
}

// listen adds a dashboard; the channel closes when the feed does.
func (f *feed) listen() (chan []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, errClosed
	}
	if f.stop == nil {
		stop, err := f.src.WatchStats(f.send)
		if err != nil {
			return nil, err
		}
		f.stop = stop
	}
	ch := make(chan []byte, statsBuffer)
	f.listeners[ch] = struct{}{}
	return ch, nil
}

// leave removes a dashboard; the last one ends the NATS subscription.
func (f *feed) leave(ch chan []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.listeners[ch]; !ok {
		return
	}
	delete(f.listeners, ch)
	if len(f.listeners) == 0 && f.stop != nil {
		f.stop()
		f.stop = nil
	}
}

// send hands a stats message to every dashboard that has room for it.
// The NATS client gives each message a payload of its own, so all of them
// may share it.
func (f *feed) send(data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.listeners {
		select {
		case ch <- data:
		default:
		}
	}
}

// close ends every dashboard stream, as the node shuts down.
func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	if f.stop != nil {
		f.stop()
		f.stop = nil
	}
	for ch := range f.listeners {
		close(ch)
		delete(f.listeners, ch)
	}
}

// serveStats streams the cluster's node stats to a dashboard as
// Server-Sent Events: "event: stats" with one node's stats message each.
func (w *Web) serveStats(rw http.ResponseWriter, r *http.Request) {
	if w.feed == nil {
		protocol.WriteHTTPError(rw, protocol.NewError(protocol.CodeNotFound, "this node has no stats feed"))
		return
	}
	ch, err := w.feed.listen()
	if err != nil {
		protocol.WriteHTTPError(rw, protocol.NewError(protocol.CodeUnavailable, "no stats now: "+err.Error()))
		return
	}
	defer w.feed.leave(ch)
	rc := http.NewResponseController(rw)
	_ = rc.SetReadDeadline(time.Time{})
	h := rw.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(statsWriteTimeout))
		if _, err := rw.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte(": stats of every node, as they come\n\n")) {
		return
	}
	hb := time.NewTicker(statsHeartbeat)
	defer hb.Stop()
	for {
		select {
		case msg, ok := <-ch:
			if !ok {
				return
			}
			b := append(append(append(make([]byte, 0, len(msg)+24), "event: stats\ndata: "...), msg...), "\n\n"...)
			if !write(b) {
				return
			}
		case <-hb.C:
			if !write([]byte(": heartbeat\n\n")) {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}
