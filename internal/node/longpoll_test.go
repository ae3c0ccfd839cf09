package node_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/heraldtest"
)

func TestLongPollKeepsMessagesBetweenPollsOnAnyNode(t *testing.T) {
	gw1, gw2, apiNode := threeNodes(t)

	status, first, body := heraldtest.Poll(t, gw1.Addr(), "channel=feed&timeout=0s")
	if status != http.StatusOK || first.Session == "" || len(first.Messages) != 0 {
		t.Fatalf("first poll: %d %s", status, body)
	}
	session := first.Session

	for round, target := range []struct {
		name string
		addr string
	}{{"owner node", gw1.Addr()}, {"other node", gw2.Addr()}} {
		before := heraldtest.Metric(t, gw1.Addr(), "herald_messages_received_total")
		for i := 0; i < 20; i++ {
			heraldtest.MustPublish(t, apiNode.Addr(), "feed", fmt.Sprintf(`{"round":%d,"i":%d}`, round, i))
		}
		// All 20 reach the session's node before the client polls again.
		heraldtest.Eventually(t, 5*time.Second, "messages at the owner node", func() bool {
			return heraldtest.Metric(t, gw1.Addr(), "herald_messages_received_total") == before+20
		})
		status, got, body := heraldtest.Poll(t, target.addr, "session="+session+"&timeout=5s")
		if status != http.StatusOK {
			t.Fatalf("%s: poll: %d %s", target.name, status, body)
		}
		if got.Session != session {
			t.Fatalf("%s: session %q, want %q", target.name, got.Session, session)
		}
		if len(got.Messages) != 20 {
			t.Fatalf("%s: %d messages, want 20: %s", target.name, len(got.Messages), body)
		}
		for i, m := range got.Messages {
			want := fmt.Sprintf(`{"round":%d,"i":%d}`, round, i)
			if m.Channel != "feed" || string(m.Data) != want {
				t.Fatalf("%s: message %d = %s on %q, want %s", target.name, i, m.Data, m.Channel, want)
			}
		}
	}
}

func TestLongPollWaitsForAMessage(t *testing.T) {
	n := heraldtest.StartNode(t, heraldtest.Config("wait"))
	_, first, _ := heraldtest.Poll(t, n.Addr(), "channel=later&timeout=0s")
	done := make(chan heraldtest.PollResponse, 1)
	go func() {
		_, r, _ := heraldtest.Poll(t, n.Addr(), "session="+first.Session+"&timeout=20s")
		done <- r
	}()
	// The poll is held open until the message arrives, not until timeout.
	heraldtest.MustPublish(t, n.Addr(), "later", `"now"`)
	select {
	case r := <-done:
		if len(r.Messages) != 1 || string(r.Messages[0].Data) != `"now"` {
			t.Fatalf("poll: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("poll did not return when the message arrived (its timeout is 20s)")
	}
}

func TestLongPollSessionExpires(t *testing.T) {
	cfg := heraldtest.Config("ttl")
	cfg.PollSessionTTL = 200 * time.Millisecond
	n := heraldtest.StartNode(t, cfg)
	_, first, _ := heraldtest.Poll(t, n.Addr(), "channel=gone&timeout=0s")
	heraldtest.Eventually(t, 5*time.Second, "session expiry", func() bool {
		return heraldtest.Metric(t, n.Addr(), `herald_connections{transport="longpoll"}`) == 0 &&
			heraldtest.Metric(t, n.Addr(), "herald_subscriptions") == 0
	})
	status, r, body := heraldtest.Poll(t, n.Addr(), "session="+first.Session)
	if status != http.StatusGone || r.Error == nil || r.Error.Code != "session_expired" {
		t.Fatalf("poll of an expired session: %d %s", status, body)
	}
}

func TestLongPollSessionOverflow(t *testing.T) {
	cfg := heraldtest.Config("overflow")
	cfg.PollBuffer = 5
	n := heraldtest.StartNode(t, cfg)
	_, first, _ := heraldtest.Poll(t, n.Addr(), "channel=burst&timeout=0s")
	for i := 0; i < 6; i++ {
		heraldtest.MustPublish(t, n.Addr(), "burst", fmt.Sprint(i))
	}
	heraldtest.Eventually(t, 5*time.Second, "overflow", func() bool {
		return heraldtest.Metric(t, n.Addr(), "herald_slow_consumer_disconnects_total") == 1
	})
	status, r, body := heraldtest.Poll(t, n.Addr(), "session="+first.Session)
	if status != http.StatusGone || r.Error == nil || r.Error.Code != "session_overflow" {
		t.Fatalf("poll after overflow: %d %s", status, body)
	}
}

// neighbours returns the ids whose last ten characters, read as a number
// in the id's alphabet, lie within span of a's or b's, or between them:
// what an attacker who saw sessions a and b, made just before and after a
// victim's, would try. Ids from a counter (a random prefix plus a counter
// with a small step, as NUIDs are) put the victim among them.
func neighbours(a, b string, span int64) []string {
	alphabet := "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	if strings.ContainsAny(a+b, "-_") {
		alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	}
	base := big.NewInt(int64(len(alphabet)))
	const tail = 10
	value := func(s string) *big.Int {
		v := new(big.Int)
		for _, c := range s[len(s)-tail:] {
			v.Mul(v, base).Add(v, big.NewInt(int64(strings.IndexRune(alphabet, c))))
		}
		return v
	}
	id := func(like string, v *big.Int) string {
		digits := make([]byte, tail)
		v = new(big.Int).Set(v)
		for i := tail - 1; i >= 0; i-- {
			m := new(big.Int)
			v.DivMod(v, base, m)
			digits[i] = alphabet[m.Int64()]
		}
		return like[:len(like)-tail] + string(digits)
	}
	va, vb := value(a), value(b)
	if va.Cmp(vb) > 0 {
		va, vb = vb, va
	}
	seen := map[string]bool{a: true, b: true}
	var out []string
	add := func(like string, v *big.Int) {
		if v.Sign() < 0 {
			return
		}
		if s := id(like, v); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for d := -span; d <= span; d++ {
		add(a, new(big.Int).Add(va, big.NewInt(d)))
		add(b, new(big.Int).Add(vb, big.NewInt(d)))
	}
	if gap := new(big.Int).Sub(vb, va); gap.Cmp(big.NewInt(4*span)) <= 0 {
		for v := new(big.Int).Set(va); v.Cmp(vb) < 0; v.Add(v, big.NewInt(1)) {
			add(a, v)
		}
	}
	return out
}

// TestLongPollSessionsCannotBeGuessed opens two sessions around a
// victim's and tries every id near them, on the owning node and through
// another one: none finds the victim's session, and the victim keeps all
// of its messages. A session id carries 128 random bits and nothing of
// the node's other ids.
func TestLongPollSessionsCannotBeGuessed(t *testing.T) {
	gw1, gw2, apiNode := threeNodes(t)
	_, a, _ := heraldtest.Poll(t, gw1.Addr(), "channel=attacker&timeout=0s")
	_, victim, _ := heraldtest.Poll(t, gw1.Addr(), "channel=private.victim&timeout=0s")
	_, b, _ := heraldtest.Poll(t, gw1.Addr(), "channel=attacker&timeout=0s")
	heraldtest.MustPublish(t, apiNode.Addr(), "private.victim", `"secret"`)
	heraldtest.Eventually(t, 5*time.Second, "the victim's message at its node", func() bool {
		return heraldtest.Metric(t, gw1.Addr(), "herald_messages_received_total") >= 1
	})

	route, secret, ok := strings.Cut(victim.Session, ".")
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if !ok || err != nil || len(raw) < 16 {
		t.Fatalf("session id %q: want <route>.<at least 128 bits in base64url>", victim.Session)
	}
	ws := heraldtest.DialWS(t, gw1.Addr(), nil)
	for _, other := range []string{ws.Welcome.Client, ws.Welcome.Node} {
		if strings.Contains(victim.Session, other) || strings.Contains(other, route) {
			t.Errorf("session id %q shares %q with the node's other ids", victim.Session, other)
		}
	}

	guesses := neighbours(a.Session, b.Session, 1000)
	found := 0
	for i, g := range guesses {
		via := gw1.Addr()
		if i%10 == 0 {
			via = gw2.Addr() // forwarded to the owner
		}
		status, r, body := heraldtest.Poll(t, via, "session="+url.QueryEscape(g)+"&timeout=0s")
		if status == http.StatusOK || len(r.Messages) > 0 {
			found++
			t.Errorf("guess %q answered %d %s", g, status, body)
		}
	}
	t.Logf("%d guesses around %s and %s", len(guesses), a.Session, b.Session)

	status, r, body := heraldtest.Poll(t, gw2.Addr(), "session="+victim.Session+"&timeout=5s")
	if status != http.StatusOK || len(r.Messages) != 1 || string(r.Messages[0].Data) != `"secret"` {
		t.Fatalf("the victim's own poll: %d %s; want its message, untouched", status, body)
	}
}

// TestLongPollSessionAnswersOnlyItsOrigin polls a session from the page
// origin that made it, and from others, on its node and through another.
func TestLongPollSessionAnswersOnlyItsOrigin(t *testing.T) {
	c1 := heraldtest.Config("origin-1")
	c1.NATSListen = "127.0.0.1:0"
	c1.AllowedOrigins = []string{"https://a.example", "https://b.example"}
	n1 := heraldtest.StartNode(t, c1)
	c2 := heraldtest.Config("origin-2")
	c2.NATSURL = n1.Bus().Server().ClientURL()
	c2.AllowedOrigins = c1.AllowedOrigins
	n2 := heraldtest.StartNode(t, c2)
	origin := func(o string) http.Header { return http.Header{"Origin": {o}} }
	_, s, body := heraldtest.PollWith(t, n1.Addr(), "channel=bound&timeout=0s", origin("https://a.example"))
	if s.Session == "" {
		t.Fatalf("start a session: %s", body)
	}
	heraldtest.MustPublish(t, n1.Addr(), "bound", `1`)
	for _, tt := range []struct {
		name string
		addr string
		hdr  http.Header
	}{
		{"no origin", n1.Addr(), nil},
		{"another allowed origin", n1.Addr(), origin("https://b.example")},
		{"no origin, forwarded", n2.Addr(), nil},
		{"another allowed origin, forwarded", n2.Addr(), origin("https://b.example")},
	} {
		if status, _, body := heraldtest.PollWith(t, tt.addr, "session="+s.Session+"&timeout=0s", tt.hdr); status != http.StatusGone {
			t.Errorf("%s: %d %s, want 410 session_expired", tt.name, status, body)
		}
	}
	status, r, body := heraldtest.PollWith(t, n2.Addr(), "session="+s.Session+"&timeout=5s", origin("https://a.example"))
	if status != http.StatusOK || len(r.Messages) != 1 {
		t.Fatalf("the session's own origin, forwarded: %d %s, want its message", status, body)
	}
}

// TestLongPollSessionLimits fills a node's per-address and total session
// limits: each refusal is counted and says which limit, and a session that
// is never polled again ends after its short first-poll lifetime.
func TestLongPollSessionLimits(t *testing.T) {
	cfg := heraldtest.Config("poll-limits")
	cfg.MaxPollSessions = 12
	cfg.MaxPollSessionsPerIP = 5
	cfg.PollSessionTTL = 500 * time.Millisecond
	n := heraldtest.StartNode(t, cfg)
	_, port, _ := net.SplitHostPort(n.Addr())
	from := func(src string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	start := func(c *http.Client) (int, string) {
		resp, err := c.Get("http://127.0.0.1:" + port + "/poll?channel=a&channel=b&timeout=0s")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	one := from("127.0.0.1")
	for i := range 5 {
		if status, body := start(one); status != http.StatusOK {
			t.Fatalf("session %d: %d %s", i, status, body)
		}
	}
	if status, body := start(one); status != http.StatusTooManyRequests || !strings.Contains(body, `"too_many_connections"`) || !strings.Contains(body, "--max-poll-sessions-per-ip") {
		t.Fatalf("a sixth session from one address: %d %s, want 429 too_many_connections", status, body)
	}
	for i, src := range []string{"127.0.0.2", "127.0.0.3"} {
		for j := range 5 {
			status, body := start(from(src))
			if want := i*5+j < 7; (status == http.StatusOK) != want {
				t.Fatalf("session %d from %s: %d %s", j, src, status, body)
			}
			if status != http.StatusOK && (status != http.StatusServiceUnavailable || !strings.Contains(body, "--max-poll-sessions")) {
				t.Fatalf("session %d from %s past the node's limit: %d %s, want 503", j, src, status, body)
			}
		}
	}
	if got := heraldtest.Metric(t, n.Addr(), `herald_limit_refusals_total{limit="max-poll-sessions-per-ip"}`); got != 1 {
		t.Errorf("per-address refusals counted %v, want 1", got)
	}
	if got := heraldtest.Metric(t, n.Addr(), `herald_limit_refusals_total{limit="max-poll-sessions"}`); got != 3 {
		t.Errorf("node-wide refusals counted %v, want 3", got)
	}
	// None of them polls again: they end, and their places are free.
	heraldtest.Eventually(t, 5*time.Second, "sessions never polled again to end", func() bool {
		return heraldtest.Metric(t, n.Addr(), `herald_connections{transport="longpoll"}`) == 0 && heraldtest.Metric(t, n.Addr(), "herald_subscriptions") == 0
	})
	if status, body := start(one); status != http.StatusOK {
		t.Fatalf("a session once the others ended: %d %s", status, body)
	}
}
