package transport

import (
	"net/http"

	"github.com/heraldrt/herald/internal/protocol"
)

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
