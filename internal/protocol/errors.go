package protocol

// Error codes: stable strings a client can match on. docs/protocol.md lists
// them; never change the meaning of one.
const (
	CodeBadRequest           = "bad_request"            // not valid JSON, or a field of the wrong type
	CodeUnknownOp            = "unknown_op"             // op is missing or not known
	CodeInvalidChannel       = "invalid_channel"        // channel name breaks the rules
	CodeAlreadySubscribed    = "already_subscribed"     // subscribe to a channel the connection has
	CodeNotSubscribed        = "not_subscribed"         // unsubscribe from a channel the connection lacks
	CodeTooManySubscriptions = "too_many_subscriptions" // over the per-connection limit
	CodeForbidden            = "forbidden"              // client publish to a channel not allowed
	CodeMessageTooLarge      = "message_too_large"      // over max-message-bytes
	CodeUnauthorized         = "unauthorized"           // missing or wrong API key or token; "reason" says which
	CodeTokenExpired         = "token_expired"          // the long-poll session's token expired; start again with a fresh one
	CodeUnavailable          = "unavailable"            // NATS is not connected or the node is draining
	CodeSessionExpired       = "session_expired"        // long-poll session unknown or expired
	CodeSessionOverflow      = "session_overflow"       // long-poll session buffer overflowed
	CodeNotFound             = "not_found"              // no such endpoint
	CodeNoHistory            = "no_history"             // the channel keeps no history
	CodeMethodNotAllowed     = "method_not_allowed"     // wrong HTTP method
	CodeUnsupportedMedia     = "unsupported_media_type" // an API body not sent as application/json
	CodeTooManyConnections   = "too_many_connections"   // the client's address holds too many connections or sessions
	CodeRateLimited          = "rate_limited"           // more commands or publishes per second than allowed
	CodeInternal             = "internal"               // a server fault; retry later
)

// Error is a client-facing error with a stable code.
type Error struct {
	Code    string `json:"code"`
	Reason  string `json:"reason,omitempty"` // unauthorized: why the token was refused
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return e.Code + " (" + e.Reason + "): " + e.Message
	}
	return e.Code + ": " + e.Message
}

// NewError is a shorthand for &Error{code, message}.
func NewError(code, message string) *Error { return &Error{Code: code, Message: message} }

// Close codes sent in a disconnect and in the WebSocket close frame.
// 3000-3499: the client should reconnect; 3500-3999: it should not.
const (
	CloseShutdown      = 3001 // node is shutting down; reconnect (to any node)
	CloseKeepalive     = 3005 // no pong or frame within the keepalive timeout; reconnect
	CloseSlowConsumer  = 3008 // the outbound queue overflowed; reconnect and reload state
	CloseRateLimited   = 3009 // commands kept coming faster than allowed; reconnect after a backoff
	CloseBadRequest    = 3500 // a protocol violation (binary frame, bad UTF-8, bad frame); do not reconnect
	CloseUnauthorized  = 3501 // no valid token within --auth-timeout, or a first auth refused; do not reconnect with it
	CloseMessageTooBig = 3502 // an inbound message over the read limit; do not reconnect
	// CloseTooManyConnections refuses a connection the node or the
	// client's address has no room for. Unlike the other 35xx codes it
	// asks the client to reconnect, after a backoff, to another node if it
	// can: the disconnect frame says so (reconnect: true).
	CloseTooManyConnections = 3504
)

// Disconnect is what a server says before it closes a client connection.
type Disconnect struct {
	Code      int    `json:"code"`
	Reason    string `json:"reason"`
	Reconnect bool   `json:"reconnect"`
}

// Known disconnects.
var (
	DisconnectShutdown      = Disconnect{CloseShutdown, "shutdown", true}
	DisconnectKeepalive     = Disconnect{CloseKeepalive, "keepalive timeout", true}
	DisconnectSlowConsumer  = Disconnect{CloseSlowConsumer, "slow consumer", true}
	DisconnectRateLimited   = Disconnect{CloseRateLimited, "rate limited", true}
	DisconnectBadRequest    = Disconnect{CloseBadRequest, "bad request", false}
	DisconnectMessageTooBig = Disconnect{CloseMessageTooBig, "message too big", false}
	DisconnectTokenExpired  = Disconnect{CloseKeepalive, "token expired", true}
	DisconnectAuthTimeout   = Disconnect{CloseUnauthorized, "no auth in time", false}
	DisconnectNodeFull      = Disconnect{CloseTooManyConnections, "node full", true}
	DisconnectAddressFull   = Disconnect{CloseTooManyConnections, "too many connections from your address", true}
)
