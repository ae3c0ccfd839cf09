//go:build !linux

package bench

import (
	"net"
	"sync"
	"syscall"
)

// readBufSize is the size of each connection's read buffer.
const readBufSize = 4 << 10

// sock reads a connection with plain reads: off Linux, each waiting
// connection holds its buffer.
type sock struct{}

func newSock(net.Conn) (sock, error) { return sock{}, nil }

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// read reads what arrives next and calls fn with it.
func (sock) read(nc net.Conn, fn func([]byte)) error {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	n, err := nc.Read(*bp)
	if n > 0 {
		fn((*bp)[:n])
	}
	return err
}

// bindNoPort is Linux only; elsewhere a source address binds its ports.
var bindNoPort func(network, address string, c syscall.RawConn) error

// openFilesLimit is unknown off Linux: assume a common default.
func openFilesLimit() int { return 10240 }

// selfCPU is measured on Linux only.
func selfCPU() float64 { return 0 }
