package bench

import (
	"context"
	"fmt"
	"maps"
	"strings"
)

// Idle opens o.Conns subscribed connections, holds them for o.Hold, and
// reports the servers' memory per connection: the resident memory of
// o.PIDs (or, without them, the gateways' process_resident_memory_bytes)
// after the hold less before the ramp, over the connections; and the
// gateways' herald_connections (Centrifugo: centrifugo_node_num_clients,
// which Centrifugo refreshes every 10s).
func Idle(ctx context.Context, o Options) (*Report, error) {
	r, o, err := newRun(ctx, o, modeIdle)
	if err != nil {
		return nil, err
	}
	defer r.stop()
	before := r.memory(ctx)
	ramp, err := r.ramp(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.hold(ctx, o.Hold, ramp.Connected); err != nil {
		return nil, err
	}
	after := r.memory(ctx)
	nodes := r.connections(ctx)
	final, err := r.close()
	if err != nil {
		return nil, err
	}
	rep := r.report(modeIdle, ramp, final)
	m := &MemoryReport{Source: "metrics", Nodes: nodes}
	if len(o.PIDs) > 0 {
		m.Source = "proc"
	}
	for i := range before {
		p := before[i]
		p.After = after[i].After
		if p.Error == "" {
			p.Error = after[i].Error
		}
		if p.Error == "" {
			m.Before += p.Before
			m.After += p.After
		}
		m.Processes = append(m.Processes, p)
	}
	if ramp.Connected > 0 {
		m.PerConnection = (m.After - m.Before) / float64(ramp.Connected)
	}
	rep.Memory = m
	return r.finish(rep, r.cpu()), nil
}

// memory samples the servers' resident memory, into Before and After
// alike.
func (r *run) memory(ctx context.Context) []MemoryFrom {
	var out []MemoryFrom
	if len(r.o.PIDs) > 0 {
		for _, pid := range r.o.PIDs {
			m := MemoryFrom{Name: fmt.Sprintf("pid %d", pid)}
			v, err := procRSS(pid)
			if err != nil {
				m.Error = err.Error()
			}
			m.Before, m.After = v, v
			out = append(out, m)
		}
		return out
	}
	for _, t := range r.uniqueTargets() {
		m := MemoryFrom{Name: t.url}
		s, err := scrape(ctx, t, "process_resident_memory_bytes")
		v, ok := s["process_resident_memory_bytes"]
		switch {
		case err != nil:
			m.Error = err.Error()
		case !ok:
			m.Error = "no process_resident_memory_bytes in /metrics"
		}
		m.Before, m.After = v, v
		out = append(out, m)
	}
	return out
}

// cfClients is Centrifugo's gauge of a node's client connections.
const cfClients = "centrifugo_node_num_clients"

// connections reads each gateway's herald_connections, or Centrifugo's
// count of clients.
func (r *run) connections(ctx context.Context) []NodeConnections {
	var out []NodeConnections
	for _, t := range r.uniqueTargets() {
		n := NodeConnections{URL: t.url, Connections: map[string]float64{}}
		if r.o.Protocol == Centrifugo {
			s, err := scrape(ctx, t, cfClients)
			v, ok := s[cfClients]
			switch {
			case err != nil:
				n.Error = err.Error()
			case !ok:
				n.Error = "no " + cfClients + " in /metrics"
			}
			n.Connections, n.Total = nil, v
			out = append(out, n)
			continue
		}
		s, err := scrape(ctx, t, "herald_connections")
		if err != nil {
			n.Error = err.Error()
		}
		for k, v := range maps.All(s) {
			if tr, ok := strings.CutPrefix(k, `herald_connections{transport="`); ok {
				n.Connections[strings.TrimSuffix(tr, `"}`)] = v
			}
		}
		n.Total = s["herald_connections"]
		out = append(out, n)
	}
	return out
}

// uniqueTargets returns the targets, each address once.
func (r *run) uniqueTargets() []*target {
	seen := map[string]bool{}
	var out []*target
	for _, t := range r.targets {
		if !seen[t.addr+t.path] {
			seen[t.addr+t.path] = true
			out = append(out, t)
		}
	}
	return out
}
