package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const secret = "test-secret-of-thirty-two-bytes!"

func hmacVerifier(t *testing.T, o Options) *Verifier {
	t.Helper()
	if o.Secret == "" && len(o.PublicKeys) == 0 && o.JWKSURL == "" {
		o.Secret = secret
	}
	v, err := NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func sign(t *testing.T, s *Signer, c Claims) string {
	t.Helper()
	if c.Expires.IsZero() {
		c.Expires = time.Now().Add(time.Minute)
	}
	tok, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// writePEM writes a public key as PKIX PEM and returns the path and bytes.
func writePEM(t *testing.T, pub any) (string, []byte) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, b
}

func TestVerifyAcceptsAGoodTokenAndKeepsItsClaims(t *testing.T) {
	v := hmacVerifier(t, Options{})
	tok := sign(t, NewHMACSigner(secret), Claims{
		Sub: "alice", Info: json.RawMessage(`{"name":"Alice"}`),
		Subscribe: []string{"room.*"}, Publish: []string{"chat.>"}, Channels: []string{"news"},
	})
	id, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if id.User != "alice" || string(id.Info) != `{"name":"Alice"}` || id.Subscribe[0] != "room.*" || id.Publish[0] != "chat.>" || id.Channels[0] != "news" {
		t.Fatalf("identity %+v", id)
	}
	if time.Until(id.Expires) < 50*time.Second {
		t.Fatalf("expires %v", id.Expires)
	}
}

func TestVerifyRefusesEachBadTokenWithItsReason(t *testing.T) {
	v := hmacVerifier(t, Options{Issuer: "https://app.example", Audience: "herald", Leeway: time.Second})
	good := NewHMACSigner(secret)
	other := NewHMACSigner("another-secret-entirely-different")
	now := time.Now()
	ok := Claims{Sub: "alice", Issuer: "https://app.example", Audience: []string{"herald"}}
	with := func(f func(*Claims)) Claims { c := ok; f(&c); return c }
	cases := []struct {
		name, token, reason string
	}{
		{"no token", "", ReasonMissing},
		{"not a JWT", "hello", ReasonMalformed},
		{"three garbage parts", "a.b.c", ReasonMalformed},
		{"wrong secret", sign(t, other, ok), ReasonBadSignature},
		{"expired", sign(t, good, with(func(c *Claims) { c.Expires = now.Add(-time.Minute) })), ReasonExpired},
		{"not yet valid", sign(t, good, with(func(c *Claims) { c.NotBefore = now.Add(time.Minute) })), ReasonNotYetValid},
		{"issued in the future", sign(t, good, with(func(c *Claims) { c.IssuedAt = now.Add(time.Minute) })), ReasonNotYetValid},
		{"wrong issuer", sign(t, good, with(func(c *Claims) { c.Issuer = "https://evil.example" })), ReasonWrongIssuer},
		{"no issuer", sign(t, good, with(func(c *Claims) { c.Issuer = "" })), ReasonWrongIssuer},
		{"wrong audience", sign(t, good, with(func(c *Claims) { c.Audience = []string{"other"} })), ReasonWrongAud},
		{"info too big", sign(t, good, with(func(c *Claims) { c.Info = json.RawMessage(`"` + strings.Repeat("x", 1100) + `"`) })), ReasonMalformed},
		{"bad subscribe pattern", sign(t, good, with(func(c *Claims) { c.Subscribe = []string{"a.>.b"} })), ReasonMalformed},
		{"bad channels claim", sign(t, good, with(func(c *Claims) { c.Channels = []string{"has space"} })), ReasonMalformed},
		{"subscription token used to connect", sign(t, good, with(func(c *Claims) { c.Channel = "room.1" })), ReasonMalformed},
		{"alg none", noneToken(t, `{"sub":"alice","exp":`+itoa(now.Add(time.Hour).Unix())+`}`), ReasonBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Verify(c.token)
			if err == nil || err.Reason != c.reason {
				t.Fatalf("got %v, want reason %s", err, c.reason)
			}
			if c.token != "" && strings.Contains(err.Message, c.token) {
				t.Fatal("the message quotes the token")
			}
		})
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// noneToken builds an unsigned token with alg none.
func noneToken(t *testing.T, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc([]byte(payload)) + "."
}

func TestVerifyRefusesATokenWithNoSubOrNoExp(t *testing.T) {
	v := hmacVerifier(t, Options{})
	for name, c := range map[string]jwt.MapClaims{
		"no sub":           {"exp": time.Now().Add(time.Hour).Unix()},
		"empty sub":        {"sub": "", "exp": time.Now().Add(time.Hour).Unix()},
		"no exp":           {"sub": "alice"},
		"sub not a string": {"sub": 42, "exp": time.Now().Add(time.Hour).Unix()},
	} {
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
		if _, err := v.Verify(tok); err == nil || err.Reason != ReasonMalformed {
			t.Errorf("%s: got %v, want malformed", name, err)
		}
	}
}

func TestEachKeyAcceptsOnlyItsOwnAlgorithmFamily(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsaPath, rsaPEM := writePEM(t, &rsaKey.PublicKey)
	ecPath, ecPEM := writePEM(t, &ecKey.PublicKey)
	edPath, _ := writePEM(t, edPub)
	v := hmacVerifier(t, Options{PublicKeys: []string{rsaPath, ecPath, edPath}})

	for name, key := range map[string]crypto.Signer{"RS256": rsaKey, "ES256": ecKey, "EdDSA": edPriv} {
		s, err := NewKeySigner(key)
		if err != nil {
			t.Fatal(err)
		}
		if _, verr := v.Verify(sign(t, s, Claims{Sub: "alice"})); verr != nil {
			t.Errorf("%s: %v", name, verr)
		}
	}
	// HS256 "signed" with the public key's PEM bytes: the classic
	// confusion. No secret is configured, so no HMAC key exists.
	for name, pemBytes := range map[string][]byte{"rsa": rsaPEM, "ec": ecPEM} {
		forged := sign(t, NewHMACSigner(string(pemBytes)), Claims{Sub: "mallory"})
		if _, err := v.Verify(forged); err == nil {
			t.Errorf("HS256 signed with the %s public key PEM was accepted", name)
		}
	}
	// A token signed by a key that is not configured.
	stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
	s, _ := NewKeySigner(stranger)
	if _, err := v.Verify(sign(t, s, Claims{Sub: "mallory"})); err == nil || err.Reason != ReasonBadSignature {
		t.Errorf("a stranger's RSA token: %v", err)
	}
	// With only an HMAC secret, an RSA token has no key at all.
	hv := hmacVerifier(t, Options{})
	rs, _ := NewKeySigner(rsaKey)
	if _, err := hv.Verify(sign(t, rs, Claims{Sub: "alice"})); err == nil || err.Reason != ReasonBadSignature {
		t.Errorf("an RSA token against an HMAC-only verifier: %v", err)
	}
	if _, err := v.Verify(noneToken(t, `{"sub":"alice","exp":9999999999}`)); err == nil {
		t.Error("alg none accepted with public keys")
	}
}

func TestRotatedPublicKeysBothVerify(t *testing.T) {
	oldKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	oldPath, _ := writePEM(t, &oldKey.PublicKey)
	newPath, _ := writePEM(t, &newKey.PublicKey)
	v := hmacVerifier(t, Options{PublicKeys: []string{oldPath, newPath}})
	for _, k := range []*ecdsa.PrivateKey{oldKey, newKey} {
		s, _ := NewKeySigner(k)
		if _, err := v.Verify(sign(t, s, Claims{Sub: "alice"})); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyGrantChecksUserAndChannel(t *testing.T) {
	v := hmacVerifier(t, Options{})
	s := NewHMACSigner(secret)
	g, err := v.VerifyGrant(sign(t, s, Claims{Sub: "alice", Channel: "room.7"}))
	if err != nil || !g.Covers("alice", "room.7") {
		t.Fatalf("%+v %v", g, err)
	}
	if g.Covers("bob", "room.7") || g.Covers("alice", "room.8") || g.Covers("", "room.7") {
		t.Error("a grant covers another user or channel")
	}
	if _, err := v.VerifyGrant(sign(t, s, Claims{Sub: "alice"})); err == nil {
		t.Error("a connection token accepted as a subscription token")
	}
	if _, err := v.VerifyGrant(sign(t, s, Claims{Sub: "alice", Channel: "room.7", Expires: time.Now().Add(-time.Hour)})); err == nil || err.Reason != ReasonExpired {
		t.Errorf("expired grant: %v", err)
	}
}

func TestLoadPublicKeyExplainsWrongFiles(t *testing.T) {
	dir := t.TempDir()
	priv := filepath.Join(dir, "priv.pem")
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if _, err := LoadPublicKey(priv); err == nil || !strings.Contains(err.Error(), "private key does not belong") {
		t.Errorf("private key: %v", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not pem"), 0o600)
	if _, err := LoadPublicKey(junk); err == nil || !strings.Contains(err.Error(), "no PEM block") {
		t.Errorf("junk: %v", err)
	}
	if _, err := LoadPublicKey(filepath.Join(dir, "absent.pem")); err == nil {
		t.Error("absent file loaded")
	}
}
