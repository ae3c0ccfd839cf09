package demo_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/demo"
	"github.com/heraldrt/herald/internal/heraldtest"
)

// TestControlsRefuseOtherSitesAndBadRequests calls the demo's gateway
// controls as other pages and clients might: only the demo's own pages
// (or a client sending no Origin) may stop a gateway.
func TestControlsRefuseOtherSitesAndBadRequests(t *testing.T) {
	d := startDemoWith(t, demo.Options{})
	do := func(method, path, origin string) (int, string) {
		return call(t, d, method, "/demo/nodes"+path, origin, "")
	}
	for _, tt := range []struct {
		method, path, origin string
		status               int
	}{
		{"POST", "/1/stop", "https://evil.example", http.StatusForbidden},
		{"POST", "/3/stop", "", http.StatusNotFound},
		{"POST", "/1/explode", "", http.StatusNotFound},
		{"GET", "/1/stop", "", http.StatusMethodNotAllowed},
		{"POST", "", "", http.StatusMethodNotAllowed},
	} {
		if status, body := do(tt.method, tt.path, tt.origin); status != tt.status {
			t.Errorf("%s %s (Origin %q): %d %s, want %d", tt.method, tt.path, tt.origin, status, body, tt.status)
		}
	}
	if d.Gateway(1) == nil {
		t.Fatal("a refused request stopped node1")
	}
	status, body := do("POST", "/node1/stop", "")
	if status != http.StatusOK || !strings.Contains(body, `{"name":"node1"`) || !strings.Contains(body, `"running":false`) || d.Gateway(1) != nil {
		t.Fatalf("stop node1: %d %s", status, body)
	}
	if status, body := do("GET", "", ""); status != http.StatusOK || !strings.Contains(body, `"running":false`) {
		t.Fatalf("state after the stop: %d %s", status, body)
	}
	for _, tt := range []struct{ in, want string }{
		{"start 1", "node1 on"},
		{"status", "node1 on"},
		{"stop 9", "no gateway"},
		{"reboot", "commands: stop"},
		{"", ""},
	} {
		if got := d.Command(t.Context(), tt.in); !strings.Contains(got, tt.want) {
			t.Errorf("Command(%q) = %q, want it to hold %q", tt.in, got, tt.want)
		}
	}
	if d.Gateway(1) == nil {
		t.Fatal("start 1 did not start node1")
	}
}

// TestDemoBackendMintsTokensForItsUsersOnly: POST /token answers the
// demo's users, with a token a gateway accepts for that user's inbox and
// not the other's; other users, other sites and other methods are
// refused; POST /demo/send publishes to the other user's inbox.
func TestDemoBackendMintsTokensForItsUsersOnly(t *testing.T) {
	d := startDemoWith(t, demo.Options{})
	post := func(path, origin, body string) (int, string) {
		return call(t, d, http.MethodPost, path, origin, body)
	}
	for _, tt := range []struct {
		path, origin, body string
		status             int
	}{
		{"/token", "", `{"user":"mallory"}`, http.StatusBadRequest},
		{"/token", "https://evil.example", `{"user":"alice"}`, http.StatusForbidden},
		{"/token", "", `not json`, http.StatusBadRequest},
		{"/demo/send", "", `{"from":"alice","to":"mallory"}`, http.StatusBadRequest},
	} {
		if status, body := post(tt.path, tt.origin, tt.body); status != tt.status {
			t.Errorf("POST %s %s (Origin %q): %d %s, want %d", tt.path, tt.body, tt.origin, status, body, tt.status)
		}
	}
	status, body := post("/token", "", `{"user":"bob"}`)
	var tok struct{ Token string }
	if status != http.StatusOK || json.Unmarshal([]byte(body), &tok) != nil || tok.Token == "" {
		t.Fatalf("token for bob: %d %s", status, body)
	}
	gw := d.Gateway(1).Addr()
	bob := heraldtest.DialWSQuery(t, gw, "token="+tok.Token, nil)
	bob.Subscribe(demo.InboxOf("bob"))
	if r := bob.Do("subscribe", `"channel":"user.alice.inbox"`); r.Error == nil || r.Error.Code != "forbidden" {
		t.Fatalf("bob subscribing to alice's inbox: %+v", r.Error)
	}
	if status, body := post("/demo/send", "", `{"from":"alice","to":"bob"}`); status != http.StatusOK {
		t.Fatalf("send: %d %s", status, body)
	}
	if m := bob.Message(5 * time.Second); m.Channel != "user.bob.inbox" || !strings.Contains(string(m.Data), `"from":"alice"`) {
		t.Fatalf("bob got %+v", m)
	}
}

// call sends a request to the demo's api node, with an Origin and a JSON
// body when given, and returns the status and body of the answer.
func call(t *testing.T, d *demo.Demo, method, path, origin, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+d.API.Addr()+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
