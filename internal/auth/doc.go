// Package auth decides who a client is and what it may do. It verifies
// connection and subscription tokens (JWTs signed by the application's
// backend) into identities, and holds the channel rules that say, per
// channel, who may subscribe, publish and read history.
//
// It knows nothing of transports: a transport asks Verify once per
// connect (and per token refresh), VerifyGrant for a subscription token,
// and Rules.Subscribe, Rules.Publish or Rules.ReadHistory per command. A
// verified identity is kept by the connection; nothing is verified again
// per command.
//
// Verifier holds no locks of its own; the JWKS key cache it may use
// (keyfunc/jwkset) locks internally. Rules is immutable after Compile.
package auth
