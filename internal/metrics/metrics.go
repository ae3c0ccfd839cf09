// Package metrics holds a node's Prometheus collectors. Each node has its
// own registry, so several nodes can run in one process.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Transport names, as metric labels.
const (
	WebSocket = "websocket"
	SSE       = "sse"
	LongPoll  = "longpoll"
)

// Sources supplies the gauges that are read when scraped.
type Sources struct {
	Subscriptions func() float64
	Channels      func() float64
	NATSConnected func() float64
	NATSWatches   func() float64
	NATSDropped   func() float64 // messages dropped on the bus side (not JSON, worker behind)
	Reconnects    func() float64
	GapsFound     func() float64 // live gaps seen on history channels
	GapsLost      func() float64 // of those, gaps history could not fill
}

// Metrics are the collectors the node updates.
type Metrics struct {
	registry *prometheus.Registry

	connections *prometheus.GaugeVec
	delivered   *prometheus.CounterVec
	// The children of both vectors by transport, looked up once: the
	// delivery path takes them per write batch.
	connsBy       map[string]prometheus.Gauge
	deliveredBy   map[string]prometheus.Counter
	Published     prometheus.Counter
	Received      prometheus.Counter // messages from NATS for channels with local subscribers
	Dropped       prometheus.Counter // messages dropped for a client (queue overflow, closed)
	SlowConsumers prometheus.Counter // clients disconnected for overflowing their queue

	resumes  *prometheus.CounterVec // by outcome: recovered, or the reason it was not
	replayed prometheus.Counter
	refused  *prometheus.CounterVec // by the limit that refused: its option's name

	authRefused *prometheus.CounterVec // tokens refused, by reason
	forbidden   *prometheus.CounterVec // operations the channel rules refused, by operation
}

// New registers the node's collectors, process and Go runtime metrics.
func New(src Sources) *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		registry: r,
		connections: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "herald_connections", Help: "Open client connections (long-poll: live sessions), by transport.",
		}, []string{"transport"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_messages_delivered_total", Help: "Messages written to clients, by transport.",
		}, []string{"transport"}),
		Published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_messages_published_total", Help: "Messages published through this node (API and client publish).",
		}),
		Received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_messages_received_total", Help: "Messages received from NATS for channels with subscribers on this node (each is then delivered to all of them).",
		}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_messages_dropped_total", Help: "Messages dropped for a client whose queue overflowed or that was closing.",
		}),
		SlowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_slow_consumer_disconnects_total", Help: "Clients disconnected because their outbound queue overflowed.",
		}),
	}
	m.resumes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_history_resumes_total", Help: "Subscriptions that asked to resume a channel, by outcome: recovered, or the reason they were not.",
	}, []string{"outcome"})
	m.replayed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "herald_history_replayed_total", Help: "Messages replayed to resuming subscribers.",
	})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_limit_refusals_total", Help: "Requests, connections and commands refused by a limit, by the option that sets it.",
	}, []string{"limit"})
	m.authRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_auth_refusals_total", Help: "Client tokens refused, by reason (missing, malformed, bad_signature, expired, not_yet_valid, wrong_issuer, wrong_audience, unknown_key).",
	}, []string{"reason"})
	m.forbidden = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_auth_forbidden_total", Help: "Client operations the channel rules refused, by operation (subscribe, publish, history).",
	}, []string{"op"})
	r.MustRegister(m.connections, m.delivered, m.Published, m.Received, m.Dropped, m.SlowConsumers, m.resumes, m.replayed, m.refused, m.authRefused, m.forbidden,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		gauge("herald_subscriptions", "Client subscriptions on this node.", src.Subscriptions),
		gauge("herald_channels", "Channels with at least one subscriber on this node.", src.Channels),
		gauge("herald_nats_connected", "1 while the NATS connection is up, else 0.", src.NATSConnected),
		gauge("herald_nats_subscriptions", "NATS channel subscriptions this node holds (one per channel with local subscribers).", src.NATSWatches),
		counter("herald_nats_dropped_total", "Messages from NATS dropped by this node (payload not JSON, or delivery fell behind).", src.NATSDropped),
		counter("herald_nats_reconnects_total", "Times the NATS connection was re-established.", src.Reconnects),
		counter("herald_history_gaps_total", "Times a history channel's live stream skipped offsets on this node (the missed messages are fetched from history).", src.GapsFound),
		counter("herald_history_gaps_lost_total", "Gaps history could not fill; the channel's subscribers were told recovered:false.", src.GapsLost),
	)
	m.connsBy = make(map[string]prometheus.Gauge, 3)
	m.deliveredBy = make(map[string]prometheus.Counter, 3)
	for _, t := range []string{WebSocket, SSE, LongPoll} {
		m.connsBy[t] = m.connections.WithLabelValues(t)
		m.deliveredBy[t] = m.delivered.WithLabelValues(t)
	}
	return m
}

func gauge(name, help string, f func() float64) prometheus.Collector {
	if f == nil {
		f = func() float64 { return 0 }
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
}

func counter(name, help string, f func() float64) prometheus.Collector {
	if f == nil {
		f = func() float64 { return 0 }
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
}

// Connections returns the open-connections gauge of a transport.
func (m *Metrics) Connections(transport string) prometheus.Gauge {
	if g, ok := m.connsBy[transport]; ok {
		return g
	}
	return m.connections.WithLabelValues(transport)
}

// Delivered returns the delivered-messages counter of a transport.
func (m *Metrics) Delivered(transport string) prometheus.Counter {
	if c, ok := m.deliveredBy[transport]; ok {
		return c
	}
	return m.delivered.WithLabelValues(transport)
}

// Resumed counts a resume: its outcome ("recovered" or the reason it was
// not) and the messages it replayed.
func (m *Metrics) Resumed(outcome string, replayed int) {
	m.resumes.WithLabelValues(outcome).Inc()
	m.replayed.Add(float64(replayed))
}

// Refused counts a refusal by the limit set by the option named limit
// (such as "max-poll-sessions").
func (m *Metrics) Refused(limit string) { m.refused.WithLabelValues(limit).Inc() }

// AuthRefused counts a refused token by its reason.
func (m *Metrics) AuthRefused(reason string) { m.authRefused.WithLabelValues(reason).Inc() }

// Forbidden counts an operation the channel rules refused.
func (m *Metrics) Forbidden(op string) { m.forbidden.WithLabelValues(op).Inc() }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Totals are a node's counters at one moment, for its stats message.
type Totals struct {
	Connections map[string]int `json:"connections"`
	Published   uint64         `json:"published"`
	Received    uint64         `json:"received"`
	Delivered   uint64         `json:"delivered"`
	Dropped     uint64         `json:"dropped"`
}

// Totals reads the node's counters.
func (m *Metrics) Totals() Totals {
	t := Totals{
		Connections: make(map[string]int, 3),
		Published:   counterValue(m.Published),
		Received:    counterValue(m.Received),
		Dropped:     counterValue(m.Dropped),
	}
	for _, tr := range []string{WebSocket, SSE, LongPoll} {
		t.Connections[tr] = int(gaugeValue(m.Connections(tr)))
		t.Delivered += counterValue(m.Delivered(tr))
	}
	return t
}

func counterValue(c prometheus.Counter) uint64 {
	var d dto.Metric
	if c.Write(&d) != nil {
		return 0
	}
	return uint64(d.GetCounter().GetValue())
}

func gaugeValue(g prometheus.Gauge) float64 {
	var d dto.Metric
	if g.Write(&d) != nil {
		return 0
	}
	return d.GetGauge().GetValue()
}
