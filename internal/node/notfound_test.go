package node_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/heraldtest"
)

// TestWrongPathsAnswerWhatToUseInstead sends each role the requests meant
// for another: every answer is a JSON 404 that names the node's role and
// where to go.
func TestWrongPathsAnswerWhatToUseInstead(t *testing.T) {
	t.Parallel()
	nodes := map[string]string{}
	for _, role := range []string{config.RoleGateway, config.RoleAPI, config.RoleAll} {
		cfg := heraldtest.Config("role-" + role)
		cfg.Role = role
		nodes[role] = heraldtest.StartNode(t, cfg).Addr()
	}
	tests := []struct {
		role, method, path string
		want               []string
	}{
		{config.RoleGateway, http.MethodPost, "/api/publish", []string{"role is gateway", "/api/publish", "role api or all"}},
		{config.RoleGateway, http.MethodGet, "/api/history", []string{"role is gateway", "role api or all"}},
		{config.RoleAPI, http.MethodGet, "/ws", []string{"role is api", "gateway or all"}},
		{config.RoleAPI, http.MethodGet, "/sse", []string{"role is api", "gateway or all"}},
		{config.RoleAPI, http.MethodGet, "/poll", []string{"role is api", "gateway or all"}},
		{config.RoleGateway, http.MethodPost, "/ping", []string{"role is gateway", "--ping"}},
		{config.RoleAll, http.MethodPost, "/ping", []string{"--ping"}},
		{config.RoleAll, http.MethodGet, "/", []string{"web UI is off", "--ui"}},
		{config.RoleAll, http.MethodGet, "/demo", []string{"web UI is off", "--ui"}},
		{config.RoleAll, http.MethodGet, "/nope", []string{"role all", "/ws", "/api/publish", "/readyz"}},
		{config.RoleAPI, http.MethodGet, "/nope", []string{"role api", "/api/publish"}},
	}
	for _, tt := range tests {
		status, code, body := badDo(t, tt.method, "http://"+nodes[tt.role]+tt.path, nil, nil)
		if status != http.StatusNotFound || code != "not_found" {
			t.Errorf("%s %s on %s: %d %q %s, want a JSON 404 not_found", tt.method, tt.path, tt.role, status, code, body)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(string(body), w) {
				t.Errorf("%s %s on %s: %s, want it to say %q", tt.method, tt.path, tt.role, body, w)
			}
		}
	}
	// A path the node serves keeps its own answers.
	if status, code, body := badDo(t, http.MethodGet, "http://"+nodes[config.RoleGateway]+"/ws", nil, nil); status != http.StatusBadRequest || code != "bad_request" {
		t.Errorf("GET /ws without upgrade on a gateway: %d %s %s", status, code, body)
	}
}
