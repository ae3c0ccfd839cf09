package transport

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/heraldrt/herald/internal/protocol"
)

// originAllowed reports whether a request may open a client connection.
// Requests without an Origin header (non-browser clients) are allowed. With
// no patterns, only the request's own host is allowed; "*" allows any
// origin; other patterns match the whole origin ("https://app.example.com")
// with shell-style wildcards ("https://*.example.com").
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if len(patterns) == 0 {
		return strings.EqualFold(u.Host, r.Host)
	}
	o := strings.ToLower(u.Scheme + "://" + u.Host)
	for _, p := range patterns {
		if p == "*" {
			return true
		}
		if ok, _ := path.Match(strings.ToLower(strings.TrimSuffix(p, "/")), o); ok {
			return true
		}
	}
	return false
}

// allowCORS lets an allowed cross-origin page read SSE and long-poll
// responses.
func allowCORS(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Add("Vary", "Origin")
	}
}

// channelAllowed reports whether channel matches one of the patterns. A
// pattern is a channel name whose tokens may be '*' (any one token) or, as
// the last token, '>' (one or more tokens).
func channelAllowed(patterns []string, channel string) bool {
	for _, p := range patterns {
		if protocol.MatchPattern(p, channel) {
			return true
		}
	}
	return false
}
