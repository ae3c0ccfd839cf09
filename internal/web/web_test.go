package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	heraldjs "github.com/heraldrt/herald/clients/js"
)

// newMux returns a mux with the pages of o registered.
func newMux(o Options) *http.ServeMux {
	mux := http.NewServeMux()
	New(o).Register(mux)
	return mux
}

var demoOptions = Options{
	NodeName: "api1",
	Role:     "api",
	Gateways: []string{"http://127.0.0.1:4001", "http://127.0.0.1:4002/"},
	Ping:     true,
}

// get makes one request to mux and returns the response and its body.
func get(t *testing.T, mux http.Handler, method, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(body)
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	mux := newMux(demoOptions)
	tests := []struct {
		path, contentType, cache string
		contains                 []string
	}{
		{"/", "text/html; charset=utf-8", "no-cache", []string{
			"<title>Herald cluster</title>", `id="nodes"`, `id="rate-chart"`,
			`src="/static/dashboard.js"`, `href="/demo"`,
		}},
		{"/demo", "text/html; charset=utf-8", "no-cache", []string{
			"<title>Herald demo</title>", `id="client-a"`, `id="client-b"`,
			`name="node"`, `name="transport"`, `class="state"`, `class="node"`,
			`class="call-api"`, `class="messages"`, `src="/static/demo.js"`, `href="/"`,
			`data-testid="recovery-a"`, `data-testid="recovery-b"`, `class="recovery-result"`,
		}},
		{"/herald.js", "text/javascript; charset=utf-8", "no-cache", []string{string(heraldjs.Script)}},
		{"/herald.d.ts", "application/typescript; charset=utf-8", "no-cache", []string{string(heraldjs.Types)}},
		{"/ui/config.json", "application/json", "no-store", []string{`"node":"api1"`}},
		{"/static/style.css", "text/css; charset=utf-8", "no-cache", []string{"#rate-chart", `.recovery[data-recovered="true"]`}},
		{"/static/demo.js", "text/javascript; charset=utf-8", "no-cache", []string{"from '/herald.js'", "'recovery'", "dataset.offset"}},
		{"/static/dashboard.js", "text/javascript; charset=utf-8", "no-cache", []string{"new EventSource('/ui/stats')"}},
		{"/static/common.js", "text/javascript; charset=utf-8", "no-cache", []string{"/ui/config.json"}},
		{"/static/stats.js", "text/javascript; charset=utf-8", "no-cache", []string{"export class Nodes"}},
		{"/static/chart.js", "text/javascript; charset=utf-8", "no-cache", []string{"export function drawChart"}},
		{"/static/icon.svg", "image/svg+xml", "no-cache", []string{"<svg"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			res, body := get(t, mux, http.MethodGet, tt.path, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200; body %q", res.StatusCode, body)
			}
			if got := res.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if got := res.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if res.Header.Get("Content-Security-Policy") == "" {
				t.Error("no Content-Security-Policy")
			}
			for _, s := range tt.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q", s)
				}
			}
		})
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	type config struct {
		Node     string   `json:"node"`
		Role     string   `json:"role"`
		Gateways []string `json:"gateways"`
		Ping     bool     `json:"ping"`
	}
	tests := []struct {
		name string
		opts Options
		want config
	}{
		{"demo", demoOptions, config{
			Node: "api1", Role: "api", Ping: true,
			Gateways: []string{"http://127.0.0.1:4001", "http://127.0.0.1:4002"},
		}},
		{"single node", Options{NodeName: "n1"}, config{
			Node: "n1", Role: "all", Gateways: []string{},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, body := get(t, newMux(tt.opts), http.MethodGet, "/ui/config.json", nil)
			var raw map[string]json.RawMessage
			if err := json.Unmarshal([]byte(body), &raw); err != nil {
				t.Fatalf("%v in %s", err, body)
			}
			for _, k := range []string{"node", "role", "gateways", "ping"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("no %q in %s", k, body)
				}
			}
			if string(raw["gateways"]) == "null" {
				t.Errorf("gateways is null, want a list: %s", body)
			}
			var got config
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if got.Node != tt.want.Node || got.Role != tt.want.Role || got.Ping != tt.want.Ping ||
				!slices.Equal(got.Gateways, tt.want.Gateways) {
				t.Errorf("config %+v, want %+v", got, tt.want)
			}
		})
	}
}

// connectSources returns the sources of the connect-src directive of csp.
func connectSources(t *testing.T, csp string) []string {
	t.Helper()
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) > 0 && f[0] == "connect-src" {
			return f[1:]
		}
	}
	t.Fatalf("no connect-src in %q", csp)
	return nil
}

func TestContentSecurityPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		gateways []string
		want     []string
	}{
		{"same origin", nil, []string{"'self'"}},
		{"http gateways", []string{"http://127.0.0.1:4001", "http://127.0.0.1:4002/"}, []string{
			"'self'", "http://127.0.0.1:4001", "ws://127.0.0.1:4001", "http://127.0.0.1:4002", "ws://127.0.0.1:4002",
		}},
		{"https gateway", []string{"https://gw.example.com"}, []string{"'self'", "https://gw.example.com", "wss://gw.example.com"}},
		{"duplicates", []string{"http://h:1", "http://h:1/"}, []string{"'self'", "http://h:1", "ws://h:1"}},
		{"unusable entries left out", []string{"ftp://h:1", "http://h:1;script-src *", "not a url", "http://[::1]:4001"}, []string{
			"'self'", "http://[::1]:4001", "ws://[::1]:4001",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mux := newMux(Options{NodeName: "n", Gateways: tt.gateways})
			for _, path := range []string{"/", "/demo", "/static/demo.js", "/ui/config.json", "/herald.js"} {
				res, _ := get(t, mux, http.MethodGet, path, nil)
				csp := res.Header.Get("Content-Security-Policy")
				for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
					if !strings.Contains(csp, want) {
						t.Errorf("%s: CSP %q lacks %q", path, csp, want)
					}
				}
				if got := connectSources(t, csp); !slices.Equal(got, tt.want) {
					t.Errorf("%s: connect-src %q, want %q", path, got, tt.want)
				}
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	mux := newMux(demoOptions)
	for _, path := range []string{"/static/nope.js", "/static/", "/static/ui/demo.html", "/demo/", "/index.html", "/ui/", "/ui/demo.html"} {
		res, body := get(t, mux, http.MethodGet, path, nil)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, res.StatusCode)
		}
		if strings.Contains(body, "<html") {
			t.Errorf("GET %s: a page instead of a 404: %.80q", path, body)
		}
	}
}

func TestMethods(t *testing.T) {
	t.Parallel()
	mux := newMux(demoOptions)
	res, body := get(t, mux, http.MethodHead, "/demo", nil)
	if res.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD /demo: status %d, body %d bytes; want 200 and none", res.StatusCode, len(body))
	}
	for _, path := range []string{"/", "/demo", "/static/style.css", "/ui/config.json"} {
		res, _ := get(t, mux, http.MethodPost, path, nil)
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: status %d, want 405", path, res.StatusCode)
		}
	}
}

func TestETag(t *testing.T) {
	t.Parallel()
	mux := newMux(demoOptions)
	for _, path := range []string{"/", "/static/demo.js", "/herald.js"} {
		res, _ := get(t, mux, http.MethodGet, path, nil)
		etag := res.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", path)
			continue
		}
		res, body := get(t, mux, http.MethodGet, path, http.Header{"If-None-Match": {etag}})
		if res.StatusCode != http.StatusNotModified || body != "" {
			t.Errorf("GET %s with its ETag: status %d, body %d bytes; want 304 and none", path, res.StatusCode, len(body))
		}
	}
}

var (
	// htmlRef finds the URLs of src and href attributes.
	htmlRef = regexp.MustCompile(`(?:src|href)="([^"]*)"`)
	// jsImport finds the modules a JavaScript module imports.
	jsImport = regexp.MustCompile(`(?m)^\s*(?:import|export)\b[^;]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'`)
)

// TestReferences checks that every file a page or module refers to is
// served, and that nothing comes from another host.
func TestReferences(t *testing.T) {
	t.Parallel()
	mux := newMux(demoOptions)
	check := func(from, ref string) {
		if strings.HasPrefix(ref, "#") {
			return
		}
		if strings.Contains(ref, "//") {
			t.Errorf("%s refers to another host: %q", from, ref)
			return
		}
		path, _, _ := strings.Cut(ref, "?")
		if !strings.HasPrefix(path, "/") {
			path = "/static/" + strings.TrimPrefix(path, "./")
		}
		if res, _ := get(t, mux, http.MethodGet, path, nil); res.StatusCode != http.StatusOK {
			t.Errorf("%s refers to %q: status %d", from, ref, res.StatusCode)
		}
	}
	for _, page := range []string{"/", "/demo"} {
		_, body := get(t, mux, http.MethodGet, page, nil)
		for _, m := range htmlRef.FindAllStringSubmatch(body, -1) {
			check(page, m[1])
		}
	}
	w := New(demoOptions)
	for name := range w.static {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		_, body := get(t, mux, http.MethodGet, "/static/"+name, nil)
		for _, m := range jsImport.FindAllStringSubmatch(body, -1) {
			check(name, m[1]+m[2])
		}
	}
}

func TestClientServedToAnyOrigin(t *testing.T) {
	mux := http.NewServeMux()
	RegisterClient(mux)
	for _, path := range []string{"/herald.js", "/herald.d.ts"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Access-Control-Allow-Origin") != "*" || rec.Body.Len() == 0 {
			t.Errorf("%s: %d, ACAO %q, %d bytes", path, rec.Code, rec.Header().Get("Access-Control-Allow-Origin"), rec.Body.Len())
		}
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/demo", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("/demo without the UI: %d, want 404", rec.Code)
	}
}

// TestNoInlineCode checks that the pages keep their scripts and styles in
// files, as their Content-Security-Policy requires.
func TestNoInlineCode(t *testing.T) {
	t.Parallel()
	mux := newMux(demoOptions)
	scriptTag := regexp.MustCompile(`(?i)<script\b[^>]*>`)
	for _, path := range []string{"/", "/demo"} {
		_, body := get(t, mux, http.MethodGet, path, nil)
		for _, tag := range scriptTag.FindAllString(body, -1) {
			if !strings.Contains(tag, ` src="`) {
				t.Errorf("%s: a script without src: %s", path, tag)
			}
		}
		for _, bad := range []*regexp.Regexp{regexp.MustCompile(`(?i)<style\b`), regexp.MustCompile(`(?i)\sstyle=`), regexp.MustCompile(`(?i)\son[a-z]+=`)} {
			if m := bad.FindString(body); m != "" {
				t.Errorf("%s: inline code the CSP blocks: %q", path, m)
			}
		}
	}
}
