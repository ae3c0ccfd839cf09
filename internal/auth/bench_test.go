package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkVerify measures what verifying one connection token costs, per
// algorithm: the work a connect adds when tokens are on.
func BenchmarkVerify(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	path := filepath.Join(b.TempDir(), "es256.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	v, err := NewVerifier(Options{Secret: secret, PublicKeys: []string{path}, Leeway: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	es, _ := NewKeySigner(key)
	c := Claims{Sub: "bench", Subscribe: []string{"bench.>"}, Expires: time.Now().Add(time.Hour), IssuedAt: time.Now()}
	for name, s := range map[string]*Signer{"HS256": NewHMACSigner(secret), "ES256": es} {
		tok, err := s.Sign(c)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSubscribeGranted is the rules' decision for a subscribe that
// the token's claim grants.
func BenchmarkSubscribeGranted(b *testing.B) {
	r, _ := Compile(nil, Defaults{Auth: true})
	v, err := NewVerifier(Options{Secret: secret})
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := NewHMACSigner(secret).Sign(Claims{Sub: "bench", Subscribe: []string{"bench.>"}, Expires: time.Now().Add(time.Hour)})
	id, verr := v.Verify(tok)
	if verr != nil {
		b.Fatal(verr)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r.Subscribe(id, "bench.42", false) != nil {
			b.Fatal("refused")
		}
	}
}
