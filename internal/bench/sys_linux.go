//go:build linux

package bench

import (
	"io"
	"net"
	"sync"
	"syscall"
)

// readBufSize is the size of the buffers reads share. A connection holds
// one only while it reads and parses what arrived, so an idle connection
// costs no buffer.
const readBufSize = 16 << 10

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// sock reads a TCP connection through the runtime's poller without
// holding a buffer while it waits.
type sock struct {
	rc syscall.RawConn
}

func newSock(nc net.Conn) (sock, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return sock{}, errNotTCP
	}
	rc, err := sc.SyscallConn()
	return sock{rc: rc}, err
}

// read waits until the connection is readable (or its read deadline
// passes), reads what is there into a shared buffer and calls fn with it;
// the buffer is reused once fn returns. At the end of the stream it
// returns io.EOF.
func (s sock) read(nc net.Conn, fn func([]byte)) error {
	var (
		bp   *[]byte
		n    int
		rerr error
	)
	err := s.rc.Read(func(fd uintptr) bool {
		bp = readBufs.Get().(*[]byte)
		for {
			n, rerr = syscall.Read(int(fd), *bp)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			readBufs.Put(bp)
			bp = nil
			return false // wait for the poller
		}
		return true
	})
	if bp != nil {
		defer readBufs.Put(bp)
	}
	switch {
	case err != nil:
		return err
	case rerr != nil:
		return rerr
	case n == 0:
		return io.EOF
	}
	fn((*bp)[:n])
	return nil
}

// bindNoPort lets connections bound to a source address share local
// ports across destinations (IP_BIND_ADDRESS_NO_PORT): the port is chosen
// at connect, per destination, not at bind.
func bindNoPort(_, _ string, c syscall.RawConn) error {
	const ipBindAddressNoPort = 24
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	}); err != nil {
		return err
	}
	return serr
}

// openFilesLimit returns the soft limit on open files (RLIMIT_NOFILE), which
// the Go runtime raises to the hard limit at start.
func openFilesLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<30 {
		return 1 << 30
	}
	return int(l.Cur)
}

// selfCPU returns the CPU time (user + system) this process has used, in
// seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
