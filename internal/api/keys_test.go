package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldrt/herald/internal/protocol"
)

// TestKeyScopes: a publish key reaches the publish endpoints and not an
// admin one; an admin key reaches both; a wrong or missing key neither.
// The admin endpoint here is a stand-in registered by the test: the API
// serves none of its own yet.
func TestKeyScopes(t *testing.T) {
	a := New(Options{Keys: []Key{{"pub-key", ScopePublish}, {"adm-key", ScopeAdmin}}, MaxMessageBytes: 1024, MaxChannelLength: 64})
	mux := http.NewServeMux()
	a.Register(mux)
	mux.Handle("GET /api/test-admin", a.guard(ScopeAdmin, func(*http.Request, []byte) ([]byte, *protocol.Error) { return []byte(`{}`), nil }))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	status := func(path, key string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, key string
		want      int
	}{
		{"/api/history?channel=a", "pub-key", http.StatusNotFound}, // past the key check: no history here
		{"/api/history?channel=a", "adm-key", http.StatusNotFound},
		{"/api/history?channel=a", "wrong", http.StatusUnauthorized},
		{"/api/history?channel=a", "", http.StatusUnauthorized},
		{"/api/history?channel=a", "pub-ke", http.StatusUnauthorized},
		{"/api/test-admin", "pub-key", http.StatusForbidden},
		{"/api/test-admin", "adm-key", http.StatusOK},
		{"/api/test-admin", "", http.StatusUnauthorized},
	} {
		if got := status(c.path, c.key); got != c.want {
			t.Errorf("%s with key %q: %d, want %d", c.path, c.key, got, c.want)
		}
	}
}
