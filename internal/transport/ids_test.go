package transport

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestSessionIDs(t *testing.T) {
	t.Parallel()
	p := &polls{route: randomID(routeBytes)}
	seen := map[string]bool{}
	for range 1000 {
		secret := randomID(secretBytes)
		id := p.route + "." + secret
		route, got, ok := parseSessionID(id)
		if !ok || route != p.route || got != secret {
			t.Fatalf("parseSessionID(%q) = %q, %q, %v", id, route, got, ok)
		}
		if raw, err := base64.RawURLEncoding.DecodeString(got); err != nil || len(raw) != 16 {
			t.Fatalf("secret %q: %d bytes, %v; want 16 random bytes", got, len(raw), err)
		}
		if len(id) > 64 || seen[secret] {
			t.Fatalf("id %q: %d bytes, seen before %v", id, len(id), seen[secret])
		}
		seen[secret] = true
	}
	for _, bad := range []string{"", ".", "a.", ".a", "a", "a.b.c", "a b.c", "a.b c", "a.b+c", "ä.b", strings.Repeat("a", 33) + "." + strings.Repeat("b", 32)} {
		if _, _, ok := parseSessionID(bad); ok {
			t.Errorf("parseSessionID(%q) accepted", bad)
		}
	}
}

func FuzzParseSessionID(f *testing.F) {
	for _, s := range []string{
		"Qgchsen7Cn4.4HZHGhULqZMxa37utOcpDg", "a.b", "a.b.c", ".", "", "a..b", "a.b\x00", "\xff.\xfe",
		strings.Repeat("a", 40) + "." + strings.Repeat("b", 30), "-_.-_",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		route, secret, ok := parseSessionID(id)
		if !ok {
			if route != "" || secret != "" {
				t.Fatalf("refused %q but returned %q, %q", id, route, secret)
			}
			return
		}
		// What is accepted is two base64url tokens joined by one '.', at
		// most 64 bytes in all, safe as a NATS subject token.
		if len(id) > 64 || route+"."+secret != id || route == "" || secret == "" {
			t.Fatalf("accepted %q as %q and %q", id, route, secret)
		}
		if strings.ContainsAny(route+secret, ". *>\t\r\n\x00") {
			t.Fatalf("accepted %q with a byte a NATS subject token cannot hold", id)
		}
	})
}
