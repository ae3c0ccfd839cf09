package transport

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/metrics"
	"github.com/heraldrt/herald/internal/protocol"
)

// sseConn is one Server-Sent Events client. Its request goroutine is its
// writer: one select loop over queued frames, heartbeats and the end of
// the request.
type sseConn struct {
	s      *Server
	out    outbox
	notify chan struct{}
	quit   chan struct{} // closed by abort
	once   sync.Once
	rc     *http.ResponseController

	acc *access // who the client is, while tokens are on

	// The stream's cursor, for streams with a history channel: every
	// event carries it (id:) as it stands after that event. mu keeps the
	// cursor and the order of queued events in step.
	mu     sync.Mutex
	cursor *streamCursor
}

var _ hub.Subscriber = (*sseConn)(nil)
var _ client = (*sseConn)(nil)

var sseHeartbeat = []byte(": heartbeat\n\n")

func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	addr := clientAddr(r)
	if _, perr := s.claim(addr); perr != nil {
		writeError(w, perr)
		return
	}
	defer s.release(addr)
	acc, chans, perr := s.streamAccess(r)
	if perr != nil {
		writeError(w, perr)
		return
	}
	rc := http.NewResponseController(w)
	c := &sseConn{s: s, notify: make(chan struct{}, 1), quit: make(chan struct{}), rc: rc, acc: acc}
	c.out = outbox{maxFrames: s.cfg.QueueMessages, maxBytes: s.cfg.QueueBytes, wake: c.wake}
	if acc != nil {
		acc.start(func() { c.disconnect(protocol.DisconnectTokenExpired) }, c.grantEnded)
	}

	// The stream outlives the server-wide timeouts; each write gets its own.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})

	s.clients.add(c)
	s.Metrics.Connections(metrics.SSE).Inc()
	defer func() {
		acc.end()
		for _, ch := range chans {
			s.Hub.Unsubscribe(ch, c)
		}
		s.clients.remove(c)
		s.Metrics.Connections(metrics.SSE).Dec()
	}()
	var from protocol.Cursor
	if id := lastEventID(r); id != "" {
		if from, perr = protocol.ParseCursor(id, len(chans)); perr != nil {
			chans = nil
			writeError(w, perr)
			return
		}
	}
	c.cursor = s.newCursor(chans)
	initial, n, err := s.joinChannels(r.Context(), acc, chans, from, c, &c.out, func(i int, pos protocol.Position) {
		c.mu.Lock()
		c.cursor.set(i, pos)
		c.mu.Unlock()
	})
	if err != nil {
		chans = chans[:n] // the deferred unsubscribe covers what was done
		writeError(w, protocol.NewError(protocol.CodeUnavailable, "cannot subscribe now: "+err.Error()))
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	allowCORS(w, r)
	w.WriteHeader(http.StatusOK)
	welcome := appendSSEEvent(nil, "welcome", protocol.AppendWelcome(nil, newClientID(), s.NodeName, seconds(s.cfg.SSEHeartbeat)))
	if c.cursor != nil {
		welcome = appendSSEID(welcome, initial)
	}
	if c.write(rc, w, [][]byte{welcome}) != nil {
		return
	}
	c.loop(r.Context(), rc, w)
}

func (c *sseConn) loop(ctx context.Context, rc *http.ResponseController, w http.ResponseWriter) {
	delivered := c.s.Metrics.Delivered(metrics.SSE)
	hb := time.NewTicker(c.s.cfg.SSEHeartbeat)
	defer hb.Stop()
	for {
		select {
		case <-c.notify:
			for {
				frames, msgs, last := c.out.take()
				if frames == nil {
					break
				}
				if c.write(rc, w, frames) != nil {
					c.out.close()
					return
				}
				delivered.Add(float64(msgs))
				if last {
					return
				}
			}
		case <-hb.C:
			if c.write(rc, w, [][]byte{sseHeartbeat}) != nil {
				c.out.close()
				return
			}
		case <-ctx.Done():
			c.out.close()
			return
		case <-c.quit:
			return
		}
	}
}

// abort ends the stream at once, a write in progress included.
func (c *sseConn) abort() {
	c.once.Do(func() {
		c.out.close()
		_ = c.rc.SetWriteDeadline(time.Now())
		close(c.quit)
	})
}

func (c *sseConn) write(rc *http.ResponseController, w http.ResponseWriter, frames [][]byte) error {
	_ = rc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	for _, f := range frames {
		if _, err := w.Write(f); err != nil {
			return err
		}
	}
	return rc.Flush()
}

func (c *sseConn) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Deliver queues a published message (or recovery notice); a full queue
// disconnects the client. On a stream with history channels, the event
// carries the cursor as it stands after it.
func (c *sseConn) Deliver(m *hub.Message) {
	frame := m.Bytes(sseFormat)
	if c.cursor == nil {
		c.s.deliver(&c.out, frame, c)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cursor.follow(m)
	c.s.deliver(&c.out, appendSSEID(frame, c.cursor.positions), c)
}

// lastEventID is the cursor a stream resumes from: the browser's
// Last-Event-ID header, else ?last_event_id= (for a first connect).
func lastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return r.URL.Query().Get("last_event_id")
}

// appendSSEID returns a copy of event (which ends in its blank line) with
// an id: line holding cursor.
func appendSSEID(event []byte, cursor protocol.Cursor) []byte {
	b := make([]byte, 0, len(event)+8+len(cursor)*16)
	b = append(b, event[:len(event)-1]...)
	b = append(b, "id: "...)
	b = protocol.AppendCursor(b, cursor)
	return append(b, "\n\n"...)
}

// disconnect sends a disconnect event, after which the stream ends.
func (c *sseConn) disconnect(d protocol.Disconnect) {
	if n, ok := c.out.close(appendSSEEvent(nil, "disconnect", protocol.AppendDisconnectData(nil, d))); ok {
		c.s.Metrics.Dropped.Add(float64(n))
	}
}

// grantEnded ends the subscription to ch, whose subscription token has
// expired, with an unsubscribed event.
func (c *sseConn) grantEnded(ch string) {
	c.s.Hub.Unsubscribe(ch, c)
	if c.out.push(appendSSEEvent(nil, "unsubscribed", protocol.AppendUnsubscribed(nil, false, ch, protocol.ReasonTokenExpired)), false) == overflow {
		c.s.Metrics.SlowConsumers.Inc()
		c.disconnect(protocol.DisconnectSlowConsumer)
	}
}
