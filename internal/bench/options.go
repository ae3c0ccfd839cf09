package bench

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Errors a caller may want to tell apart.
var (
	// ErrRemote: a target is not a loopback address and Options.AllowRemote
	// is not set.
	ErrRemote = errors.New("bench: not a loopback address")
	// ErrOptions: the options make no sense together.
	ErrOptions = errors.New("bench: invalid options")
)

// Transports a run may use.
const (
	WebSocket = "ws"
	SSE       = "sse"
)

// Protocols a run may speak: the client protocol and publish API of the
// servers under test.
const (
	// Herald: /ws or /sse, publishes with 'Authorization: Bearer <key>'.
	Herald = "herald"
	// Centrifugo: Centrifugo v6's JSON client protocol at
	// /connection/websocket (WebSocket only), and its server API with
	// 'X-API-Key: <key>'. See centrifugo.go.
	Centrifugo = "centrifugo"
)

// Options configure a run. Zero values take the defaults noted on each
// field; a mode ignores the fields it does not use.
type Options struct {
	// Protocol is Herald (default) or Centrifugo: what the servers under
	// test speak.
	Protocol string
	// URLs are the base URLs (http://host:port) of the gateway nodes the
	// connections are spread over, round-robin. Default:
	// http://127.0.0.1:8080, or for Centrifugo http://127.0.0.1:8000.
	URLs []string
	// API is the base URL of the node taking publishes. Default: URLs[0].
	API string
	// APIKey is sent as 'Authorization: Bearer <key>' when set; for
	// Centrifugo as 'X-API-Key: <key>'.
	APIKey string
	// Token is a client token every connection presents, as
	// 'Authorization: Bearer <token>' (Herald nodes with tokens on).
	Token string
	// AllowRemote permits targets that do not resolve to loopback
	// addresses. Without it such a run is refused with ErrRemote: a load
	// test is for machines you own.
	AllowRemote bool

	// Transport is WebSocket (default) or SSE (Herald only).
	Transport string
	// Conns is the number of client connections. Default 1000.
	Conns int
	// Channels is the number of channels; connection i subscribes to
	// "bench.<i % Channels>". Default 100.
	Channels int
	// Sources is the number of loopback source addresses (127.0.0.2,
	// 127.0.0.3, ...) the connections are spread over. Default: one per
	// 20,000 connections. Used only for IPv4 loopback targets.
	Sources int
	// RampConcurrency bounds the handshakes in flight. Default 100.
	RampConcurrency int
	// RampRate bounds new connections per second; 0 means as fast as
	// RampConcurrency allows.
	RampRate float64
	// HandshakeTimeout bounds one connection's handshake and subscribe.
	// Default 10s.
	HandshakeTimeout time.Duration
	// RampTimeout bounds the whole ramp: no connection is started after
	// it. Default 2m.
	RampTimeout time.Duration
	// Hold is how long connect and idle keep the connections open after
	// the ramp (idle's default: 10s).
	Hold time.Duration

	// Rate is fanout's publishes per second. Default 100.
	Rate float64
	// Duration is how long fanout and publish publish. Default 10s.
	Duration time.Duration
	// Size is the size in bytes of each message's data. Default 100.
	Size int
	// Wait bounds how long fanout waits for late deliveries after the
	// last publish. Default 5s.
	Wait time.Duration
	// Settle is how long fanout waits between the ramp and the first
	// publish, for subscriptions to reach every NATS server. Default 500ms.
	Settle time.Duration
	// Concurrency is the number of publish workers. Default: 16 for
	// publish; for fanout, enough for Rate.
	Concurrency int
	// Broadcast, if above 0, makes publish send each request to this many
	// channels through /api/broadcast.
	Broadcast int

	// PIDs are the server processes whose CPU time (fanout) and memory
	// (idle) are read from /proc.
	PIDs []int
	// Workers is the number of worker processes holding the connections;
	// 0 chooses: none (all in this process) when Conns fits within
	// MaxPerProcess, else as many as needed.
	Workers int
	// MaxPerProcess is the most connections one process holds. Default:
	// the open-file limit less a margin.
	MaxPerProcess int
	// WorkerCommand is the command line that starts a worker process,
	// which runs Worker on its standard input and output. Default: this
	// executable with the arguments "bench worker".
	WorkerCommand []string

	// Progress, if set, receives a few lines per second about the run,
	// and the standard error of worker processes.
	Progress io.Writer
}

const (
	defaultURL    = "http://127.0.0.1:8080"
	centrifugoURL = "http://127.0.0.1:8000" // Centrifugo's default port
	perSource     = 20000                   // connections per source address, by default
	fdMargin      = 1000                    // open files a process keeps for other uses
	maxSources    = 250
	channelStem   = "bench."
	maxBroadcast  = 1024
)

// withDefaults returns o with its zero fields set to their defaults for
// mode, or an error wrapping ErrOptions.
func (o Options) withDefaults(mode string) (Options, error) {
	if o.Protocol == "" {
		o.Protocol = Herald
	}
	if len(o.URLs) == 0 {
		o.URLs = []string{defaultURL}
		if o.Protocol == Centrifugo {
			o.URLs = []string{centrifugoURL}
		}
	}
	if o.API == "" {
		o.API = o.URLs[0]
	}
	if o.Transport == "" {
		o.Transport = WebSocket
	}
	if o.Conns == 0 {
		o.Conns = 1000
	}
	if o.Channels == 0 {
		o.Channels = 100
	}
	if o.Sources == 0 {
		o.Sources = min(o.Conns/perSource+1, maxSources)
	}
	if o.RampConcurrency == 0 {
		o.RampConcurrency = 100
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.RampTimeout == 0 {
		o.RampTimeout = 2 * time.Minute
	}
	if o.Hold == 0 && mode == modeIdle {
		o.Hold = 10 * time.Second
	}
	if o.Rate == 0 {
		o.Rate = 100
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Size == 0 {
		o.Size = 100
	}
	if o.Wait == 0 {
		o.Wait = 5 * time.Second
	}
	if o.Settle == 0 {
		o.Settle = 500 * time.Millisecond
	}
	if o.Concurrency == 0 {
		o.Concurrency = 16
		if mode == modeFanout {
			o.Concurrency = min(max(4, int(o.Rate/200)), 64)
		}
	}
	if o.Progress != nil {
		o.Progress = &lockedWriter{w: o.Progress}
	}
	if o.MaxPerProcess == 0 {
		o.MaxPerProcess = max(openFilesLimit()-fdMargin, 100)
	}

	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Transport != WebSocket && o.Transport != SSE {
		bad("transport %q: want %s or %s", o.Transport, WebSocket, SSE)
	}
	switch o.Protocol {
	case Herald:
	case Centrifugo:
		if o.Transport != WebSocket && mode != modePublish {
			bad("transport %q: the %s protocol is benched over %s only", o.Transport, Centrifugo, WebSocket)
		}
	default:
		bad("protocol %q: want %s or %s", o.Protocol, Herald, Centrifugo)
	}
	for _, c := range []struct {
		name string
		v    float64
	}{
		{"connections", float64(o.Conns)}, {"channels", float64(o.Channels)}, {"sources", float64(o.Sources)},
		{"ramp concurrency", float64(o.RampConcurrency)}, {"rate", o.Rate}, {"size", float64(o.Size)},
		{"concurrency", float64(o.Concurrency)}, {"duration", float64(o.Duration)},
		{"handshake timeout", float64(o.HandshakeTimeout)}, {"ramp timeout", float64(o.RampTimeout)},
		{"wait", float64(o.Wait)}, {"settle", float64(o.Settle)}, {"max per process", float64(o.MaxPerProcess)},
	} {
		if c.v <= 0 {
			bad("%s must be above 0", c.name)
		}
	}
	if o.RampRate < 0 || o.Hold < 0 || o.Workers < 0 || o.Broadcast < 0 {
		bad("ramp rate, hold, workers and broadcast may not be negative")
	}
	if o.Sources > maxSources {
		bad("sources: at most %d", maxSources)
	}
	if o.Broadcast > maxBroadcast {
		bad("broadcast: at most %d channels per request", maxBroadcast)
	}
	if o.Size > 1<<20 {
		bad("size: at most 1 MiB")
	}
	if o.Workers > 0 && (o.Conns+o.Workers-1)/o.Workers > o.MaxPerProcess {
		bad("%d workers would hold %d connections each, over the %d one process can hold", o.Workers, (o.Conns+o.Workers-1)/o.Workers, o.MaxPerProcess)
	}
	if mode == modeFanout && o.Rate*o.Duration.Seconds() > 10_000_000 {
		bad("rate × duration: at most 10,000,000 messages")
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("%w: %w", ErrOptions, errors.Join(errs...))
	}
	return o, nil
}

// lockedWriter serializes writes: progress lines and the workers' standard
// error come from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// channelName returns the name of channel i.
func channelName(i int) string { return fmt.Sprintf("%s%d", channelStem, i) }
