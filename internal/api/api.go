package api

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldrt/herald/internal/metrics"
	"github.com/heraldrt/herald/internal/protocol"
)

// Publisher sends a message to a channel on the bus.
type Publisher interface {
	// Publish sends data, one valid JSON value, to channel.
	Publish(channel string, data []byte) error
}

// Options configure the API.
type Options struct {
	Key              string // bearer key; empty: loopback clients only
	MaxMessageBytes  int
	MaxChannelLength int
	Publisher        Publisher
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
	opts Options
}

// New returns the publish API.
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &API{opts: opts}
}

// Register adds the API endpoints to mux.
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/publish", a.guard(a.publish))
	mux.Handle("POST /api/broadcast", a.guard(a.broadcast))
	if a.opts.Ping {
		mux.HandleFunc("POST /ping", a.ping)
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/publish", "/api/broadcast":
			w.Header().Set("Allow", http.MethodPost)
			protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeMethodNotAllowed, r.Method+" is not allowed here; use POST"))
		default:
			protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeNotFound, "no API endpoint "+r.URL.Path))
		}
	})
}

// guard checks the caller, then runs h and writes its answer.
func (a *API) guard(h func(body []byte) *protocol.Error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if perr := a.authorize(r); perr != nil {
			if perr.Code == protocol.CodeUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="herald"`)
			}
			protocol.WriteHTTPError(w, perr)
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
		if perr := h(body); perr != nil {
			protocol.WriteHTTPError(w, perr)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}\n")
	})
}

func (a *API) authorize(r *http.Request) *protocol.Error {
	if a.opts.Key == "" {
		if !fromLoopback(r) {
			return protocol.NewError(protocol.CodeForbidden, "this node has no --api-key, so its API only answers loopback clients")
		}
		return nil
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(a.opts.Key)) != 1 {
		return protocol.NewError(protocol.CodeUnauthorized, "missing or wrong API key (Authorization: Bearer <key>)")
	}
	return nil
}

func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type publishRequest struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

type broadcastRequest struct {
	Channels []string        `json:"channels"`
	Data     json.RawMessage `json:"data"`
}

func (a *API) publish(body []byte) *protocol.Error {
	var req publishRequest
	if perr := decode(body, &req); perr != nil {
		return perr
	}
	if perr := a.checkData(req.Data); perr != nil {
		return perr
	}
	if perr := protocol.ValidateChannel(req.Channel, a.opts.MaxChannelLength); perr != nil {
		return perr
	}
	return a.send([]string{req.Channel}, req.Data)
}

func (a *API) broadcast(body []byte) *protocol.Error {
	var req broadcastRequest
	if perr := decode(body, &req); perr != nil {
		return perr
	}
	if perr := a.checkData(req.Data); perr != nil {
		return perr
	}
	if len(req.Channels) == 0 {
		return protocol.NewError(protocol.CodeInvalidChannel, `"channels" must list at least one channel`)
	}
	if len(req.Channels) > maxBroadcastChannels {
		return protocol.NewError(protocol.CodeBadRequest, fmt.Sprintf("at most %d channels per broadcast", maxBroadcastChannels))
	}
	for _, ch := range req.Channels {
		if perr := protocol.ValidateChannel(ch, a.opts.MaxChannelLength); perr != nil {
			return perr
		}
	}
	return a.send(slices.Compact(slices.Sorted(slices.Values(req.Channels))), req.Data)
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

func (a *API) send(channels []string, data []byte) *protocol.Error {
	for _, ch := range channels {
		if err := a.opts.Publisher.Publish(ch, data); err != nil {
			a.opts.Logger.Warn("publish failed", "channel", ch, "err", err)
			return protocol.NewError(protocol.CodeUnavailable, "cannot publish now: NATS is not connected")
		}
		a.opts.Metrics.Published.Inc()
	}
	return nil
}

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
func (a *API) ping(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	msg, _ := json.Marshal(struct {
		SendTime string `json:"sendTime"`
		SentAtMs int64  `json:"sentAtMs"`
	}{now.Format(time.ANSIC), now.UnixMilli()})
	if perr := a.send([]string{PingChannel}, msg); perr != nil {
		protocol.WriteHTTPError(w, perr)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"message":"pong"}`+"\n")
}
