package transport

import (
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/heraldrt/herald/internal/protocol"
)

// connections counts the WebSocket connections and SSE streams a node
// holds, against --max-connections and --max-connections-per-ip, and the
// WebSocket sockets it has taken over from the HTTP server, which the
// node's listener adds to the sockets the server itself tracks.
type connections struct {
	max    int
	open   atomic.Int64 // WebSocket connections and SSE streams admitted
	perIP  *perIP
	hijack atomic.Int64 // WebSocket sockets open, admitted or being refused
}

// claim admits one more client connection from addr, or says which limit
// refuses it. A claim is given back with release.
func (s *Server) claim(addr netip.Addr) (protocol.Disconnect, *protocol.Error) {
	c := &s.conns
	if c.open.Add(1) > int64(c.max) {
		c.open.Add(-1)
		s.Metrics.Refused("max-connections")
		return protocol.DisconnectNodeFull, protocol.NewError(protocol.CodeUnavailable,
			fmt.Sprintf("this node holds its most connections (%d, see --max-connections); connect to another node", c.max))
	}
	if !c.perIP.acquire(addr) {
		c.open.Add(-1)
		s.Metrics.Refused("max-connections-per-ip")
		return protocol.DisconnectAddressFull, protocol.NewError(protocol.CodeTooManyConnections,
			fmt.Sprintf("your address holds the most connections allowed (%d, see --max-connections-per-ip); close one first", c.perIP.max))
	}
	return protocol.Disconnect{}, nil
}

// release gives back a claim.
func (s *Server) release(addr netip.Addr) {
	s.conns.open.Add(-1)
	s.conns.perIP.release(addr)
}

// Sockets returns how many client sockets the transports hold that the
// HTTP server no longer tracks: the WebSocket connections.
func (s *Server) Sockets() int { return int(s.conns.hijack.Load()) }
