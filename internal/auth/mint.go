package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what a minted token says. Herald mints tokens for tests,
// scripts and its demo; applications mint their own with any JWT library.
type Claims struct {
	Sub       string
	Expires   time.Time
	NotBefore time.Time // zero: none
	IssuedAt  time.Time // zero: none
	Issuer    string
	Audience  []string
	Info      json.RawMessage
	Subscribe []string
	Publish   []string
	Channels  []string
	Channel   string // set for a subscription token
}

// Signer signs tokens with one key.
type Signer struct {
	method jwt.SigningMethod
	key    any
	KeyID  string // the kid header, when set
}

// NewHMACSigner signs HS256 tokens with secret.
func NewHMACSigner(secret string) *Signer {
	return &Signer{method: jwt.SigningMethodHS256, key: []byte(secret)}
}

// NewKeySigner signs with a private key: RS256 for RSA, ES256/384/512
// for ECDSA by curve, EdDSA for Ed25519.
func NewKeySigner(key crypto.Signer) (*Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return &Signer{method: jwt.SigningMethodRS256, key: k}, nil
	case *ecdsa.PrivateKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return &Signer{method: jwt.SigningMethodES256, key: k}, nil
		case 384:
			return &Signer{method: jwt.SigningMethodES384, key: k}, nil
		case 521:
			return &Signer{method: jwt.SigningMethodES512, key: k}, nil
		}
	case ed25519.PrivateKey:
		return &Signer{method: jwt.SigningMethodEdDSA, key: k}, nil
	}
	return nil, fmt.Errorf("auth: cannot sign with a %T key", key)
}

// LoadSigner reads a PEM private key (PKCS#8, PKCS#1 or SEC 1) and signs
// with it.
func LoadSigner(path string) (*Signer, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s holds a %q block; want a PRIVATE KEY", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: %T cannot sign", path, key)
	}
	return NewKeySigner(s)
}

// Sign returns the signed token for c.
func (s *Signer) Sign(c Claims) (string, error) {
	if c.Sub == "" {
		return "", errors.New("auth: a token needs a sub")
	}
	if c.Expires.IsZero() {
		return "", errors.New("auth: a token needs an expiry")
	}
	cl := claims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: c.Sub, Issuer: c.Issuer, ExpiresAt: jwt.NewNumericDate(c.Expires)},
		Info:             c.Info, Subscribe: c.Subscribe, Publish: c.Publish, Channels: c.Channels, Channel: c.Channel,
	}
	if len(c.Audience) > 0 {
		cl.Audience = c.Audience
	}
	if !c.NotBefore.IsZero() {
		cl.NotBefore = jwt.NewNumericDate(c.NotBefore)
	}
	if !c.IssuedAt.IsZero() {
		cl.IssuedAt = jwt.NewNumericDate(c.IssuedAt)
	}
	t := jwt.NewWithClaims(s.method, cl)
	if s.KeyID != "" {
		t.Header["kid"] = s.KeyID
	}
	return t.SignedString(s.key)
}
