package transport

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/metrics"
	"github.com/heraldrt/herald/internal/protocol"
)

// Publisher sends a message to a channel.
type Publisher interface {
	// Publish sends data, one valid JSON value, to channel, and returns
	// its position when the channel keeps history.
	Publish(ctx context.Context, channel string, data []byte, key string) (pos *protocol.Position, dup bool, err error)
}

// Nodes carries requests between nodes: a long poll that reaches a node
// other than the one holding its session is forwarded there.
type Nodes interface {
	// Serve answers requests of kind what sent to this node (id) with h
	// until stop; h returns the answer, or nil for a one-way message.
	Serve(what, id string, h func(data []byte) []byte) (stop func(), err error)
	// Request sends a request of kind what to node id and waits for the
	// answer; bus.ErrNoResponder when no node serves it.
	Request(ctx context.Context, what, id string, data []byte) ([]byte, error)
	// Tell sends a one-way message of kind what to node id.
	Tell(what, id string, data []byte) error
}

var _ Nodes = (*bus.Bus)(nil)

// Deps are what the transports need from the node.
type Deps struct {
	Config    *config.Config
	NodeName  string
	Hub       *hub.Hub
	Publisher Publisher
	History   HistoryReader // nil when no channel keeps history
	Nodes     Nodes         // nil: no forwarding (a node alone, in tests)
	Metrics   *metrics.Metrics
	Logger    *slog.Logger
	// Verifier checks client tokens; nil when tokens are off.
	Verifier *auth.Verifier
	// Rules decide who may subscribe, publish and read history; nil: the
	// config's rules.
	Rules *auth.Rules
}

// Server serves the client transports: WebSocket, SSE and long-poll.
type Server struct {
	Deps
	cfg      *config.Config
	log      *slog.Logger
	clients  *registry
	conns    connections
	polls    *polls
	poller   *poller // nil: a reader goroutine per WebSocket connection
	draining atomic.Bool
}

// New returns the transports of a node. Call Start before serving.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Rules == nil {
		d.Rules = d.Config.Rules()
	}
	s := &Server{Deps: d, cfg: d.Config, log: d.Logger.With("component", "transport"), clients: newRegistry()}
	s.conns.max, s.conns.perIP = d.Config.MaxConnections, newPerIP(d.Config.MaxConnectionsPerIP)
	s.polls = newPolls(s)
	if p, err := newPoller(); err == nil {
		s.poller = p
	} else {
		s.log.Warn("idle WebSocket connections will each hold a goroutine", "err", err)
	}
	return s
}

// Start begins answering long-poll requests forwarded by other nodes.
func (s *Server) Start() error { return s.polls.start() }

// Register adds the transport endpoints to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /ws", s.serveWebSocket)
	mux.HandleFunc("GET /sse", s.serveSSE)
	mux.HandleFunc("GET /poll", s.servePoll)
	mux.HandleFunc("OPTIONS /poll", s.preflight)
	for _, path := range []string{"/ws", "/sse", "/poll"} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, protocol.NewError(protocol.CodeMethodNotAllowed, r.Method+" is not allowed here; use GET"))
		})
	}
}

// preflight answers a browser's CORS preflight of a long poll that sends
// its token as an Authorization header, for pages of allowed origins.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	if !protocol.OriginAllowed(r, s.cfg.AllowedOrigins) {
		writeError(w, protocol.NewError(protocol.CodeForbidden, "origin "+r.Header.Get("Origin")+" is not allowed (see --allowed-origins)"))
		return
	}
	allowCORS(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", http.MethodGet)
	h.Set("Access-Control-Allow-Headers", "Authorization")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// Clients returns the number of live clients of all transports.
func (s *Server) Clients() int { return s.clients.len() }

// Shutdown refuses new clients, then disconnects every client with 3001
// (reconnect) within drain: they are told over its first four fifths, so
// that the last have time to get the word and go, and whoever is still
// there at its end (or when ctx ends) is closed at once. With a drain of
// 0, all are told at once and given a second.
func (s *Server) Shutdown(ctx context.Context, drain time.Duration) {
	s.draining.Store(true)
	ctx, cancel := context.WithTimeout(ctx, max(drain, time.Second))
	defer cancel()
	s.clients.disconnectAll(ctx, protocol.DisconnectShutdown, drain*4/5)
	s.polls.stop()
	if s.poller != nil {
		s.poller.close()
	}
}

// admit runs the checks common to every transport's first request. It
// writes the error response and returns false when the client is refused.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	if s.draining.Load() {
		writeError(w, protocol.NewError(protocol.CodeUnavailable, "node is shutting down; connect to another node"))
		return false
	}
	if !protocol.OriginAllowed(r, s.cfg.AllowedOrigins) {
		writeError(w, protocol.NewError(protocol.CodeForbidden, "origin "+r.Header.Get("Origin")+" is not allowed (see --allowed-origins)"))
		return false
	}
	return true
}

// channels reads and validates the channel query parameters of SSE and
// long-poll requests, and adds those of claimed (a token's channels
// claim) that the request does not name.
func (s *Server) channels(r *http.Request, claimed []string) ([]string, *protocol.Error) {
	chans := r.URL.Query()["channel"]
	if len(chans)+len(claimed) == 0 {
		return nil, protocol.NewError(protocol.CodeInvalidChannel, "give at least one ?channel=")
	}
	seen := make(map[string]bool, len(chans))
	for _, c := range chans {
		if err := protocol.ValidateClientChannel(c, s.cfg.MaxChannelLength); err != nil {
			return nil, err
		}
		if seen[c] {
			return nil, protocol.NewError(protocol.CodeAlreadySubscribed, "channel "+c+" is given twice")
		}
		seen[c] = true
	}
	for _, c := range claimed {
		if !seen[c] {
			chans = append(chans, c)
			seen[c] = true
		}
	}
	if len(chans) > s.cfg.MaxSubscriptions {
		return nil, protocol.NewError(protocol.CodeTooManySubscriptions, "more channels than max-subscriptions allows")
	}
	return chans, nil
}

// deliver queues a published message for a streaming client; a full queue
// disconnects the client as a slow consumer.
func (s *Server) deliver(out *outbox, frame []byte, c client) {
	switch out.push(frame, true) {
	case overflow:
		s.Metrics.Dropped.Inc()
		s.Metrics.SlowConsumers.Inc()
		c.disconnect(protocol.DisconnectSlowConsumer)
	case dropped:
		s.Metrics.Dropped.Inc()
	}
}

// seconds is d in whole seconds, rounded, at least 1.
func seconds(d time.Duration) int { return max(1, int(d.Round(time.Second)/time.Second)) }

// writeError writes the JSON error body with the status its code maps to.
func writeError(w http.ResponseWriter, err *protocol.Error) { protocol.WriteHTTPError(w, err) }
