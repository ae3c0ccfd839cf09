// Package protocol is Herald's wire protocol v1: client commands, server
// frames, error codes, close codes and the channel-name rules. It decodes
// and encodes; it holds no state. docs/protocol.md is its reference.
//
// Encoders append to byte slices so that a published message is encoded
// once per node and format, then shared by every subscriber.
package protocol
