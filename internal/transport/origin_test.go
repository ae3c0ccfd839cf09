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

func TestChannelAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		patterns []string
		channel  string
		want     bool
	}{
		{nil, "chat", false},
		{[]string{}, "chat", false},
		{[]string{"chat.>"}, "chat.room", true},
		{[]string{"chat.>"}, "news", false},
		{[]string{"news", "chat.>"}, "news", true},
		{[]string{"news", "chat.>"}, "chat.a.b", true},
		{[]string{"news", "chat.>"}, "news.x", false},
		{[]string{">"}, "anything.at.all", true},
		{[]string{""}, "chat", false},
	}
	for _, tt := range tests {
		if got := channelAllowed(tt.patterns, tt.channel); got != tt.want {
			t.Errorf("channelAllowed(%q, %q) = %v, want %v", tt.patterns, tt.channel, got, tt.want)
		}
	}
}
