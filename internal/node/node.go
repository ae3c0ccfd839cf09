package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldrt/herald/internal/api"
	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/history"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/metrics"
	"github.com/heraldrt/herald/internal/transport"
	"github.com/heraldrt/herald/internal/web"
	"github.com/nats-io/nuid"
)

// shutdownGrace is how long shutdown waits, beyond the drain timeout, for
// clients and NATS to finish.
const shutdownGrace = 10 * time.Second

// Node is one running Herald node.
type Node struct {
	cfg config.Config
	log *slog.Logger
	id  string

	bus        *bus.Bus
	hub        *hub.Hub
	metrics    *metrics.Metrics
	transports *transport.Server // nil in the api role
	web        *web.Web          // nil without --ui
	srv        *http.Server
	ln         net.Listener
	served     chan error
	stopStats  context.CancelFunc
	pprof      *http.Server
	verifier   *auth.Verifier // nil when tokens are off
	store      *history.Store // nil when no channel keeps history
	router     *history.Router
	mux        *http.ServeMux
	fds        budget
	steps      []step // what Start starts, in order

	historyRules []config.HistoryRule
	storeDir     string // where the embedded JetStream keeps history; "" with an external NATS

	extra    map[string]http.Handler // WithHandler's, by pattern
	draining atomic.Bool
	// keepsHistory is set when --history gives rules; then the node is
	// ready only while historyWorks, which its watchdog keeps up to date.
	keepsHistory bool
	historyWorks atomic.Bool
}

// Option adds to a node what its config does not describe.
type Option func(*Node)

// WithHandler serves h at pattern (as http.ServeMux takes it) besides the
// node's own endpoints, as the demo serves its controls on its api node.
func WithHandler(pattern string, h http.Handler) Option {
	return func(n *Node) {
		if n.extra == nil {
			n.extra = make(map[string]http.Handler)
		}
		n.extra[pattern] = h
	}
}

// New assembles a node from a config: it checks the config, works out
// the node's descriptor budget, makes its metrics and its HTTP routes, and
// lists the components its role needs, in the order Start starts them.
// Nothing runs yet.
func New(cfg config.Config, log *slog.Logger, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Name == "" {
		cfg.Name = config.DefaultName(cfg.Listen)
	}
	n := &Node{cfg: cfg, log: log.With("node", cfg.Name), id: nuid.Next()}
	for _, o := range opts {
		o(n)
	}
	n.fds = newBudget(openFiles(), n.cfg.MaxConnections)
	n.cfg.MaxConnections = n.fds.clients
	n.historyRules = n.cfg.HistoryRules()
	n.metrics = metrics.New(n.metricSources())

	n.mux = http.NewServeMux()
	n.mux.HandleFunc("GET /healthz", n.healthz)
	n.mux.HandleFunc("GET /readyz", n.readyz)
	n.mux.Handle("GET /metrics", n.metrics.Handler())
	for pattern, h := range n.extra {
		n.mux.Handle(pattern, h)
	}
	n.mux.HandleFunc("/", n.notFound)

	n.steps = []step{{"NATS", n.startBus}}
	if len(n.historyRules) > 0 {
		n.steps = append(n.steps, step{"history", n.startHistory})
	}
	n.steps = append(n.steps, step{"hub", n.startHub})
	if n.cfg.ServesClients() {
		n.steps = append(n.steps, step{"client transports", n.startTransports})
	}
	if n.cfg.ServesAPI() {
		n.steps = append(n.steps, step{"publish API", n.startAPI})
	}
	n.steps = append(n.steps, step{"web", n.startWeb}, step{"listener", n.listen}, step{"background tasks", n.startBackground})
	return n, nil
}

// step is one component of a node as Start starts it.
type step struct {
	name  string
	start func() error
}

// Start runs the node's components in order: NATS (starting the embedded
// server if there is one), history, the hub, the transports and API its
// role serves, the listener and the background tasks. It returns once the
// node accepts connections; if a component fails, what started is stopped.
func (n *Node) Start() error {
	for _, s := range n.steps {
		if err := s.start(); err != nil {
			if n.ln != nil {
				n.ln.Close()
			}
			if n.bus != nil {
				n.closeBus()
			}
			return err
		}
	}
	n.logStart()
	return nil
}

// Addr returns the address the node listens on.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Bus returns the node's NATS side.
func (n *Node) Bus() *bus.Bus { return n.bus }

// Run starts the node and serves until ctx is cancelled, then shuts down
// gracefully. It returns nil after a clean shutdown.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case err := <-n.served:
		n.closeBus()
		return fmt.Errorf("http server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownDelay+n.cfg.DrainTimeout+shutdownGrace)
	defer cancel()
	return n.Shutdown(sctx)
}

// Shutdown stops the node: readiness turns false, new connections are
// refused, every client is told to reconnect elsewhere (spread over the
// drain timeout), then NATS is drained.
func (n *Node) Shutdown(ctx context.Context) error {
	if n.draining.Swap(true) {
		return nil // already shut down, or shutting down
	}
	if d := n.cfg.ShutdownDelay; d > 0 {
		n.log.Info("shutting down: not ready, still serving", "delay", d)
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	n.log.Info("shutting down", "clients", n.clients(), "drain", n.cfg.DrainTimeout)
	n.stopStats()
	if n.web != nil {
		n.web.Close()
	}
	if n.pprof != nil {
		_ = n.pprof.Close()
	}
	n.verifier.Close()
	srvDone := make(chan error, 1)
	go func() { srvDone <- n.srv.Shutdown(ctx) }() // closes the listener at once
	if n.transports != nil {
		n.transports.Shutdown(ctx, n.cfg.DrainTimeout)
	}
	var errs []error
	if err := <-srvDone; err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	n.hub.Close()
	if err := n.bus.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("NATS drain: %w", err))
	}
	n.log.Info("stopped")
	return errors.Join(errs...)
}

func (n *Node) closeBus() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	_ = n.bus.Close(ctx)
}

func (n *Node) clients() int {
	if n.transports == nil {
		return 0
	}
	return n.transports.Clients()
}

func (n *Node) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, `{"status":"ok"}`)
}

func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	switch {
	case n.draining.Load():
		writeJSON(w, http.StatusServiceUnavailable, `{"status":"draining"}`)
	case !n.bus.Connected():
		writeJSON(w, http.StatusServiceUnavailable, `{"status":"nats disconnected"}`)
	case n.keepsHistory && !n.historyWorks.Load():
		writeJSON(w, http.StatusServiceUnavailable, `{"status":"history unavailable"}`)
	default:
		writeJSON(w, http.StatusOK, `{"status":"ready"}`)
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body + "\n"))
}

// loopback reports whether host:port names a loopback host.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// historyRules lists history rules as --history would give them.
func historyRules(rules []config.HistoryRule) string {
	s := make([]string, len(rules))
	for i, r := range rules {
		s[i] = r.String()
	}
	return strings.Join(s, " ")
}

// apiKeys are the API's keys from the config's.
func apiKeys(cfg *config.Config) []api.Key {
	var keys []api.Key
	for _, k := range cfg.Keys() {
		keys = append(keys, api.Key{Secret: k.Key, Scope: k.Scope})
	}
	return keys
}
