package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/logs"
	"github.com/heraldrt/herald/internal/metrics"
	"github.com/heraldrt/herald/internal/protocol"
)

// Publisher sends a message to a channel.
type Publisher interface {
	// Publish sends data, one valid JSON value, to channel, and returns
	// its position when the channel keeps history. key, when set, makes
	// retries count once (dup reports a retry).
	Publish(ctx context.Context, channel string, data []byte, key string) (pos *protocol.Position, dup bool, err error)
}

// History reads the history of channels that keep it.
type History interface {
	// Keeps reports whether channel keeps history.
	Keeps(channel string) bool
	// Recent returns the position of channel's newest message and up to
	// limit messages: those after `after` when set, else the newest.
	Recent(ctx context.Context, channel string, after *uint64, limit int) (protocol.Position, []*hub.Message, error)
}

// Key scopes: what an API key may do. An admin key may do everything.
const (
	ScopePublish = "publish" // publish, broadcast and read history
	ScopeAdmin   = "admin"   // every endpoint
)

// Key is an API key and its scope.
type Key struct {
	Secret string
	Scope  string
}

// Options configure the API.
type Options struct {
	Keys []Key // bearer keys; none: loopback clients only
	// AllowedOrigins are the browser origins whose pages may call the API
	// (--allowed-origins); empty: pages of the node's own host only.
	AllowedOrigins   []string
	MaxMessageBytes  int
	MaxChannelLength int
	Publisher        Publisher
	History          History // nil when no channel keeps history
	MaxReplay        int     // most messages one history read returns
	Timeout          time.Duration
	Ping             bool // serve POST /ping, the demo backend's endpoint
	Metrics          *metrics.Metrics
	Logger           *slog.Logger
}

// bodyOverhead is room in a request body beyond its data, for the channel
// list of a broadcast.
const bodyOverhead = 64 << 10

// maxBroadcastChannels bounds one broadcast.
const maxBroadcastChannels = 1024

// API is the HTTP publish API.
type API struct {
	opts   Options
	failed logs.Every // "publish failed": once per interval, not per request
}

// failedLog is how often failed publishes are logged: an outage fails
// every request, and one line per request would flood the log.
const failedLog = 10 * time.Second

// New returns the publish API.
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{opts: opts, failed: logs.Every{Interval: failedLog}}
}

// Register adds the API endpoints to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/publish", a.guard(ScopePublish, a.publish))
	mux.Handle("POST /api/broadcast", a.guard(ScopePublish, a.broadcast))
	mux.Handle("GET /api/history", a.guard(ScopePublish, a.history))
	if a.opts.Ping {
		mux.HandleFunc("POST /ping", a.ping)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/publish", "/api/broadcast":
			w.Header().Set("Allow", http.MethodPost)
			protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeMethodNotAllowed, r.Method+" is not allowed here; use POST"))
		case "/api/history":
			w.Header().Set("Allow", http.MethodGet)
			protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeMethodNotAllowed, r.Method+" is not allowed here; use GET"))
		default:
			protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeNotFound, "no API endpoint "+r.URL.Path))
		}
	})
}

// handler is one API endpoint: it reads the request (body is the request
// body, read and bounded) and returns the JSON answer or an error.
type handler func(r *http.Request, body []byte) ([]byte, *protocol.Error)

// guard checks the caller, whose key must have scope, then runs h and
// writes its answer.
func (a *API) guard(scope string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if perr := a.authorize(r, scope); perr != nil {
			if perr.Code == protocol.CodeUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
			}
			protocol.WriteHTTPError(w, perr)
			return
		}
		if r.Method == http.MethodPost && !jsonBody(r) {
			protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeUnsupportedMedia, "send the body as JSON, with Content-Type: application/json"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(a.opts.MaxMessageBytes+bodyOverhead)))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeMessageTooLarge, fmt.Sprintf("request body is over %d bytes", tooBig.Limit)))
				return
			}
			protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeBadRequest, "cannot read request body"))
			return
		}
		answer, perr := h(r, body)
		if perr != nil {
			protocol.WriteHTTPError(w, perr)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(answer, '\n'))
	})
}

// authorize lets a request in: with a key, one that carries it; without,
// one from this machine, addressed to it by a loopback name. A browser
// page may call the API only from an allowed origin, so that a page on
// another site, open in a browser on this machine, cannot use a keyless
// API (nor reach it by DNS rebinding, which gives its own host name).
func (a *API) authorize(r *http.Request, scope string) *protocol.Error {
	if len(a.opts.Keys) == 0 {
		if !fromLoopback(r) {
			return protocol.NewError(protocol.CodeForbidden, "this node has no --api-key, so its API only answers loopback clients")
		}
		if !loopbackName(hostOf(r.Host)) {
			return protocol.NewError(protocol.CodeForbidden, "this node has no --api-key, so its API only answers requests addressed to localhost, 127.0.0.1 or [::1], not "+strconv.Quote(r.Host))
		}
	} else {
		token, _ := protocol.BearerToken(r)
		has, ok := a.scopeOf(token)
		if !ok {
			return protocol.NewError(protocol.CodeUnauthorized, "missing or wrong API key (Authorization: Bearer <key>)")
		}
		if has != ScopeAdmin && has != scope {
			return protocol.NewError(protocol.CodeForbidden, "this API key's scope is "+has+"; this endpoint needs a "+scope+" key")
		}
	}
	return a.checkOrigin(r)
}

// scopeOf returns the scope of the key presented. Every configured key is
// compared, in constant time, so that the time taken says nothing of
// which matched or how much of one did.
func (a *API) scopeOf(presented string) (scope string, ok bool) {
	for _, k := range a.opts.Keys {
		if subtle.ConstantTimeCompare([]byte(k.Secret), []byte(presented)) == 1 && presented != "" {
			scope, ok = k.Scope, true
		}
	}
	return scope, ok
}

// checkOrigin refuses a browser request from a page whose origin is not
// allowed (--allowed-origins; by default the node's own host).
func (a *API) checkOrigin(r *http.Request) *protocol.Error {
	if !protocol.OriginAllowed(r, a.opts.AllowedOrigins) {
		return protocol.NewError(protocol.CodeForbidden, "pages of origin "+strconv.Quote(r.Header.Get("Origin"))+" may not call this API (see --allowed-origins)")
	}
	return nil
}

// jsonBody reports whether the request says its body is JSON. Browsers
// send other sites' form posts as text/plain or form data without asking
// first; JSON they send cross-site only after a preflight, which this API
// never answers.
func jsonBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// fromLoopback reports whether the request's peer is on this machine.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	return err == nil && loopback(host)
}

// hostOf returns the host of host:port, or hostport itself without a port.
func hostOf(hostport string) string {
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		return host
	}
	return hostport
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackName reports whether a Host header names this machine: localhost
// (or a name under .localhost, which resolves to it) or a loopback address.
func loopbackName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || loopback(host)
}

type publishRequest struct {
	Channel        string          `json:"channel"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey string          `json:"idempotency_key"`
}

type broadcastRequest struct {
	Channels       []string        `json:"channels"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey string          `json:"idempotency_key"`
}

// position is a publish's answer for a channel that keeps history.
type position struct {
	Epoch     string `json:"epoch"`
	Offset    uint64 `json:"offset"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

func (a *API) publish(r *http.Request, body []byte) ([]byte, *protocol.Error) {
	var req publishRequest
	if perr := decode(body, &req); perr != nil {
		return nil, perr
	}
	if perr := a.checkData(req.Data); perr != nil {
		return nil, perr
	}
	if perr := protocol.ValidateClientChannel(req.Channel, a.opts.MaxChannelLength); perr != nil {
		return nil, perr
	}
	if perr := checkKey(req.IdempotencyKey); perr != nil {
		return nil, perr
	}
	pos, perr := a.send(r.Context(), []string{req.Channel}, req.Data, req.IdempotencyKey)
	if perr != nil {
		return nil, perr
	}
	if p, ok := pos[req.Channel]; ok {
		b, _ := json.Marshal(p)
		return b, nil
	}
	return []byte("{}"), nil
}

// maxKeyLength bounds an idempotency key.
const maxKeyLength = 200

func checkKey(key string) *protocol.Error {
	if len(key) > maxKeyLength {
		return protocol.NewError(protocol.CodeBadRequest, fmt.Sprintf(`"idempotency_key" is over %d bytes`, maxKeyLength))
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] >= 0x7f {
			return protocol.NewError(protocol.CodeBadRequest, `"idempotency_key" may hold only printable ASCII without spaces`)
		}
	}
	return nil
}

func (a *API) broadcast(r *http.Request, body []byte) ([]byte, *protocol.Error) {
	var req broadcastRequest
	if perr := decode(body, &req); perr != nil {
		return nil, perr
	}
	if perr := a.checkData(req.Data); perr != nil {
		return nil, perr
	}
	if perr := checkKey(req.IdempotencyKey); perr != nil {
		return nil, perr
	}
	if len(req.Channels) == 0 {
		return nil, protocol.NewError(protocol.CodeInvalidChannel, `"channels" must list at least one channel`)
	}
	if len(req.Channels) > maxBroadcastChannels {
		return nil, protocol.NewError(protocol.CodeBadRequest, fmt.Sprintf("at most %d channels per broadcast", maxBroadcastChannels))
	}
	for _, ch := range req.Channels {
		if perr := protocol.ValidateClientChannel(ch, a.opts.MaxChannelLength); perr != nil {
			return nil, perr
		}
	}
	pos, perr := a.send(r.Context(), slices.Compact(slices.Sorted(slices.Values(req.Channels))), req.Data, req.IdempotencyKey)
	if perr != nil {
		return nil, perr
	}
	if len(pos) == 0 {
		return []byte("{}"), nil
	}
	b, _ := json.Marshal(struct {
		Positions map[string]position `json:"positions"`
	}{pos})
	return b, nil
}

func (a *API) checkData(data json.RawMessage) *protocol.Error {
	if len(data) == 0 {
		return protocol.NewError(protocol.CodeBadRequest, `"data" is required (any JSON value)`)
	}
	if len(data) > a.opts.MaxMessageBytes {
		return protocol.NewError(protocol.CodeMessageTooLarge, fmt.Sprintf("data is over %d bytes (see --max-message-bytes)", a.opts.MaxMessageBytes))
	}
	if !utf8.Valid(data) {
		return protocol.NewError(protocol.CodeBadRequest, `"data" is not valid UTF-8`)
	}
	return nil
}

// send publishes data to each channel and returns the positions of those
// that keep history. A key on a channel without history is refused before
// anything is sent.
func (a *API) send(ctx context.Context, channels []string, data []byte, key string) (map[string]position, *protocol.Error) {
	if key != "" {
		for _, ch := range channels {
			if a.opts.History == nil || !a.opts.History.Keeps(ch) {
				return nil, protocol.NewError(protocol.CodeBadRequest, `"idempotency_key" needs channels that keep history; `+ch+" does not (see --history)")
			}
		}
	}
	if a.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.opts.Timeout)
		defer cancel()
	}
	var out map[string]position
	for _, ch := range channels {
		pos, dup, err := a.opts.Publisher.Publish(ctx, ch, data, key)
		if err != nil {
			a.failed.Log(a.opts.Logger, slog.LevelWarn, "publish failed", "channel", ch, "err", err)
			return nil, protocol.NewError(protocol.CodeUnavailable, "cannot publish to "+ch+" now: "+err.Error())
		}
		if !dup {
			a.opts.Metrics.Published.Inc()
		}
		if pos != nil {
			if out == nil {
				out = make(map[string]position, len(channels))
			}
			out[ch] = position{Epoch: pos.Epoch, Offset: pos.Offset, Duplicate: dup}
		}
	}
	return out, nil
}

// history answers GET /api/history?channel=c&limit=N&since=S.
func (a *API) history(r *http.Request, _ []byte) ([]byte, *protocol.Error) {
	q := r.URL.Query()
	ch := q.Get("channel")
	if perr := protocol.ValidateClientChannel(ch, a.opts.MaxChannelLength); perr != nil {
		return nil, perr
	}
	if a.opts.History == nil || !a.opts.History.Keeps(ch) {
		return nil, protocol.NewError(protocol.CodeNoHistory, ch+" keeps no history (see --history)")
	}
	limit := min(100, a.opts.MaxReplay)
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > a.opts.MaxReplay {
			return nil, protocol.NewError(protocol.CodeBadRequest, fmt.Sprintf("limit must be a whole number from 1 to %d (see --history-max-replay)", a.opts.MaxReplay))
		}
		limit = n
	}
	var after *uint64
	if s := q.Get("since"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, protocol.NewError(protocol.CodeBadRequest, "since must be an offset (a whole number)")
		}
		after = &n
	}
	ctx := r.Context()
	if a.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.opts.Timeout)
		defer cancel()
	}
	top, msgs, err := a.opts.History.Recent(ctx, ch, after, limit)
	if err != nil {
		return nil, protocol.NewError(protocol.CodeUnavailable, "cannot read history now: "+err.Error())
	}
	// At most historyBytes of data: the oldest messages after since, or
	// the newest without it; the caller pages on with since.
	msgs = hub.Fit(msgs, after == nil, historyBytes, func(m *hub.Message) int { return len(m.Data) })
	bodies := make([][]byte, len(msgs))
	for i, m := range msgs {
		bodies[i] = protocol.AppendEnvelope(nil, ch, m.Pos, m.Data)
	}
	return protocol.AppendHistoryBody(nil, ch, top, bodies), nil
}

// historyBytes bounds the data of one history answer.
const historyBytes = 4 << 20

// decode parses a request body holding one JSON object.
func decode(body []byte, v any) *protocol.Error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return protocol.NewError(protocol.CodeBadRequest, "request body is empty; send a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return protocol.NewError(protocol.CodeBadRequest, fmt.Sprintf("field %q must not be %s", te.Field, te.Value))
		}
		return protocol.NewError(protocol.CodeBadRequest, "request body is not a valid JSON object: "+err.Error())
	}
	return nil
}

// PingChannel is where POST /ping publishes.
const PingChannel = "updates"

// ping is what a typical app backend does when its page asks: it publishes
// to a channel through Herald and answers. It takes no key: it is a demo
// endpoint, off unless --ping is set.
func (a *API) ping(w http.ResponseWriter, r *http.Request) {
	if perr := a.checkOrigin(r); perr != nil {
		protocol.WriteHTTPError(w, perr)
		return
	}
	now := time.Now()
	msg, _ := json.Marshal(struct {
		SendTime string `json:"sendTime"`
		SentAtMs int64  `json:"sentAtMs"`
	}{now.Format(time.ANSIC), now.UnixMilli()})
	if _, perr := a.send(r.Context(), []string{PingChannel}, msg, ""); perr != nil {
		protocol.WriteHTTPError(w, perr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"message":"pong"}`+"\n")
}
