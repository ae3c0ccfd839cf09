package auth

import (
	"encoding/base64"

	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldrt/herald/internal/protocol"
)

// FuzzVerify feeds arbitrary tokens and signed arbitrary claims to the
// verifier: it must never panic, and whatever it accepts has a user.
func FuzzVerify(f *testing.F) {
	s := NewHMACSigner(secret)
	tok, _ := s.Sign(Claims{Sub: "alice", Expires: time.Now().Add(time.Hour), Subscribe: []string{"a.>"}})
	f.Add(tok, `{"sub":"a","exp":9999999999}`)
	f.Add("a.b.c", `{"sub":"","exp":1}`)
	f.Add("", `{"sub":"x","exp":9999999999,"info":{"k":[1,2]},"channels":["x.y"],"subscribe":["{user}.>"]}`)
	f.Add("eyJhbGciOiJub25lIn0.e30.", `{"sub":1}`)
	v, err := NewVerifier(Options{Secret: secret})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token, payload string) {
		if id, err := v.Verify(token); err == nil && id.User == "" {
			t.Fatal("accepted a token without a user")
		}
		// The same payload, validly signed: the claim decoding is what runs.
		signed := signRaw(t, payload)
		id, verr := v.Verify(signed)
		if verr == nil {
			if id.User == "" || len(id.Info) > MaxInfoBytes {
				t.Fatalf("accepted %q as %+v", payload, id)
			}
			for _, ch := range id.Channels {
				if protocol.ValidateClientChannel(ch, 1024) != nil {
					t.Fatalf("accepted channel %q", ch)
				}
			}
		} else if strings.Contains(verr.Message, signed) {
			t.Fatal("a refusal quotes the token")
		}
	})
}

// FuzzRules checks that the matcher never panics, that a pattern without
// {user} matches as protocol.MatchPattern does, and that an owner rule
// lets only the owner in.
func FuzzRules(f *testing.F) {
	f.Add("user.{user}.>", "user.alice.inbox", "alice")
	f.Add("a.*.c", "a.b.c", "b")
	f.Add(">", "x", "")
	f.Add("a.{user}", "a.b.c", "b.c")
	f.Fuzz(func(t *testing.T, pat, ch, user string) {
		p, err := parsePattern(pat)
		if err != nil || protocol.ValidateChannel(ch, 1024) != nil {
			return
		}
		tok, ok := p.match(ch)
		if p.user < 0 && ok != protocol.MatchPattern(pat, ch) {
			t.Fatalf("%q ~ %q: %v", pat, ch, ok)
		}
		if p.user < 0 {
			return
		}
		r, err := Compile([]RuleSpec{{Pattern: pat, Subscribe: Owner}}, Defaults{Auth: true})
		if err != nil {
			t.Fatal(err)
		}
		allowed := r.Subscribe(&Identity{User: user}, ch, true) == nil
		if ok && allowed && (tok != user || !ValidUser(user) || strings.Contains(user, ".")) {
			t.Fatalf("user %q allowed on %q by %q", user, ch, pat)
		}
	})
}

// signRaw signs payload as it is, whatever its shape, with the test secret.
func signRaw(t *testing.T, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	unsigned := enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(unsigned, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(sig)
}
