package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/heraldrt/herald/internal/logs"
	"github.com/heraldrt/herald/internal/protocol"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotConnected is returned when a publish finds NATS unreachable.
var ErrNotConnected = errors.New("bus: NATS is not connected")

// Handler receives the messages of watched channels. data is the NATS
// payload, already checked to be one valid JSON value in UTF-8. pos is the
// message's position when it came from a history stream, else nil.
type Handler func(channel string, data []byte, pos *protocol.Position)

// Options configure a Bus.
type Options struct {
	Name    string // node name, used for the NATS connection and embedded server
	ID      string // node id, unique per start; keeps embedded server names unique
	Prefix  string // subject prefix; channels live under <Prefix>.ch.
	Handler Handler
	MaxData int // larger payloads from NATS are dropped; 0: no limit
	// Reconnected, if set, is called (in its own goroutine) each time the
	// NATS connection is back after a loss.
	Reconnected func()

	// External NATS: when URL is empty an embedded server is started.
	URL      string
	Creds    string
	NKey     string
	User     string
	Password string
	Token    string
	TLSCA    string
	TLSCert  string
	TLSKey   string

	// Embedded server.
	Listen        string // host:port for NATS clients; empty: none
	ClusterName   string
	ClusterListen string
	ClusterRoutes []string
	// StoreDir, when set, turns on JetStream in the embedded server and
	// keeps its data there.
	StoreDir string

	Logger *slog.Logger
}

// Stats are counters about the bus, for metrics.
type Stats struct {
	Connected     bool
	Reconnects    uint64
	Watches       int64  // channel subscriptions held
	Invalid       uint64 // messages dropped as not JSON
	SlowConsumers uint64 // messages dropped because a worker fell behind
}

// Bus is a node's connection to NATS: channel subscriptions that follow
// local interest, publishing, and node-to-node requests.
type Bus struct {
	opts    Options
	log     *slog.Logger
	prefix  string // "<Prefix>.ch."
	nc      *nats.Conn
	ns      *server.Server // nil with an external NATS
	seed    maphash.Seed
	workers []chan *nats.Msg
	done    chan struct{}
	wg      sync.WaitGroup

	closing    atomic.Bool
	down       atomic.Int64 // unix nanoseconds since which NATS is unreachable; 0 while connected
	unreached  logs.Every   // "cannot reach NATS", at once and then now and then
	watches    atomic.Int64
	reconnects atomic.Uint64
	invalid    atomic.Uint64
	slow       atomic.Uint64
}

// unreachableLog is how often a node that cannot reach NATS says so again.
const unreachableLog = 30 * time.Second

// workerQueue is the depth of each delivery worker's queue. A worker that
// falls this far behind makes NATS drop messages for it (counted as slow
// consumer drops) rather than blocking the connection.
const workerQueue = 16384

// Start starts the embedded NATS server if there is one and connects to
// NATS. With an external NATS that is not reachable yet, Start returns a
// bus that keeps trying in the background (Connected reports false).
func Start(opts Options) (*Bus, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bus{
		opts:   opts,
		log:    opts.Logger.With("component", "bus"),
		prefix: opts.Prefix + ".ch.",
		seed:   maphash.MakeSeed(),
		done:   make(chan struct{}),
	}
	b.unreached.Interval = unreachableLog
	b.down.Store(time.Now().UnixNano())
	n := max(2, runtime.GOMAXPROCS(0))
	b.workers = make([]chan *nats.Msg, n)
	for i := range b.workers {
		b.workers[i] = make(chan *nats.Msg, workerQueue)
		b.wg.Add(1)
		go b.work(b.workers[i])
	}

	nopts := []nats.Option{
		nats.Name("herald:" + opts.Name),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(backoff),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(3),
		// Nothing is buffered while NATS is away: a publish fails at once,
		// and one that was answered as failed is never sent later.
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(nc *nats.Conn) {
			b.up()
			b.log.Info("NATS connected", "server", nc.ConnectedUrlRedacted())
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.down.Store(time.Now().UnixNano())
			if !b.closing.Load() {
				b.log.Warn("NATS disconnected; reconnecting", "err", err)
			}
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			if !b.closing.Load() {
				b.unreached.Log(b.log, slog.LevelWarn, "cannot reach NATS; retrying", "nats", redact(opts.URL), "for", b.downFor(), "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.up()
			b.reconnects.Add(1)
			b.log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted())
			if b.opts.Reconnected != nil {
				go b.opts.Reconnected()
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrSlowConsumer) {
				b.slow.Add(1)
				return
			}
			b.log.Warn("NATS error", "err", err)
		}),
	}
	url := opts.URL
	if url == "" {
		ns, err := startEmbedded(opts, b.log)
		if err != nil {
			b.stopWorkers()
			return nil, err
		}
		b.ns = ns
		nopts = append(nopts, nats.InProcessServer(ns))
	} else {
		auth, err := authOptions(opts)
		if err != nil {
			b.stopWorkers()
			return nil, err
		}
		nopts = append(nopts, auth...)
	}
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		b.stopWorkers()
		if b.ns != nil {
			b.ns.Shutdown()
		}
		return nil, fmt.Errorf("bus: connect to NATS: %w", err)
	}
	b.nc = nc
	if nc.IsConnected() {
		b.up()
	}
	return b, nil
}

// up records that NATS is reachable again.
func (b *Bus) up() {
	b.down.Store(0)
	b.unreached.Reset()
}

// downFor is how long NATS has been unreachable, rounded for logs.
func (b *Bus) downFor() time.Duration {
	since := b.down.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since)).Round(time.Second)
}

// redact drops user names, passwords and tokens from a list of NATS URLs,
// for logs.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = nil
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// backoff is the delay before reconnect attempt n: exponential from 250ms
// to 5s, with up to 50% jitter so that nodes do not reconnect in step.
func backoff(attempt int) time.Duration {
	d := 250 * time.Millisecond << min(attempt, 5)
	d = min(d, 5*time.Second)
	return d/2 + rand.N(d/2+1)
}

func authOptions(o Options) ([]nats.Option, error) {
	var opts []nats.Option
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.NKey != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKey)
		if err != nil {
			return nil, fmt.Errorf("bus: nats-nkey: %w", err)
		}
		opts = append(opts, opt)
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	return opts, nil
}

// Subject returns the NATS subject of a valid channel.
func (b *Bus) Subject(channel string) string { return b.prefix + channel }

// Watch subscribes to channel's subject. It does not block.
func (b *Bus) Watch(channel string) (any, error) {
	w := b.workers[maphash.String(b.seed, channel)%uint64(len(b.workers))]
	sub, err := b.nc.ChanSubscribe(b.Subject(channel), w)
	if err != nil {
		return nil, fmt.Errorf("bus: subscribe %q: %w", channel, err)
	}
	b.watches.Add(1)
	return sub, nil
}

// Unwatch drops a subscription made by Watch.
func (b *Bus) Unwatch(handle any) {
	sub, ok := handle.(*nats.Subscription)
	if !ok {
		return
	}
	if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		b.log.Debug("unsubscribe", "subject", sub.Subject, "err", err)
	}
	b.watches.Add(-1)
}

// Sync waits until NATS has seen every subscription made so far. Without a
// deadline on ctx it waits at most syncTimeout.
func (b *Bus) Sync(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, syncTimeout)
		defer cancel()
	}
	return b.nc.FlushWithContext(ctx)
}

// syncTimeout bounds Sync when its context has no deadline.
const syncTimeout = 5 * time.Second

// Publish sends data, one valid JSON value, to channel.
func (b *Bus) Publish(channel string, data []byte) error {
	if !b.nc.IsConnected() {
		return ErrNotConnected
	}
	return b.nc.Publish(b.Subject(channel), data)
}

// Connected reports whether the NATS connection is up.
func (b *Bus) Connected() bool { return b.nc.IsConnected() }

// JetStream returns the JetStream context of the connection.
func (b *Bus) JetStream() (jetstream.JetStream, error) { return jetstream.New(b.nc) }

// Replicas is how many copies a replicated stream should have: 3 when at
// least three NATS servers are known (the embedded server and those its
// routes reach, or the servers of an external cluster), else 1. Every node
// of a cluster computes the same number once its routes are up.
func (b *Bus) Replicas() int {
	n := 1
	if b.ns != nil {
		if rz, err := b.ns.Routez(&server.RoutezOptions{}); err == nil {
			peers := make(map[string]bool, len(rz.Routes))
			for _, r := range rz.Routes {
				peers[r.RemoteID] = true
			}
			n += len(peers)
		}
	} else {
		n = len(b.nc.Servers())
	}
	if n >= 3 {
		return 3
	}
	return 1 // two copies would need both servers up to take a write: no gain
}

// ErrJetStreamBroken is the embedded JetStream failing to write a
// stream's files (as when the process ran out of file descriptors): it
// stays so until JetStream is restarted, which RestartJetStream does.
var ErrJetStreamBroken = errors.New("bus: JetStream cannot write its files")

// JetStreamHealth reports whether the embedded JetStream can store
// messages: nil when it can (or when NATS is external, whose operators
// watch it themselves), ErrJetStreamBroken (wrapped, with the server's
// reason) when a stream met a write error, another error when it is not
// ready for another reason (a cluster still electing its leaders).
func (b *Bus) JetStreamHealth() error {
	if b.ns == nil || b.opts.StoreDir == "" {
		return nil
	}
	if !b.ns.JetStreamEnabled() {
		return fmt.Errorf("%w: JetStream is not running", ErrJetStreamBroken)
	}
	h := b.ns.Healthz(&server.HealthzOptions{Details: true})
	var errs []error
	for _, e := range h.Errors {
		// A stream's write error is sticky: the server keeps refusing
		// to store until the stream's files are opened anew. So is a
		// stream JetStream could not load (as when it started again
		// with no descriptor to spare).
		if e.Type == server.HealthzErrorStream && (strings.Contains(e.Error, "write error") || strings.Contains(e.Error, "could not be recovered")) {
			return fmt.Errorf("%w: %s", ErrJetStreamBroken, e.Error)
		}
		errs = append(errs, errors.New(e.Error))
	}
	if len(errs) == 0 && h.Error != "" {
		errs = append(errs, errors.New(h.Error))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bus: JetStream not healthy: %w", err)
	}
	return nil
}

// RestartJetStream stops the embedded JetStream and starts it again from
// its files, which clears the write errors of its streams. It keeps the
// JetStream state on disk, so a cluster member rejoins its peers.
func (b *Bus) RestartJetStream() error {
	if b.ns == nil || b.opts.StoreDir == "" {
		return nil
	}
	if err := b.ns.ShutdownJetStream(); err != nil {
		return fmt.Errorf("bus: stop JetStream: %w", err)
	}
	if err := b.ns.EnableJetStream(&server.JetStreamConfig{StoreDir: b.opts.StoreDir, Strict: true, CompressOK: true}); err != nil {
		return fmt.Errorf("bus: start JetStream: %w", err)
	}
	return nil
}

// Server returns the embedded NATS server, or nil with an external NATS.
func (b *Bus) Server() *server.Server { return b.ns }

// Stats returns the bus counters.
func (b *Bus) Stats() Stats {
	return Stats{
		Connected:     b.nc.IsConnected(),
		Reconnects:    b.reconnects.Load(),
		Watches:       b.watches.Load(),
		Invalid:       b.invalid.Load(),
		SlowConsumers: b.slow.Load(),
	}
}

func (b *Bus) work(in <-chan *nats.Msg) {
	defer b.wg.Done()
	for {
		select {
		case m := <-in:
			if tooBig := b.opts.MaxData > 0 && len(m.Data) > b.opts.MaxData; tooBig || !utf8.Valid(m.Data) || !json.Valid(m.Data) {
				if b.invalid.Add(1) == 1 || b.log.Enabled(context.Background(), slog.LevelDebug) {
					b.log.Warn("dropped a message that is not valid UTF-8 JSON or is over max-message-bytes (counted in herald_nats_dropped_total)", "subject", m.Subject, "bytes", len(m.Data))
				}
				continue
			}
			var pos *protocol.Position
			if len(m.Header) > 0 {
				if p, ok := ParsePosition(m.Header); ok {
					pos = &p
				}
			}
			b.opts.Handler(m.Subject[len(b.prefix):], m.Data, pos)
		case <-b.done:
			return
		}
	}
}

func (b *Bus) stopWorkers() {
	close(b.done)
	b.wg.Wait()
}

// Close drains the NATS connection (pending messages are delivered,
// subscriptions end), stops the workers and the embedded server.
func (b *Bus) Close(ctx context.Context) error {
	b.closing.Store(true)
	var err error
	if b.nc.IsConnected() {
		closed := make(chan struct{})
		b.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
		if err = b.nc.Drain(); err == nil {
			select {
			case <-closed:
			case <-ctx.Done():
				err = ctx.Err()
			}
		}
	}
	b.nc.Close()
	b.stopWorkers()
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
	}
	return err
}

// statsSubject is where nodes publish their stats: a subject of its own,
// outside the channels (<prefix>.ch.>), so that no client can read or
// forge it.
func (b *Bus) statsSubject() string { return b.opts.Prefix + ".stats" }

// PublishStats sends one of this node's stats messages to every node.
func (b *Bus) PublishStats(data []byte) error {
	if !b.nc.IsConnected() {
		return ErrNotConnected
	}
	return b.nc.Publish(b.statsSubject(), data)
}

// WatchStats calls f with every stats message any node publishes, until
// the returned stop is called.
func (b *Bus) WatchStats(f func(data []byte)) (stop func(), err error) {
	sub, err := b.nc.Subscribe(b.statsSubject(), func(m *nats.Msg) { f(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("bus: watch stats: %w", err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
