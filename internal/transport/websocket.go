package transport

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/metrics"
	"github.com/heraldrt/herald/internal/protocol"
)

// commandOverhead is room for a command's own fields on top of the largest
// publishable data and the longest channel name.
const commandOverhead = 1024

// wsConn is one WebSocket client. An idle connection holds one goroutine
// (its reader, blocked in a read with no buffer), one timer and no write
// buffer: the writer goroutine runs only while frames are queued.
type wsConn struct {
	s    *Server
	conn net.Conn
	id   string
	out  outbox
	ping *time.Timer
	bufs net.Buffers // the writer's batch, kept here so it does not escape per write
	// writeBy is the write deadline last set (unix nanoseconds); only the
	// writer touches it.
	writeBy int64

	// Reading. With the poller, an idle connection has no reader
	// goroutine: one is started per message (reading guards against two).
	rd       *wsutil.Reader
	reading  atomic.Bool
	used     burstUse     // commands made before the connection needed buckets; the reader's only
	lastSeen atomic.Int64 // unix nanoseconds of the last frame from the client
	closed   sync.Once
	mu       sync.Mutex
	// limits are what only some connections need, made when they do:
	// the address the per-address limit counts (set at connect, when that
	// limit is on), and token buckets, once the connection has used its
	// first burst. An idle connection pays nothing for them.
	limits *connLimits
	// acc is who the client is, while tokens are on; nil when they are off.
	acc *access

	subs     []string
	fd       int // the socket's descriptor, while watched
	released bool
	watched  bool // the poller watches fd
	shut     bool // the socket is closed or closing: never watch it
}

var _ hub.Subscriber = (*wsConn)(nil)
var _ client = (*wsConn)(nil)

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		writeError(w, protocol.NewError(protocol.CodeBadRequest, "this endpoint speaks WebSocket: send a GET with Upgrade: websocket"))
		return
	}
	addr := clientAddr(r)
	refusal, perr := s.claim(addr)
	var acc *access
	if perr == nil {
		// A bad token is refused before the upgrade, with a 401 a script
		// can read; no token at all is let in to send auth. A node with
		// no room spends nothing on verifying tokens.
		var aerr *protocol.Error
		if acc, aerr = s.admitIdentity(r, true); aerr != nil {
			s.release(addr)
			writeError(w, aerr)
			return
		}
	}
	up := ws.HTTPUpgrader{Timeout: s.cfg.WriteTimeout}
	conn, rw, _, err := up.Upgrade(r, w)
	if conn != nil {
		s.conns.hijack.Add(1)
	}
	if err != nil || perr != nil {
		if err != nil {
			s.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		} else {
			// Refused on the upgraded connection: a browser sees the close
			// code (3504), where it would see nothing of an HTTP answer.
			_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			_, _ = conn.Write(append(wsFrame(protocol.AppendDisconnect(nil, refusal)), wsCloseFrame(refusal.Code, refusal.Reason)...))
		}
		if conn != nil {
			conn.Close()
			s.conns.hijack.Add(-1)
		}
		if perr == nil {
			s.release(addr)
		}
		return
	}
	c := &wsConn{s: s, conn: conn, id: newClientID()}
	if s.conns.perIP.max > 0 {
		c.limits = &connLimits{addr: addr}
	}
	c.out = outbox{maxFrames: s.cfg.QueueMessages, maxBytes: s.cfg.QueueBytes, wake: func() { go c.writeLoop() }}
	var src io.Reader = conn
	if rw != nil && rw.Reader.Buffered() > 0 {
		src = &bufferedConn{br: rw.Reader, conn: conn}
	}
	limit := int64(s.cfg.MaxMessageBytes + s.cfg.MaxChannelLength + commandOverhead)
	c.rd = &wsutil.Reader{
		Source:         src,
		State:          ws.StateServerSide,
		CheckUTF8:      true,
		MaxFrameSize:   limit,
		MaxMessageSize: limit,
		OnIntermediate: func(h ws.Header, r io.Reader) error { return c.control(h, r) },
	}
	c.lastSeen.Store(time.Now().UnixNano())
	c.ping = time.AfterFunc(s.cfg.PingInterval, c.keepalive)
	s.clients.add(c)
	s.Metrics.Connections(metrics.WebSocket).Inc()
	c.send(wsFrame(protocol.AppendWelcome(nil, c.id, s.NodeName, seconds(s.cfg.PingInterval))))
	if acc != nil {
		c.acc = acc
		acc.start(func() { c.disconnect(protocol.DisconnectTokenExpired) }, c.grantEnded)
		if acc.pending {
			acc.await(s.cfg.AuthTimeout, func() { c.disconnect(protocol.DisconnectAuthTimeout) })
		} else {
			c.joinClaimed(acc.who)
		}
	}
	// A fresh goroutine keeps the handler's grown stack out of it.
	go c.startReading(src)
}

// bufferedConn reads what the HTTP server had buffered past the
// handshake, then the connection itself.
type bufferedConn struct {
	br   *bufio.Reader
	conn net.Conn
}

func (b *bufferedConn) Read(p []byte) (int, error) {
	if b.br != nil {
		if b.br.Buffered() > 0 {
			return b.br.Read(p)
		}
		b.br = nil
	}
	return b.conn.Read(p)
}

// Deliver queues a published message; a full queue disconnects the client
// as a slow consumer.
func (c *wsConn) Deliver(m *hub.Message) { c.s.deliver(&c.out, m.Bytes(wsFormat), c) }

// send queues a frame of the connection's own (welcome, reply, pong). A
// reply that overflows the queue disconnects the client as well.
func (c *wsConn) send(frame []byte) {
	if c.out.push(frame, false) == overflow {
		c.s.Metrics.SlowConsumers.Inc()
		c.disconnect(protocol.DisconnectSlowConsumer)
	}
}

func (c *wsConn) reply(id uint64, err *protocol.Error) {
	c.send(wsFrame(protocol.AppendReply(nil, id, err)))
}

// keepalive sends a ping and re-arms itself. A client that has sent no
// frame (its pongs included) for the ping interval and the pong timeout is
// disconnected (3005).
func (c *wsConn) keepalive() {
	if time.Since(time.Unix(0, c.lastSeen.Load())) > c.s.cfg.PingInterval+c.s.cfg.PongTimeout {
		c.disconnect(protocol.DisconnectKeepalive)
		return
	}
	switch c.out.push(wsPingFrame, false) {
	case pushed:
		c.ping.Reset(c.s.cfg.PingInterval)
	case overflow:
		c.s.Metrics.SlowConsumers.Inc()
		c.disconnect(protocol.DisconnectSlowConsumer)
	}
}

// disconnect sends {"op":"disconnect"} and a close frame with d's code,
// then closes the connection. Subscriptions are freed at once, without
// waiting for the writer.
func (c *wsConn) disconnect(d protocol.Disconnect) { c.disconnectAfter(nil, d) }

// disconnectAfter is disconnect with a last frame of the connection's own
// (a reply) sent first; what else was queued is dropped.
func (c *wsConn) disconnectAfter(last []byte, d protocol.Disconnect) {
	final := [][]byte{wsFrame(protocol.AppendDisconnect(nil, d)), wsCloseFrame(d.Code, d.Reason)}
	if last != nil {
		final = append([][]byte{last}, final...)
	}
	n, ok := c.out.close(final...)
	if !ok {
		return
	}
	c.s.Metrics.Dropped.Add(float64(n))
	// Deliver may call this with a hub lock held: release asynchronously.
	go c.release()
}

// abort ends the connection at once (shutdown ran out of time).
func (c *wsConn) abort() { c.closeNow() }

// closeNow ends the connection without a goodbye (the peer is gone).
func (c *wsConn) closeNow() {
	c.out.close()
	c.closeConn()
	c.release()
}

// closeConn closes the socket, after taking it out of the poller so that
// its descriptor number, once reused, is never mistaken for it.
func (c *wsConn) closeConn() { c.closeSocket(false) }

// lingerTimeout bounds how long a socket the server closes after its
// close frame waits for the client to finish, reading and dropping what
// the client still sends.
const lingerTimeout = 500 * time.Millisecond

// closeSocket closes the socket. With linger (the server ends the
// connection after its close frame) it first shuts its side down and
// reads out what the client is still sending, until the client closes or
// lingerTimeout passes: closing a socket with unread input makes the
// kernel send a reset, and a reset can make the client lose the close
// frame and the replies before it.
func (c *wsConn) closeSocket(linger bool) {
	c.closed.Do(func() {
		c.mu.Lock()
		fd, watched := c.fd, c.watched
		c.watched, c.shut = false, true
		c.mu.Unlock()
		if watched {
			c.s.poller.remove(fd)
		}
		if tc, ok := c.conn.(*net.TCPConn); ok && linger {
			_ = tc.CloseWrite()
			_ = tc.SetReadDeadline(time.Now().Add(lingerTimeout))
			_, _ = io.Copy(io.Discard, io.LimitReader(tc, lingerBytes))
		}
		c.conn.Close()
		c.s.conns.hijack.Add(-1)
	})
}

// lingerBytes bounds what a closing connection reads and drops.
const lingerBytes = 1 << 20

// release frees everything the connection holds in the node. It runs once
// however many paths reach it.
func (c *wsConn) release() {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return
	}
	c.released = true
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()

	c.ping.Stop()
	c.acc.end()
	for _, ch := range subs {
		c.s.Hub.Unsubscribe(ch, c)
	}
	c.s.clients.remove(c)
	var addr netip.Addr
	if c.limits != nil {
		addr = c.limits.addr
	}
	c.s.release(addr)
	c.s.Metrics.Connections(metrics.WebSocket).Dec()
}

// writeLoop drains the outbox, one write call per batch. It runs only
// while frames are queued.
func (c *wsConn) writeLoop() {
	delivered := c.s.Metrics.Delivered(metrics.WebSocket)
	for {
		frames, msgs, last := c.out.take()
		if frames == nil {
			return
		}
		c.extendWriteDeadline()
		c.bufs = frames
		_, err := c.bufs.WriteTo(c.conn)
		c.bufs = nil
		if err != nil {
			c.closeNow()
			return
		}
		if msgs > 0 {
			delivered.Add(float64(msgs))
		}
		if last {
			c.closeSocket(true)
			c.release()
			return
		}
		c.out.recycle(frames)
	}
}

// extendWriteDeadline keeps the write deadline between 3/4 of the write
// timeout and the whole of it ahead. Setting it costs a timer update in
// the runtime, so it is moved only when a quarter of it has passed, not
// on every batch.
func (c *wsConn) extendWriteDeadline() {
	wt := c.s.cfg.WriteTimeout
	now := time.Now()
	if c.writeBy-now.UnixNano() > int64(wt-wt/4) {
		return
	}
	by := now.Add(wt)
	c.writeBy = by.UnixNano()
	_ = c.conn.SetWriteDeadline(by)
}

// startReading reads what came with the handshake, then hands the
// connection to the poller, or, without one, reads in a loop.
func (c *wsConn) startReading(src io.Reader) {
	if bc, ok := src.(*bufferedConn); ok {
		for bc.br != nil && bc.br.Buffered() > 0 {
			if !c.readMessage(c.s.cfg.PongTimeout) {
				return
			}
		}
	}
	if c.watch() {
		return
	}
	for c.readMessage(c.s.cfg.PingInterval + c.s.cfg.PongTimeout) {
	}
}

// watch registers the connection with the poller.
func (c *wsConn) watch() bool {
	if c.s.poller == nil {
		return false
	}
	sc, ok := c.conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	fd := -1
	_ = rc.Control(func(f uintptr) { fd = int(f) })
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released || c.shut || fd < 0 {
		return false
	}
	c.fd, c.watched = fd, true
	if c.s.poller.add(fd, c) != nil {
		c.watched = false
		return false
	}
	return true
}

// onReadable reads one message when the poller says there is input, then
// arms the poller again.
func (c *wsConn) onReadable() {
	c.mu.Lock()
	fd, watched := c.fd, c.watched
	c.mu.Unlock()
	if !watched {
		return
	}
	if hasInput(fd) && !c.readMessage(c.s.cfg.PongTimeout) {
		return // the connection is over
	}
	c.reading.Store(false)
	c.mu.Lock()
	if c.watched {
		_ = c.s.poller.rearm(fd)
	}
	c.mu.Unlock()
}

// readMessage reads and handles one message or control frame, allowing it
// within to arrive. It reports false when the connection is over.
func (c *wsConn) readMessage(within time.Duration) bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(within))
	h, err := c.rd.NextFrame()
	if err != nil {
		c.readFailed(err)
		return false
	}
	c.lastSeen.Store(time.Now().UnixNano())
	if h.OpCode.IsControl() {
		if err := c.control(h, c.rd); err != nil {
			c.readFailed(err)
			return false
		}
		return true
	}
	if h.OpCode != ws.OpText {
		c.disconnect(protocol.Disconnect{Code: protocol.CloseBadRequest, Reason: "binary frames are not supported; send JSON text", Reconnect: false})
		return false
	}
	frame, err := io.ReadAll(c.rd)
	if err != nil {
		c.readFailed(err)
		return false
	}
	c.handle(frame)
	return true
}

// errClientClosed ends the read loop after a client's close frame.
var errClientClosed = errors.New("transport: client closed")

// control handles a ping, pong or close frame.
func (c *wsConn) control(h ws.Header, r io.Reader) error {
	payload := make([]byte, h.Length)
	if _, err := io.ReadFull(r, payload); err != nil {
		return err
	}
	switch h.OpCode {
	case ws.OpPing:
		c.send(wsControl(opPong, payload))
	case ws.OpClose:
		c.out.close(wsCloseFrame(closeEcho(payload), ""))
		return errClientClosed
	}
	return nil
}

// closeEcho is the code to answer a client's close frame with: its own
// code when that is one a peer may send, 1002 for a malformed close
// payload, else 1000.
func closeEcho(payload []byte) int {
	switch len(payload) {
	case 0:
		return 1000
	case 1:
		return 1002
	}
	code := int(payload[0])<<8 | int(payload[1])
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011, code >= 3000 && code <= 4999:
		return code
	}
	return 1002
}

// readFailed ends the connection after a read error, with the close code
// that fits the error.
func (c *wsConn) readFailed(err error) {
	switch {
	case errors.Is(err, errClientClosed):
		c.release() // the writer closes the connection after the echo
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.disconnect(protocol.DisconnectKeepalive)
	case errors.Is(err, wsutil.ErrFrameTooLarge), errors.Is(err, wsutil.ErrMessageTooLarge):
		c.disconnect(protocol.DisconnectMessageTooBig)
	case errors.Is(err, wsutil.ErrInvalidUTF8):
		c.disconnect(protocol.Disconnect{Code: protocol.CloseBadRequest, Reason: "text frame is not valid UTF-8", Reconnect: false})
	case errors.As(err, new(ws.ProtocolError)):
		c.disconnect(protocol.Disconnect{Code: protocol.CloseBadRequest, Reason: err.Error(), Reconnect: false})
	default: // EOF, reset, closed by us
		c.closeNow()
	}
}
