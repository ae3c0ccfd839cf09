package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	heraldjs "github.com/heraldrt/herald/clients/js"
)

// Options configure the pages.
type Options struct {
	// NodeName is the name of the node serving the pages, shown in their
	// header.
	NodeName string
	// Role is the serving node's role: all, gateway or api. Empty means
	// all.
	Role string
	// Gateways are the base URLs of the gateway nodes the pages connect to,
	// such as http://gw1.example.com:8080. Empty: the pages connect to the
	// node that serves them, which then must serve clients (role all or
	// gateway). Each gateway must allow the pages' origin (its
	// --allowed-origins) and is added to the Content-Security-Policy's
	// connect-src; an entry that is not an http or https URL is left out of
	// it, so the browser refuses to connect there.
	Gateways []string
	// Ping says that the serving node answers POST /ping, which the demo's
	// "Call API" buttons call.
	Ping bool
	// Stats is where the dashboard's node stats come from (GET
	// /ui/stats); nil: nowhere, the dashboard shows none.
	Stats Stats
}

// errClosed is a stats stream asked for after Close.
var errClosed = errors.New("web: closed")

// Web serves the dashboard, the demo and their assets.
type Web struct {
	feed   *feed // nil without Options.Stats
	csp    string
	config asset
	pages  map[string]asset // by file name under ui/
	static map[string]asset // by path under ui/static/
	script asset            // herald.js
	types  asset            // herald.d.ts
}

// New returns the pages for o.
func New(o Options) *Web {
	if o.Role == "" {
		o.Role = "all"
	}
	gateways := make([]string, 0, len(o.Gateways))
	for _, g := range o.Gateways {
		if g = strings.TrimRight(strings.TrimSpace(g), "/"); g != "" {
			gateways = append(gateways, g)
		}
	}
	o.Gateways = gateways
	cfg, err := json.Marshal(struct {
		Node     string   `json:"node"`
		Role     string   `json:"role"`
		Gateways []string `json:"gateways"`
		Ping     bool     `json:"ping"`
	}{o.NodeName, o.Role, o.Gateways, o.Ping})
	if err != nil {
		panic("web: encoding config: " + err.Error()) // strings and a bool cannot fail
	}
	pages, static := embedded()
	var f *feed
	if o.Stats != nil {
		f = &feed{src: o.Stats, listeners: make(map[chan []byte]struct{})}
	}
	return &Web{
		feed:   f,
		csp:    contentSecurityPolicy(o.Gateways),
		config: newAsset(cfg, "application/json"),
		pages:  pages,
		static: static,
		script: newAsset(heraldjs.Script, "text/javascript; charset=utf-8"),
		types:  newAsset(heraldjs.Types, "application/typescript; charset=utf-8"),
	}
}

// Register adds the pages and their assets to mux:
//
//	GET /               the cluster dashboard
//	GET /demo           the two-client demo
//	GET /herald.js      the browser client, and /herald.d.ts its types
//	GET /ui/config.json the pages' configuration
//	GET /ui/stats       every node's stats, as Server-Sent Events
//	GET /static/...     the pages' styles and scripts
func (w *Web) Register(mux *http.ServeMux) {
	mux.Handle("GET /{$}", w.serve(w.pages["index.html"], cachePage))
	mux.Handle("GET /demo", w.serve(w.pages["demo.html"], cachePage))
	w.registerClient(mux)
	mux.Handle("GET /ui/config.json", w.serve(w.config, cacheConfig))
	mux.HandleFunc("GET /ui/stats", w.serveStats)
	mux.HandleFunc("GET /static/{file...}", func(rw http.ResponseWriter, r *http.Request) {
		a, ok := w.static[r.PathValue("file")]
		if !ok {
			http.NotFound(rw, r)
			return
		}
		w.serve(a, cacheAsset).ServeHTTP(rw, r)
	})
}

// Close ends the dashboards' stats streams, so that a node shutting down
// does not wait for them.
func (w *Web) Close() {
	if w.feed != nil {
		w.feed.close()
	}
}

// RegisterClient serves the browser client alone, for nodes without the
// UI: GET /herald.js and /herald.d.ts.
func RegisterClient(mux *http.ServeMux) { New(Options{}).registerClient(mux) }

// registerClient serves herald.js and its types to pages of any origin, so
// that an app can import the module straight from a node.
func (w *Web) registerClient(mux *http.ServeMux) {
	for path, a := range map[string]asset{"GET /herald.js": w.script, "GET /herald.d.ts": w.types} {
		serve := w.serve(a, cacheAsset)
		mux.HandleFunc(path, func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Access-Control-Allow-Origin", "*")
			serve.ServeHTTP(rw, r)
		})
	}
}

// Cache-Control values. Pages and assets are revalidated on every use (an
// upgraded node serves new ones at once; an unchanged one answers 304 to
// the ETag); the configuration is never stored.
const (
	cachePage   = "no-cache"
	cacheAsset  = "no-cache"
	cacheConfig = "no-store"
)

// serve answers with a and the security headers shared by every response.
func (w *Web) serve(a asset, cacheControl string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Content-Security-Policy", w.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", cacheControl)
		a.serve(rw, r)
	})
}

// contentSecurityPolicy allows the pages to run only their own scripts and
// styles, and to connect only to their own origin and to the gateways (over
// HTTP for SSE and long polling, and WebSocket).
func contentSecurityPolicy(gateways []string) string {
	connect := []string{"'self'"}
	for _, g := range gateways {
		u, err := url.Parse(g)
		if err != nil || !validHost(u.Host) {
			continue
		}
		var sources []string
		switch u.Scheme {
		case "http":
			sources = []string{"http://" + u.Host, "ws://" + u.Host}
		case "https":
			sources = []string{"https://" + u.Host, "wss://" + u.Host}
		}
		for _, s := range sources {
			if !slices.Contains(connect, s) {
				connect = append(connect, s)
			}
		}
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self'",
		"connect-src " + strings.Join(connect, " "),
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// validHost reports whether host (with its port) can be written into a
// CSP source expression as is.
func validHost(host string) bool {
	if host == "" {
		return false
	}
	for _, c := range host {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}
