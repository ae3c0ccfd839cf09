package demo_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldrt/herald/internal/demo"
)

// TestControlsRefuseOtherSitesAndBadRequests calls the demo's gateway
// controls as other pages and clients might: only the demo's own pages
// (or a client sending no Origin) may stop a gateway.
func TestControlsRefuseOtherSitesAndBadRequests(t *testing.T) {
	d := startDemoWith(t, demo.Options{})
	base := "http://" + d.API.Addr() + "/demo/nodes"
	do := func(method, path, origin string) (int, string) {
		req, _ := http.NewRequest(method, base+path, nil)
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
