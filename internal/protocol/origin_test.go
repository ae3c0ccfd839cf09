package protocol_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldrt/herald/internal/protocol"
)

func TestOriginAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		host     string // the request's Host
		origin   string // "" sends no Origin header
		patterns []string
		want     bool
	}{
		// No Origin: not a browser, allowed whatever the patterns.
		{"no origin", "herald.example:8080", "", nil, true},
		{"no origin with patterns", "herald.example:8080", "", []string{"https://app.example"}, true},

		// No patterns: same host only.
		{"same host", "herald.example:8080", "http://herald.example:8080", nil, true},
		{"same host other scheme", "herald.example:8080", "https://herald.example:8080", nil, true},
		{"same host with path", "herald.example", "http://herald.example/page", nil, true},
		{"same host other case", "Herald.Example", "http://herald.EXAMPLE", nil, true},
		{"same name other port", "herald.example:8080", "http://herald.example:9090", nil, false},
		{"same name no port", "herald.example:8080", "http://herald.example", nil, false},
		{"other host", "herald.example", "http://evil.example", nil, false},
		{"host as suffix", "herald.example", "http://evilherald.example", nil, false},
		{"host as prefix", "herald.example", "http://herald.example.evil", nil, false},
		{"userinfo trick", "herald.example", "http://herald.example@evil.example", nil, false},
		{"loopback", "127.0.0.1:8080", "http://127.0.0.1:8080", nil, true},
		{"localhost vs 127.0.0.1", "127.0.0.1:8080", "http://localhost:8080", nil, false},

		// Malformed origins are refused.
		{"null", "herald.example", "null", nil, false},
		{"no scheme", "herald.example", "herald.example", nil, false},
		{"no host", "herald.example", "http://", nil, false},
		{"bad ipv6", "herald.example", "http://[::1", nil, false},
		{"bad port", "herald.example", "http://herald.example:port", nil, false},
		{"control byte", "herald.example", "http://herald.example\x7f", nil, false},
		{"spaces", "herald.example", "http://herald .example", nil, false},

		// "*": any well-formed origin.
		{"star", "herald.example", "https://anything.example", []string{"*"}, true},
		{"star after others", "herald.example", "https://anything.example", []string{"https://a.example", "*"}, true},
		{"star and malformed", "herald.example", "http://[::1", []string{"*"}, false},
		// "null" (sandboxed frames, file: pages) has no host, so even "*"
		// refuses it.
		{"star and null", "herald.example", "null", []string{"*"}, false},

		// Exact patterns.
		{"exact", "herald.example", "https://app.example.com", []string{"https://app.example.com"}, true},
		{"exact other scheme", "herald.example", "http://app.example.com", []string{"https://app.example.com"}, false},
		{"exact other port", "herald.example", "https://app.example.com:8443", []string{"https://app.example.com"}, false},
		{"exact with port", "herald.example", "https://app.example.com:8443", []string{"https://app.example.com:8443"}, true},
		{"exact trailing slash in pattern", "herald.example", "https://app.example.com", []string{"https://app.example.com/"}, true},
		{"exact pattern case", "herald.example", "https://app.example.com", []string{"HTTPS://App.Example.COM"}, true},
		{"exact origin case", "herald.example", "HTTPS://APP.EXAMPLE.COM", []string{"https://app.example.com"}, true},
		{"exact origin path ignored", "herald.example", "https://app.example.com/x/y", []string{"https://app.example.com"}, true},
		{"exact suffix", "herald.example", "https://app.example.com.evil", []string{"https://app.example.com"}, false},
		{"exact second pattern", "herald.example", "https://b.example", []string{"https://a.example", "https://b.example"}, true},
		// With patterns the node's own host is no longer implied.
		{"patterns exclude own host", "herald.example", "http://herald.example", []string{"https://app.example"}, false},

		// Wildcard patterns.
		{"wildcard subdomain", "h", "https://app.example.com", []string{"https://*.example.com"}, true},
		{"wildcard nested subdomain", "h", "https://a.b.example.com", []string{"https://*.example.com"}, true},
		{"wildcard bare domain", "h", "https://example.com", []string{"https://*.example.com"}, false},
		{"wildcard other domain", "h", "https://example.com.evil", []string{"https://*.example.com"}, false},
		{"wildcard lookalike", "h", "https://evilexample.com", []string{"https://*.example.com"}, false},
		{"wildcard other scheme", "h", "http://app.example.com", []string{"https://*.example.com"}, false},
		{"wildcard port", "h", "http://localhost:3000", []string{"http://localhost:*"}, true},
		{"wildcard port no port", "h", "http://localhost", []string{"http://localhost:*"}, false},
		{"wildcard scheme", "h", "wss://app.example.com", []string{"*://app.example.com"}, true},
		{"question mark", "h", "https://a1.example.com", []string{"https://a?.example.com"}, true},
		{"class", "h", "https://b.example.com", []string{"https://[ab].example.com"}, true},
		{"malformed pattern", "h", "https://a.example.com", []string{"https://[.example.com"}, false},
		{"malformed pattern then good", "h", "https://a.example.com", []string{"https://[", "https://a.example.com"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/ws", nil)
			r.Host = tt.host
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if got := protocol.OriginAllowed(r, tt.patterns); got != tt.want {
				t.Errorf("protocol.OriginAllowed(Host %q, Origin %q, %q) = %v, want %v", tt.host, tt.origin, tt.patterns, got, tt.want)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		header, token string
		ok            bool
	}{
		{"Bearer k", "k", true},
		{"bearer k", "k", true},
		{"BEARER k", "k", true},
		{"Bearer   k", "k", true},
		{"Bearer k k", "k k", true},
		{"Bearer ", "", false},
		{"Bearer", "", false},
		{"Bearerk", "", false},
		{"Basic k", "", false},
		{"k", "", false},
		{"", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		token, ok := protocol.BearerToken(r)
		if token != tt.token || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, token, ok, tt.token, tt.ok)
		}
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer k", "bearer  k", "Basic x", "Bearer", "Bearer ", "", "BeArEr \x00", "Bearer\tk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{header}
		token, ok := protocol.BearerToken(r)
		if !ok {
			if token != "" {
				t.Fatalf("refused %q but returned %q", header, token)
			}
			return
		}
		// A token is what follows "Bearer" (any case) and spaces, whole.
		if token == "" || token[0] == ' ' || !strings.HasSuffix(header, token) || !strings.EqualFold(header[:7], "Bearer ") {
			t.Fatalf("BearerToken(%q) = %q", header, token)
		}
	})
}
