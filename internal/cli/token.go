package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldrt/herald/internal/auth"
)

// envTokenSecret is the HMAC secret herald token signs with, the same
// variable herald serve verifies with.
const envTokenSecret = "HERALD_TOKEN_SECRET"

type tokenOptions struct {
	secret    string
	keyFile   string
	kid       string
	sub       string
	ttl       time.Duration
	subscribe []string
	publish   []string
	channels  []string
	channel   string
	info      string
	issuer    string
	audience  []string
}

func newTokenCmd() *cobra.Command {
	var o tokenOptions
	cmd := &cobra.Command{
		Use:   "token --sub USER [flags]",
		Short: "Mint a client token, for tests and scripts",
		Long: `Mint a token (JWT) that a Herald node with tokens on accepts, and print it on
standard output. Applications mint their own tokens in their backend, with any
JWT library (see docs/auth.md); this command is for tests, scripts and trying
things out.

A connection token says who the client is (--sub) and, optionally, which
channels it may subscribe to (--subscribe) and publish to (--publish), which
channels it is subscribed to as it connects (--channels), and what others see
of it (--info). With --channel it is a subscription token instead: it lets the
connection of the same --sub subscribe to that one channel.

The key is --token-secret, else $HERALD_TOKEN_SECRET (HS256), or --key, a PEM
private key file (RSA: RS256, ECDSA: ES256/384/512, Ed25519: EdDSA).`,
		Example: `  HERALD_TOKEN_SECRET=... herald token --sub alice
  herald token --sub alice --subscribe 'room.*' --publish 'chat.>' --ttl 15m
  herald token --sub alice --channel private.room.7 --ttl 5m
  herald token --key signing-key.pem --kid 2026-12 --sub alice --info '{"name":"Alice"}'
  herald sub --token "$(herald token --sub alice)" user.alice.inbox`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.secret = fromEnv(cmd, "token-secret", o.secret, envTokenSecret)
			return mintToken(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.secret, "token-secret", "", "HMAC `secret` to sign with, HS256 (env "+envTokenSecret+"; flags show in ps)")
	f.StringVar(&o.keyFile, "key", "", "PEM private key `file` to sign with instead: RSA, ECDSA or Ed25519")
	f.StringVar(&o.kid, "kid", "", "key id to put in the token's header, for a node that reads keys from a JWKS")
	f.StringVar(&o.sub, "sub", "", "the user id (required)")
	f.DurationVar(&o.ttl, "ttl", time.Hour, "how long the token is valid")
	f.StringSliceVar(&o.subscribe, "subscribe", nil, "channel `patterns` the user may subscribe to, comma-separated ('*' one token, '>' the rest, {user} the user id)")
	f.StringSliceVar(&o.publish, "publish", nil, "channel `patterns` the user may publish to from the client")
	f.StringSliceVar(&o.channels, "channels", nil, "`channels` the connection is subscribed to as it connects")
	f.StringVar(&o.channel, "channel", "", "make a subscription token for this one `channel`")
	f.StringVar(&o.info, "info", "", "`JSON` others may see of the user (in presence), at most 1 KiB")
	f.StringVar(&o.issuer, "issuer", "", "the iss claim")
	f.StringSliceVar(&o.audience, "audience", nil, "the aud claim")
	return cmd
}

func mintToken(cmd *cobra.Command, o tokenOptions) error {
	if o.sub == "" {
		return usagef("give the user id: --sub")
	}
	if o.ttl <= 0 {
		return usagef("--ttl must be positive")
	}
	var s *auth.Signer
	switch {
	case o.keyFile != "" && o.secret != "" && cmd.Flags().Changed("token-secret"):
		return usagef("give --token-secret or --key, not both")
	case o.keyFile != "":
		var err error
		if s, err = auth.LoadSigner(o.keyFile); err != nil {
			return fmt.Errorf("--key: %w", err)
		}
	case o.secret != "":
		s = auth.NewHMACSigner(o.secret)
	default:
		return usagef("give a key: --token-secret (or $%s) or --key FILE", envTokenSecret)
	}
	s.KeyID = o.kid
	c := auth.Claims{
		Sub: o.sub, Expires: time.Now().Add(o.ttl), IssuedAt: time.Now(), Issuer: o.issuer, Audience: o.audience,
		Subscribe: o.subscribe, Publish: o.publish, Channels: o.channels, Channel: o.channel,
	}
	if o.info != "" {
		if !json.Valid([]byte(o.info)) {
			return usagef("--info is not valid JSON")
		}
		if len(o.info) > auth.MaxInfoBytes {
			return usagef("--info is over %d bytes", auth.MaxInfoBytes)
		}
		c.Info = json.RawMessage(o.info)
	}
	for _, p := range append(append([]string(nil), o.subscribe...), o.publish...) {
		if err := auth.ValidateGrantPattern(p); err != nil {
			return usagef("%v", err)
		}
	}
	tok, err := s.Sign(c)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), tok)
	return err
}
