package node_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/heraldtest"
	"github.com/heraldrt/herald/internal/node"
)

// The rules of the auth tests: personal inboxes, a public feed, a chat
// any signed-in user may use, and private rooms that need a grant.
var authRules = []auth.RuleSpec{
	{Pattern: "user.{user}.>", Subscribe: auth.Owner},
	{Pattern: "news.>", Subscribe: auth.Anyone},
	{Pattern: "chat.>", Subscribe: auth.Authenticated, Publish: auth.Authenticated},
	{Pattern: "private.>", Subscribe: auth.Granted},
}

// tokens remembers every token a test made, so that the test can check
// that none of them reached the node's log.
type tokens struct {
	mu  sync.Mutex
	all []string
}

func (k *tokens) make(t *testing.T, c auth.Claims) string {
	t.Helper()
	tok := heraldtest.Token(t, c)
	k.keep(tok)
	return tok
}

func (k *tokens) keep(tok string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.all = append(k.all, tok)
	return tok
}

// checkLog fails the test if any token, or a signature part of one,
// appears in log.
func (k *tokens) checkLog(t *testing.T, log string) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, tok := range k.all {
		parts := strings.Split(tok, ".")
		if strings.Contains(log, tok) || (len(parts) == 3 && len(parts[2]) > 8 && strings.Contains(log, parts[2])) {
			t.Fatalf("a token reached the log:\n%s", log)
		}
	}
}

// authNode starts a node with tokens on, the auth rules, and a log the
// test can read.
func authNode(t *testing.T, name string, tune func(*config.Config)) (*node.Node, *heraldtest.LogBuffer) {
	t.Helper()
	cfg := heraldtest.Config(name)
	cfg.TokenSecret = heraldtest.Secret
	cfg.Channels = authRules
	cfg.LogLevel = "debug"
	if tune != nil {
		tune(&cfg)
	}
	logs := heraldtest.NewLogBuffer()
	n := heraldtest.LaunchNode(t, cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	heraldtest.Eventually(t, 10*time.Second, name+" ready", func() bool { return heraldtest.Ready(n.Addr()) })
	return n, logs
}

// wsUpgrade asks for a WebSocket upgrade of /ws?query with plain HTTP, so
// that a refusal's status and body can be read.
func wsUpgrade(t *testing.T, addr, query string, hdr http.Header) heraldtest.HTTPError {
	t.Helper()
	h := http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}, "Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	for k, v := range hdr {
		h[k] = v
	}
	return heraldtest.Refusal(t, "http://"+addr+"/ws?"+query, h)
}

// jwksWith serves a JWK set holding key's public half as kid.
func jwksWith(t *testing.T, key *ecdsa.PrivateKey, kid string) string {
	t.Helper()
	jwk, err := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgES256}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestEachTokenRefusalOnEachTransport presents a token refused for each
// reason to SSE, long-poll, a WebSocket upgrade (in the query and as a
// bearer header) and the WebSocket auth command, and checks the status,
// code, reason and close code of each refusal, that each is counted, and
// that no token reaches the log.
func TestEachTokenRefusalOnEachTransport(t *testing.T) {
	jwksKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	n, logs := authNode(t, "refusals", func(c *config.Config) {
		c.TokenIssuer, c.TokenAudience = "https://app.example", "herald"
		c.TokenJWKSURL = jwksWith(t, jwksKey, "k1")
	})
	addr := n.Addr()
	var k tokens
	base := auth.Claims{Sub: "alice", Issuer: "https://app.example", Audience: []string{"herald"}}
	with := func(f func(*auth.Claims)) auth.Claims { c := base; f(&c); return c }
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	unknownKID, _ := auth.NewKeySigner(stranger)
	unknownKID.KeyID = "not-in-the-jwks"
	cases := []struct {
		reason, token string
	}{
		{auth.ReasonMalformed, k.keep("not-a-token")},
		{auth.ReasonBadSignature, k.keep(heraldtest.TokenWith(t, auth.NewHMACSigner("some-other-secret-that-is-long-enough"), base))},
		{auth.ReasonExpired, k.make(t, with(func(c *auth.Claims) { c.Expires = time.Now().Add(-time.Minute) }))},
		{auth.ReasonNotYetValid, k.make(t, with(func(c *auth.Claims) { c.NotBefore = time.Now().Add(time.Hour) }))},
		{auth.ReasonWrongIssuer, k.make(t, with(func(c *auth.Claims) { c.Issuer = "https://evil.example" }))},
		{auth.ReasonWrongAud, k.make(t, with(func(c *auth.Claims) { c.Audience = []string{"someone-else"} }))},
		{auth.ReasonUnknownKey, k.keep(heraldtest.TokenWith(t, unknownKID, base))},
	}
	for _, c := range cases {
		q := "channel=news.a&token=" + url.QueryEscape(c.token)
		bearer := http.Header{"Authorization": {"Bearer " + c.token}}
		for name, got := range map[string]heraldtest.HTTPError{
			"sse":              heraldtest.Refusal(t, "http://"+addr+"/sse?"+q, nil),
			"sse bearer":       heraldtest.Refusal(t, "http://"+addr+"/sse?channel=news.a", bearer),
			"poll":             heraldtest.Refusal(t, "http://"+addr+"/poll?"+q, nil),
			"poll bearer":      heraldtest.Refusal(t, "http://"+addr+"/poll?channel=news.a", bearer),
			"websocket":        wsUpgrade(t, addr, "token="+url.QueryEscape(c.token), nil),
			"websocket bearer": wsUpgrade(t, addr, "", bearer),
		} {
			if got.Status != http.StatusUnauthorized || got.Code != "unauthorized" || got.Reason != c.reason {
				t.Errorf("%s, %s token: got %d %s/%s, want 401 unauthorized/%s: %s", name, c.reason, got.Status, got.Code, got.Reason, c.reason, got.Body)
			}
			if c.token != "" && strings.Contains(got.Body, c.token) {
				t.Errorf("%s: the refusal quotes the token", name)
			}
		}
		// The auth command: an error reply with the reason, then 3501.
		ws := heraldtest.DialWS(t, addr, nil)
		r := ws.Do("auth", `"token":`+quote(c.token))
		if r.Error == nil || r.Error.Code != "unauthorized" || r.Error.Reason != c.reason {
			t.Errorf("auth command, %s token: reply %+v", c.reason, r.Error)
		}
		if d, code := ws.CloseCode(5 * time.Second); code != 3501 || d.Code != 3501 || d.Reconnect {
			t.Errorf("auth command, %s token: closed with %d after %+v, want 3501 without reconnect", c.reason, code, d)
		}
	}
	// No token at all: SSE and long-poll are refused; a WebSocket is let
	// in to authenticate.
	for name, got := range map[string]heraldtest.HTTPError{
		"sse":  heraldtest.Refusal(t, "http://"+addr+"/sse?channel=news.a", nil),
		"poll": heraldtest.Refusal(t, "http://"+addr+"/poll?channel=news.a", nil),
	} {
		if got.Status != http.StatusUnauthorized || got.Reason != auth.ReasonMissing {
			t.Errorf("%s without a token: %d %s", name, got.Status, got.Body)
		}
	}
	for _, reason := range []string{"expired", "bad_signature", "unknown_key", "missing"} {
		if v := heraldtest.Metric(t, addr, `herald_auth_refusals_total{reason="`+reason+`"}`); v < 1 {
			t.Errorf("refusals for %s counted %v", reason, v)
		}
	}
	k.checkLog(t, logs.String())
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestWebSocketWithoutATokenMayOnlyAuthenticate: until it sends auth, a
// WebSocket gets unauthorized for everything but ping, and it is closed
// with 3501 when --auth-timeout passes.
func TestWebSocketWithoutATokenMayOnlyAuthenticate(t *testing.T) {
	n, logs := authNode(t, "auth-wait", func(c *config.Config) { c.AuthTimeout = 500 * time.Millisecond })
	var k tokens
	ws := heraldtest.DialWS(t, n.Addr(), nil)
	if r := ws.Do("ping", ""); r.Error != nil {
		t.Fatalf("ping before auth: %+v", r.Error)
	}
	for _, cmd := range []struct{ op, fields string }{
		{"subscribe", `"channel":"news.a"`}, {"publish", `"channel":"chat.a","data":1`}, {"history", `"channel":"news.a"`},
	} {
		if r := ws.Do(cmd.op, cmd.fields); r.Error == nil || r.Error.Code != "unauthorized" || r.Error.Reason != "missing" {
			t.Errorf("%s before auth: %+v", cmd.op, r.Error)
		}
	}
	if r := ws.Do("auth", `"token":`+quote(k.make(t, auth.Claims{Sub: "alice"}))); r.Error != nil {
		t.Fatalf("auth: %+v", r.Error)
	}
	ws.Subscribe("news.a")
	heraldtest.MustPublish(t, n.Addr(), "news.a", `"after auth"`)
	if m := ws.Message(5 * time.Second); string(m.Data) != `"after auth"` {
		t.Fatalf("got %s", m.Data)
	}

	idle := heraldtest.DialWS(t, n.Addr(), nil)
	if d, code := idle.CloseCode(5 * time.Second); code != 3501 || d.Code != 3501 || d.Reconnect {
		t.Fatalf("no auth: closed with %d after %+v, want 3501", code, d)
	}
	// The connection that authenticated outlived the timeout.
	if r := ws.Do("ping", ""); r.Error != nil {
		t.Fatalf("authenticated connection: %+v", r.Error)
	}
	k.checkLog(t, logs.String())
}

// TestWebSocketTokenRefreshAndExpiry: a fresh token for the same user
// keeps the connection past the first token's expiry; one for another
// user is refused and the connection kept; a token left to expire ends
// the connection with 3005 "token expired" (reconnect).
func TestWebSocketTokenRefreshAndExpiry(t *testing.T) {
	n, logs := authNode(t, "refresh", nil)
	var k tokens
	soon := time.Now().Add(2 * time.Second)
	refreshed := heraldtest.DialWSQuery(t, n.Addr(), "token="+k.make(t, auth.Claims{Sub: "alice", Expires: soon}), nil)
	if r := refreshed.Do("auth", `"token":`+quote(k.make(t, auth.Claims{Sub: "alice"}))); r.Error != nil {
		t.Fatalf("refresh: %+v", r.Error)
	}
	if r := refreshed.Do("auth", `"token":`+quote(k.make(t, auth.Claims{Sub: "mallory"}))); r.Error == nil || r.Error.Code != "forbidden" {
		t.Fatalf("refresh as another user: %+v", r.Error)
	}
	refreshed.Subscribe("news.x")

	left := heraldtest.DialWSQuery(t, n.Addr(), "token="+k.make(t, auth.Claims{Sub: "bob", Expires: soon}), nil)
	d, code := left.CloseCode(10 * time.Second)
	if code != 3005 || d.Code != 3005 || d.Reason != "token expired" || !d.Reconnect {
		t.Fatalf("expiry: closed with %d after %+v, want 3005 token expired, reconnect", code, d)
	}
	if time.Now().Before(soon.Add(-time.Second)) {
		t.Fatalf("closed before the token expired")
	}
	// The refreshed connection is past the first token's expiry, and works.
	heraldtest.MustPublish(t, n.Addr(), "news.x", `"still here"`)
	if m := refreshed.Message(5 * time.Second); string(m.Data) != `"still here"` {
		t.Fatalf("refreshed connection got %s", m.Data)
	}
	k.checkLog(t, logs.String())
}

// TestSSEAndLongPollTokenExpiryAndRefresh: an SSE stream gets a
// disconnect event when its token expires; a long-poll session ends with
// 401 token_expired, unless a poll brings a fresh token for the same
// user (another user's is refused, and the session kept).
func TestSSEAndLongPollTokenExpiryAndRefresh(t *testing.T) {
	n, logs := authNode(t, "stream-expiry", nil)
	addr := n.Addr()
	var k tokens
	soon := time.Now().Add(2 * time.Second)

	s := heraldtest.OpenSSEQuery(t, addr, "channel=news.s&token="+k.make(t, auth.Claims{Sub: "alice", Expires: soon}), nil)
	for {
		ev := s.Next(t, 10*time.Second)
		if ev.Event != "disconnect" {
			continue
		}
		if !strings.Contains(ev.Data, `"code":3005`) || !strings.Contains(ev.Data, "token expired") {
			t.Fatalf("disconnect event %s", ev.Data)
		}
		break
	}

	soon = time.Now().Add(2 * time.Second)
	_, kept, body := heraldtest.Poll(t, addr, "channel=news.p&timeout=0s&token="+k.make(t, auth.Claims{Sub: "alice", Expires: soon}))
	_, dropped, body2 := heraldtest.Poll(t, addr, "channel=news.p&timeout=0s&token="+k.make(t, auth.Claims{Sub: "bob", Expires: soon}))
	if kept.Session == "" || dropped.Session == "" {
		t.Fatalf("sessions: %s %s", body, body2)
	}
	status, _, body := heraldtest.Poll(t, addr, "session="+kept.Session+"&timeout=0s&token="+k.make(t, auth.Claims{Sub: "alice"}))
	if status != http.StatusOK {
		t.Fatalf("refreshing poll: %d %s", status, body)
	}
	status, _, body = heraldtest.Poll(t, addr, "session="+kept.Session+"&timeout=0s&token="+k.make(t, auth.Claims{Sub: "mallory"}))
	if status != http.StatusForbidden {
		t.Fatalf("refresh as another user: %d %s", status, body)
	}
	heraldtest.Eventually(t, 10*time.Second, "bob's session to end with his token", func() bool {
		status, r, _ := heraldtest.Poll(t, addr, "session="+dropped.Session+"&timeout=0s")
		return status == http.StatusUnauthorized && r.Error != nil && r.Error.Code == "token_expired"
	})
	heraldtest.MustPublish(t, addr, "news.p", `"for alice"`)
	status, r, body := heraldtest.Poll(t, addr, "session="+kept.Session+"&timeout=5s")
	if status != http.StatusOK || len(r.Messages) != 1 || string(r.Messages[0].Data) != `"for alice"` {
		t.Fatalf("alice's refreshed session: %d %s", status, body)
	}
	k.checkLog(t, logs.String())
}

// TestPersonalChannelsAreTheirOwnersOnly: alice reads user.alice.*, and
// no spelling gets her into bob's, on any transport; a sub that is not a
// single channel token owns nothing.
func TestPersonalChannelsAreTheirOwnersOnly(t *testing.T) {
	n, logs := authNode(t, "personal", nil)
	addr := n.Addr()
	var k tokens
	alice := k.make(t, auth.Claims{Sub: "alice"})

	ws := heraldtest.DialWSQuery(t, addr, "token="+alice, nil)
	ws.Subscribe("user.alice.inbox")
	for _, ch := range []string{"user.bob.inbox", "user.Bob.inbox", "user.bob.a.b"} {
		if r := ws.Do("subscribe", `"channel":`+quote(ch)); r.Error == nil || r.Error.Code != "forbidden" {
			t.Errorf("websocket subscribe %s: %+v", ch, r.Error)
		}
	}
	for _, q := range []string{"channel=user.bob.inbox", "channel=user%2Ebob%2Einbox", "channel=user.%62ob.inbox", "channel=user.alice.inbox&channel=user.bob.inbox"} {
		for _, path := range []string{"/sse", "/poll"} {
			if got := heraldtest.Refusal(t, "http://"+addr+path+"?"+q+"&token="+alice, nil); got.Status != http.StatusForbidden || got.Code != "forbidden" {
				t.Errorf("%s?%s: %d %s", path, q, got.Status, got.Body)
			}
		}
	}
	// Users whose id is not one channel token own no channel.
	for sub, ch := range map[string]string{"bob.x": "user.bob.x.inbox", "*": "user.bob.inbox", "a b": "user.bob.inbox"} {
		c := heraldtest.DialWSQuery(t, addr, "token="+k.make(t, auth.Claims{Sub: sub}), nil)
		r := c.Do("subscribe", `"channel":`+quote(ch))
		if r.Error == nil || r.Error.Code != "forbidden" || !strings.Contains(r.Error.Message, "not a single channel token") {
			t.Errorf("sub %q subscribing %s: %+v", sub, ch, r.Error)
		}
	}
	// Alice's own inbox works, on every transport.
	s := heraldtest.OpenSSEQuery(t, addr, "channel=user.alice.inbox&token="+alice, nil)
	_, p, _ := heraldtest.Poll(t, addr, "channel=user.alice.inbox&timeout=0s&token="+alice)
	heraldtest.MustPublish(t, addr, "user.alice.inbox", `"hi alice"`)
	if m := ws.Message(5 * time.Second); string(m.Data) != `"hi alice"` {
		t.Fatalf("websocket got %s", m.Data)
	}
	if ev := s.Next(t, 5*time.Second); ev.Event != "message" || !strings.Contains(ev.Data, "hi alice") {
		t.Fatalf("sse got %+v", ev)
	}
	if status, r, body := heraldtest.Poll(t, addr, "session="+p.Session+"&timeout=5s"); status != http.StatusOK || len(r.Messages) != 1 {
		t.Fatalf("poll got %d %s", status, body)
	}
	if v := heraldtest.Metric(t, addr, `herald_auth_forbidden_total{op="subscribe"}`); v < 9 {
		t.Errorf("forbidden subscribes counted %v", v)
	}
	k.checkLog(t, logs.String())
}

// TestSubscriptionTokens: a subscription token admits its user to its
// channel, not another user nor another channel, not once expired; and
// a subscription that rests on one ends when it expires, with a notice.
func TestSubscriptionTokens(t *testing.T) {
	n, logs := authNode(t, "subtokens", nil)
	addr := n.Addr()
	var k tokens
	alice := k.make(t, auth.Claims{Sub: "alice"})
	ws := heraldtest.DialWSQuery(t, addr, "token="+alice, nil)
	sub := func(ch, token string) heraldtest.Frame {
		return ws.Do("subscribe", `"channel":`+quote(ch)+`,"token":`+quote(token))
	}
	if r := ws.Do("subscribe", `"channel":"private.room"`); r.Error == nil || r.Error.Code != "forbidden" {
		t.Fatalf("no grant: %+v", r.Error)
	}
	if r := sub("private.room", k.make(t, auth.Claims{Sub: "bob", Channel: "private.room"})); r.Error == nil || r.Error.Code != "forbidden" {
		t.Errorf("bob's subscription token: %+v", r.Error)
	}
	if r := sub("private.room", k.make(t, auth.Claims{Sub: "alice", Channel: "private.other"})); r.Error == nil || r.Error.Code != "forbidden" {
		t.Errorf("another channel's subscription token: %+v", r.Error)
	}
	if r := sub("private.room", k.make(t, auth.Claims{Sub: "alice", Channel: "private.room", Expires: time.Now().Add(-time.Minute)})); r.Error == nil || r.Error.Reason != "expired" {
		t.Errorf("expired subscription token: %+v", r.Error)
	}
	// The same refusals on SSE and long-poll, as ?sub_token=.
	for _, c := range []struct {
		grant  auth.Claims
		status int
	}{
		{auth.Claims{Sub: "bob", Channel: "private.room"}, http.StatusForbidden},
		{auth.Claims{Sub: "alice", Channel: "private.other"}, http.StatusForbidden},
		{auth.Claims{Sub: "alice", Channel: "private.room", Expires: time.Now().Add(-time.Minute)}, http.StatusUnauthorized},
	} {
		q := "channel=private.room&timeout=0s&token=" + alice + "&sub_token=" + k.make(t, c.grant)
		for _, path := range []string{"/sse", "/poll"} {
			if got := heraldtest.Refusal(t, "http://"+addr+path+"?"+q, nil); got.Status != c.status {
				t.Errorf("%s with a subscription token %+v: %d %s", path, c.grant, got.Status, got.Body)
			}
		}
	}
	soon := time.Now().Add(2 * time.Second)
	if r := sub("private.room", k.make(t, auth.Claims{Sub: "alice", Channel: "private.room", Expires: soon})); r.Error != nil {
		t.Fatalf("a good subscription token: %+v", r.Error)
	}
	ws.Subscribe("news.keep")

	grant := k.make(t, auth.Claims{Sub: "alice", Channel: "private.room", Expires: soon})
	s := heraldtest.OpenSSEQuery(t, addr, "channel=private.room&channel=news.keep&token="+alice+"&sub_token="+grant, nil)
	_, p, body := heraldtest.Poll(t, addr, "channel=private.room&timeout=0s&token="+alice+"&sub_token="+grant)
	if p.Session == "" {
		t.Fatalf("poll with a subscription token: %s", body)
	}
	heraldtest.MustPublish(t, addr, "private.room", `"secret"`)
	if m := ws.Message(5 * time.Second); string(m.Data) != `"secret"` {
		t.Fatalf("websocket got %s", m.Data)
	}

	// The grant expires: each transport is told, and hears no more.
	f, err := ws.Next(10 * time.Second)
	if err != nil || f.Op != "unsubscribed" || f.Channel != "private.room" || f.Reason != "token_expired" {
		t.Fatalf("websocket: %+v %v, want unsubscribed token_expired", f, err)
	}
	sawUnsub := false
	for !sawUnsub {
		ev := s.Next(t, 10*time.Second)
		sawUnsub = ev.Event == "unsubscribed" && strings.Contains(ev.Data, `"channel":"private.room"`) && strings.Contains(ev.Data, "token_expired")
	}
	var polled []string
	for len(polled) == 0 || polled[len(polled)-1] != "unsubscribed private.room" {
		status, r, body := heraldtest.Poll(t, addr, "session="+p.Session+"&timeout=5s")
		if status != http.StatusOK || len(r.Messages) == 0 {
			t.Fatalf("poll after %v: %d %s", polled, status, body)
		}
		for _, m := range r.Messages {
			polled = append(polled, m.Op+" "+m.Channel)
		}
	}
	if len(polled) != 2 || polled[0] != " private.room" {
		t.Fatalf("poll entries %q, want the message, then unsubscribed", polled)
	}
	heraldtest.MustPublish(t, addr, "private.room", `"after"`)
	heraldtest.MustPublish(t, addr, "news.keep", `"marker"`)
	if m := ws.Message(5 * time.Second); string(m.Data) != `"marker"` {
		t.Fatalf("websocket got %s after its grant expired", m.Data)
	}
	if ev := s.Next(t, 5*time.Second); !strings.Contains(ev.Data, "marker") {
		t.Fatalf("sse got %+v after its grant expired", ev)
	}
	k.checkLog(t, logs.String())
}

// TestPrivateMessagesReachTheEntitledOnBothNodesAndNobodyElse publishes
// to a private room with members on two nodes and every transport, while
// a control client subscribed to all it may see on each node watches:
// the members get the message once, the control client nothing.
func TestPrivateMessagesReachTheEntitledOnBothNodesAndNobodyElse(t *testing.T) {
	var k tokens
	n1, n2 := heraldtest.Pair(t, func(c *config.Config) {
		c.TokenSecret = heraldtest.Secret
		c.Channels = authRules
	})
	alice := k.make(t, auth.Claims{Sub: "alice"})
	bob := k.make(t, auth.Claims{Sub: "bob", Subscribe: []string{"private.team"}})
	carol := k.make(t, auth.Claims{Sub: "carol"})

	a := heraldtest.DialWSQuery(t, n1.Addr(), "token="+alice, nil)
	if r := a.Do("subscribe", `"channel":"private.team","token":`+quote(k.make(t, auth.Claims{Sub: "alice", Channel: "private.team"}))); r.Error != nil {
		t.Fatal(r.Error)
	}
	b := heraldtest.OpenSSEQuery(t, n2.Addr(), "channel=private.team&token="+bob, nil)
	_, bp, _ := heraldtest.Poll(t, n1.Addr(), "channel=private.team&timeout=0s&token="+bob)

	var controls []*heraldtest.WS
	for _, nd := range []*node.Node{n1, n2} {
		c := heraldtest.DialWSQuery(t, nd.Addr(), "token="+carol, nil)
		for _, ch := range []string{"user.carol.inbox", "news.all", "chat.lobby"} {
			c.Subscribe(ch)
		}
		if r := c.Do("subscribe", `"channel":"private.team"`); r.Error == nil || r.Error.Code != "forbidden" {
			t.Fatalf("carol subscribing to the private room: %+v", r.Error)
		}
		controls = append(controls, c)
	}
	// Both nodes know of every subscription before the publish.
	heraldtest.Eventually(t, 10*time.Second, "subscriptions on both nodes", func() bool {
		return heraldtest.Metric(t, n1.Addr(), "herald_subscriptions") == 5 && heraldtest.Metric(t, n2.Addr(), "herald_subscriptions") == 4
	})

	heraldtest.MustPublish(t, n2.Addr(), "private.team", `"plans"`)
	heraldtest.MustPublish(t, n1.Addr(), "news.all", `"end"`)
	if m := a.Message(5 * time.Second); m.Channel != "private.team" || string(m.Data) != `"plans"` {
		t.Fatalf("alice got %+v", m)
	}
	if ev := b.Next(t, 5*time.Second); ev.Event != "message" || !strings.Contains(ev.Data, "plans") {
		t.Fatalf("bob's stream got %+v", ev)
	}
	if status, r, body := heraldtest.Poll(t, n1.Addr(), "session="+bp.Session+"&timeout=5s"); status != http.StatusOK || len(r.Messages) != 1 || string(r.Messages[0].Data) != `"plans"` {
		t.Fatalf("bob's poll got %d %s", status, body)
	}
	for i, c := range controls {
		if m := c.Message(5 * time.Second); m.Channel != "news.all" || string(m.Data) != `"end"` {
			t.Fatalf("control client on node %d got %+v before the end marker", i+1, m)
		}
	}
}

// TestTokenChannelsClaimSubscribesAtConnect: the channels a token names
// are subscribed as the connection opens, with no subscribe command,
// on every transport.
func TestTokenChannelsClaimSubscribesAtConnect(t *testing.T) {
	n, _ := authNode(t, "claimed", nil)
	addr := n.Addr()
	tok := heraldtest.Token(t, auth.Claims{Sub: "alice", Channels: []string{"private.alerts"}})
	ws := heraldtest.DialWSQuery(t, addr, "token="+tok, nil)
	s := heraldtest.OpenSSEQuery(t, addr, "token="+tok, nil)
	_, p, body := heraldtest.Poll(t, addr, "timeout=0s&token="+tok)
	if p.Session == "" {
		t.Fatalf("poll with only a token: %s", body)
	}
	heraldtest.Eventually(t, 5*time.Second, "three subscriptions", func() bool {
		return heraldtest.Metric(t, addr, "herald_subscriptions") == 3
	})
	heraldtest.MustPublish(t, addr, "private.alerts", `"fire"`)
	if m := ws.Message(5 * time.Second); m.Channel != "private.alerts" {
		t.Fatalf("websocket got %+v", m)
	}
	if ev := s.Next(t, 5*time.Second); !strings.Contains(ev.Data, "fire") {
		t.Fatalf("sse got %+v", ev)
	}
	if _, r, body := heraldtest.Poll(t, addr, "session="+p.Session+"&timeout=5s"); len(r.Messages) != 1 {
		t.Fatalf("poll got %s", body)
	}
}

// TestAnonymousClientsUseOnlyChannelsForAnyone: with --allow-anonymous, a
// client without a token may use the channels whose rule says anyone,
// and nothing else; client publish follows the rules too.
func TestAnonymousClientsUseOnlyChannelsForAnyone(t *testing.T) {
	n, _ := authNode(t, "anonymous", func(c *config.Config) { c.AllowAnonymous = true })
	addr := n.Addr()
	anon := heraldtest.DialWS(t, addr, nil)
	anon.Subscribe("news.open")
	for _, ch := range []string{"chat.lobby", "private.x", "user.alice.inbox", "unruled"} {
		if r := anon.Do("subscribe", `"channel":`+quote(ch)); r.Error == nil || r.Error.Code != "forbidden" {
			t.Errorf("anonymous subscribe %s: %+v", ch, r.Error)
		}
	}
	if r := anon.Do("publish", `"channel":"chat.lobby","data":1`); r.Error == nil || r.Error.Code != "forbidden" {
		t.Errorf("anonymous publish: %+v", r.Error)
	}
	heraldtest.OpenSSE(t, addr, "news.open")
	if got := heraldtest.Refusal(t, "http://"+addr+"/sse?channel=chat.lobby", nil); got.Status != http.StatusForbidden {
		t.Errorf("anonymous sse on chat: %d %s", got.Status, got.Body)
	}

	alice := heraldtest.DialWSQuery(t, addr, "token="+heraldtest.Token(t, auth.Claims{Sub: "alice"}), nil)
	alice.Subscribe("chat.lobby")
	bob := heraldtest.DialWSQuery(t, addr, "token="+heraldtest.Token(t, auth.Claims{Sub: "bob"}), nil)
	if r := bob.Do("publish", `"channel":"chat.lobby","data":"hello"`); r.Error != nil {
		t.Fatalf("bob's publish: %+v", r.Error)
	}
	if r := bob.Do("publish", `"channel":"news.open","data":"x"`); r.Error == nil || r.Error.Code != "forbidden" {
		t.Errorf("publish to a channel whose rule says api: %+v", r.Error)
	}
	if m := alice.Message(5 * time.Second); string(m.Data) != `"hello"` {
		t.Fatalf("alice got %s", m.Data)
	}
}

// TestAlgorithmConfusionIsRefused: against a node that verifies with an
// RSA public key, a token "signed" with HS256 using that key's PEM bytes
// as the secret, and an unsigned alg:none token, are both refused.
func TestAlgorithmConfusionIsRefused(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(t.TempDir(), "rsa.pem")
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	n, _ := authNode(t, "confusion", func(c *config.Config) {
		c.TokenSecret = ""
		c.TokenPublicKey = []string{path}
	})
	good, _ := auth.NewKeySigner(key)
	if got := heraldtest.Refusal(t, "http://"+n.Addr()+"/poll?channel=news.a&timeout=0s&token="+heraldtest.TokenWith(t, good, auth.Claims{Sub: "alice"}), nil); got.Status != http.StatusOK {
		t.Fatalf("a good RS256 token: %d %s", got.Status, got.Body)
	}
	forged := heraldtest.TokenWith(t, auth.NewHMACSigner(string(pemBytes)), auth.Claims{Sub: "mallory"})
	enc := base64.RawURLEncoding.EncodeToString
	none := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"mallory","exp":9999999999}`)) + "."
	for name, tok := range map[string]string{"HS256 with the public key": forged, "alg none": none} {
		got := heraldtest.Refusal(t, "http://"+n.Addr()+"/sse?channel=news.a&token="+tok, nil)
		if got.Status != http.StatusUnauthorized || got.Reason != auth.ReasonBadSignature {
			t.Errorf("%s: %d %s", name, got.Status, got.Body)
		}
	}
}

// TestJWKSOutageKeepsConnectedClients: a node verifying with a JWKS keeps
// its clients, and accepts tokens of keys it fetched before, while the
// JWKS server is down.
func TestJWKSOutageKeepsConnectedClients(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := jwkset.NewJWKFromKey(&key.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgES256}})
	body, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})
	var mu sync.Mutex
	down, fetches := false, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fetches++
		if down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	n, logs := authNode(t, "jwks-down", func(c *config.Config) {
		c.TokenSecret = ""
		c.TokenJWKSURL = srv.URL
		c.TokenJWKSRefresh = time.Second
	})
	signer, _ := auth.NewKeySigner(key)
	signer.KeyID = "k1"
	tok := heraldtest.TokenWith(t, signer, auth.Claims{Sub: "alice"})
	var ws *heraldtest.WS
	heraldtest.Eventually(t, 10*time.Second, "the first JWKS fetch", func() bool {
		c, err := heraldtest.TryDialWSQuery(n.Addr(), "token="+tok, nil)
		if err == nil {
			ws = c.Bind(t)
		}
		return err == nil
	})
	ws.Subscribe("news.j")

	mu.Lock()
	down, seen := true, fetches
	mu.Unlock()
	heraldtest.Eventually(t, 10*time.Second, "two failed refreshes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return fetches >= seen+2
	})
	heraldtest.MustPublish(t, n.Addr(), "news.j", `"still"`)
	if m := ws.Message(5 * time.Second); string(m.Data) != `"still"` {
		t.Fatalf("got %s", m.Data)
	}
	heraldtest.DialWSQuery(t, n.Addr(), "token="+tok, nil).Subscribe("news.j")
	logs.WaitFor(t, "cannot fetch the token JWKS", 5*time.Second)
}

// TestLongPollPreflightLetsAllowedPagesSendATokenHeader: a browser that
// sends its token as an Authorization header first asks with OPTIONS;
// pages of allowed origins are let, others refused.
func TestLongPollPreflightLetsAllowedPagesSendATokenHeader(t *testing.T) {
	n, _ := authNode(t, "preflight", func(c *config.Config) { c.AllowedOrigins = []string{"https://app.example"} })
	ask := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, "http://"+n.Addr()+"/poll?channel=news.a", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ok := ask("https://app.example")
	if ok.StatusCode != http.StatusNoContent || ok.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || ok.Header.Get("Access-Control-Allow-Headers") != "Authorization" {
		t.Fatalf("allowed origin: %d %v", ok.StatusCode, ok.Header)
	}
	if bad := ask("https://evil.example"); bad.StatusCode != http.StatusForbidden || bad.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin: %d %v", bad.StatusCode, bad.Header)
	}
}
