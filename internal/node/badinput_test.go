package node_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/heraldrt/herald/internal/api"
	"github.com/heraldrt/herald/internal/heraldtest"
	"github.com/heraldrt/herald/internal/history"
	"github.com/heraldrt/herald/internal/metrics"
)

// Bad input from every side: the publish API, WebSocket commands and
// frames, origins, SSE and long-poll requests. Each case checks the status
// and the stable error code a client can match on, and that nothing turns
// into a 500 or hurts other clients.

// badCall is one HTTP request and the answer it must get. code "" means
// success.
type badCall struct {
	name   string
	method string
	path   string
	body   string
	hdr    http.Header
	status int
	code   string
}

// badDo sends a request and returns the status, the code of a JSON error
// body ("" if the body is not one) and the body. A 5xx fails the test. A
// POST says its body is JSON unless hdr sets Content-Type (to "": none);
// a Host header in hdr is sent as the request's Host.
func badDo(t *testing.T, method, url string, body io.Reader, hdr http.Header) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if v := req.Header.Get("Content-Type"); v == "" {
		req.Header.Del("Content-Type")
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
		req.Header.Del("Host")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	var e struct {
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == nil {
		return resp.StatusCode, "", b
	}
	if e.Error.Message == "" {
		t.Errorf("%s %s: error %s without a message", method, url, e.Error.Code)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: error with Content-Type %q", method, url, ct)
	}
	return resp.StatusCode, e.Error.Code, b
}

func (c badCall) check(t *testing.T, addr string) {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	status, code, b := badDo(t, method, "http://"+addr+c.path, body, c.hdr)
	if status != c.status || code != c.code {
		t.Errorf("%s: %d %s (%.200s), want %d %s", c.name, status, code, b, c.status, c.code)
	}
	if c.code == "" && c.status == http.StatusOK && strings.HasPrefix(c.path, "/api/") && string(b) != "{}\n" {
		t.Errorf("%s: success body %q", c.name, b)
	}
}

func badJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestBadInputPublishAPI(t *testing.T) {
	cfg := heraldtest.Config("bad-api")
	cfg.MaxMessageBytes = 1024
	n := heraldtest.StartNode(t, cfg)

	str := func(n int) string { return `"` + strings.Repeat("x", n-2) + `"` } // a JSON string of n bytes
	pub := func(channel any, data string) string {
		return `{"channel":` + badJSON(channel) + `,"data":` + data + `}`
	}
	const (
		ok       = http.StatusOK
		bad      = http.StatusBadRequest
		badReq   = "bad_request"
		badChan  = "invalid_channel"
		tooLarge = "message_too_large"
	)
	many := make([]string, 1025)
	for i := range many {
		many[i] = fmt.Sprintf("c%d", i)
	}
	tests := []badCall{
		{name: "good publish", path: "/api/publish", body: pub("a", `{"x":1}`), status: ok},
		{name: "null data is data", path: "/api/publish", body: pub("a", `null`), status: ok},
		{name: "data at the limit", path: "/api/publish", body: pub("a", str(1024)), status: ok},
		{name: "good broadcast", path: "/api/broadcast", body: `{"channels":["a","b.c"],"data":1}`, status: ok},

		// Idempotency keys: only on channels with history (this node has none), and well formed.
		{name: "key on a plain channel", path: "/api/publish", body: `{"channel":"a","data":1,"idempotency_key":"k1"}`, status: bad, code: badReq},
		{name: "key with a space", path: "/api/publish", body: `{"channel":"a","data":1,"idempotency_key":"k 1"}`, status: bad, code: badReq},
		{name: "key too long", path: "/api/publish", body: `{"channel":"a","data":1,"idempotency_key":"` + strings.Repeat("k", 201) + `"}`, status: bad, code: badReq},
		{name: "key not a string", path: "/api/publish", body: `{"channel":"a","data":1,"idempotency_key":5}`, status: bad, code: badReq},
		{name: "key on a broadcast of plain channels", path: "/api/broadcast", body: `{"channels":["a"],"data":1,"idempotency_key":"k1"}`, status: bad, code: badReq},

		// Not one JSON object.
		{name: "empty body", path: "/api/publish", status: bad, code: badReq},
		{name: "white space body", path: "/api/publish", body: " \n\t ", status: bad, code: badReq},
		{name: "bad JSON", path: "/api/publish", body: `{"channel":"a","data":`, status: bad, code: badReq},
		{name: "not JSON", path: "/api/publish", body: `channel=a&data=1`, status: bad, code: badReq},
		{name: "JSON array", path: "/api/publish", body: `[{"channel":"a","data":1}]`, status: bad, code: badReq},
		{name: "JSON string", path: "/api/publish", body: `"a"`, status: bad, code: badReq},
		{name: "JSON null", path: "/api/publish", body: `null`, status: bad, code: badReq},
		{name: "trailing garbage", path: "/api/publish", body: pub("a", "1") + `x`, status: bad, code: badReq},
		{name: "two objects", path: "/api/publish", body: pub("a", "1") + pub("b", "2"), status: bad, code: badReq},
		{name: "invalid data", path: "/api/publish", body: `{"channel":"a","data":{x:1}}`, status: bad, code: badReq},
		{name: "too deep data", path: "/api/publish", body: pub("a", strings.Repeat("[", 10001)+strings.Repeat("]", 10001)), status: bad, code: badReq},
		{name: "broadcast array", path: "/api/broadcast", body: `[]`, status: bad, code: badReq},
		{name: "broadcast empty body", path: "/api/broadcast", status: bad, code: badReq},

		// Missing fields.
		{name: "missing channel", path: "/api/publish", body: `{"data":1}`, status: bad, code: badChan},
		{name: "missing data", path: "/api/publish", body: `{"channel":"a"}`, status: bad, code: badReq},
		{name: "empty object", path: "/api/publish", body: `{}`, status: bad, code: badReq},
		{name: "broadcast missing channels", path: "/api/broadcast", body: `{"data":1}`, status: bad, code: badChan},
		{name: "broadcast empty channels", path: "/api/broadcast", body: `{"channels":[],"data":1}`, status: bad, code: badChan},
		{name: "broadcast null channels", path: "/api/broadcast", body: `{"channels":null,"data":1}`, status: bad, code: badChan},
		{name: "broadcast missing data", path: "/api/broadcast", body: `{"channels":["a"]}`, status: bad, code: badReq},
		{name: "broadcast too many channels", path: "/api/broadcast", body: `{"channels":` + badJSON(many) + `,"data":1}`, status: bad, code: badReq},

		// Wrong field types.
		{name: "channel number", path: "/api/publish", body: `{"channel":1,"data":1}`, status: bad, code: badReq},
		{name: "channel array", path: "/api/publish", body: `{"channel":["a"],"data":1}`, status: bad, code: badReq},
		{name: "channel object", path: "/api/publish", body: `{"channel":{},"data":1}`, status: bad, code: badReq},
		{name: "broadcast channels string", path: "/api/broadcast", body: `{"channels":"a","data":1}`, status: bad, code: badReq},
		{name: "broadcast channels numbers", path: "/api/broadcast", body: `{"channels":[1,2],"data":1}`, status: bad, code: badReq},

		// Size.
		{name: "data over the limit", path: "/api/publish", body: pub("a", str(1025)), status: bad, code: tooLarge},
		{name: "broadcast data over the limit", path: "/api/broadcast", body: `{"channels":["a"],"data":` + str(1025) + `}`, status: bad, code: tooLarge},
		{name: "body over the limit", path: "/api/publish", body: pub("a", str(1024+64<<10+10)), status: bad, code: tooLarge},
		{name: "body far over the limit", path: "/api/publish", body: pub("a", str(8<<20)), status: bad, code: tooLarge},
		{name: "padding over the limit", path: "/api/publish", body: pub("a", "1") + strings.Repeat(" ", 2<<20), status: bad, code: tooLarge},

		// Endpoints and methods.
		{name: "GET publish", method: http.MethodGet, path: "/api/publish", status: http.StatusMethodNotAllowed, code: "method_not_allowed"},
		{name: "PUT publish", method: http.MethodPut, path: "/api/publish", body: pub("a", "1"), status: http.StatusMethodNotAllowed, code: "method_not_allowed"},
		{name: "DELETE broadcast", method: http.MethodDelete, path: "/api/broadcast", status: http.StatusMethodNotAllowed, code: "method_not_allowed"},
		{name: "unknown endpoint", path: "/api/x", body: pub("a", "1"), status: http.StatusNotFound, code: "not_found"},
		{name: "unknown endpoint GET", method: http.MethodGet, path: "/api/x", status: http.StatusNotFound, code: "not_found"},
		{name: "API root", method: http.MethodGet, path: "/api/", status: http.StatusNotFound, code: "not_found"},
		{name: "publish subpath", path: "/api/publish/x", body: pub("a", "1"), status: http.StatusNotFound, code: "not_found"},
	}
	// Invalid channels, through publish and through broadcast.
	for _, ch := range []string{
		"", "a*b", "*", "a.*", ">", "a.>", "$SYS.REQ", "$JS.API.INFO", "a$b", "a b", " a", "a\tb", "a\nb",
		"a\x00b", "a\x01b", "a\x7fb", ".a", "a.", "a..b", "ünï", strings.Repeat("x", 256),
	} {
		tests = append(tests,
			badCall{name: fmt.Sprintf("publish to %q", badShort(ch)), path: "/api/publish", body: pub(ch, "1"), status: bad, code: badChan},
			badCall{name: fmt.Sprintf("broadcast to %q", badShort(ch)), path: "/api/broadcast", body: `{"channels":["ok",` + badJSON(ch) + `],"data":1}`, status: bad, code: badChan},
		)
	}
	for _, tt := range tests {
		tt.check(t, n.Addr())
	}
	// The longest valid channel is fine.
	badCall{name: "255-byte channel", path: "/api/publish", body: pub(strings.Repeat("x", 255), "1"), status: ok}.check(t, n.Addr())

	// A refused broadcast publishes nothing, not even to its valid channels.
	c := heraldtest.DialWS(t, n.Addr(), nil)
	c.Subscribe("ok")
	badCall{name: "broadcast with one bad channel", path: "/api/broadcast", body: `{"channels":["ok","a*"],"data":"no"}`, status: bad, code: badChan}.check(t, n.Addr())
	heraldtest.MustPublish(t, n.Addr(), "ok", `"yes"`)
	if f := c.Message(5 * time.Second); string(f.Data) != `"yes"` {
		t.Fatalf("subscriber got %s: a refused broadcast was partly published", f.Data)
	}
}

func TestBadInputAPIKey(t *testing.T) {
	cfg := heraldtest.Config("bad-key")
	cfg.APIKey = "s3cret-key"
	n := heraldtest.StartNode(t, cfg)
	body := `{"channel":"a","data":1}`
	auth := func(v string) http.Header { return http.Header{"Authorization": {v}} }
	tests := []badCall{
		{name: "missing key", status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "empty bearer", hdr: auth("Bearer "), status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "wrong key", hdr: auth("Bearer wrong"), status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "key prefix", hdr: auth("Bearer s3cret"), status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "key plus more", hdr: auth("Bearer s3cret-key2"), status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "scheme glued to key", hdr: auth("Bearers3cret-key"), status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "no scheme", hdr: auth("s3cret-key"), status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "basic scheme", hdr: auth("Basic s3cret-key"), status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "key in another header", hdr: http.Header{"X-Api-Key": {"s3cret-key"}}, status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "right key", hdr: auth("Bearer s3cret-key"), status: http.StatusOK},
		// The scheme is not case-sensitive, and may be followed by several spaces.
		{name: "lower-case scheme", hdr: auth("bearer s3cret-key"), status: http.StatusOK},
		{name: "upper-case scheme", hdr: auth("BEARER s3cret-key"), status: http.StatusOK},
		{name: "two spaces", hdr: auth("Bearer  s3cret-key"), status: http.StatusOK},
	}
	for _, path := range []string{"/api/publish", "/api/broadcast"} {
		b := body
		if path == "/api/broadcast" {
			b = `{"channels":["a"],"data":1}`
		}
		for _, tt := range tests {
			tt.name, tt.path, tt.body = path+": "+tt.name, path, b
			tt.check(t, n.Addr())
		}
	}
	// A refused caller learns nothing about its body, and is told how to
	// authenticate.
	status, code, _ := badDo(t, http.MethodPost, "http://"+n.Addr()+"/api/publish", strings.NewReader("garbage"), nil)
	if status != http.StatusUnauthorized || code != "unauthorized" {
		t.Errorf("bad body without key: %d %s, want 401 unauthorized", status, code)
	}
	resp, err := http.Post("http://"+n.Addr()+"/api/publish", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
		t.Errorf("401 without a Bearer WWW-Authenticate challenge: %q", h)
	}
	// With the right key a bad body gets its own error.
	badCall{name: "right key, bad body", path: "/api/publish", body: `{"channel":"a*","data":1}`,
		hdr: auth("Bearer s3cret-key"), status: http.StatusBadRequest, code: "invalid_channel"}.check(t, n.Addr())
}

// TestBadInputAPILoopbackCheck runs the API handler on requests whose
// RemoteAddr says where they came from. httptest.NewRecorder stands in for
// the network here (a test double: these peer addresses cannot all be
// produced by real sockets on this host); the publisher is a real node's
// NATS connection.
func TestBadInputAPILoopbackCheck(t *testing.T) {
	n := heraldtest.StartNode(t, heraldtest.Config("bad-loopback"))
	mux := http.NewServeMux()
	api.New(api.Options{
		MaxMessageBytes: 1024, MaxChannelLength: 255,
		Publisher: &history.Router{Bus: n.Bus()}, Metrics: metrics.New(metrics.Sources{}),
	}).Register(mux)
	tests := []struct {
		remote string
		status int
	}{
		{"127.0.0.1:40000", http.StatusOK},
		{"127.8.9.10:40000", http.StatusOK},
		{"[::1]:40000", http.StatusOK},
		{"[::ffff:127.0.0.1]:40000", http.StatusOK},
		{"192.0.2.7:40000", http.StatusForbidden},
		{"10.0.0.1:40000", http.StatusForbidden},
		{"[2001:db8::1]:40000", http.StatusForbidden},
		{"[::ffff:10.0.0.1]:40000", http.StatusForbidden},
		{"0.0.0.0:40000", http.StatusForbidden},
		{"127.0.0.1", http.StatusForbidden}, // no port: not understood, so not trusted
		{"localhost:40000", http.StatusForbidden},
		{"", http.StatusForbidden},
		{"garbage", http.StatusForbidden},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/api/publish", strings.NewReader(`{"channel":"a","data":1}`))
		r.Host = "localhost:8080"
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = tt.remote
		r.Header.Set("X-Forwarded-For", "127.0.0.1")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("RemoteAddr %q: %d %s, want %d", tt.remote, w.Code, w.Body, tt.status)
		}
		if tt.status == http.StatusForbidden && !strings.Contains(w.Body.String(), `"code":"forbidden"`) {
			t.Errorf("RemoteAddr %q: body %s, want code forbidden", tt.remote, w.Body)
		}
	}
}

// TestBadInputAPICrossSite sends the requests a page on another site,
// open in a browser on the node's machine, can make: form posts and
// text/plain bodies need no preflight, and DNS rebinding reaches the node
// under the attacker's host name. A keyless API refuses them all, while
// the node's own pages and local backends get through.
func TestBadInputAPICrossSite(t *testing.T) {
	t.Parallel()
	cfg := heraldtest.Config("cross-site")
	cfg.Ping = true
	keyless := heraldtest.StartNode(t, cfg).Addr()
	keyed := heraldtest.Config("cross-site-key")
	keyed.APIKey = "k3y"
	withKey := heraldtest.StartNode(t, keyed).Addr()
	_, port, _ := net.SplitHostPort(keyless)
	pub := `{"channel":"a","data":1}`
	h := func(kv ...string) http.Header {
		hdr := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			hdr[kv[i]] = []string{kv[i+1]}
		}
		return hdr
	}
	const forbidden, media = "forbidden", "unsupported_media_type"
	tests := []struct {
		name, addr, method, path, body string
		hdr                            http.Header
		status                         int
		code                           string
	}{
		{"text/plain from another site", keyless, "POST", "/api/publish", pub, h("Content-Type", "text/plain", "Origin", "https://evil.example"), 403, forbidden},
		{"text/plain without origin", keyless, "POST", "/api/publish", pub, h("Content-Type", "text/plain"), 415, media},
		{"form post", keyless, "POST", "/api/publish", pub, h("Content-Type", "application/x-www-form-urlencoded"), 415, media},
		{"multipart post", keyless, "POST", "/api/broadcast", pub, h("Content-Type", "multipart/form-data; boundary=x"), 415, media},
		{"no content type", keyless, "POST", "/api/publish", pub, h("Content-Type", ""), 415, media},
		{"JSON from another site", keyless, "POST", "/api/publish", pub, h("Origin", "https://evil.example"), 403, forbidden},
		{"origin null", keyless, "POST", "/api/publish", pub, h("Origin", "null"), 403, forbidden},
		{"DNS rebinding", keyless, "POST", "/api/publish", pub, h("Host", "evil.example:"+port, "Origin", "http://evil.example:"+port), 403, forbidden},
		{"DNS rebinding without origin", keyless, "POST", "/api/publish", pub, h("Host", "evil.example:"+port), 403, forbidden},
		{"rebinding a history read", keyless, "GET", "/api/history?channel=a", "", h("Host", "evil.example:"+port), 403, forbidden},
		{"ping from another site", keyless, "POST", "/ping", "", h("Origin", "https://evil.example"), 403, forbidden},
		{"same-origin page", keyless, "POST", "/api/publish", pub, h("Host", "localhost:"+port, "Origin", "http://localhost:"+port), 200, ""},
		{"same-origin ping", keyless, "POST", "/ping", "", h("Host", "localhost:"+port, "Origin", "http://localhost:"+port), 200, ""},
		{"local backend", keyless, "POST", "/api/publish", pub, nil, 200, ""},
		{"JSON with charset", keyless, "POST", "/api/publish", pub, h("Content-Type", "application/json; charset=utf-8"), 200, ""},
		{"JSON in capitals", keyless, "POST", "/api/publish", pub, h("Content-Type", "Application/JSON"), 200, ""},
		{"a name under localhost", keyless, "POST", "/api/publish", pub, h("Host", "herald.localhost:"+port), 200, ""},
		{"IPv6 loopback name", keyless, "POST", "/api/publish", pub, h("Host", "[::1]:"+port), 200, ""},
		// With a key, any host name, but still no other site's pages.
		{"key, any host", withKey, "POST", "/api/publish", pub, h("Authorization", "Bearer k3y", "Host", "herald.example.com"), 200, ""},
		{"key, another site", withKey, "POST", "/api/publish", pub, h("Authorization", "Bearer k3y", "Origin", "https://evil.example"), 403, forbidden},
		{"key, text/plain", withKey, "POST", "/api/publish", pub, h("Authorization", "Bearer k3y", "Content-Type", "text/plain"), 415, media},
	}
	for _, tt := range tests {
		var body io.Reader
		if tt.body != "" {
			body = strings.NewReader(tt.body)
		}
		status, code, b := badDo(t, tt.method, "http://"+tt.addr+tt.path, body, tt.hdr)
		if status != tt.status || code != tt.code {
			t.Errorf("%s: %d %s %s, want %d %s", tt.name, status, code, b, tt.status, tt.code)
		}
	}
}

// TestBadInputAPIInvalidUTF8Data publishes data that is valid JSON syntax
// but not UTF-8. WebSocket messages are text frames, which must be UTF-8:
// browsers fail the connection on such a heraldtest.Frame (close 1007).
func TestBadInputAPIInvalidUTF8Data(t *testing.T) {
	n := heraldtest.StartNode(t, heraldtest.Config("bad-utf8"))
	c := heraldtest.DialWS(t, n.Addr(), nil)
	c.Subscribe("u")
	for _, data := range []string{"\"\xff\"", "\"a\xc3\"", "{\"k\xfe\":1}", "\"\xed\xa0\x80\""} {
		status, code, b := badDo(t, http.MethodPost, "http://"+n.Addr()+"/api/publish",
			strings.NewReader(`{"channel":"u","data":`+data+`}`), nil)
		if status != http.StatusBadRequest || code != "bad_request" {
			t.Errorf("data %q: %d %s %s, want 400 bad_request", data, status, code, b)
		}
	}
	heraldtest.MustPublish(t, n.Addr(), "u", `"fine"`)
	b := c.RawMessage(5 * time.Second)
	if !utf8.Valid(b) {
		t.Fatalf("WebSocket text heraldtest.Frame is not UTF-8: %q", b)
	}
	if !bytes.Contains(b, []byte(`"fine"`)) {
		t.Fatalf("first message %q, want the good one", b)
	}
}

// badWSCase is a command heraldtest.Frame and the reply it must get.
type badWSCase struct {
	name  string
	frame string
	id    uint64 // id of the reply
	code  string // "" for success
}

func (tt badWSCase) check(t *testing.T, c *heraldtest.WS) {
	t.Helper()
	c.SendText(tt.frame)
	r := c.ReplyTo(tt.id)
	switch {
	case tt.code == "" && r.Error != nil:
		t.Errorf("%s: error %s (%s)", tt.name, r.Error.Code, r.Error.Message)
	case tt.code != "" && r.Error == nil:
		t.Errorf("%s: success, want %s", tt.name, tt.code)
	case tt.code != "" && (r.Error.Code != tt.code || r.Error.Message == ""):
		t.Errorf("%s: %s (%s), want %s", tt.name, r.Error.Code, r.Error.Message, tt.code)
	}
	// The connection still works.
	if p := c.Command("ping", "", ""); p.Error != nil {
		t.Fatalf("%s: ping after it: %+v", tt.name, p.Error)
	}
}

func TestBadInputWebSocketCommands(t *testing.T) {
	cfg := heraldtest.Config("bad-ws")
	cfg.MaxSubscriptions = 3
	cfg.MaxMessageBytes = 1024
	n := heraldtest.StartNode(t, cfg)
	c := heraldtest.DialWS(t, n.Addr(), nil)
	c.NextID = 1000 // the table's ids stay below this

	// ping gets the plain reply, nothing more.
	c.SendText(`{"id":1,"op":"ping"}`)
	if b, err := c.Raw(5 * time.Second); err != nil || string(b) != `{"op":"reply","id":1}` {
		t.Fatalf("ping reply %q, %v", b, err)
	}

	tests := []badWSCase{
		// No readable id: the reply has id 0.
		{"not JSON", `hello`, 0, "bad_request"},
		{"empty", ``, 0, "bad_request"},
		{"truncated", `{"id":2,"op":"pi`, 0, "bad_request"},
		{"array", `[{"id":2,"op":"ping"}]`, 0, "bad_request"},
		{"string", `"ping"`, 0, "bad_request"},
		{"number", `42`, 0, "bad_request"},
		{"null", `null`, 0, "bad_request"},
		{"missing id", `{"op":"ping"}`, 0, "bad_request"},
		{"id 0", `{"id":0,"op":"ping"}`, 0, "bad_request"},
		{"negative id", `{"id":-3,"op":"ping"}`, 0, "bad_request"},
		{"fractional id", `{"id":2.5,"op":"ping"}`, 0, "bad_request"},
		{"id as string", `{"id":"2","op":"ping"}`, 0, "bad_request"},
		{"id over uint64", `{"id":18446744073709551616,"op":"ping"}`, 0, "bad_request"},
		{"unbalanced data", `{"id":2,"op":"publish","channel":"c","data":` + strings.Repeat("[", 1000) + `}`, 0, "bad_request"},

		// A readable id is answered.
		{"missing op", `{"id":3}`, 3, "unknown_op"},
		{"empty op", `{"id":4,"op":""}`, 4, "unknown_op"},
		{"unknown op", `{"id":5,"op":"dance"}`, 5, "unknown_op"},
		{"server op", `{"id":6,"op":"message","channel":"a","data":1}`, 6, "unknown_op"},
		{"op number", `{"id":7,"op":7}`, 7, "bad_request"},
		{"channel number", `{"id":8,"op":"subscribe","channel":8}`, 8, "bad_request"},
		{"subscribe without channel", `{"id":9,"op":"subscribe"}`, 9, "invalid_channel"},
		{"subscribe star", `{"id":10,"op":"subscribe","channel":"a*b"}`, 10, "invalid_channel"},
		{"subscribe wildcard", `{"id":11,"op":"subscribe","channel":"chat.>"}`, 11, "invalid_channel"},
		{"subscribe token wildcard", `{"id":12,"op":"subscribe","channel":"chat.*"}`, 12, "invalid_channel"},
		{"subscribe $SYS", `{"id":13,"op":"subscribe","channel":"$SYS.REQ.SERVER.PING"}`, 13, "invalid_channel"},
		{"subscribe $JS", `{"id":14,"op":"subscribe","channel":"$JS.API.INFO"}`, 14, "invalid_channel"},
		{"subscribe space", `{"id":15,"op":"subscribe","channel":"a b"}`, 15, "invalid_channel"},
		{"subscribe control", `{"id":16,"op":"subscribe","channel":"a\u0001b"}`, 16, "invalid_channel"},
		{"subscribe empty token", `{"id":17,"op":"subscribe","channel":"a..b"}`, 17, "invalid_channel"},
		{"subscribe too long", `{"id":18,"op":"subscribe","channel":"` + strings.Repeat("x", 256) + `"}`, 18, "invalid_channel"},
		{"unsubscribe unknown", `{"id":19,"op":"unsubscribe","channel":"never"}`, 19, "not_subscribed"},
		{"unsubscribe invalid", `{"id":20,"op":"unsubscribe","channel":"a.>"}`, 20, "invalid_channel"},
		{"publish not allowed", `{"id":21,"op":"publish","channel":"news","data":1}`, 21, "forbidden"},
		{"publish without data", `{"id":22,"op":"publish","channel":"news"}`, 22, "bad_request"},
		{"publish invalid channel", `{"id":23,"op":"publish","channel":"$SYS.x","data":1}`, 23, "invalid_channel"},
		{"duplicate keys: last wins", `{"id":1,"op":"dance","id":24,"op":"ping"}`, 24, ""},

		// History: since and the history command.
		{"since a number", `{"id":40,"op":"subscribe","channel":"h","since":5}`, 40, "bad_request"},
		{"since empty", `{"id":41,"op":"subscribe","channel":"h","since":{}}`, 41, "bad_request"},
		{"since both forms", `{"id":42,"op":"subscribe","channel":"h","since":{"epoch":"e","offset":1,"rewind":2}}`, 42, "bad_request"},
		{"since rewind 0", `{"id":43,"op":"subscribe","channel":"h","since":{"rewind":0}}`, 43, "bad_request"},
		{"since negative offset", `{"id":44,"op":"subscribe","channel":"h","since":{"epoch":"e","offset":-1}}`, 44, "bad_request"},
		{"since bad epoch", `{"id":45,"op":"subscribe","channel":"h","since":{"epoch":"a:b","offset":1}}`, 45, "bad_request"},
		{"since epoch too long", `{"id":46,"op":"subscribe","channel":"h","since":{"epoch":"` + strings.Repeat("e", 40) + `","offset":1}}`, 46, "bad_request"},
		{"history without channel", `{"id":47,"op":"history"}`, 47, "invalid_channel"},
		{"history negative limit", `{"id":48,"op":"history","channel":"h","limit":-1}`, 48, "bad_request"},
		{"history since a string", `{"id":49,"op":"history","channel":"h","since":"5"}`, 49, "bad_request"},
		{"history of a channel without history", `{"id":50,"op":"history","channel":"h"}`, 50, "no_history"},
		{"history of Herald's own channel", `{"id":52,"op":"history","channel":"_herald.nodes"}`, 52, "forbidden"},
		{"history invalid channel", `{"id":51,"op":"history","channel":"h.>"}`, 51, "invalid_channel"},
	}
	for _, tt := range tests {
		tt.check(t, c)
	}

	// Subscription state.
	for _, tt := range []badWSCase{
		{"subscribe s1", `{"id":30,"op":"subscribe","channel":"s1"}`, 30, ""},
		{"subscribe s1 again", `{"id":31,"op":"subscribe","channel":"s1"}`, 31, "already_subscribed"},
		{"subscribe s2", `{"id":32,"op":"subscribe","channel":"s2"}`, 32, ""},
		{"subscribe s3", `{"id":33,"op":"subscribe","channel":"s3"}`, 33, ""},
		{"subscribe s4: over the limit", `{"id":34,"op":"subscribe","channel":"s4"}`, 34, "too_many_subscriptions"},
		{"subscribe s1 again when full", `{"id":35,"op":"subscribe","channel":"s1"}`, 35, "already_subscribed"},
		{"unsubscribe s3", `{"id":36,"op":"unsubscribe","channel":"s3"}`, 36, ""},
		{"unsubscribe s3 again", `{"id":37,"op":"unsubscribe","channel":"s3"}`, 37, "not_subscribed"},
		{"subscribe s4 with room", `{"id":38,"op":"subscribe","channel":"s4"}`, 38, ""},
		{"subscribe s5: over the limit", `{"id":39,"op":"subscribe","channel":"s5"}`, 39, "too_many_subscriptions"},
	} {
		tt.check(t, c)
	}

	// After all that, messages still arrive on what the connection holds,
	// and only there.
	heraldtest.MustPublish(t, n.Addr(), "s3", `"gone"`)
	heraldtest.MustPublish(t, n.Addr(), "s5", `"never"`)
	heraldtest.MustPublish(t, n.Addr(), "s4", `"four"`)
	heraldtest.MustPublish(t, n.Addr(), "s1", `"one"`)
	// Channels are delivered independently: any order.
	got := map[string]string{}
	for range 2 {
		f := c.Message(5 * time.Second)
		got[f.Channel] = string(f.Data)
	}
	if len(got) != 2 || got["s4"] != `"four"` || got["s1"] != `"one"` {
		t.Fatalf("got %v, want s4 and s1 only", got)
	}
	if got := heraldtest.Metric(t, n.Addr(), "herald_subscriptions"); got != 3 {
		t.Errorf("herald_subscriptions = %v, want 3", got)
	}
}

// TestBadInputWebSocketFragments checks that a command split over
// fragments, with a ping between them, is put together.
func TestBadInputWebSocketFragments(t *testing.T) {
	n := heraldtest.StartNode(t, heraldtest.Config("bad-frag"))
	c := heraldtest.DialWS(t, n.Addr(), nil)
	for _, f := range []ws.Frame{
		ws.NewFrame(ws.OpText, false, []byte(`{"id":7,`)),
		ws.NewPingFrame([]byte("mid")),
		ws.NewFrame(ws.OpContinuation, false, []byte(`"op":`)),
		ws.NewFrame(ws.OpContinuation, true, []byte(`"ping"}`)),
	} {
		if err := ws.WriteFrame(c.Conn, ws.MaskFrame(f)); err != nil {
			t.Fatal(err)
		}
	}
	if r := c.ReplyTo(7); r.Error != nil {
		t.Fatalf("fragmented ping: %+v", r.Error)
	}
}

func TestBadInputWebSocketClientPublish(t *testing.T) {
	cfg := heraldtest.Config("bad-pub")
	cfg.ClientPublish = []string{"chat.>"}
	cfg.MaxMessageBytes = 1024
	n := heraldtest.StartNode(t, cfg)
	sub := heraldtest.DialWS(t, n.Addr(), nil)
	sub.Subscribe("chat.room")
	p := heraldtest.DialWS(t, n.Addr(), nil)
	p.NextID = 1000

	data := `{"text": "hi \u00e9", "n": [1.50, 2e3]}`
	if r := p.Command("publish", "chat.room", data); r.Error != nil {
		t.Fatalf("allowed publish: %+v", r.Error)
	}
	if f := sub.Message(5 * time.Second); f.Channel != "chat.room" || string(f.Data) != data {
		t.Fatalf("subscriber got %s on %s, want %s", f.Data, f.Channel, data)
	}

	big := `"` + strings.Repeat("x", 1023) + `"` // 1025 bytes: over the limit, under the read limit
	for _, tt := range []badWSCase{
		{"publish to the pattern root", `{"id":1,"op":"publish","channel":"chat","data":1}`, 1, "forbidden"},
		{"publish elsewhere", `{"id":2,"op":"publish","channel":"news","data":1}`, 2, "forbidden"},
		{"publish to a lookalike", `{"id":3,"op":"publish","channel":"chatter.room","data":1}`, 3, "forbidden"},
		{"publish to a wildcard", `{"id":4,"op":"publish","channel":"chat.*","data":1}`, 4, "invalid_channel"},
		{"publish to the pattern", `{"id":5,"op":"publish","channel":"chat.>","data":1}`, 5, "invalid_channel"},
		{"publish too much", `{"id":6,"op":"publish","channel":"chat.room","data":` + big + `}`, 6, "message_too_large"},
		{"publish deeper", `{"id":7,"op":"publish","channel":"chat.room.private","data":"deep"}`, 7, ""},
		{"publish null", `{"id":8,"op":"publish","channel":"chat.room","data":null}`, 8, ""},
	} {
		tt.check(t, p)
	}
	// Only the null reaches chat.room; nothing refused was sent.
	if f := sub.Message(5 * time.Second); string(f.Data) != "null" {
		t.Fatalf("subscriber got %s, want null", f.Data)
	}
}

// writeRawFrame writes a heraldtest.Frame as a client, masking it unless told not to.
func writeRawFrame(t *testing.T, conn net.Conn, h ws.Header, payload []byte) {
	t.Helper()
	h.Length = int64(len(payload))
	p := append([]byte(nil), payload...)
	if h.Masked {
		h.Mask = ws.NewMask()
		ws.Cipher(p, h.Mask, 0)
	}
	if err := ws.WriteHeader(conn, h); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(p); err != nil {
		t.Fatal(err)
	}
}

func TestBadInputWebSocketEndsConnection(t *testing.T) {
	cfg := heraldtest.Config("bad-end")
	cfg.MaxMessageBytes = 1024 // read limit: 1024 + 255 (longest channel) + 1024 command overhead
	n := heraldtest.StartNode(t, cfg)
	good := heraldtest.DialWS(t, n.Addr(), nil)
	good.Subscribe("live")

	text := func(fin bool) ws.Header { return ws.Header{Fin: fin, OpCode: ws.OpText, Masked: true} }
	tests := []struct {
		name   string
		send   func(t *testing.T, conn net.Conn)
		code   int
		reason string // part of the disconnect reason
	}{
		{"binary frame", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true}, []byte(`{"id":1,"op":"ping"}`))
		}, 3500, "binary"},
		{"not UTF-8", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, text(true), []byte("{\"id\":1,\"op\":\"\xff\xfe\"}"))
		}, 3500, "UTF-8"},
		{"UTF-8 broken across fragments", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, text(false), []byte("\"\xc3"))
			writeRawFrame(t, conn, ws.Header{Fin: true, OpCode: ws.OpContinuation, Masked: true}, []byte("(\""))
		}, 3500, "UTF-8"},
		{"frame over the read limit", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, text(true), bytes.Repeat([]byte("x"), 4096))
		}, 3502, "too big"},
		{"frame just over the read limit", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, text(true), bytes.Repeat([]byte("x"), 1024+255+1024+1))
		}, 3502, "too big"},
		{"fragments over the read limit", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, text(false), bytes.Repeat([]byte("x"), 1000))
			writeRawFrame(t, conn, ws.Header{OpCode: ws.OpContinuation, Masked: true}, bytes.Repeat([]byte("x"), 1000))
			writeRawFrame(t, conn, ws.Header{Fin: true, OpCode: ws.OpContinuation, Masked: true}, bytes.Repeat([]byte("x"), 1000))
		}, 3502, "too big"},
		{"unmasked frame", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, ws.Header{Fin: true, OpCode: ws.OpText}, []byte(`{"id":1,"op":"ping"}`))
		}, 3500, ""},
		{"reserved bits", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, ws.Header{Fin: true, Rsv: ws.Rsv(true, false, false), OpCode: ws.OpText, Masked: true}, []byte(`{"id":1,"op":"ping"}`))
		}, 3500, ""},
		{"reserved opcode", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, ws.Header{Fin: true, OpCode: 0x3, Masked: true}, []byte(`x`))
		}, 3500, ""},
		{"continuation without a start", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, ws.Header{Fin: true, OpCode: ws.OpContinuation, Masked: true}, []byte(`x`))
		}, 3500, ""},
		{"control heraldtest.Frame too long", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, ws.Header{Fin: true, OpCode: ws.OpPing, Masked: true}, bytes.Repeat([]byte("p"), 126))
		}, 3500, ""},
		{"fragmented control frame", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, ws.Header{OpCode: ws.OpPing, Masked: true}, []byte("p"))
		}, 3500, ""},
		{"new message inside a fragmented one", func(t *testing.T, conn net.Conn) {
			writeRawFrame(t, conn, text(false), []byte(`{"id":1,`))
			writeRawFrame(t, conn, text(true), []byte(`{"id":2,"op":"ping"}`))
		}, 3500, ""},
	}
	for i, tt := range tests {
		bad := heraldtest.DialWS(t, n.Addr(), nil)
		tt.send(t, bad.Conn)
		disc, code := bad.CloseCode(5 * time.Second)
		if code != tt.code {
			t.Errorf("%s: close code %d, want %d", tt.name, code, tt.code)
		}
		if disc.Op != "disconnect" || disc.Code != tt.code || disc.Reconnect || !strings.Contains(disc.Reason, tt.reason) {
			t.Errorf("%s: disconnect heraldtest.Frame %+v, want code %d, reconnect false, reason with %q", tt.name, disc, tt.code, tt.reason)
		}
		// The server closes the TCP connection too.
		_ = bad.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bad.Conn.Read(make([]byte, 1)); err == nil || isTimeout(err) {
			t.Errorf("%s: connection still open after the close frame: %v", tt.name, err)
		}

		// The good client is untouched.
		if r := good.Command("ping", "", ""); r.Error != nil {
			t.Fatalf("after %s: good client's ping: %+v", tt.name, r.Error)
		}
		data := fmt.Sprintf(`{"after":%d}`, i)
		heraldtest.MustPublish(t, n.Addr(), "live", data)
		if f := good.Message(5 * time.Second); string(f.Data) != data {
			t.Fatalf("after %s: good client got %s, want %s", tt.name, f.Data, data)
		}
	}
	heraldtest.Eventually(t, 5*time.Second, "bad clients released", func() bool {
		return heraldtest.Metric(t, n.Addr(), `herald_connections{transport="websocket"}`) == 1 &&
			heraldtest.Metric(t, n.Addr(), "herald_subscriptions") == 1
	})
	heraldtest.MustPublish(t, n.Addr(), "live", `"last"`)
	if f := good.Message(5 * time.Second); string(f.Data) != `"last"` {
		t.Fatalf("good client got %s at the end", f.Data)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// badUpgrade sends a WebSocket handshake by hand so that a refusal's status
// and body can be read.
func badUpgrade(t *testing.T, addr, origin string) (int, string) {
	t.Helper()
	hdr := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
	}
	if origin != "" {
		hdr.Set("Origin", origin)
	}
	status, code, _ := badDo(t, http.MethodGet, "http://"+addr+"/ws", nil, hdr)
	return status, code
}

func TestBadInputOrigin(t *testing.T) {
	const evil = "http://evil.example"
	strict := heraldtest.StartNode(t, heraldtest.Config("bad-origin"))
	cfg := heraldtest.Config("open-origin")
	cfg.AllowedOrigins = []string{evil}
	open := heraldtest.StartNode(t, cfg)

	// WebSocket.
	if status, code := badUpgrade(t, strict.Addr(), evil); status != http.StatusForbidden || code != "forbidden" {
		t.Errorf("ws from %s on a default node: %d %s, want 403 forbidden", evil, status, code)
	}
	if _, err := heraldtest.TryDialWS(strict.Addr(), http.Header{"Origin": {evil}}); err == nil {
		t.Error("ws dial from evil origin succeeded")
	} else if se := ws.StatusError(0); !errors.As(err, &se) || int(se) != http.StatusForbidden {
		t.Errorf("ws dial from evil origin: %v, want status 403", err)
	}
	if c, err := heraldtest.TryDialWS(strict.Addr(), http.Header{"Origin": {"http://" + strict.Addr()}}); err != nil {
		t.Errorf("ws from the node's own origin: %v", err)
	} else {
		c.Conn.Close()
	}
	c := heraldtest.DialWS(t, open.Addr(), http.Header{"Origin": {evil}})
	c.Subscribe("o")
	if status, code := badUpgrade(t, open.Addr(), "http://other.example"); status != http.StatusForbidden || code != "forbidden" {
		t.Errorf("ws from an unlisted origin: %d %s, want 403 forbidden", status, code)
	}

	// SSE and long-poll.
	for _, path := range []string{"/sse?channel=o", "/poll?channel=o&timeout=0s"} {
		status, code, _ := badDo(t, http.MethodGet, "http://"+strict.Addr()+path, nil, http.Header{"Origin": {evil}})
		if status != http.StatusForbidden || code != "forbidden" {
			t.Errorf("%s from %s on a default node: %d %s, want 403 forbidden", path, evil, status, code)
		}
		status, code, _ = badDo(t, http.MethodGet, "http://"+open.Addr()+path, nil, http.Header{"Origin": {"http://other.example"}})
		if status != http.StatusForbidden || code != "forbidden" {
			t.Errorf("%s from an unlisted origin: %d %s, want 403 forbidden", path, status, code)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+open.Addr()+"/sse?channel=o", nil)
	req.Header.Set("Origin", evil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("sse from an allowed origin: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != evil {
		t.Errorf("sse Access-Control-Allow-Origin %q, want %q", got, evil)
	}
	status, code, _ := badDo(t, http.MethodGet, "http://"+open.Addr()+"/poll?channel=o&timeout=0s", nil, http.Header{"Origin": {evil}})
	if status != http.StatusOK || code != "" {
		t.Errorf("poll from an allowed origin: %d %s", status, code)
	}
}

func TestBadInputSSEAndPoll(t *testing.T) {
	cfg := heraldtest.Config("bad-stream")
	cfg.MaxSubscriptions = 3
	n := heraldtest.StartNode(t, cfg)
	const (
		bad     = http.StatusBadRequest
		badChan = "invalid_channel"
	)
	tests := []badCall{
		{name: "sse wildcard", path: "/sse?channel=a*b", status: bad, code: badChan},
		{name: "sse full wildcard", path: "/sse?channel=a.%3E", status: bad, code: badChan},
		{name: "sse $SYS", path: "/sse?channel=%24SYS.x", status: bad, code: badChan},
		{name: "sse space", path: "/sse?channel=a+b", status: bad, code: badChan},
		{name: "sse control", path: "/sse?channel=a%01b", status: bad, code: badChan},
		{name: "sse empty token", path: "/sse?channel=a..b", status: bad, code: badChan},
		{name: "sse empty channel", path: "/sse?channel=", status: bad, code: badChan},
		{name: "sse no channel", path: "/sse", status: bad, code: badChan},
		{name: "sse other param", path: "/sse?chan=a", status: bad, code: badChan},
		{name: "sse too long", path: "/sse?channel=" + strings.Repeat("x", 256), status: bad, code: badChan},
		{name: "sse one bad of two", path: "/sse?channel=ok&channel=a*", status: bad, code: badChan},
		{name: "sse same channel twice", path: "/sse?channel=a&channel=a", status: bad, code: "already_subscribed"},
		{name: "sse too many", path: "/sse?channel=a&channel=b&channel=c&channel=d", status: bad, code: "too_many_subscriptions"},

		{name: "poll garbage session", path: "/poll?session=garbage", status: http.StatusGone, code: "session_expired"},
		{name: "poll session with bad bytes", path: "/poll?session=a.b%00c", status: http.StatusGone, code: "session_expired"},
		{name: "poll session too long", path: "/poll?session=a." + strings.Repeat("b", 100), status: http.StatusGone, code: "session_expired"},
		{name: "poll session of an unknown node", path: "/poll?session=nosuchnode.abc&timeout=0s", status: http.StatusGone, code: "session_expired"},
		{name: "poll session dot only", path: "/poll?session=.", status: http.StatusGone, code: "session_expired"},
		{name: "poll bogus timeout", path: "/poll?timeout=bogus", status: bad, code: "bad_request"},
		{name: "poll bogus timeout with channel", path: "/poll?channel=a&timeout=bogus", status: bad, code: "bad_request"},
		{name: "poll timeout without unit", path: "/poll?channel=a&timeout=5", status: bad, code: "bad_request"},
		{name: "poll negative timeout", path: "/poll?channel=a&timeout=-1s", status: bad, code: "bad_request"},
		{name: "poll timeout over the max", path: "/poll?channel=a&timeout=1h", status: bad, code: "bad_request"},
		{name: "poll session and channel", path: "/poll?session=x.y&channel=a", status: bad, code: "bad_request"},
		{name: "poll no channel", path: "/poll", status: bad, code: badChan},
		{name: "poll wildcard", path: "/poll?channel=a.*&timeout=0s", status: bad, code: badChan},
		{name: "poll too many", path: "/poll?channel=a&channel=b&channel=c&channel=d&timeout=0s", status: bad, code: "too_many_subscriptions"},
	}
	for _, tt := range tests {
		if tt.method == "" {
			tt.method = http.MethodGet
		}
		tt.check(t, n.Addr())
	}
	// None of the refused requests left a client or a subscription behind.
	heraldtest.Eventually(t, 5*time.Second, "no clients left", func() bool {
		return heraldtest.Metric(t, n.Addr(), `herald_connections{transport="sse"}`) == 0 &&
			heraldtest.Metric(t, n.Addr(), `herald_connections{transport="longpoll"}`) == 0 &&
			heraldtest.Metric(t, n.Addr(), "herald_subscriptions") == 0
	})
	// And a good stream works afterwards.
	s := heraldtest.OpenSSE(t, n.Addr(), "a")
	heraldtest.MustPublish(t, n.Addr(), "a", `"ok"`)
	if ev := s.Next(t, 5*time.Second); ev.Event != "message" || !strings.Contains(ev.Data, `"ok"`) {
		t.Fatalf("sse after bad requests: %+v", ev)
	}
}

func badShort(s string) string {
	if len(s) > 24 {
		return s[:24] + "..."
	}
	return s
}
