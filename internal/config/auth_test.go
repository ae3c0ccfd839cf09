package config

import (
	"strings"
	"testing"

	"github.com/heraldrt/herald/internal/auth"
)

const goodSecret = "0123456789abcdef0123456789abcdef"

func TestLoadChannelRulesFromYAMLAndTOML(t *testing.T) {
	clearEnv(t)
	yml := writeFile(t, "herald.yaml", `
token-secret: `+goodSecret+`
channels:
  - pattern: user.{user}.>
    subscribe: owner
    history: 50,10m
  - pattern: chat.>
    subscribe: authenticated
    publish: authenticated
    presence: true
    join_leave: true
`)
	cfg, err := Load(flags(t), yml)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Channels) != 2 || cfg.Channels[0].Subscribe != auth.Owner || !cfg.Channels[1].JoinLeave {
		t.Fatalf("%+v", cfg.Channels)
	}
	if !cfg.AuthOn() {
		t.Error("token-secret does not turn auth on")
	}
	rules := cfg.HistoryRules()
	if len(rules) != 1 || rules[0].Pattern != "user.*.>" || rules[0].Size != 50 {
		t.Errorf("history from the rules: %+v", rules)
	}
	toml := writeFile(t, "herald.toml", `token-secret = "`+goodSecret+`"
[[channels]]
pattern = "news.>"
subscribe = "anyone"
`)
	cfg, err = Load(flags(t), toml)
	if err != nil || len(cfg.Channels) != 1 || cfg.Channels[0].Subscribe != auth.Anyone {
		t.Fatalf("%+v %v", cfg.Channels, err)
	}
}

func TestLoadChannelRulesFromTheEnvironmentAsJSON(t *testing.T) {
	clearEnv(t)
	t.Setenv("HERALD_CHANNELS", `[{"pattern":"feed","subscribe":"anyone"}]`)
	cfg, err := Load(flags(t), "")
	if err != nil || len(cfg.Channels) != 1 || cfg.Channels[0].Pattern != "feed" {
		t.Fatalf("%+v %v", cfg.Channels, err)
	}
}

func TestABadRuleFileFailsWithAPreciseMessagePerMistake(t *testing.T) {
	clearEnv(t)
	f := writeFile(t, "herald.yaml", `
token-secret: `+goodSecret+`
channels:
  - pattern: room.*
    subscribe: owner
  - pattern: a.>.b
  - pattern: ok
    subscribe: everybody
    publsh: anyone
  - pattern: hist.>
    history: ten
  - subscribe: anyone
`)
	_, err := Load(flags(t), f)
	if err == nil {
		t.Fatal("loaded")
	}
	for _, want := range []string{
		`channels[2]: unknown key "publsh"`, `did you mean "publish"`,
		`channels[4]: needs a pattern`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	// With the unknown key and the missing pattern fixed, the rest is
	// checked by meaning.
	f = writeFile(t, "herald.yaml", `
token-secret: `+goodSecret+`
channels:
  - pattern: room.*
    subscribe: owner
  - pattern: a.>.b
  - pattern: ok
    subscribe: everybody
  - pattern: hist.>
    history: ten
`)
	_, err = Load(flags(t), f)
	for _, want := range []string{
		`channels[0] (room.*): subscribe: owner needs {user} in the pattern`,
		`channels[1] (a.>.b): pattern "a.>.b": '>' may only be the last token`,
		`channels[2] (ok): subscribe: "everybody" is not one of anyone, authenticated, granted, owner`,
		`channels (hist.>): history:`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestLoadRefusesWeakOrMisplacedAuthOptions(t *testing.T) {
	clearEnv(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--token-secret", "s3cr7"}, "token-secret: at least 32 bytes, got 5"},
		{[]string{"--allow-anonymous"}, "allow-anonymous: only applies when tokens are on"},
		{[]string{"--token-issuer", "x"}, "token-issuer: only applies when tokens are on"},
		{[]string{"--token-jwks-url", "ftp://keys"}, `token-jwks-url: "ftp://keys" is not an http(s) URL`},
		{[]string{"--token-public-key", "/nonexistent.pem"}, "token-public-key: open /nonexistent.pem"},
		{[]string{"--api-keys", "root:abc"}, "api-keys: entry 1 is not SCOPE:KEY"},
		{[]string{"--api-keys", "publish:"}, "api-keys: entry 1 has an empty key"},
		{[]string{"--api-key", "k", "--api-keys", "publish:k"}, "api-keys: entry 1 repeats a key"},
		{[]string{"--token-secret", goodSecret, "--auth-timeout", "0s"}, "auth-timeout: must be greater than 0"},
	}
	for _, c := range cases {
		_, err := Load(flags(t, c.args...), "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.args, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr7") {
			t.Error("the error quotes the secret")
		}
	}
}

func TestAPIKeyScopes(t *testing.T) {
	clearEnv(t)
	cfg, err := Load(flags(t, "--api-key", "root-key", "--api-keys", "publish:pub-key,admin:adm:key"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []APIKey{{"root-key", ScopeAdmin}, {"pub-key", ScopePublish}, {"adm:key", ScopeAdmin}}
	if got := cfg.Keys(); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("keys %+v, want %+v", got, want)
	}
}
