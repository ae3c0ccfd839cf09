package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/heraldrt/herald/internal/auth"
)

// API key scopes.
const (
	ScopePublish = "publish" // publish, and read history, through the API
	ScopeAdmin   = "admin"   // every API endpoint
)

// minSecretBytes is the shortest HMAC secret accepted: HS256 with a
// short secret can be brute-forced from one token.
const minSecretBytes = 32

// AuthOn reports whether clients must present tokens: a token key is
// configured.
func (c *Config) AuthOn() bool { return c.AuthOptions().Enabled() }

// AuthOptions are the token verifier's options.
func (c *Config) AuthOptions() auth.Options {
	return auth.Options{
		Secret: c.TokenSecret, PublicKeys: c.TokenPublicKey, JWKSURL: c.TokenJWKSURL, JWKSRefresh: c.TokenJWKSRefresh,
		Issuer: c.TokenIssuer, Audience: c.TokenAudience, Leeway: c.TokenLeeway,
	}
}

// RuleDefaults are what applies to channels no rule matches.
func (c *Config) RuleDefaults() auth.Defaults {
	return auth.Defaults{Auth: c.AuthOn(), ClientPublish: c.ClientPublish, ClientHistory: c.ClientHistory}
}

// Rules compiles the channel rules. Call after Validate.
func (c *Config) Rules() *auth.Rules {
	r, err := auth.Compile(c.Channels, c.RuleDefaults())
	if err != nil {
		panic("config: Rules called on an invalid config: " + err.Error())
	}
	return r
}

// APIKey is a key the publish API accepts, with what it may do.
type APIKey struct {
	Key   string
	Scope string
}

// Keys returns every API key: --api-key (admin) and --api-keys.
func (c *Config) Keys() []APIKey {
	var keys []APIKey
	if c.APIKey != "" {
		keys = append(keys, APIKey{Key: c.APIKey, Scope: ScopeAdmin})
	}
	for _, e := range c.APIKeys {
		if scope, key, ok := strings.Cut(e, ":"); ok {
			keys = append(keys, APIKey{Key: key, Scope: scope})
		}
	}
	return keys
}

func (c *Config) validateAuth() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.TokenSecret != "" && len(c.TokenSecret) < minSecretBytes {
		bad("token-secret: at least %d bytes, got %d (a short HMAC secret can be guessed from one token)", minSecretBytes, len(c.TokenSecret))
	}
	for _, f := range c.TokenPublicKey {
		if _, err := auth.LoadPublicKey(f); err != nil {
			bad("%v", err)
		}
	}
	if c.TokenJWKSURL != "" {
		if u, err := url.Parse(c.TokenJWKSURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("token-jwks-url: %q is not an http(s) URL", c.TokenJWKSURL)
		}
	}
	if c.TokenJWKSRefresh < time.Second {
		bad("token-jwks-refresh: at least 1s, got %s", c.TokenJWKSRefresh)
	}
	if c.TokenLeeway < 0 || c.TokenLeeway > 5*time.Minute {
		bad("token-leeway: must be from 0 to 5m, got %s", c.TokenLeeway)
	}
	if c.AuthTimeout <= 0 {
		bad("auth-timeout: must be greater than 0, got %s", c.AuthTimeout)
	}
	if !c.AuthOn() {
		for _, f := range []struct {
			name string
			set  bool
		}{{"token-issuer", c.TokenIssuer != ""}, {"token-audience", c.TokenAudience != ""}, {"allow-anonymous", c.AllowAnonymous}} {
			if f.set {
				bad("%s: only applies when tokens are on (--token-secret, --token-public-key or --token-jwks-url)", f.name)
			}
		}
	}
	seen := map[string]bool{c.APIKey: c.APIKey != ""}
	for i, e := range c.APIKeys {
		scope, key, ok := strings.Cut(e, ":")
		switch {
		case !ok || (scope != ScopePublish && scope != ScopeAdmin):
			bad("api-keys: entry %d is not SCOPE:KEY with SCOPE publish or admin", i+1)
		case key == "":
			bad("api-keys: entry %d has an empty key", i+1)
		case seen[key]:
			bad("api-keys: entry %d repeats a key", i+1)
		}
		seen[key] = true
	}
	if _, err := auth.Compile(c.Channels, c.RuleDefaults()); err != nil {
		errs = append(errs, err)
	}
	return errs
}
