package transport

import (
	"net/http/httptest"
	"testing"
)

func TestAllowCORS(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/sse", nil)
	allowCORS(rec, r)
	if v := rec.Header().Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("no Origin: Access-Control-Allow-Origin %q", v)
	}
	rec = httptest.NewRecorder()
	r.Header.Set("Origin", "https://app.example")
	allowCORS(rec, r)
	if v := rec.Header().Get("Access-Control-Allow-Origin"); v != "https://app.example" {
		t.Errorf("Access-Control-Allow-Origin %q", v)
	}
	if v := rec.Header().Get("Vary"); v != "Origin" {
		t.Errorf("Vary %q", v)
	}
}
