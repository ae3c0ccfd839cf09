package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// counters are what a fleet's connections add to as they read.
type counters struct {
	received atomic.Uint64 // bench messages (holding "t")
	last     atomic.Int64  // unix nanos of the latest delivery
	latency  *Hist         // now - t of each message
}

// conn is one subscribed client connection. It is read by one goroutine
// at a time: the one that dials it, then the reader loop that serves it.
type conn struct {
	nc    net.Conn
	fd    int // once detached from nc by a reader loop, else -1
	s     sock
	ctr   *counters
	sse   bool
	cf    bool  // speaks Centrifugo's protocol
	state uint8 // stHead, stWelcome, stReply, stReady
	msgs  uint32
	carry []byte // bytes of an unfinished frame, header or line
	end   string // how the server ended the connection, when it said

	// Centrifugo only: the channel to subscribe to once connected.
	channel string

	// SSE only.
	chunked bool
	cstate  uint8 // position in the chunked encoding
	csize   int64 // bytes left in the chunk, or the size being read
	event   uint8 // the event whose lines are being read
}

const (
	stHead    = iota // SSE: reading the response head
	stWelcome        // waiting for the welcome (Centrifugo: the connect reply)
	stReply          // WebSocket: waiting for the subscribe reply
	stReady          // subscribed
)

// maxCarry bounds a frame, response head or line kept across reads.
const maxCarry = 2 << 20

var (
	errTooBig   = errors.New("bench: frame or line too long")
	errProtocol = errors.New("bench: protocol error")
	errEnded    = errors.New("bench: the server closed the connection")
)

// refusedError is a handshake the server answered with a refusal.
type refusedError struct{ reason string }

func (e *refusedError) Error() string { return "refused: " + e.reason }

func newConn(nc net.Conn, ctr *counters, sse bool) (*conn, error) {
	s, err := newSock(nc)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, fd: -1, s: s, ctr: ctr, sse: sse, state: stWelcome}
	if sse {
		c.state = stHead
	}
	return c, nil
}

// feed parses bytes read from the connection.
func (c *conn) feed(p []byte) error {
	now := time.Now().UnixNano()
	var err error
	if c.sse {
		err = c.feedSSE(p, now)
	} else {
		err = c.feedWS(p, now)
	}
	if c.msgs > 0 {
		c.ctr.received.Add(uint64(c.msgs))
		c.msgs = 0
		for cur := c.ctr.last.Load(); now > cur && !c.ctr.last.CompareAndSwap(cur, now); cur = c.ctr.last.Load() {
		}
	}
	return err
}

// await reads until the connection is subscribed, or deadline.
func (c *conn) await(deadline time.Time) error {
	if err := c.nc.SetReadDeadline(deadline); err != nil {
		return err
	}
	var ferr error
	for c.state != stReady && ferr == nil {
		if err := c.s.read(c.nc, func(p []byte) { ferr = c.feed(p) }); err != nil {
			return err
		}
	}
	if ferr != nil {
		return ferr
	}
	return c.nc.SetReadDeadline(time.Time{})
}

// serve reads until the connection ends, and returns why.
func (c *conn) serve() error {
	var ferr error
	for ferr == nil {
		if err := c.s.read(c.nc, func(p []byte) { ferr = c.feed(p) }); err != nil {
			return err
		}
	}
	return ferr
}

// message counts a bench message and records its latency.
func (c *conn) message(payload []byte, now int64) {
	if t, ok := stamp(payload); ok {
		c.msgs++
		c.ctr.latency.Record(now - t)
	}
}

var stampKey = []byte(`"t":`)

// stamp finds "t":<integer> in a message and returns the integer.
func stamp(p []byte) (int64, bool) {
	i := bytes.Index(p, stampKey)
	if i < 0 {
		return 0, false
	}
	p = p[i+len(stampKey):]
	var v int64
	n := 0
	for n < len(p) && n < 19 && p[n] >= '0' && p[n] <= '9' {
		v = v*10 + int64(p[n]-'0')
		n++
	}
	return v, n > 0
}

// keep saves the unparsed rest p of what was read for the next read.
func (c *conn) keep(p []byte) error {
	if len(p) > maxCarry {
		return errTooBig
	}
	if len(p) == 0 {
		c.carry = nil
	} else {
		c.carry = bytes.Clone(p)
	}
	return nil
}

// jsonString returns the string value of "key":"..." in p, unescaped
// only trivially; "" if absent.
func jsonString(p []byte, key string) string {
	k := []byte(`"` + key + `":"`)
	i := bytes.Index(p, k)
	if i < 0 {
		return ""
	}
	p = p[i+len(k):]
	if j := bytes.IndexByte(p, '"'); j >= 0 {
		return string(p[:j])
	}
	return ""
}

// jsonInt returns the integer value of "key":N in p, or -1.
func jsonInt(p []byte, key string) int {
	k := []byte(`"` + key + `":`)
	i := bytes.Index(p, k)
	if i < 0 {
		return -1
	}
	p = p[i+len(k):]
	j := 0
	for j < len(p) && p[j] >= '0' && p[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(string(p[:j]))
	if err != nil {
		return -1
	}
	return n
}

// reason names the cause of a failed or ended connection, for counting.
func reason(err error) string {
	var refused *refusedError
	var status ws.StatusError
	var ne net.Error
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &refused):
		return refused.reason
	case errors.As(err, &status):
		return "http " + strconv.Itoa(int(status))
	case errors.Is(err, errEnded):
		return "closed by server"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EADDRINUSE):
		return "no local port (add --sources)"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "too many open files"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, errTooBig):
		return "frame too long"
	case errors.Is(err, errProtocol):
		return "protocol error"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60] + "..."
	}
	return fmt.Sprintf("other: %s", s)
}
