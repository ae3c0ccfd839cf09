package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// request is what the test API server received.
type request struct {
	method, path, auth, contentType string
	body                            any
	raw                             string
}

// apiServer starts an HTTP server that records each request and answers it
// with status and body. It stands in for the node's publish API.
func apiServer(t *testing.T, status int, body string) (*httptest.Server, <-chan request) {
	t.Helper()
	reqs := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading request body: %v", err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Errorf("request body %q is not JSON: %v", raw, err)
		}
		reqs <- request{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), v, string(raw)}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, reqs
}

// decode returns the JSON value of s.
func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return v
}

func TestPublish(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantPath string
		wantBody string
	}{
		{
			name:     "object",
			args:     []string{"news", `{"title": "Hello"}`},
			wantPath: "/api/publish",
			wantBody: `{"channel":"news","data":{"title":"Hello"}}`,
		},
		{
			name:     "string",
			args:     []string{"news", `"hello"`},
			wantPath: "/api/publish",
			wantBody: `{"channel":"news","data":"hello"}`,
		},
		{
			name:     "stdin",
			args:     []string{"news", "-"},
			stdin:    "[1, 2, 3]\n",
			wantPath: "/api/publish",
			wantBody: `{"channel":"news","data":[1,2,3]}`,
		},
		{
			name:     "broadcast",
			args:     []string{"--channels", "news,alerts", "42"},
			wantPath: "/api/broadcast",
			wantBody: `{"channels":["news","alerts"],"data":42}`,
		},
		{
			// The node answers invalid_channel; the body must still be JSON.
			name:     "empty channel",
			args:     []string{"", "1"},
			wantPath: "/api/publish",
			wantBody: `{"channel":"","data":1}`,
		},
		{
			name:     "channel needing escapes",
			args:     []string{`a"b\c`, "1"},
			wantPath: "/api/publish",
			wantBody: `{"channel":"a\"b\\c","data":1}`,
		},
		{
			name:     "idempotency key",
			args:     []string{"--idempotency-key", `k"1`, "news", "1"},
			wantPath: "/api/publish",
			wantBody: `{"channel":"news","idempotency_key":"k\"1","data":1}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, reqs := apiServer(t, http.StatusOK, `{"delivered":1}`)
			args := append([]string{"publish", "--url", srv.URL + "/", "--api-key", "secret"}, tt.args...)
			res := run(t, context.Background(), strings.NewReader(tt.stdin), args...)
			if res.code != 0 {
				t.Fatalf("exit code %d, stderr %q", res.code, res.stderr)
			}
			if res.stdout != "{\"delivered\":1}\n" {
				t.Errorf("stdout = %q, want the server's response", res.stdout)
			}
			r := <-reqs
			want := request{http.MethodPost, tt.wantPath, "Bearer secret", "application/json", decode(t, tt.wantBody), r.raw}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("request = %+v, want %+v", r, want)
			}
		})
	}
}

func TestPublishEnv(t *testing.T) {
	srv, reqs := apiServer(t, http.StatusOK, `{}`)
	t.Setenv(envURL, srv.URL)
	t.Setenv(envAPIKey, "from-env")

	res := run(t, context.Background(), nil, "publish", "news", "1")
	if res.code != 0 {
		t.Fatalf("exit code %d, stderr %q", res.code, res.stderr)
	}
	if r := <-reqs; r.auth != "Bearer from-env" {
		t.Errorf("Authorization = %q, want the key from %s", r.auth, envAPIKey)
	}

	res = run(t, context.Background(), nil, "publish", "--api-key", "from-flag", "news", "1")
	if res.code != 0 {
		t.Fatalf("exit code %d, stderr %q", res.code, res.stderr)
	}
	if r := <-reqs; r.auth != "Bearer from-flag" {
		t.Errorf("Authorization = %q, want the flag's key to beat the environment", r.auth)
	}
}

func TestPublishErrorResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   []string
	}{
		{"api error", http.StatusForbidden, `{"error":{"code":"unauthorized","message":"bad API key"}}`, []string{"unauthorized: bad API key", "HTTP 403"}},
		{"not json", http.StatusBadGateway, "bad gateway\n", []string{"HTTP 502: bad gateway"}},
		{"empty", http.StatusServiceUnavailable, "", []string{"HTTP 503"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := apiServer(t, tt.status, tt.body)
			res := run(t, context.Background(), nil, "publish", "--url", srv.URL, "news", "{}")
			if res.code != 1 {
				t.Errorf("exit code %d, want 1", res.code)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
			contains(t, "stderr", res.stderr, append(tt.want, "herald publish: ")...)
		})
	}
}

func TestPublishUsageErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
	}))
	t.Cleanup(srv.Close)
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"not json", []string{"news", "hello"}, "", `to send a string, quote it: '"hello"'`},
		{"empty stdin", []string{"news", "-"}, " \n", "the data is empty"},
		{"bad stdin", []string{"news", "-"}, "{", "not valid JSON"},
		{"no data", []string{"news"}, "", "give a channel and the data"},
		{"too many", []string{"news", "1", "2"}, "", "give a channel and the data"},
		{"channels and channel", []string{"--channels", "a,b", "news", "1"}, "", "with --channels, give only the data"},
		{"empty channels", []string{"--channels", "", "1"}, "", "--channels: give at least one channel"},
		{"bad url", []string{"--url", "ftp://example.com", "news", "1"}, "", `--url: "ftp://example.com" is not an http:// or https:// URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"publish", "--url", srv.URL}, tt.args...)
			res := run(t, context.Background(), strings.NewReader(tt.stdin), args...)
			if res.code != exitUsage {
				t.Errorf("exit code %d, want %d", res.code, exitUsage)
			}
			contains(t, "stderr", res.stderr, tt.want, "herald publish --help")
		})
	}
}

func TestPublishSendsDataAsGiven(t *testing.T) {
	t.Parallel()
	srv, reqs := apiServer(t, http.StatusOK, "{}")
	data := `{ "n" : 1.50, "s":"\u00e9" }`
	var out, errOut strings.Builder
	if code := Run(context.Background(), []string{"publish", "--url", srv.URL, "news", data}, strings.NewReader(""), &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	r := <-reqs
	if want := `{"channel":"news","data":` + data + `}`; r.raw != want {
		t.Fatalf("body %s, want %s", r.raw, want)
	}
}
