package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/spf13/cobra"

	"github.com/heraldrt/herald/internal/protocol"
)

const (
	// dialTimeout bounds connecting and the WebSocket handshake.
	dialTimeout = 10 * time.Second
	// closeTimeout bounds sending the close frame when leaving.
	closeTimeout = time.Second
)

type subOptions struct {
	url    string
	origin string
	token  string
	rewind uint64
}

func newSubCmd() *cobra.Command {
	var o subOptions
	cmd := &cobra.Command{
		Use:   "sub <channel>...",
		Short: "Subscribe to channels over WebSocket and print their messages",
		Long: `Subscribe to one or more channels over a WebSocket to a running node, and print
each message frame received on standard output as one line of JSON, exactly as
the server sent it, until interrupted (exit status 0).

Progress and errors go to standard error, among them a warning when the node
says it is not ready (its /readyz), as while it cannot reach NATS: it then
accepts subscriptions but delivers nothing. A refused subscription ends sub
with exit status 1. When the server disconnects, its code and reason are printed;
the exit status is 0 if the node is shutting down (code 3001), else 1.

With --rewind N, each channel that keeps history first replays its last N
messages. Notices that messages could not be recovered go to standard error.

The node is found at --url, else $HERALD_URL; sub connects to its /ws endpoint.
On a node with tokens on, give the client token with --token, else
$HERALD_TOKEN (mint one for a test with 'herald token').`,
		Example: `  herald sub news
  herald sub news alerts | jq .data
  herald sub --rewind 10 news
  herald sub --token "$(herald token --sub alice)" user.alice.inbox
  herald sub --url https://herald.example.com --origin https://app.example.com news`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("give at least one channel: herald sub <channel>...")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.url = fromEnv(cmd, "url", o.url, envURL)
			o.token = fromEnv(cmd, "token", o.token, envToken)
			return subscribe(cmd, o, args)
		},
	}
	addURLFlag(cmd, &o.url)
	cmd.Flags().StringVar(&o.token, "token", "", "client `token` (JWT), sent as 'Authorization: Bearer <token>', for a node with tokens on (env "+envToken+")")
	cmd.Flags().StringVar(&o.origin, "origin", "", "`origin` sent in the Origin header, as a browser would; default: none")
	cmd.Flags().Uint64Var(&o.rewind, "rewind", 0, "first replay the last `N` messages of each channel that keeps history")
	return cmd
}

// serverFrame holds the fields sub reads from any frame the server sends.
type serverFrame struct {
	Op                  string          `json:"op"`
	ID                  uint64          `json:"id"`    // of a reply
	Error               *protocol.Error `json:"error"` // of a reply
	Channel             string          `json:"channel"`
	Recovered           *bool           `json:"recovered"` // of a reply or recovery notice
	protocol.Disconnect                 // of a disconnect (Reason also of a recovery notice)
}

func subscribe(cmd *cobra.Command, o subOptions, channels []string) error {
	ctx := cmd.Context()
	u, err := endpoint(o.url, "/ws", map[string]string{"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"})
	if err != nil {
		return err
	}
	conn, r, err := dial(ctx, u, o.origin, o.token)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while connecting
		}
		return err
	}
	defer conn.Close()
	// Cancelling ctx unblocks the read in progress; the read loop then
	// closes the connection cleanly.
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()

	ready, err := endpoint(o.url, "/readyz", map[string]string{"http": "http", "https": "https", "ws": "http", "wss": "https"})
	if err != nil {
		return err
	}
	s := &session{
		ready: ready,
		ctx:   ctx,
		conn:  conn,
		rw: struct {
			io.Reader
			io.Writer
		}{r, conn},
		stdout: cmd.OutOrStdout(),
		stderr: cmd.ErrOrStderr(),
		prefix: cmd.CommandPath(),
		rewind: o.rewind,
	}
	return s.run(channels)
}

// dial opens a WebSocket to u, with an Origin and a bearer token when
// given. The returned reader holds any frames the server sent with its
// handshake response, then reads from the connection.
func dial(ctx context.Context, u, origin, token string) (net.Conn, io.Reader, error) {
	var body []byte
	d := ws.Dialer{
		Timeout: dialTimeout,
		OnStatusError: func(_ int, _ []byte, resp io.Reader) {
			if r, err := http.ReadResponse(bufio.NewReader(resp), nil); err == nil {
				body, _ = io.ReadAll(io.LimitReader(r.Body, 64<<10))
				r.Body.Close()
			}
		},
	}
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	d.Header = ws.HandshakeHeaderHTTP(h)
	conn, br, _, err := d.Dial(ctx, u)
	var status ws.StatusError
	switch {
	case errors.As(err, &status):
		return nil, nil, fmt.Errorf("connecting to %s: %w", u, httpError(int(status), body))
	case err != nil:
		return nil, nil, fmt.Errorf("connecting to %s: %w", u, err)
	case br != nil:
		return conn, br, nil
	}
	return conn, conn, nil
}

// session is one subscribed connection, read and written by one goroutine.
type session struct {
	ready          string // the node's /readyz
	ctx            context.Context
	conn           net.Conn
	rw             io.ReadWriter // reads frames, writes control replies
	stdout, stderr io.Writer
	prefix         string // for messages on stderr
	rewind         uint64 // replay this many messages per channel first
}

func (s *session) run(channels []string) error {
	p, f, err := s.read()
	if err != nil {
		return s.end(err)
	}
	switch f.Op {
	case "welcome":
	case "disconnect":
		return s.disconnected(f)
	default:
		return s.end(fmt.Errorf("the server sent %q before its welcome: %.200s", f.Op, p))
	}
	if state := notReady(s.ctx, s.ready); state != "" {
		fmt.Fprintf(s.stderr, "%s: warning: the node is not ready (%s): its subscriptions deliver nothing until it is\n", s.prefix, state)
	}

	pending := make(map[uint64]string, len(channels))
	for i, ch := range channels {
		id := uint64(i + 1)
		cmd := protocol.Command{ID: id, Op: protocol.OpSubscribe, Channel: ch}
		if s.rewind > 0 {
			cmd.Since = json.RawMessage(fmt.Sprintf(`{"rewind":%d}`, s.rewind))
		}
		msg, err := json.Marshal(cmd)
		if err != nil {
			return err
		}
		if err := wsutil.WriteClientText(s.conn, msg); err != nil {
			return s.end(fmt.Errorf("subscribing to %q: %w", ch, err))
		}
		pending[id] = ch
	}

	for {
		p, f, err := s.read()
		if err != nil {
			return s.end(err)
		}
		switch f.Op {
		case "message":
			if _, err := s.stdout.Write(append(p, '\n')); err != nil {
				return s.end(fmt.Errorf("writing output: %w", err))
			}
		case "reply":
			ch, ok := pending[f.ID]
			if !ok {
				continue
			}
			delete(pending, f.ID)
			if f.Error != nil {
				return s.end(fmt.Errorf("subscribing to %q: %w", ch, f.Error))
			}
			fmt.Fprintf(s.stderr, "%s: subscribed to %s\n", s.prefix, ch)
			if f.Recovered != nil && !*f.Recovered && s.rewind > 0 {
				fmt.Fprintf(s.stderr, "%s: %s: history not replayed (%s)\n", s.prefix, ch, f.Reason)
			}
		case "recovery":
			fmt.Fprintf(s.stderr, "%s: %s: messages were lost (%s); reload state\n", s.prefix, f.Channel, f.Reason)
		case "disconnect":
			return s.disconnected(f)
		}
	}
}

// read returns the next text frame from the server, and its fields.
func (s *session) read() ([]byte, serverFrame, error) {
	var f serverFrame
	p, err := wsutil.ReadServerText(s.rw)
	if err != nil {
		return nil, f, fmt.Errorf("reading from the server: %w", err)
	}
	if err := json.Unmarshal(p, &f); err != nil {
		return nil, f, fmt.Errorf("the server sent a frame that is not JSON (%v): %.200s", err, p)
	}
	return p, f, nil
}

// disconnected ends the session on the server's disconnect frame f.
func (s *session) disconnected(f serverFrame) error {
	err := fmt.Errorf("disconnected by the server: code %d, reason %q, reconnect %t", f.Code, f.Reason, f.Reconnect)
	if f.Code == protocol.CloseShutdown { // the stream ended normally
		fmt.Fprintf(s.stderr, "%s: %v\n", s.prefix, err)
		err = nil
	}
	return s.end(err)
}

// end closes the connection, cleanly where it can, and returns the error
// the session ends with: nil if it was interrupted.
func (s *session) end(err error) error {
	if s.ctx.Err() != nil {
		err = nil // interrupted, which is how sub normally stops
	}
	if closed, ok := errors.AsType[wsutil.ClosedError](err); ok {
		// wsutil has answered the server's close frame: nothing left to send.
		return fmt.Errorf("the server closed the connection: code %d, reason %q", closed.Code, closed.Reason)
	}
	// On a broken connection this fails, and err already says why.
	s.conn.SetWriteDeadline(time.Now().Add(closeTimeout))
	wsutil.WriteClientMessage(s.conn, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	return err
}

// readyTimeout bounds the readiness check sub makes as it connects.
const readyTimeout = 2 * time.Second

// notReady asks the node's /readyz and returns the state it reports when
// it is not ready (such as "nats disconnected"), or "" when it is ready or
// does not say.
func notReady(ctx context.Context, url string) string {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
	}
	if resp.StatusCode != http.StatusServiceUnavailable || json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body) != nil {
		return ""
	}
	return body.Status
}
