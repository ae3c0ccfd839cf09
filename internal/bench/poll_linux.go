//go:build linux

package bench

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

// readers serve subscribed connections with a few epoll loops rather than
// a goroutine each. A connection's descriptor leaves Go's poller for a
// loop's own level-triggered epoll set, so that one wake-up serves every
// connection a message reached, each with a single read into the loop's
// buffer. An idle connection costs its conn and its socket, nothing more.
type readers struct {
	loops   []*loop
	ended   func(c *conn, err error)
	next    atomic.Uint32
	stop    atomic.Bool
	running sync.WaitGroup
}

// loop is one epoll set and the goroutine that waits on it. The set's own
// descriptor is in Go's poller: the goroutine parks there while nothing
// is ready, and collects what is ready without blocking.
type loop struct {
	r     *readers
	epfd  int
	ep    *os.File // epfd, for Go's poller
	buf   []byte
	mu    sync.Mutex // guards conns
	conns map[int32]*conn
}

// newReaders starts a loop per CPU. ended is called, from a loop, for
// each connection that ends before close.
func newReaders(ended func(*conn, error)) (*readers, error) {
	r := &readers{ended: ended}
	for range runtime.GOMAXPROCS(0) {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err == nil {
			err = syscall.SetNonblock(epfd, true)
		}
		if err != nil {
			r.close()
			return nil, fmt.Errorf("bench: epoll: %w", err)
		}
		l := &loop{r: r, epfd: epfd, ep: os.NewFile(uintptr(epfd), "epoll"), buf: make([]byte, readBufSize), conns: map[int32]*conn{}}
		r.loops = append(r.loops, l)
		r.running.Go(l.run)
	}
	return r, nil
}

// add takes over c: its descriptor is duplicated out of Go's poller and
// the net.Conn closed; from now on a loop reads it.
func (r *readers) add(c *conn) error {
	fd, err := detach(c.nc)
	if err != nil {
		c.nc.Close()
		return err
	}
	c.fd = fd
	if r.stop.Load() {
		syscall.Close(fd)
		return nil
	}
	l := r.loops[int(r.next.Add(1))%len(r.loops)]
	l.mu.Lock()
	l.conns[int32(fd)] = c
	l.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.mu.Lock()
		delete(l.conns, int32(fd))
		l.mu.Unlock()
		syscall.Close(fd)
		return fmt.Errorf("bench: epoll add: %w", err)
	}
	return nil
}

// detach returns a close-on-exec duplicate of nc's descriptor and closes
// nc, which takes the original out of Go's poller; the socket stays open
// through the duplicate, non-blocking as before.
func detach(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, errNotTCP
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	dup, derr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			derr = errno
			return
		}
		dup = int(r)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	nc.Close()
	return dup, nil
}

func (l *loop) run() {
	rc, err := l.ep.SyscallConn()
	if err != nil {
		return
	}
	events := make([]syscall.EpollEvent, 512)
	for !l.r.stop.Load() {
		err := rc.Read(func(fd uintptr) bool {
			n, err := syscall.EpollWait(int(fd), events, 0)
			if n <= 0 || err != nil {
				return false // park in Go's poller until the set has events
			}
			l.serve(events[:n])
			return true
		})
		if err != nil {
			return // closed
		}
	}
}

// serve reads the connections that are ready.
func (l *loop) serve(events []syscall.EpollEvent) {
	for _, ev := range events {
		l.mu.Lock()
		c := l.conns[ev.Fd]
		l.mu.Unlock()
		if c == nil {
			continue
		}
		var ferr error
		m, rerr := syscall.Read(int(ev.Fd), l.buf)
		switch {
		case m > 0:
			ferr = c.feed(l.buf[:m])
		case m == 0:
			ferr = io.EOF
		case rerr == syscall.EAGAIN || rerr == syscall.EINTR:
		default:
			ferr = rerr
		}
		if ferr != nil {
			l.drop(c, ferr)
		}
	}
}

// drop closes a connection that ended.
func (l *loop) drop(c *conn, err error) {
	l.mu.Lock()
	delete(l.conns, int32(c.fd))
	l.mu.Unlock()
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	syscall.Close(c.fd)
	l.r.ended(c, err)
}

// close stops the loops and closes every connection they hold.
func (r *readers) close() {
	r.stop.Store(true)
	for _, l := range r.loops {
		l.ep.Close() // ends the wait in progress
	}
	r.running.Wait()
	for _, l := range r.loops {
		l.mu.Lock()
		for fd := range l.conns {
			syscall.Close(int(fd))
		}
		l.conns = nil
		l.mu.Unlock()
	}
}

// writeFD writes b to a detached descriptor, once: control frames are a
// few bytes, and a client's send buffer is all but empty.
func writeFD(fd int, b []byte) error {
	n, err := syscall.Write(fd, b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return err
}
