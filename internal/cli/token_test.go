package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/heraldtest"
)

func TestTokenMintsWhatANodeAccepts(t *testing.T) {
	t.Parallel()
	res := run(t, context.Background(), nil, "token", "--token-secret", heraldtest.Secret, "--sub", "alice",
		"--subscribe", "room.*,team.{user}.>", "--publish", "chat.>", "--channels", "news", "--info", `{"name":"Alice"}`, "--ttl", "10m")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	v, err := auth.NewVerifier(auth.Options{Secret: heraldtest.Secret})
	if err != nil {
		t.Fatal(err)
	}
	id, verr := v.Verify(strings.TrimSpace(res.stdout))
	if verr != nil {
		t.Fatal(verr)
	}
	if id.User != "alice" || strings.Join(id.Subscribe, ",") != "room.*,team.{user}.>" || id.Publish[0] != "chat.>" || id.Channels[0] != "news" || string(id.Info) != `{"name":"Alice"}` {
		t.Fatalf("identity %+v", id)
	}

	// A subscription token, signed with an ECDSA key from a PEM file.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := t.TempDir()
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	priv := filepath.Join(dir, "key.pem")
	os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := filepath.Join(dir, "pub.pem")
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600)
	res = run(t, context.Background(), nil, "token", "--key", priv, "--sub", "alice", "--channel", "private.room")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	kv, _ := auth.NewVerifier(auth.Options{PublicKeys: []string{pub}})
	if g, err := kv.VerifyGrant(strings.TrimSpace(res.stdout)); err != nil || !g.Covers("alice", "private.room") {
		t.Fatalf("grant %+v %v", g, err)
	}
}

func TestTokenUsageErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "--token-secret", heraldtest.Secret}, "--sub"},
		{[]string{"token", "--sub", "alice"}, "give a key"},
		{[]string{"token", "--token-secret", heraldtest.Secret, "--sub", "a", "--info", "{bad"}, "--info is not valid JSON"},
		{[]string{"token", "--token-secret", heraldtest.Secret, "--sub", "a", "--subscribe", "a.>.b"}, "'>' may only be the last token"},
		{[]string{"token", "--key", "/nonexistent.pem", "--sub", "a"}, "--key"},
	} {
		res := run(t, context.Background(), nil, c.args...)
		if res.code == 0 || !strings.Contains(res.stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q, want %q", c.args, res.code, res.stderr, c.want)
		}
	}
}

// TestSubAndPublishWithAToken: sub and a client publish present a token
// to a node with tokens on; without one, or with the wrong one, they are
// refused with the server's reason.
func TestSubAndPublishWithAToken(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Name = "tokens"
	cfg.TokenSecret = heraldtest.Secret
	cfg.Channels = []auth.RuleSpec{{Pattern: "user.{user}.>", Subscribe: auth.Owner}, {Pattern: "chat.>", Subscribe: auth.Authenticated, Publish: auth.Authenticated}}
	url := startNode(t, cfg)
	alice := heraldtest.Token(t, auth.Claims{Sub: "alice"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newOutput(), newOutput()
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"sub", "--url", url, "--token", alice, "user.alice.inbox", "chat.lobby"}, strings.NewReader(""), stdout, stderr)
	}()
	stderr.WaitFor(t, "subscribed to chat.lobby", waitTimeout)
	if res := run(t, context.Background(), nil, "publish", "--url", url, "user.alice.inbox", `"for alice"`); res.code != 0 {
		t.Fatalf("publish: %q", res.stderr)
	}
	stdout.WaitFor(t, `"data":"for alice"`, waitTimeout)
	bob := heraldtest.Token(t, auth.Claims{Sub: "bob"})
	if res := run(t, context.Background(), nil, "publish", "--url", url, "--token", bob, "chat.lobby", `"from bob"`); res.code != 0 || !strings.Contains(res.stdout, `"op":"reply"`) {
		t.Fatalf("client publish: %d %q %q", res.code, res.stdout, res.stderr)
	}
	stdout.WaitFor(t, `"data":"from bob"`, waitTimeout)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("sub exit %d: %s", code, stderr.String())
	}

	res := run(t, context.Background(), nil, "publish", "--url", url, "--token", bob, "user.alice.inbox", `"sneaky"`)
	contains(t, "refused client publish", res.stderr, "forbidden")
	res = run(t, context.Background(), nil, "sub", "--url", url, "--token", bob, "user.alice.inbox")
	contains(t, "refused sub", res.stderr, "forbidden")
	res = run(t, context.Background(), nil, "sub", "--url", url, "--token", "not-a-token", "chat.lobby")
	contains(t, "bad token", res.stderr, "unauthorized", "malformed")
	if strings.Contains(res.stderr, "not-a-token") {
		t.Errorf("the error quotes the token: %s", res.stderr)
	}
}
