package transport

import "net/http"

// allowCORS lets an allowed cross-origin page read SSE and long-poll
// responses.
func allowCORS(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Add("Vary", "Origin")
	}
}
