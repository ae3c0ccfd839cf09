package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// fakeCentrifugo is a test double for a few Centrifugo v6 nodes sharing a
// broker: Centrifugo cannot run in these tests (it is not a dependency of
// this module). It speaks as much of the JSON client protocol and server
// API as the generator uses, the way Centrifugo v6.9.1 was seen to: the
// connect and subscribe replies, publications batched several to a
// frame, pings batched with them that must each be answered by one pong
// (no pong in time, or a pong for no ping, and it closes the
// connection), the X-API-Key header, and errors in answers of status
// 200. Its /metrics holds centrifugo_node_num_clients.
type fakeCentrifugo struct {
	t    *testing.T
	key  string
	deny bool // refuse every subscription

	mu      sync.Mutex
	subs    map[string][]*fakeClient
	clients map[string]int // by node URL
	pings   int            // sent
	pongs   int            // received
	wrong   []string       // what went wrong on the server's side
}

type fakeClient struct {
	mu      sync.Mutex // guards writes, pending and pinged
	nc      net.Conn
	pending int  // pings without a pong yet
	pinged  bool // a ping went with a publication
}

func newFakeCentrifugo(t *testing.T, nodes int, key string) (*fakeCentrifugo, []string) {
	f := &fakeCentrifugo{t: t, key: key, subs: map[string][]*fakeClient{}, clients: map[string]int{}}
	var urls []string
	for range nodes {
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		mux.HandleFunc("/connection/websocket", func(w http.ResponseWriter, r *http.Request) { f.serveWS(srv.URL, w, r) })
		mux.HandleFunc("POST /api/publish", f.publish)
		mux.HandleFunc("POST /api/broadcast", f.publish)
		mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
			f.mu.Lock()
			defer f.mu.Unlock()
			fmt.Fprintf(w, "# TYPE centrifugo_node_num_clients gauge\ncentrifugo_node_num_clients %d\nprocess_resident_memory_bytes 1e+07\n", f.clients[srv.URL])
		})
		urls = append(urls, srv.URL)
	}
	return f, urls
}

func (f *fakeCentrifugo) fail(format string, args ...any) {
	f.mu.Lock()
	f.wrong = append(f.wrong, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// write sends lines as one text frame; a ping among them is counted.
func (c *fakeClient) write(lines ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range lines {
		if l == "{}" {
			c.pending++
		}
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return wsutil.WriteServerText(c.nc, []byte(strings.Join(lines, "\n")))
}

func (f *fakeCentrifugo) serveWS(node string, w http.ResponseWriter, r *http.Request) {
	nc, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		f.fail("upgrade: %v", err)
		return
	}
	defer nc.Close()
	c := &fakeClient{nc: nc}
	f.mu.Lock()
	f.clients[node]++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.clients[node]--
		f.mu.Unlock()
	}()
	closeWith := func(code ws.StatusCode, reason string) {
		c.mu.Lock()
		defer c.mu.Unlock()
		_ = wsutil.WriteServerMessage(nc, ws.OpClose, ws.NewCloseFrameBody(code, reason))
	}
	connected := false
	for range 10_000 {
		c.mu.Lock()
		wait := 30 * time.Second // a bound, for a client that neither speaks nor closes
		if c.pending > 0 {
			wait = 2 * time.Second // the pong timeout
		}
		c.mu.Unlock()
		_ = nc.SetReadDeadline(time.Now().Add(wait))
		p, err := wsutil.ReadClientText(nc)
		if err != nil {
			c.mu.Lock()
			pending := c.pending
			c.mu.Unlock()
			if pending > 0 {
				f.fail("%d pings without a pong", pending)
				closeWith(3012, "no pong")
			}
			return
		}
		for _, line := range strings.Split(string(p), "\n") {
			var cmd struct {
				ID        int `json:"id"`
				Connect   any `json:"connect"`
				Subscribe *struct {
					Channel string `json:"channel"`
				} `json:"subscribe"`
			}
			if err := json.Unmarshal([]byte(line), &cmd); err != nil {
				f.fail("command %q: %v", line, err)
				closeWith(3501, "bad request")
				return
			}
			switch {
			case cmd.ID == 0: // a pong
				c.mu.Lock()
				ok := c.pending > 0
				c.pending--
				c.mu.Unlock()
				if !ok {
					f.fail("a pong for no ping")
					closeWith(3501, "bad request")
					return
				}
				f.mu.Lock()
				f.pongs++
				f.mu.Unlock()
			case cmd.Connect != nil:
				connected = true
				_ = c.write(fmt.Sprintf(`{"id":%d,"connect":{"client":"c","version":"6.9.1 OSS","ping":25,"pong":true}}`, cmd.ID))
			case cmd.Subscribe != nil && connected && f.deny:
				_ = c.write(fmt.Sprintf(`{"id":%d,"error":{"code":103,"message":"permission denied"}}`, cmd.ID))
			case cmd.Subscribe != nil && connected:
				f.mu.Lock()
				f.subs[cmd.Subscribe.Channel] = append(f.subs[cmd.Subscribe.Channel], c)
				f.pings++
				f.mu.Unlock()
				// The reply and a ping in one frame.
				_ = c.write(fmt.Sprintf(`{"id":%d,"subscribe":{}}`, cmd.ID), "{}")
			default:
				f.fail("unexpected command %q", line)
				closeWith(3501, "bad request")
				return
			}
		}
	}
}

// publish serves /api/publish and /api/broadcast: each subscriber gets
// what the request publishes in one frame, the first time with a ping
// after it, which a client answers from a reader loop.
func (f *fakeCentrifugo) publish(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-API-Key") != f.key {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var req struct {
		Channel  string          `json:"channel"`
		Channels []string        `json:"channels"`
		Data     json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "Bad Request", http.StatusBadRequest)
		return
	}
	if req.Channel != "" {
		req.Channels = []string{req.Channel}
	}
	frames := map[*fakeClient][]string{}
	var answers []string
	f.mu.Lock()
	for _, ch := range req.Channels {
		if !strings.HasPrefix(ch, channelStem) {
			answers = append(answers, `{"error":{"code":102,"message":"unknown channel"}}`)
			continue
		}
		answers = append(answers, `{"result":{}}`)
		for _, c := range f.subs[ch] {
			frames[c] = append(frames[c], fmt.Sprintf(`{"push":{"channel":%q,"pub":{"data":%s}}}`, ch, req.Data))
		}
	}
	f.mu.Unlock()
	for c, lines := range frames {
		c.mu.Lock()
		first := !c.pinged
		c.pinged = true
		c.mu.Unlock()
		if first {
			lines = append(lines, "{}")
			f.mu.Lock()
			f.pings++
			f.mu.Unlock()
		}
		_ = c.write(lines...)
	}
	w.Header().Set("Content-Type", "application/json")
	if req.Channel != "" {
		fmt.Fprint(w, answers[0])
		return
	}
	fmt.Fprintf(w, `{"result":{"responses":[%s]}}`, strings.Join(answers, ","))
}

// check waits until every client has gone, then fails t if anything went
// wrong on the server's side, or if some ping was not answered.
func (f *fakeCentrifugo) check() {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		n := 0
		for _, c := range f.clients {
			n += c
		}
		f.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d clients still connected", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.wrong) > 0 {
		f.t.Errorf("the fake Centrifugo saw: %q", f.wrong)
	}
	if f.pongs != f.pings {
		f.t.Errorf("%d pings, %d pongs", f.pings, f.pongs)
	}
}

func TestCentrifugoFanout(t *testing.T) {
	t.Parallel()
	cf, urls := newFakeCentrifugo(t, 2, "bench-key")
	rep, err := Fanout(context.Background(), Options{
		Protocol: Centrifugo, URLs: urls, API: urls[0], APIKey: "bench-key",
		Conns: 120, Channels: 6, Rate: 60, Duration: 500 * time.Millisecond, Wait: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := rep.Fanout
	if rep.Protocol != Centrifugo || rep.Ramp.Connected != 120 || rep.Ramp.Failed != 0 {
		t.Fatalf("protocol %q, ramp %+v", rep.Protocol, rep.Ramp)
	}
	// 30 messages, each to a channel with 20 subscribers.
	if f.Published != 30 || f.Expected != 600 || f.Received != 600 || f.Lost != 0 || f.Latency.Count != 600 {
		t.Errorf("published %d, expected %d, received %d, lost %d, latencies %d",
			f.Published, f.Expected, f.Received, f.Lost, f.Latency.Count)
	}
	if len(rep.Ended) > 0 || len(f.PublishErrors) > 0 {
		t.Errorf("ended %v, publish errors %v", rep.Ended, f.PublishErrors)
	}
	cf.check()
	checkReport(t, rep, "120 Centrifugo WebSocket connections", "600 expected, 600 received, 0 lost")
}

// TestCentrifugoInWorkers checks that worker processes speak the
// protocol they are told.
func TestCentrifugoInWorkers(t *testing.T) {
	t.Parallel()
	cf, urls := newFakeCentrifugo(t, 1, "k")
	rep, err := Idle(context.Background(), Options{Protocol: Centrifugo, URLs: urls, Conns: 40, Channels: 4, Workers: 2, Hold: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Workers != 2 || rep.Ramp.Connected != 40 || len(rep.Ended) > 0 {
		t.Fatalf("workers %d, ramp %+v, ended %v", rep.Workers, rep.Ramp, rep.Ended)
	}
	m := rep.Memory
	if len(m.Nodes) != 1 || m.Nodes[0].Total != 40 || m.Nodes[0].Error != "" || m.Source != "metrics" || m.Before != 1e7 {
		t.Errorf("memory %+v, nodes %+v", m, m.Nodes)
	}
	cf.check()
	checkReport(t, rep, "40 Centrifugo WebSocket connections", "in 2 worker processes", "connections "+urls[0]+"  40\n")
}

func TestCentrifugoConnectRefused(t *testing.T) {
	t.Parallel()
	cf, urls := newFakeCentrifugo(t, 1, "k")
	cf.deny = true
	rep, err := Connect(context.Background(), Options{Protocol: Centrifugo, URLs: urls, Conns: 10, Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ramp.Connected != 0 || rep.Ramp.Failures["subscribe 103 permission denied"] != 10 {
		t.Fatalf("ramp %+v", rep.Ramp)
	}
}

func TestCentrifugoPublish(t *testing.T) {
	t.Parallel()
	_, urls := newFakeCentrifugo(t, 1, "bench-key")
	for _, tt := range []struct {
		key       string
		broadcast int
		channels  int
		wantError string
	}{
		{"bench-key", 0, 5, ""},
		{"bench-key", 3, 5, ""},
		{"wrong", 0, 5, "http 401"},
	} {
		rep, err := Publish(context.Background(), Options{Protocol: Centrifugo, API: urls[0], APIKey: tt.key,
			Duration: 200 * time.Millisecond, Concurrency: 2, Broadcast: tt.broadcast, Channels: tt.channels})
		if err != nil {
			t.Fatal(err)
		}
		p := rep.Publish
		if tt.wantError == "" && (p.OK == 0 || p.OK != p.Requests || len(p.Errors) > 0) {
			t.Errorf("%+v: %+v", tt, p)
		}
		if tt.wantError != "" && (p.OK != 0 || p.Errors[tt.wantError] == 0) {
			t.Errorf("%+v: %+v", tt, p)
		}
		checkReport(t, rep, "(Centrifugo)")
	}
	// An error in an answer of status 200 counts as one.
	p := newPublisher(&target{addr: strings.TrimPrefix(urls[0], "http://"), host: strings.TrimPrefix(urls[0], "http://")},
		Centrifugo, "bench-key", 1, 10)
	defer p.close()
	err := p.post(context.Background(), "/api/broadcast", []byte(`{"channels":["bench.1","other"],"data":{}}`))
	if got := reason(err); got != "api error 102 unknown channel" {
		t.Errorf("broadcast to an unknown channel: %q", got)
	}
	if err := p.post(context.Background(), "/api/publish", []byte(`{"channel":"bench.1","data":{}}`)); err != nil {
		t.Errorf("publish: %v", err)
	}
}

func TestCentrifugoOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Protocol: "nats"},
		{Protocol: Centrifugo, Transport: SSE},
	} {
		if _, err := Connect(context.Background(), o); !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "protocol") {
			t.Errorf("%+v: %v, want ErrOptions about the protocol", o, err)
		}
	}
	o, err := Options{Protocol: Centrifugo}.withDefaults(modeConnect)
	if err != nil || o.URLs[0] != "http://127.0.0.1:8000" || o.API != o.URLs[0] {
		t.Errorf("defaults %v, %v", o.URLs, err)
	}
}
