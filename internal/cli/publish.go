package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/spf13/cobra"

	"github.com/heraldrt/herald/internal/protocol"
)

type publishOptions struct {
	url      string
	apiKey   string
	token    string
	channels []string
	timeout  time.Duration
	key      string
}

func newPublishCmd() *cobra.Command {
	var o publishOptions
	cmd := &cobra.Command{
		Use:   "publish <channel> <json>",
		Short: "Publish a message to a channel through the HTTP API",
		Long: `Publish a message to a channel, or with --channels to several, through the
publish API of a running node, and print the server's JSON response.

The message data must be JSON: quote a string as '"hello"'. Give - to read the
data from standard input. The node is found at --url, else $HERALD_URL; the API
key is --api-key, else $HERALD_API_KEY. For a channel that keeps history the
response is the message's position, {"epoch":"...","offset":N}; with
--idempotency-key, a retry of the same publish answers the same position and
is delivered once. On an error response, the server's error code and message
are printed and the exit status is 1.

With --token (or $HERALD_TOKEN), publish is a client publish instead: it goes
over a WebSocket with that client token, as a browser's would, and the node's
channel rules decide whether the user may publish there. It prints the
server's reply.`,
		Example: `  herald publish news '{"title":"Hello"}'
  herald publish news '"a plain string"'
  echo '{"n":1}' | herald publish news -
  herald publish --channels news,alerts '{"title":"Hello"}'
  herald publish --idempotency-key order-17 orders '{"id":17}'
  herald publish --token "$(herald token --sub alice)" chat.lobby '"hi"'
  HERALD_URL=https://herald.example.com HERALD_API_KEY=secret herald publish news 42`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("channels") {
				if len(args) != 1 {
					return usagef("with --channels, give only the data: herald publish --channels a,b <json>")
				}
				return nil
			}
			if len(args) != 2 {
				return usagef("give a channel and the data: herald publish <channel> <json>")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.url = fromEnv(cmd, "url", o.url, envURL)
			o.apiKey = fromEnv(cmd, "api-key", o.apiKey, envAPIKey)
			o.token = fromEnv(cmd, "token", o.token, envToken)
			if o.token != "" {
				return clientPublish(cmd, o, args)
			}
			return publish(cmd, o, args)
		},
	}
	addURLFlag(cmd, &o.url)
	cmd.Flags().StringVar(&o.apiKey, "api-key", "", "API `key`, sent as 'Authorization: Bearer <key>' (env "+envAPIKey+")")
	cmd.Flags().StringVar(&o.token, "token", "", "publish as a client with this client `token` (JWT), over a WebSocket, as the channel rules allow (env "+envToken+")")
	cmd.Flags().StringSliceVar(&o.channels, "channels", nil, "publish to each of these comma-separated `channels` instead of one")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Second, "give up on the request after this long")
	cmd.Flags().StringVar(&o.key, "idempotency-key", "", "`key` that makes a retried publish count once (channels with history only; see docs/history.md)")
	return cmd
}

func publish(cmd *cobra.Command, o publishOptions, args []string) error {
	target, err := json.Marshal(args[0])
	path := "/api/publish"
	field := "channel"
	if cmd.Flags().Changed("channels") {
		if len(o.channels) == 0 {
			return usagef("--channels: give at least one channel")
		}
		target, err = json.Marshal(o.channels)
		path, field = "/api/broadcast", "channels"
	} else {
		args = args[1:]
	}
	if err != nil {
		return err
	}
	data, err := readData(cmd, args[0])
	if err != nil {
		return err
	}
	u, err := endpoint(o.url, path, map[string]string{"http": "http", "https": "https"})
	if err != nil {
		return err
	}
	body := requestBody(field, target, o.key, data)

	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	if o.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+o.apiKey)
	}
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return httpError(resp.StatusCode, respBody)
	}
	if len(respBody) > 0 {
		respBody = append(bytes.TrimRight(respBody, "\r\n"), '\n')
		if _, err := cmd.OutOrStdout().Write(respBody); err != nil {
			return err
		}
	}
	return nil
}

// requestBody builds a publish or broadcast body: field ("channel" or
// "channels") holding target (already JSON), the idempotency key if any,
// and data as given, white space included (json.Marshal would compact it).
func requestBody(field string, target []byte, key string, data []byte) []byte {
	b := append([]byte(`{"`+field+`":`), target...)
	if key != "" {
		k, _ := json.Marshal(key) // a string always marshals
		b = append(append(b, `,"idempotency_key":`...), k...)
	}
	b = append(append(b, `,"data":`...), data...)
	return append(b, '}')
}

// readData returns the message data given as arg, or read from standard
// input if arg is "-", checked to be JSON.
func readData(cmd *cobra.Command, arg string) (json.RawMessage, error) {
	data := []byte(arg)
	if arg == "-" {
		var err error
		if data, err = io.ReadAll(cmd.InOrStdin()); err != nil {
			return nil, fmt.Errorf("reading data from standard input: %w", err)
		}
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, usagef("the data is empty; give JSON, such as '{\"text\":\"hello\"}' or '\"hello\"'")
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, usagef("the data is not valid JSON (%v); to send a string, quote it: '\"hello\"'", err)
	}
	return data, nil
}

// clientPublish publishes as a client: over a WebSocket with o.token.
func clientPublish(cmd *cobra.Command, o publishOptions, args []string) error {
	if cmd.Flags().Changed("channels") || o.key != "" {
		return usagef("--channels and --idempotency-key are for the publish API; a client (--token) publishes to one channel")
	}
	data, err := readData(cmd, args[1])
	if err != nil {
		return err
	}
	u, err := endpoint(o.url, "/ws", map[string]string{"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	conn, r, err := dial(ctx, u, "", o.token)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	s := &session{ctx: ctx, conn: conn, rw: struct {
		io.Reader
		io.Writer
	}{r, conn}, stderr: cmd.ErrOrStderr(), prefix: cmd.CommandPath()}
	if _, f, err := s.read(); err != nil {
		return s.end(err)
	} else if f.Op == "disconnect" {
		return s.disconnected(f)
	}
	msg, _ := json.Marshal(protocol.Command{ID: 1, Op: protocol.OpPublish, Channel: args[0], Data: data})
	if err := wsutil.WriteClientText(conn, msg); err != nil {
		return s.end(err)
	}
	for {
		p, f, err := s.read()
		if err != nil {
			return s.end(err)
		}
		switch {
		case f.Op == "disconnect":
			return s.disconnected(f)
		case f.Op == "reply" && f.ID == 1:
			if f.Error != nil {
				return s.end(f.Error)
			}
			_, err := cmd.OutOrStdout().Write(append(p, '\n'))
			return s.end(err)
		}
	}
}
