package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/heraldrt/herald/internal/api"
	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/history"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/metrics"
	"github.com/heraldrt/herald/internal/protocol"
	"github.com/heraldrt/herald/internal/transport"
)

// The steps of Start, one per component, in the order New lists them.

// startBus connects to NATS, starting the embedded server if there is one.
func (n *Node) startBus() error {
	cfg := &n.cfg
	storeDir := ""
	if len(n.historyRules) > 0 && cfg.Embedded() {
		storeDir = filepath.Join(cfg.DataDir, dirName(cfg.Name))
	}
	n.storeDir = storeDir
	b, err := bus.Start(bus.Options{
		Name: cfg.Name, ID: n.id, Prefix: cfg.SubjectPrefix, MaxData: cfg.MaxMessageBytes,
		Handler: func(ch string, data []byte, pos *protocol.Position) {
			if n.hub.Publish(ch, data, pos) > 0 {
				n.metrics.Received.Inc()
			}
		},
		StoreDir: storeDir,
		Reconnected: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := n.bus.Sync(ctx); err == nil {
				n.hub.CatchUp(ctx)
			}
		},
		URL: cfg.NATSURL, Creds: cfg.NATSCreds, NKey: cfg.NATSNKey,
		User: cfg.NATSUser, Password: cfg.NATSPassword, Token: cfg.NATSToken,
		TLSCA: cfg.NATSTLSCA, TLSCert: cfg.NATSTLSCert, TLSKey: cfg.NATSTLSKey,
		Listen: cfg.NATSListen, ClusterName: cfg.ClusterName,
		ClusterListen: cfg.ClusterListen, ClusterRoutes: cfg.ClusterRoutes,
		Logger: n.log,
	})
	if err != nil {
		return err
	}
	n.bus = b
	return nil
}

// startHistory makes the history store on the bus's JetStream. The node
// is not ready until the store's streams work (see keepStreams).
func (n *Node) startHistory() error {
	cfg := &n.cfg
	n.keepsHistory = true
	js, err := n.bus.Streams()
	if err != nil {
		return fmt.Errorf("history needs JetStream: %w", err)
	}
	n.store = history.New(history.Options{
		JS: js, Prefix: cfg.SubjectPrefix, Rules: n.historyRules, DedupeWindow: cfg.IdempotencyWindow,
		ExactReplicas: cfg.HistoryReplicas > 0,
		Replicas: func() int {
			if cfg.HistoryReplicas > 0 {
				return cfg.HistoryReplicas
			}
			return n.bus.Replicas()
		},
		Logger: n.log,
	})
	return nil
}

// startHub makes the hub of local subscribers and the router publishes
// go through.
func (n *Node) startHub() error {
	var hist hub.History
	if n.store != nil {
		hist = n.store
	}
	n.hub = hub.New(n.bus, hist)
	n.router = &history.Router{Bus: n.bus, Store: n.store}
	n.hub.OnResume(func(rec protocol.Recovery, replayed int) {
		outcome := rec.Reason
		if rec.Recovered {
			outcome = "recovered"
		}
		n.metrics.Resumed(outcome, replayed)
	})
	return nil
}

// startTransports starts the client transports, and the token verifier
// when tokens are on.
func (n *Node) startTransports() error {
	cfg := &n.cfg
	if cfg.AuthOn() {
		o := cfg.AuthOptions()
		o.Logger = n.log
		v, err := auth.NewVerifier(o)
		if err != nil {
			return err
		}
		n.verifier = v
	}
	n.transports = transport.New(transport.Deps{
		Config: cfg, NodeName: cfg.Name,
		Hub: n.hub, Publisher: n.router, Nodes: n.bus,
		Metrics: n.metrics, Logger: n.log,
		Verifier: n.verifier, Rules: cfg.Rules(),
	})
	if n.store != nil {
		n.transports.History = n.store
	}
	if err := n.transports.Start(); err != nil {
		return err
	}
	n.transports.Register(n.mux)
	return nil
}

// startAPI serves the publish API.
func (n *Node) startAPI() error {
	cfg := &n.cfg
	opts := api.Options{
		Keys: apiKeys(cfg), AllowedOrigins: cfg.AllowedOrigins,
		MaxMessageBytes: cfg.MaxMessageBytes, MaxChannelLength: cfg.MaxChannelLength,
		Publisher: n.router, Metrics: n.metrics, Logger: n.log, Ping: cfg.Ping,
		MaxReplay: cfg.HistoryMaxReplay, Timeout: cfg.WriteTimeout,
	}
	if n.store != nil {
		opts.History = n.store
	}
	api.New(opts).Register(n.mux)
	return nil
}

// startWeb serves herald.js and, with --ui, the web UI.
func (n *Node) startWeb() error {
	n.registerWeb(n.mux)
	return nil
}

// listen opens the listener, within the descriptor budget, and serves.
func (n *Node) listen() error {
	cfg := &n.cfg
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if cfg.PprofListen != "" {
		if n.pprof, err = n.startPprof(cfg.PprofListen); err != nil {
			ln.Close()
			return fmt.Errorf("pprof-listen on %s: %w", cfg.PprofListen, err)
		}
	}
	sockets := func() int { return 0 }
	if n.transports != nil {
		sockets = n.transports.Sockets
	}
	capped := &cappedListener{Listener: ln, limit: int64(n.fds.listen), taken: sockets, refused: func() { n.metrics.Refused("open-files") }}
	n.ln = capped
	n.srv = &http.Server{
		ConnState:         capped.track,
		Handler:           n.mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second, // SSE and long-poll set their own
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	n.served = make(chan error, 1)
	go func() { n.served <- n.srv.Serve(n.ln) }()
	return nil
}

// startBackground starts the stats publisher and the history watchdog.
func (n *Node) startBackground() error {
	sctx, stop := context.WithCancel(context.Background())
	n.stopStats = stop
	if n.cfg.StatsInterval > 0 {
		go n.publishStats(sctx, n.cfg.StatsInterval)
	}
	if n.store != nil {
		go n.keepStreams(sctx, n.store)
	}
	return nil
}

// metricSources are the gauges the metrics read from the node's parts
// when scraped (after Start).
func (n *Node) metricSources() metrics.Sources {
	return metrics.Sources{
		Subscriptions: func() float64 { return float64(n.hub.Subscriptions()) },
		Channels:      func() float64 { return float64(n.hub.Channels()) },
		NATSConnected: func() float64 { return boolFloat(n.bus.Connected()) },
		NATSWatches:   func() float64 { return float64(n.bus.Stats().Watches) },
		NATSDropped:   func() float64 { s := n.bus.Stats(); return float64(s.Invalid + s.SlowConsumers) },
		Reconnects:    func() float64 { return float64(n.bus.Stats().Reconnects) },
		GapsFound:     func() float64 { found, _ := n.hub.Gaps(); return float64(found) },
		GapsLost:      func() float64 { _, lost := n.hub.Gaps(); return float64(lost) },
	}
}

// logStart says what the node runs with, and warns of risky settings.
func (n *Node) logStart() {
	cfg := &n.cfg
	fds := n.fds
	nats := "NATS at " + cfg.NATSURL
	if cfg.Embedded() {
		clients, cluster := "in-process only", "none"
		if cfg.NATSListen != "" {
			clients = cfg.NATSListen
		}
		if cfg.ClusterListen != "" {
			cluster = cfg.ClusterListen
		}
		nats = fmt.Sprintf("embedded (clients: %s; cluster: %s)", clients, cluster)
	}
	n.log.Info("herald node started", "listen", n.ln.Addr().String(), "role", cfg.Role, "nats", nats)
	if fds.files > 0 {
		n.log.Info("connection limits", "max_connections", fds.clients, "open_files", fds.files,
			"kept_for_nats_and_jetstream", fds.reserve, "kept_for_requests", fds.reserve)
	}
	if fds.over() {
		n.log.Warn("--max-connections leaves NATS, JetStream and requests fewer descriptors than they need: at the open-files limit, history may fail",
			"max_connections", fds.clients, "open_files", fds.files, "suggested", fds.files-2*fds.reserve)
	}
	for _, l := range []struct{ flag, addr string }{{"nats-listen", cfg.NATSListen}, {"cluster-listen", cfg.ClusterListen}} {
		if l.addr != "" && !loopback(l.addr) {
			n.log.Warn("the embedded NATS server accepts unauthenticated connections here: keep this address on a private network", "flag", l.flag, "addr", l.addr)
		}
	}
	if len(n.historyRules) > 0 {
		where := n.storeDir
		if where == "" {
			where = "JetStream of " + cfg.NATSURL
		}
		n.log.Info("keeping history", "rules", historyRules(n.historyRules), "store", where)
	}
	if cfg.ServesClients() {
		mode := "off: every client may subscribe to any channel without a rule"
		if cfg.AuthOn() {
			mode = "on"
			if cfg.AllowAnonymous {
				mode = "on, anonymous clients allowed"
			}
		}
		n.log.Info("client tokens", "mode", mode, "channel_rules", len(cfg.Channels))
	}
	if slices.Contains(cfg.AllowedOrigins, "*") {
		n.log.Warn("--allowed-origins '*': pages from any site may open client connections")
	}
	if cfg.ServesAPI() && len(cfg.Keys()) == 0 {
		n.log.Warn("no --api-key set: the publish API answers loopback clients only")
	}
}
