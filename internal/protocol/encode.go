package protocol

import (
	"encoding/json"
	"strconv"
)

// Encoders build server frames by appending to a byte slice. Channel names
// and ids they take are already validated (channel bytes never need JSON
// escaping); data is valid JSON, copied byte for byte.

// AppendMessage appends a WebSocket message frame payload:
// {"op":"message","channel":"c","data":<data>}.
func AppendMessage(b []byte, channel string, data []byte) []byte {
	b = append(b, `{"op":"message","channel":"`...)
	b = append(b, channel...)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// AppendEnvelope appends the transport-neutral form used by SSE and
// long-poll: {"channel":"c","data":<data>}.
func AppendEnvelope(b []byte, channel string, data []byte) []byte {
	b = append(b, `{"channel":"`...)
	b = append(b, channel...)
	b = append(b, `","data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// AppendWelcome appends {"op":"welcome","client":"id","node":"name","ping":secs}.
func AppendWelcome(b []byte, client, node string, pingSeconds int) []byte {
	b = append(b, `{"op":"welcome","client":`...)
	b = appendString(b, client)
	b = append(b, `,"node":`...)
	b = appendString(b, node)
	b = append(b, `,"ping":`...)
	b = strconv.AppendInt(b, int64(pingSeconds), 10)
	return append(b, '}')
}

// AppendReply appends {"op":"reply","id":N} or, with err,
// {"op":"reply","id":N,"error":{"code":"...","message":"..."}}.
func AppendReply(b []byte, id uint64, err *Error) []byte {
	b = append(b, `{"op":"reply","id":`...)
	b = strconv.AppendUint(b, id, 10)
	if err != nil {
		b = append(b, `,"error":`...)
		b = AppendError(b, err)
	}
	return append(b, '}')
}

// AppendError appends {"code":"...","message":"..."}.
func AppendError(b []byte, err *Error) []byte {
	b = append(b, `{"code":`...)
	b = appendString(b, err.Code)
	b = append(b, `,"message":`...)
	b = appendString(b, err.Message)
	return append(b, '}')
}

// AppendErrorBody appends the HTTP error body {"error":{...}}.
func AppendErrorBody(b []byte, err *Error) []byte {
	b = append(b, `{"error":`...)
	b = AppendError(b, err)
	return append(b, '}')
}

// AppendDisconnect appends {"op":"disconnect","code":N,"reason":"...","reconnect":bool}.
func AppendDisconnect(b []byte, d Disconnect) []byte {
	b = append(b, `{"op":"disconnect",`...)
	return appendDisconnectFields(b, d)
}

// AppendDisconnectData appends the SSE disconnect event data:
// {"code":N,"reason":"...","reconnect":bool}.
func AppendDisconnectData(b []byte, d Disconnect) []byte {
	return appendDisconnectFields(append(b, '{'), d)
}

func appendDisconnectFields(b []byte, d Disconnect) []byte {
	b = append(b, `"code":`...)
	b = strconv.AppendInt(b, int64(d.Code), 10)
	b = append(b, `,"reason":`...)
	b = appendString(b, d.Reason)
	b = append(b, `,"reconnect":`...)
	b = strconv.AppendBool(b, d.Reconnect)
	return append(b, '}')
}

func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}
