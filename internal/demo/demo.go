// Package demo runs the whole Herald scenario in one process: an embedded
// NATS server, two gateway nodes and one api node that serves the web UI,
// the publish API and POST /ping on one origin. The demo's channel keeps
// history, so a client that reconnects, to the same node or another one,
// resumes where it left off. Each gateway can be stopped and started
// again, from the pages (the api node serves /demo/nodes) or from the
// terminal, to watch its clients move. The gateways check tokens: the api
// node mints them for the demo's two users at POST /token, as an
// application's backend would, and each user has an inbox only they read.
package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/node"
)

// Options say where the demo listens.
type Options struct {
	Host         string // interface for every listener; default 127.0.0.1
	APIPort      int    // api node with the UI (0: any free port)
	GatewayPorts [2]int // the two gateways (0: any free port)
	DrainTimeout time.Duration
	Logger       *slog.Logger
	// History are the --history rules of every node; nil: DefaultHistory.
	History []string
	// DataDir is where the api node's embedded NATS keeps the history.
	// Empty: a temporary directory, removed by Stop.
	DataDir string
}

// DefaultHistory are the demo's history rules: the demo page's channel,
// updates (where POST /ping publishes), keeps its last 1000 messages for an
// hour. The dashboard's stats channel keeps none: nodes publish their stats
// straight to NATS, and a missed second of them is of no use later.
var DefaultHistory = []string{"updates=1000,1h"}

// Demo is a running demo cluster.
type Demo struct {
	API *node.Node
	// URL is the api node's base URL: the dashboard is at URL+"/", the
	// demo page at URL+"/demo".
	URL string
	// History are the nodes' --history rules; DataDir is where the api
	// node keeps the history.
	History []string
	DataDir string

	log     *slog.Logger
	tempDir string // DataDir when the demo made it, for Stop to remove
	secret  string // signs and verifies the demo users' tokens; this run only

	mu       sync.Mutex // guards gateways and their running state
	gateways [2]gateway
}

// gateway is one of the demo's gateway nodes, running or stopped.
type gateway struct {
	cfg  config.Config
	url  string     // base URL, as the pages reach it
	node *node.Node // nil while stopped
}

// Start starts the three nodes. The api node holds the embedded NATS
// server, listening on a free loopback port, with JetStream keeping the
// history in o.DataDir; the gateways join it.
func Start(o Options) (*Demo, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = time.Second
	}
	if o.History == nil {
		o.History = DefaultHistory
	}
	gwAddrs, apiAddr, err := reserve(o)
	if err != nil {
		return nil, err
	}
	browserHost := o.Host
	if ip := net.ParseIP(o.Host); ip != nil && ip.IsLoopback() {
		browserHost = "localhost"
	}
	pageOrigins := []string{"http://" + net.JoinHostPort(browserHost, port(apiAddr)), "http://" + apiAddr}
	if browserHost == "localhost" {
		pageOrigins = append(pageOrigins, "http://"+net.JoinHostPort("127.0.0.1", port(apiAddr)))
	}

	d := &Demo{History: slices.Clone(o.History), DataDir: o.DataDir, log: o.Logger, secret: newSecret()}
	if d.DataDir == "" {
		if d.DataDir, err = os.MkdirTemp("", "herald-demo-"); err != nil {
			return nil, fmt.Errorf("demo: data directory: %w", err)
		}
		d.tempDir = d.DataDir
	}
	apiCfg := base("api", apiAddr, o)
	apiCfg.DataDir = d.DataDir
	apiCfg.Role = config.RoleAPI
	apiCfg.NATSListen = net.JoinHostPort("127.0.0.1", "0")
	apiCfg.UI = true
	apiCfg.Ping = true
	for _, g := range gwAddrs {
		apiCfg.UIGateways = append(apiCfg.UIGateways, "http://"+net.JoinHostPort(browserHost, port(g)))
	}
	controls, users := d.controls(), d.users()
	if d.API, err = startNode(apiCfg, o.Logger, node.WithHandler("/demo/nodes", controls), node.WithHandler("/demo/nodes/", controls),
		node.WithHandler("/token", users), node.WithHandler("/demo/send", users)); err != nil {
		d.removeTemp()
		return nil, err
	}
	natsURL := d.API.Bus().Server().ClientURL()
	for i, addr := range gwAddrs {
		cfg := base(fmt.Sprintf("node%d", i+1), addr, o)
		cfg.Role = config.RoleGateway
		cfg.NATSURL = natsURL
		cfg.AllowedOrigins = pageOrigins
		// Tokens on, as an application would run it: anyone reads updates,
		// each user's inbox is theirs alone (see users.go).
		cfg.TokenSecret = d.secret
		cfg.AllowAnonymous = true
		cfg.Channels = demoRules
		d.gateways[i] = gateway{cfg: cfg, url: apiCfg.UIGateways[i]}
		if err := d.StartGateway(i + 1); err != nil {
			d.Stop(context.Background())
			return nil, err
		}
	}
	d.URL = "http://" + net.JoinHostPort(browserHost, port(d.API.Addr()))
	return d, nil
}

// Gateway returns gateway n (1 or 2), or nil while it is stopped.
func (d *Demo) Gateway(n int) *node.Node {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n < 1 || n > len(d.gateways) {
		return nil
	}
	return d.gateways[n-1].node
}

// GatewayState is what the pages and the terminal show of a gateway.
type GatewayState struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	Addr    string `json:"addr"`
	Running bool   `json:"running"`
}

// Gateways reports the state of both gateways.
func (d *Demo) Gateways() []GatewayState {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]GatewayState, len(d.gateways))
	for i, g := range d.gateways {
		out[i] = GatewayState{Name: g.cfg.Name, URL: g.url, Addr: g.cfg.Listen, Running: g.node != nil}
	}
	return out
}

// StartGateway starts gateway n (1 or 2) again, on its address; starting
// a running gateway does nothing.
func (d *Demo) StartGateway(n int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if n < 1 || n > len(d.gateways) {
		return fmt.Errorf("demo: no gateway %d; there are %d", n, len(d.gateways))
	}
	g := &d.gateways[n-1]
	if g.node != nil {
		return nil
	}
	nd, err := startNode(g.cfg, d.log)
	if err != nil {
		return err
	}
	g.node = nd
	return nil
}

// StopGateway shuts gateway n (1 or 2) down gracefully: its clients are
// told to reconnect, and move to the other gateway. Stopping a stopped
// gateway does nothing.
func (d *Demo) StopGateway(ctx context.Context, n int) error {
	d.mu.Lock()
	if n < 1 || n > len(d.gateways) {
		d.mu.Unlock()
		return fmt.Errorf("demo: no gateway %d; there are %d", n, len(d.gateways))
	}
	nd := d.gateways[n-1].node
	d.gateways[n-1].node = nil
	d.mu.Unlock()
	if nd == nil {
		return nil
	}
	return nd.Shutdown(ctx)
}

func base(name, addr string, o Options) config.Config {
	cfg := config.Default()
	cfg.Name = name
	cfg.Listen = addr
	cfg.DrainTimeout = o.DrainTimeout
	cfg.History = slices.Clone(o.History)
	return cfg
}

func startNode(cfg config.Config, log *slog.Logger, opts ...node.Option) (*node.Node, error) {
	n, err := node.New(cfg, log.With("demo", cfg.Name), opts...)
	if err != nil {
		return nil, err
	}
	if err := n.Start(); err != nil {
		return nil, fmt.Errorf("%s on %s: %w", cfg.Name, cfg.Listen, err)
	}
	return n, nil
}

// reserve turns the requested ports into addresses. Port 0 becomes a
// free port, so that tests can run demos side by side.
func reserve(o Options) (gws [2]string, api string, err error) {
	pick := func(p int) (string, error) {
		if p < 0 || p > 65535 {
			return "", fmt.Errorf("demo: bad port %d", p)
		}
		if p != 0 {
			return net.JoinHostPort(o.Host, strconv.Itoa(p)), nil
		}
		// Below the ephemeral range, so that no outgoing connection takes
		// the port between this check and the node's listen.
		for range 100 {
			addr := net.JoinHostPort(o.Host, strconv.Itoa(10000+rand.IntN(22000)))
			if ln, err := net.Listen("tcp", addr); err == nil {
				ln.Close()
				return addr, nil
			}
		}
		return "", errors.New("demo: no free port found")
	}
	if api, err = pick(o.APIPort); err != nil {
		return gws, "", err
	}
	for i := range gws {
		if gws[i], err = pick(o.GatewayPorts[i]); err != nil {
			return gws, "", err
		}
	}
	return gws, api, nil
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// Stop shuts the gateways down, then the api node with the NATS server,
// and removes the data directory if the demo made it.
func (d *Demo) Stop(ctx context.Context) error {
	var errs []error
	for i := range d.gateways {
		if err := d.StopGateway(ctx, i+1); err != nil {
			errs = append(errs, err)
		}
	}
	if d.API != nil {
		if err := d.API.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := d.removeTemp(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeTemp removes the data directory the demo made, if any.
func (d *Demo) removeTemp() error {
	if d.tempDir == "" {
		return nil
	}
	if err := os.RemoveAll(d.tempDir); err != nil {
		return fmt.Errorf("demo: removing %s: %w", d.tempDir, err)
	}
	d.tempDir = ""
	return nil
}
