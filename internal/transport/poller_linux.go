//go:build linux

package transport

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// poller watches idle WebSocket connections for input with one epoll set,
// so that an idle connection holds no goroutine: when a connection has
// data, a goroutine is started to read one message, and the connection is
// armed again (EPOLLONESHOT) once it is done. The descriptors stay in Go's
// own poller too, which the reads and writes use as usual.
type poller struct {
	epfd  int
	mu    sync.Mutex
	conns map[int32]*wsConn
	stop  chan struct{}
	done  chan struct{}
}

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("transport: epoll: %w", err)
	}
	p := &poller{epfd: epfd, conns: make(map[int32]*wsConn), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p, nil
}

func (p *poller) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		n, err := syscall.EpollWait(p.epfd, events, 200)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			c := p.conns[ev.Fd]
			p.mu.Unlock()
			if c != nil && c.reading.CompareAndSwap(false, true) {
				go c.onReadable()
			}
		}
	}
}

// add starts watching fd for c.
func (p *poller) add(fd int, c *wsConn) error {
	p.mu.Lock()
	p.conns[int32(fd)] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: pollEvents, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, int32(fd))
		p.mu.Unlock()
		return err
	}
	return nil
}

// rearm watches fd again after a message was read.
func (p *poller) rearm(fd int) error {
	ev := syscall.EpollEvent{Events: pollEvents, Fd: int32(fd)}
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
}

// remove stops watching fd. Call it before the descriptor is closed, so
// that a reused descriptor number never reaches the wrong connection.
func (p *poller) remove(fd int) {
	p.mu.Lock()
	delete(p.conns, int32(fd))
	p.mu.Unlock()
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
}

func (p *poller) close() {
	close(p.stop)
	<-p.done
	syscall.Close(p.epfd)
}

// hasInput reports whether fd has bytes to read, or an end or error to
// report, without reading or blocking.
func hasInput(fd int) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(fd, b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	// Anything but "would block" (bytes, the peer's close, an error) is
	// for the reader to see.
	return !errors.Is(err, syscall.EAGAIN)
}
