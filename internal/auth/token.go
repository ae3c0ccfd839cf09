package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldrt/herald/internal/protocol"
	"golang.org/x/time/rate"
)

// Reasons a token is refused. They are stable: clients and dashboards see
// them (the error body's "reason", the herald_auth_refusals_total label).
const (
	ReasonMissing      = "missing"       // no token where one is needed
	ReasonMalformed    = "malformed"     // not a JWT, or claims of the wrong shape
	ReasonBadSignature = "bad_signature" // the signature does not verify, or its algorithm is not accepted
	ReasonExpired      = "expired"       // exp has passed (beyond the leeway)
	ReasonNotYetValid  = "not_yet_valid" // nbf or iat is in the future (beyond the leeway)
	ReasonWrongIssuer  = "wrong_issuer"  // iss is not --token-issuer
	ReasonWrongAud     = "wrong_audience"
	ReasonUnknownKey   = "unknown_key" // no configured key of the token's algorithm or kid
)

// MaxInfoBytes is the largest "info" claim accepted, encoded: it is shown
// to other clients (in presence), so it must stay small.
const MaxInfoBytes = 1024

// Identity is who a connection is: what its verified token said. The zero
// Identity (User "") is an anonymous client.
type Identity struct {
	User      string          // the token's sub; "" when anonymous
	Info      json.RawMessage // the info claim, if any
	Subscribe []string        // patterns the token grants subscribe on
	Publish   []string        // patterns the token grants client publish on
	Channels  []string        // channels the connection is subscribed to as it connects
	Expires   time.Time       // zero for anonymous clients

	// The Subscribe and Publish patterns, parsed once by Verify (nil on
	// an Identity made otherwise: they are parsed at each use then).
	subscribe, publish []pattern
}

// Anonymous reports whether the identity has no user.
func (id *Identity) Anonymous() bool { return id == nil || id.User == "" }

func (id *Identity) subscribePatterns() []pattern {
	switch {
	case id == nil:
		return nil
	case id.subscribe != nil:
		return id.subscribe
	}
	return compilePatterns(id.Subscribe)
}

func (id *Identity) publishPatterns() []pattern {
	switch {
	case id == nil:
		return nil
	case id.publish != nil:
		return id.publish
	}
	return compilePatterns(id.Publish)
}

// Grant is a verified subscription token: User may subscribe to Channel
// until Expires.
type Grant struct {
	User    string
	Channel string
	Expires time.Time
}

// wireClaims is a token's claims as decoded: times as numbers, and aud as
// one string or a list. parse turns them into claims for the validator.
type wireClaims struct {
	Sub       string          `json:"sub"`
	Iss       string          `json:"iss"`
	Aud       json.RawMessage `json:"aud"`
	Exp       *float64        `json:"exp"`
	Nbf       *float64        `json:"nbf"`
	Iat       *float64        `json:"iat"`
	Info      json.RawMessage `json:"info"`
	Subscribe []string        `json:"subscribe"`
	Publish   []string        `json:"publish"`
	Channels  []string        `json:"channels"`
	Channel   string          `json:"channel"`
}

// claims is the shape of Herald's tokens.
type claims struct {
	jwt.RegisteredClaims
	Info      json.RawMessage `json:"info,omitempty"`
	Subscribe []string        `json:"subscribe,omitempty"`
	Publish   []string        `json:"publish,omitempty"`
	Channels  []string        `json:"channels,omitempty"`
	Channel   string          `json:"channel,omitempty"` // subscription tokens
}

// Options configure a Verifier. At least one key source must be set.
type Options struct {
	Secret      string        // HMAC secret (HS256/384/512)
	PublicKeys  []string      // PEM files: RSA, ECDSA or Ed25519 public keys
	JWKSURL     string        // JWKS endpoint, fetched and cached
	JWKSRefresh time.Duration // how often the JWKS is fetched again, and at most how often an unknown kid makes it so
	Issuer      string        // required iss, if set
	Audience    string        // required aud, if set
	Leeway      time.Duration // clock skew allowed on exp, nbf and iat
	Logger      *slog.Logger
	HTTPClient  *http.Client // for the JWKS; nil: a client with a 10s timeout
}

// Enabled reports whether o configures any key, that is, whether auth is on.
func (o Options) Enabled() bool {
	return o.Secret != "" || len(o.PublicKeys) > 0 || o.JWKSURL != ""
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	secret  []byte
	rsa     []any
	ecdsa   []any
	ed25519 []any
	jwks    keyfunc.Keyfunc
	stop    context.CancelFunc
	methods map[string]bool // the algorithms some configured key can verify
	check   *jwt.Validator  // exp, nbf, iat, iss and aud, with the leeway
}

// errUnknownKey marks a token whose algorithm or kid no configured key has.
var errUnknownKey = errors.New("auth: no key for this token")

// NewVerifier loads the keys o names. With a JWKS URL it starts fetching
// in the background; a JWKS that cannot be reached yet is logged, not
// fatal. Close stops the refreshes.
func NewVerifier(o Options) (*Verifier, error) {
	if !o.Enabled() {
		return nil, errors.New("auth: no token key configured")
	}
	v := &Verifier{stop: func() {}}
	var methods []string
	if o.Secret != "" {
		v.secret = []byte(o.Secret)
		methods = append(methods, "HS256", "HS384", "HS512")
	}
	for _, f := range o.PublicKeys {
		key, err := LoadPublicKey(f)
		if err != nil {
			return nil, err
		}
		switch key.(type) {
		case *rsa.PublicKey:
			v.rsa = append(v.rsa, key)
		case *ecdsa.PublicKey:
			v.ecdsa = append(v.ecdsa, key)
		case ed25519.PublicKey:
			v.ed25519 = append(v.ed25519, key)
		}
	}
	if len(v.rsa) > 0 || o.JWKSURL != "" {
		methods = append(methods, "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
	}
	if len(v.ecdsa) > 0 || o.JWKSURL != "" {
		methods = append(methods, "ES256", "ES384", "ES512")
	}
	if len(v.ed25519) > 0 || o.JWKSURL != "" {
		methods = append(methods, "EdDSA")
	}
	if o.JWKSURL != "" {
		if err := v.startJWKS(o); err != nil {
			return nil, err
		}
	}
	v.methods = make(map[string]bool, len(methods))
	for _, m := range methods {
		v.methods[m] = true
	}
	opts := []jwt.ParserOption{jwt.WithExpirationRequired(), jwt.WithLeeway(o.Leeway), jwt.WithIssuedAt()}
	if o.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(o.Issuer))
	}
	if o.Audience != "" {
		opts = append(opts, jwt.WithAudience(o.Audience))
	}
	v.check = jwt.NewValidator(opts...)
	return v, nil
}

func (v *Verifier) startJWKS(o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	refresh := o.JWKSRefresh
	if refresh <= 0 {
		refresh = 5 * time.Minute
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	ctx, cancel := context.WithCancel(context.Background())
	k, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{o.JWKSURL}, keyfunc.Override{
		Client:          client,
		HTTPTimeout:     client.Timeout,
		RefreshInterval: refresh,
		// An unknown kid refetches at most once per refresh period, and a
		// connect never waits for that allowance: it is refused instead.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(refresh), 1),
		RateLimitWaitMax:  time.Millisecond,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				// Keys fetched before stay in use: connected clients and
				// tokens signed with them are not affected.
				log.Warn("cannot fetch the token JWKS; keeping the keys fetched before", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		cancel()
		return fmt.Errorf("token-jwks-url: %w", err)
	}
	v.jwks, v.stop = k, cancel
	return nil
}

// Close stops the JWKS refreshes, if any.
func (v *Verifier) Close() {
	if v != nil {
		v.stop()
	}
}

// key picks the keys a token of algorithm alg (and key id kid, if any)
// may be verified with: only keys of that algorithm's family, so that a
// token cannot choose to be checked against, say, an RSA public key used
// as an HMAC secret.
func (v *Verifier) key(method jwt.SigningMethod, kid *string) (any, error) {
	alg := method.Alg()
	var keys []any
	switch {
	case strings.HasPrefix(alg, "HS"):
		if v.secret != nil {
			return v.secret, nil
		}
		return nil, errUnknownKey
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		keys = v.rsa
	case strings.HasPrefix(alg, "ES"):
		keys = v.ecdsa
	case alg == "EdDSA":
		keys = v.ed25519
	}
	if v.jwks != nil && (kid != nil || len(keys) == 0) {
		hdr := map[string]any{"alg": alg}
		if kid != nil {
			hdr["kid"] = *kid
		}
		k, err := v.jwks.Keyfunc(&jwt.Token{Header: hdr, Method: method})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errUnknownKey, err)
		}
		if set, ok := k.(jwt.VerificationKeySet); ok {
			if len(set.Keys) == 0 {
				return nil, errUnknownKey
			}
			keys = make([]any, len(set.Keys))
			for i, key := range set.Keys {
				keys[i] = key
			}
			return keys, nil
		}
		return k, nil
	}
	switch len(keys) {
	case 0:
		return nil, errUnknownKey
	case 1:
		return keys[0], nil
	}
	return keys, nil
}

// Error is a refused token: its reason, and a message for the client that
// never quotes the token.
type Error struct {
	Reason  string
	Message string
}

func (e *Error) Error() string { return "auth: " + e.Reason + ": " + e.Message }

// Protocol returns the client-facing error: unauthorized, with the reason.
func (e *Error) Protocol() *protocol.Error {
	return &protocol.Error{Code: protocol.CodeUnauthorized, Reason: e.Reason, Message: e.Message}
}

func refuse(reason, message string) *Error { return &Error{Reason: reason, Message: message} }

// Verify checks a connection token and returns the identity it proves.
func (v *Verifier) Verify(token string) (*Identity, *Error) {
	c, err := v.parse(token)
	if err != nil {
		return nil, err
	}
	if c.Channel != "" {
		return nil, refuse(ReasonMalformed, "this is a subscription token (it has a channel claim); connect with a connection token")
	}
	if len(c.Info) > MaxInfoBytes {
		return nil, refuse(ReasonMalformed, fmt.Sprintf("info claim is over %d bytes", MaxInfoBytes))
	}
	for _, p := range append(append([]string(nil), c.Subscribe...), c.Publish...) {
		if err := ValidateGrantPattern(p); err != nil {
			return nil, refuse(ReasonMalformed, "subscribe/publish claim: "+err.Error())
		}
	}
	for _, ch := range c.Channels {
		if err := protocol.ValidateClientChannel(ch, 1024); err != nil {
			return nil, refuse(ReasonMalformed, "channels claim: "+err.Message)
		}
	}
	id := &Identity{
		User: c.Subject, Subscribe: c.Subscribe, Publish: c.Publish, Channels: c.Channels, Expires: c.ExpiresAt.Time,
		subscribe: compilePatterns(c.Subscribe), publish: compilePatterns(c.Publish),
	}
	if len(c.Info) > 0 && string(c.Info) != "null" {
		id.Info = c.Info
	}
	return id, nil
}

// VerifyGrant checks a subscription token. Whether it is for the
// connection's user and the channel asked for is Grant.Covers's question.
func (v *Verifier) VerifyGrant(token string) (*Grant, *Error) {
	c, err := v.parse(token)
	if err != nil {
		return nil, err
	}
	if c.Channel == "" {
		return nil, refuse(ReasonMalformed, "a subscription token needs a channel claim")
	}
	return &Grant{User: c.Subject, Channel: c.Channel, Expires: c.ExpiresAt.Time}, nil
}

// Covers reports whether the grant lets user subscribe to ch.
func (g *Grant) Covers(user, ch string) bool {
	return g != nil && user != "" && g.User == user && g.Channel == ch
}

// header is the part of a token's header Herald reads.
type header struct {
	Alg string  `json:"alg"`
	Kid *string `json:"kid"`
}

// parse verifies a token's signature, then its time, issuer and audience
// claims, and requires a sub. The signature is checked by the JWT
// library's signing method for the token's algorithm, with the keys of
// that algorithm's family only; the claims by its validator. Herald only
// splits and decodes the token's three parts itself, into fixed structs:
// the library's general parser, which decodes into maps, costs a connect
// several times what the signature does.
func (v *Verifier) parse(token string) (*claims, *Error) {
	if token == "" {
		return nil, refuse(ReasonMissing, "a token is required")
	}
	h64, rest, ok := strings.Cut(token, ".")
	c64, s64, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.IndexByte(s64, '.') >= 0 {
		return nil, refuse(ReasonMalformed, "the token is not a well-formed JWT")
	}
	var h header
	if decodePart(h64, &h) != nil {
		return nil, refuse(ReasonMalformed, "the token is not a well-formed JWT")
	}
	method := jwt.GetSigningMethod(h.Alg)
	if method == nil || !v.methods[h.Alg] {
		return nil, refuse(ReasonBadSignature, "the token's signature does not verify, or its algorithm is not accepted")
	}
	sig, err := base64.RawURLEncoding.DecodeString(s64)
	if err != nil {
		return nil, refuse(ReasonMalformed, "the token is not a well-formed JWT")
	}
	key, err := v.key(method, h.Kid)
	if err != nil {
		return nil, classify(err)
	}
	if !verifies(method, token[:len(h64)+1+len(c64)], sig, key) {
		return nil, refuse(ReasonBadSignature, "the token's signature does not verify, or its algorithm is not accepted")
	}
	var w wireClaims
	if decodePart(c64, &w) != nil {
		return nil, refuse(ReasonMalformed, "the token's claims are not valid")
	}
	c, err := w.claims()
	if err != nil {
		return nil, refuse(ReasonMalformed, "the token's claims are not valid")
	}
	if err := v.check.Validate(c); err != nil {
		return nil, classify(err)
	}
	if c.Subject == "" {
		return nil, refuse(ReasonMalformed, "the token has no sub (user id)")
	}
	return c, nil
}

// claims turns decoded claims into the library's form, for its validator.
func (w *wireClaims) claims() (*claims, error) {
	c := &claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: w.Sub, Issuer: w.Iss, ExpiresAt: date(w.Exp), NotBefore: date(w.Nbf), IssuedAt: date(w.Iat)},
		Info:             w.Info, Subscribe: w.Subscribe, Publish: w.Publish, Channels: w.Channels, Channel: w.Channel,
	}
	switch {
	case len(w.Aud) == 0 || string(w.Aud) == "null":
	case w.Aud[0] == '"':
		var one string
		if err := jsonv2.Unmarshal(w.Aud, &one); err != nil {
			return nil, err
		}
		c.Audience = jwt.ClaimStrings{one}
	default:
		if err := jsonv2.Unmarshal(w.Aud, &c.Audience); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// date is a NumericDate claim from seconds since the epoch.
func date(secs *float64) *jwt.NumericDate {
	if secs == nil {
		return nil
	}
	whole, frac := math.Modf(*secs)
	return jwt.NewNumericDate(time.Unix(int64(whole), int64(frac*1e9)))
}

// verifies reports whether sig signs signed under key, or under any of
// keys.
func verifies(method jwt.SigningMethod, signed string, sig []byte, key any) bool {
	if keys, ok := key.([]any); ok {
		for _, k := range keys {
			if method.Verify(signed, sig, k) == nil {
				return true
			}
		}
		return false
	}
	return method.Verify(signed, sig, key) == nil
}

// decodePart decodes one base64url part of a token into v. A part must be
// one JSON object.
func decodePart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	if len(b) == 0 || b[0] != '{' {
		return errors.New("auth: token part is not a JSON object")
	}
	// Names match exactly; a name twice is an error, not a second value
	// that might be read differently elsewhere.
	return jsonv2.Unmarshal(b, v, jsonv2.MatchCaseInsensitiveNames(false), jsontext.AllowDuplicateNames(false))
}

// classify turns a parse error into a refusal. The messages are Herald's
// own: a library's message could quote parts of the token.
func classify(err error) *Error {
	switch {
	case errors.Is(err, errUnknownKey):
		return refuse(ReasonUnknownKey, "no configured key verifies tokens of this algorithm or kid")
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(ReasonMalformed, "the token is not a well-formed JWT")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return refuse(ReasonBadSignature, "the token's signature does not verify, or its algorithm is not accepted")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// The library names the missing claim in its message.
		switch msg := err.Error(); {
		case strings.Contains(msg, "iss claim"):
			return refuse(ReasonWrongIssuer, "the token has no iss, and this server requires one")
		case strings.Contains(msg, "aud claim"):
			return refuse(ReasonWrongAud, "the token has no aud, and this server requires one")
		}
		return refuse(ReasonMalformed, "the token has no exp")
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(ReasonExpired, "the token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse(ReasonNotYetValid, "the token is not valid yet (nbf or iat is in the future)")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refuse(ReasonWrongIssuer, "the token's iss is not the one this server accepts")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse(ReasonWrongAud, "the token's aud does not include this server's audience")
	default:
		return refuse(ReasonMalformed, "the token's claims are not valid")
	}
}

// LoadPublicKey reads a PEM public key (PKIX "PUBLIC KEY", PKCS#1 "RSA
// PUBLIC KEY", or a certificate) of type RSA, ECDSA or Ed25519.
func LoadPublicKey(path string) (any, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, fmt.Errorf("token-public-key: %w", err)
	}
	var key any
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("token-public-key: %s holds a %q block; want a PUBLIC KEY (a private key does not belong here)", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("token-public-key: %s: %w", path, err)
	}
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return key, nil
	}
	return nil, fmt.Errorf("token-public-key: %s holds a %T key; want RSA, ECDSA or Ed25519", path, key)
}

// readPEM reads the first PEM block of the file at path.
func readPEM(path string) (*pem.Block, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block", path)
	}
	return block, nil
}
