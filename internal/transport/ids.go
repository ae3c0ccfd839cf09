package transport

import (
	"crypto/rand"
	"encoding/base64"
)

// Ids handed to clients come from crypto/rand, each on its own: one tells
// nothing about another, the node, or how many came before.

// randomID returns n random bytes as unpadded base64url: letters, digits,
// '-' and '_', all valid in a NATS subject token.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Sizes of the random ids, in bytes.
const (
	clientIDBytes = 12 // the welcome's "client": for bug reports, grants nothing
	routeBytes    = 8  // a node's long-poll route, the first part of its session ids
	secretBytes   = 16 // a session's secret: 128 bits, the second part
)

// newClientID returns a connection's id for its welcome frame.
func newClientID() string { return randomID(clientIDBytes) }
