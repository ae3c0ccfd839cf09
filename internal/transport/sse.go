package transport

import (
	"context"
	"net/http"
	"time"

	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/metrics"
	"github.com/heraldrt/herald/internal/protocol"
	"github.com/nats-io/nuid"
)

// sseConn is one Server-Sent Events client. Its request goroutine is its
// writer: one select loop over queued frames, heartbeats and the end of
// the request.
type sseConn struct {
	s      *Server
	out    outbox
	notify chan struct{}
}

var _ hub.Subscriber = (*sseConn)(nil)
var _ client = (*sseConn)(nil)

var sseHeartbeat = []byte(": heartbeat\n\n")

func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	chans, perr := s.channels(r)
	if perr != nil {
		writeError(w, perr)
		return
	}
	c := &sseConn{s: s, notify: make(chan struct{}, 1)}
	c.out = outbox{maxFrames: s.cfg.QueueMessages, maxBytes: s.cfg.QueueBytes, wake: c.wake}

	rc := http.NewResponseController(w)
	// The stream outlives the server-wide timeouts; each write gets its own.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})

	s.clients.add(c)
	s.Metrics.Connections(metrics.SSE).Inc()
	defer func() {
		for _, ch := range chans {
			s.Hub.Unsubscribe(ch, c)
		}
		s.clients.remove(c)
		s.Metrics.Connections(metrics.SSE).Dec()
	}()
	for i, ch := range chans {
		if err := s.Hub.Subscribe(r.Context(), ch, c); err != nil {
			chans = chans[:i+1] // the deferred unsubscribe covers what was done
			writeError(w, protocol.NewError(protocol.CodeUnavailable, "cannot subscribe now: "+err.Error()))
			return
		}
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	allowCORS(w, r)
	w.WriteHeader(http.StatusOK)
	welcome := appendSSEEvent(nil, "welcome", protocol.AppendWelcome(nil, nuid.Next(), s.NodeName, seconds(s.cfg.SSEHeartbeat)))
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
		}
	}
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

// Deliver queues a published message; a full queue disconnects the client.
func (c *sseConn) Deliver(m *hub.Message) { c.s.deliver(&c.out, m.Bytes(sseFormat), c) }

// disconnect sends a disconnect event, after which the stream ends.
func (c *sseConn) disconnect(d protocol.Disconnect) {
	if n, ok := c.out.close(appendSSEEvent(nil, "disconnect", protocol.AppendDisconnectData(nil, d))); ok {
		c.s.Metrics.Dropped.Add(float64(n))
	}
}
