package bench

import (
	"bytes"
	"fmt"

	"github.com/gobwas/ws"
)

// Centrifugo v6's bidirectional client protocol, JSON over WebSocket, as
// far as a bench client needs it (checked against Centrifugo v6.9.1):
//
//	client                                         server
//	{"id":1,"connect":{}}                       -> {"id":1,"connect":{"client":"...","ping":25,"pong":true}}
//	{"id":2,"subscribe":{"channel":"bench.3"}}  -> {"id":2,"subscribe":{}}
//	                                            <- {"push":{"channel":"bench.3","pub":{"data":{"t":...}}}}
//	                                            <- {}   (a ping)
//	{}   (the pong)                             ->
//
// A refused command is answered {"id":N,"error":{"code":103,"message":"..."}}.
// The server writes several replies in one frame, separated by "\n", and
// ends a connection with a close frame (3012 "no pong" if a ping went
// unanswered for the pong timeout). A pong sent without a ping is itself
// a reason to disconnect, so exactly one is sent per ping.
//
// The client connects anonymously, without a token: the server must allow
// it (client.allow_anonymous_connect_without_token) and allow anonymous
// clients to subscribe to channels without a namespace
// (channel.without_namespace.allow_subscribe_for_client and
// allow_subscribe_for_anonymous); testdata/centrifugo.json is such a
// configuration. Like Centrifugo's own SDKs, it subscribes only once the
// connect reply is in: a handshake is two round trips where Herald's is one.

const (
	cfPath      = "/connection/websocket"
	cfConnect   = `{"id":1,"connect":{}}`
	cfSubscribe = `{"id":2,"subscribe":{"channel":%q}}`
	cfPong      = `{}`
)

// Prefixes of the lines a bench client tells apart. Centrifugo writes a
// reply's id first, then "error" or the result.
var (
	cfPush           = []byte(`{"push":`)
	cfConnectReply   = []byte(`{"id":1,`)
	cfSubscribeReply = []byte(`{"id":2,`)
	cfError          = []byte(`"error":`)
)

// textCF parses a text frame from Centrifugo: one or more replies, one a
// line.
func (c *conn) textCF(p []byte, now int64) error {
	for len(p) > 0 {
		line, rest, _ := bytes.Cut(p, []byte{'\n'})
		if err := c.lineCF(line, now); err != nil {
			return err
		}
		p = rest
	}
	return nil
}

func (c *conn) lineCF(l []byte, now int64) error {
	switch {
	case bytes.HasPrefix(l, cfPush):
		c.message(l, now) // a publication counts if it holds a stamp
	case len(l) == 2 && l[0] == '{' && l[1] == '}':
		return c.reply(ws.NewTextFrame([]byte(cfPong)))
	case bytes.HasPrefix(l, cfConnectReply):
		if c.state != stWelcome {
			return nil
		}
		if bytes.HasPrefix(l[len(cfConnectReply):], cfError) {
			return &refusedError{"connect " + cfErrorText(l)}
		}
		c.state = stReply
		err := c.write(ws.NewTextFrame(fmt.Appendf(nil, cfSubscribe, c.channel)))
		c.channel = ""
		return err
	case bytes.HasPrefix(l, cfSubscribeReply):
		if c.state != stReply {
			return nil
		}
		if bytes.HasPrefix(l[len(cfSubscribeReply):], cfError) {
			return &refusedError{"subscribe " + cfErrorText(l)}
		}
		c.state = stReady
	}
	return nil
}

// cfErrorText names a Centrifugo error: its code and message.
func cfErrorText(p []byte) string {
	return fmt.Sprintf("%d %s", jsonInt(p, "code"), jsonString(p, "message"))
}

// cfAPIError returns the error in a Centrifugo server API answer, which
// comes with status 200: {"error":{...}} for a publish, or an error among
// the "responses" of a broadcast. nil if there is none.
func cfAPIError(body []byte) error {
	if !bytes.Contains(body, cfError) {
		return nil
	}
	return &refusedError{"api error " + cfErrorText(body)}
}
