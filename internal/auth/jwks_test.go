package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
)

// jwksServer is a real HTTP server publishing a JWK set that a test can
// change or stop.
type jwksServer struct {
	mu      sync.Mutex
	keys    []jwkset.JWKMarshal
	down    bool
	fetches int
	srv     *httptest.Server
}

func newJWKSServer(t *testing.T) *jwksServer {
	j := &jwksServer{}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.fetches++
		if j.down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(jwkset.JWKSMarshal{Keys: j.keys})
	}))
	t.Cleanup(j.srv.Close)
	return j
}

// publish replaces the set with the public halves of keys, by kid.
func (j *jwksServer) publish(t *testing.T, keys map[string]*ecdsa.PrivateKey) {
	t.Helper()
	var list []jwkset.JWKMarshal
	for kid, k := range keys {
		jwk, err := jwkset.NewJWKFromKey(&k.PublicKey, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: jwkset.AlgES256, USE: jwkset.UseSig}})
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, jwk.Marshal())
	}
	j.mu.Lock()
	j.keys, j.down = list, false
	j.mu.Unlock()
}

func (j *jwksServer) setDown(down bool) {
	j.mu.Lock()
	j.down = down
	j.mu.Unlock()
}

func signerWithKID(t *testing.T, k *ecdsa.PrivateKey, kid string) *Signer {
	s, err := NewKeySigner(k)
	if err != nil {
		t.Fatal(err)
	}
	s.KeyID = kid
	return s
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJWKSRotationAcceptsNewKeysAndDropsRemovedOnes(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	j := newJWKSServer(t)
	j.publish(t, map[string]*ecdsa.PrivateKey{"k1": k1})
	v := hmacVerifier(t, Options{JWKSURL: j.srv.URL, JWKSRefresh: 300 * time.Millisecond})

	old := sign(t, signerWithKID(t, k1, "k1"), Claims{Sub: "alice"})
	eventually(t, 5*time.Second, "the first fetch verifies k1", func() bool { _, err := v.Verify(old); return err == nil })

	// A token with a kid the cache lacks makes one refetch, which finds it.
	j.publish(t, map[string]*ecdsa.PrivateKey{"k2": k2})
	fresh := sign(t, signerWithKID(t, k2, "k2"), Claims{Sub: "alice"})
	eventually(t, 5*time.Second, "the rotated-in k2 verifies", func() bool { _, err := v.Verify(fresh); return err == nil })
	// k1 was removed: after a refresh it is refused as unknown.
	eventually(t, 5*time.Second, "the removed k1 is refused", func() bool {
		_, err := v.Verify(old)
		return err != nil && err.Reason == ReasonUnknownKey
	})

	// An unknown kid refetches at most once per refresh period.
	j.mu.Lock()
	before := j.fetches
	j.mu.Unlock()
	k3, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger := sign(t, signerWithKID(t, k3, "k3"), Claims{Sub: "mallory"})
	for range 20 {
		if _, err := v.Verify(stranger); err == nil || err.Reason != ReasonUnknownKey {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	j.mu.Lock()
	after := j.fetches
	j.mu.Unlock()
	if after-before > 3 { // one for the unknown kid, and at most two periodic refreshes meanwhile
		t.Errorf("20 tokens with an unknown kid made %d fetches", after-before)
	}

	// The JWKS goes down: keys fetched before keep working.
	j.setDown(true)
	eventually(t, 5*time.Second, "a failed refresh", func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.fetches > after+1
	})
	if _, err := v.Verify(fresh); err != nil {
		t.Fatalf("with the JWKS down, a cached key stopped verifying: %v", err)
	}
}

func TestJWKSDownAtStartIsNotFatal(t *testing.T) {
	j := newJWKSServer(t)
	j.setDown(true)
	v := hmacVerifier(t, Options{JWKSURL: j.srv.URL, JWKSRefresh: time.Minute})
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := v.Verify(sign(t, signerWithKID(t, k, "k"), Claims{Sub: "alice"})); err == nil || err.Reason != ReasonUnknownKey {
		t.Fatalf("got %v, want unknown_key", err)
	}
}
