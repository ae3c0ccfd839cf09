package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// Report is the result of a run. Its JSON form is the machine-readable
// result; WriteTable writes it for people. Durations are in seconds or
// milliseconds as the field names say; memory in bytes.
type Report struct {
	Mode      string   `json:"mode"`
	Protocol  string   `json:"protocol"` // "herald" or "centrifugo"
	Transport string   `json:"transport,omitempty"`
	URLs      []string `json:"urls,omitempty"`
	API       string   `json:"api,omitempty"`
	Conns     int      `json:"connections,omitempty"`
	Channels  int      `json:"channels,omitempty"`
	Workers   int      `json:"worker_processes"`
	Sources   int      `json:"source_addresses,omitempty"`

	Ramp    *RampReport    `json:"ramp,omitempty"`
	Ended   map[string]int `json:"ended_by_server,omitempty"` // connections the server ended during the run, by reason
	Memory  *MemoryReport  `json:"memory,omitempty"`
	Fanout  *FanoutReport  `json:"fanout,omitempty"`
	Publish *PublishReport `json:"publish,omitempty"`

	Generator CPUReport `json:"generator_cpu"`
	Seconds   float64   `json:"seconds"`
}

// RampReport describes opening the connections.
type RampReport struct {
	Requested int            `json:"requested"`
	Connected int            `json:"connected"`
	Failed    int            `json:"failed"`
	Failures  map[string]int `json:"failures,omitempty"` // by reason
	Seconds   float64        `json:"seconds"`
	PerSecond float64        `json:"per_second"`
	// Handshake is the time from dialing to the subscribe reply
	// (WebSocket) or the welcome event (SSE). For Centrifugo it spans
	// the connect and the subscribe, two round trips.
	Handshake Percentiles `json:"handshake"`
	// ServerCPUPerConn is the --pid processes' CPU time over the ramp per
	// connection made (connect + subscribe), in microseconds.
	ServerCPUPerConn float64 `json:"server_cpu_per_connection_us,omitempty"`
}

// MemoryReport is the servers' memory before and after the connections.
type MemoryReport struct {
	Source        string       `json:"source"` // "proc" (VmRSS of --pid) or "metrics" (process_resident_memory_bytes)
	Processes     []MemoryFrom `json:"processes"`
	Before        float64      `json:"before_bytes"`
	After         float64      `json:"after_bytes"`
	PerConnection float64      `json:"per_connection_bytes"`
	// Nodes are the gateways' herald_connections, by transport; for
	// Centrifugo its centrifugo_node_num_clients, a total refreshed every
	// 10s.
	Nodes []NodeConnections `json:"nodes,omitempty"`
}

// MemoryFrom is one process's resident memory.
type MemoryFrom struct {
	Name   string  `json:"name"` // "pid N" or a URL
	Before float64 `json:"before_bytes"`
	After  float64 `json:"after_bytes"`
	Error  string  `json:"error,omitempty"`
}

// NodeConnections is one node's herald_connections gauge, or
// Centrifugo's centrifugo_node_num_clients.
type NodeConnections struct {
	URL         string             `json:"url"`
	Connections map[string]float64 `json:"connections,omitempty"` // by transport
	Total       float64            `json:"total"`
	Error       string             `json:"error,omitempty"`
}

// FanoutReport is the delivery of published messages to subscribers.
type FanoutReport struct {
	Rate                    float64        `json:"rate"` // publishes per second asked for
	Size                    int            `json:"size"`
	Messages                int            `json:"messages"` // publishes planned
	Published               int            `json:"published"`
	PublishErrors           map[string]int `json:"publish_errors,omitempty"`
	NotSent                 int            `json:"not_sent,omitempty"` // planned but not sent in time
	PublishSeconds          float64        `json:"publish_seconds"`
	PublishLagMax           float64        `json:"publish_lag_max_ms"` // how late the publisher got behind its schedule
	Expected                uint64         `json:"expected"`
	Received                uint64         `json:"received"`
	Lost                    uint64         `json:"lost"`
	LossPercent             float64        `json:"loss_percent"`
	DeliveryPerSec          float64        `json:"deliveries_per_second"`
	Latency                 Percentiles    `json:"latency"` // from the publisher's send to the subscriber's read
	WindowSeconds           float64        `json:"window_seconds"`
	Server                  []ProcessCPU   `json:"server_cpu,omitempty"`
	ServerCPUPerDelivery    float64        `json:"server_cpu_per_delivery_us,omitempty"`
	GeneratorCPU            float64        `json:"generator_cpu_seconds"` // over the window
	GeneratorCPUPerDelivery float64        `json:"generator_cpu_per_delivery_us"`
}

// ProcessCPU is a server process's CPU time over the publish window.
type ProcessCPU struct {
	PID     int     `json:"pid"`
	Seconds float64 `json:"cpu_seconds"`
	Error   string  `json:"error,omitempty"`
}

// PublishReport is the publish API's throughput.
type PublishReport struct {
	Concurrency int            `json:"concurrency"`
	Broadcast   int            `json:"broadcast,omitempty"` // channels per request
	Size        int            `json:"size"`
	Seconds     float64        `json:"seconds"`
	Requests    uint64         `json:"requests"`
	OK          uint64         `json:"ok"`
	Errors      map[string]int `json:"errors,omitempty"`
	PerSecond   float64        `json:"requests_per_second"`
	Messages    float64        `json:"messages_per_second"` // requests × channels
	Latency     Percentiles    `json:"latency"`
}

// CPUReport is the generator's own CPU time.
type CPUReport struct {
	Seconds   float64 `json:"cpu_seconds"`
	Processes int     `json:"processes"`
	// Percent is of one core, over the run.
	Percent float64 `json:"percent_of_one_core"`
}

func rampReport(t *tally, requested int) *RampReport {
	if t == nil {
		return nil
	}
	rr := &RampReport{
		Requested: requested,
		Connected: t.Connected,
		Failed:    t.Failed,
		Failures:  t.Failures,
		Seconds:   t.RampSeconds,
		Handshake: t.Handshake.Percentiles(),
	}
	if len(rr.Failures) == 0 {
		rr.Failures = nil
	}
	if t.RampSeconds > 0 {
		rr.PerSecond = float64(t.Connected) / t.RampSeconds
	}
	return rr
}

func cpuReport(seconds, wall float64, procs int) CPUReport {
	c := CPUReport{Seconds: seconds, Processes: procs}
	if wall > 0 {
		c.Percent = 100 * seconds / wall
	}
	return c
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, args...)) }
	head := "herald bench " + r.Mode
	if r.Conns > 0 {
		procs := "in this process"
		if r.Workers > 0 {
			procs = fmt.Sprintf("in %d worker processes", r.Workers)
		}
		head += fmt.Sprintf(": %d %s connections to %s over %d channels, %s", r.Conns, r.connName(),
			strings.Join(r.URLs, ", "), r.Channels, procs)
	} else if r.API != "" {
		head += ": " + r.API
		if r.Protocol == Centrifugo {
			head += " (Centrifugo)"
		}
	}
	fmt.Fprintln(tw, head)
	if rr := r.Ramp; rr != nil {
		row("connections", "%d connected, %d failed in %.2fs (%.0f/s)", rr.Connected, rr.Failed, rr.Seconds, rr.PerSecond)
		if len(rr.Failures) > 0 {
			row("failures", "%s", counts(rr.Failures))
		}
		row("handshake", "%s", pcts(rr.Handshake))
		if rr.ServerCPUPerConn > 0 {
			row("server CPU", "%.1f µs per connection (connect + subscribe)", rr.ServerCPUPerConn)
		}
	}
	if m := r.Memory; m != nil {
		for _, p := range m.Processes {
			if p.Error != "" {
				row("memory "+p.Name, "unknown: %s", p.Error)
				continue
			}
			row("memory "+p.Name, "%s before, %s after", mib(p.Before), mib(p.After))
		}
		row("memory", "%s before, %s after (%s): %.1f KiB per connection", mib(m.Before), mib(m.After), m.Source, m.PerConnection/1024)
		for _, n := range m.Nodes {
			if n.Error != "" {
				row("connections "+n.URL, "unknown: %s", n.Error)
				continue
			}
			if len(n.Connections) == 0 {
				row("connections "+n.URL, "%.0f", n.Total)
				continue
			}
			row("connections "+n.URL, "%.0f (%s)", n.Total, floats(n.Connections))
		}
	}
	if f := r.Fanout; f != nil {
		row("published", "%d of %d messages of %d bytes at %.0f/s over %.2fs, at most %.1fms behind schedule",
			f.Published, f.Messages, f.Size, f.Rate, f.PublishSeconds, f.PublishLagMax)
		if len(f.PublishErrors) > 0 || f.NotSent > 0 {
			row("publish errors", "%s; %d not sent", counts(f.PublishErrors), f.NotSent)
		}
		row("deliveries", "%d expected, %d received, %d lost (%.3f%%), %.0f/s", f.Expected, f.Received, f.Lost, f.LossPercent, f.DeliveryPerSec)
		row("latency", "%s", pcts(f.Latency))
		if len(f.Server) > 0 {
			var parts []string
			for _, p := range f.Server {
				if p.Error != "" {
					parts = append(parts, fmt.Sprintf("pid %d unknown", p.PID))
					continue
				}
				parts = append(parts, fmt.Sprintf("pid %d %.2fs", p.PID, p.Seconds))
			}
			row("server CPU", "%s over %.2fs: %.2f µs per delivery", strings.Join(parts, ", "), f.WindowSeconds, f.ServerCPUPerDelivery)
		}
		row("generator CPU", "%.2fs over %.2fs (%.0f%% of a core): %.2f µs per delivery",
			f.GeneratorCPU, f.WindowSeconds, 100*f.GeneratorCPU/max(f.WindowSeconds, 1e-9), f.GeneratorCPUPerDelivery)
	}
	if p := r.Publish; p != nil {
		what := "/api/publish"
		if p.Broadcast > 0 {
			what = fmt.Sprintf("/api/broadcast to %d channels", p.Broadcast)
		}
		row("requests", "%d to %s by %d workers in %.2fs: %d ok, %.0f/s (%.0f messages/s)",
			p.Requests, what, p.Concurrency, p.Seconds, p.OK, p.PerSecond, p.Messages)
		if len(p.Errors) > 0 {
			row("errors", "%s", counts(p.Errors))
		}
		row("latency", "%s", pcts(p.Latency))
	}
	if len(r.Ended) > 0 {
		row("ended by server", "%s", counts(r.Ended))
	}
	row("generator", "%.2fs CPU in %d process(es) over %.2fs (%.0f%% of a core)",
		r.Generator.Seconds, r.Generator.Processes, r.Seconds, r.Generator.Percent)
	return tw.Flush()
}

// connName names the run's connections: their protocol, if not
// Herald's, and transport.
func (r *Report) connName() string {
	t := "WebSocket"
	if r.Transport == SSE {
		t = "SSE"
	}
	if r.Protocol == Centrifugo {
		return "Centrifugo " + t
	}
	return t
}

func pcts(p Percentiles) string {
	if p.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%d)",
		ms(p.P50), ms(p.P90), ms(p.P99), ms(p.P999), ms(p.Max), p.Count)
}

func ms(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 100:
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

func counts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func floats(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
