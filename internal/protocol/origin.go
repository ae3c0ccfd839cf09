package protocol

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// OriginAllowed reports whether a browser page may send r: open a client
// connection, or call a keyless API.
// Requests without an Origin header (non-browser clients) are allowed. With
// no patterns, only the request's own host is allowed; "*" allows any
// origin; other patterns match the whole origin ("https://app.example.com")
// with shell-style wildcards ("https://*.example.com").
func OriginAllowed(r *http.Request, patterns []string) bool {
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
