//go:build !linux

package transport

import "errors"

// poller is Linux only; elsewhere every WebSocket connection keeps a
// reader goroutine.
type poller struct{}

func newPoller() (*poller, error) { return nil, errors.New("transport: no epoll here") }

func (p *poller) add(int, *wsConn) error { return errors.New("transport: no epoll here") }
func (p *poller) rearm(int) error        { return nil }
func (p *poller) remove(int)             {}
func (p *poller) close()                 {}

func hasInput(int) bool { return true }
