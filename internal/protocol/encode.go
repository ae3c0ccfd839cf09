package protocol

import (
	"encoding/json"
	"strconv"
)

// Encoders build server frames by appending to a byte slice. Channel names
// and ids they take are already validated (channel bytes never need JSON
// escaping); data is valid JSON, copied byte for byte.

// AppendMessage appends a WebSocket message frame payload:
// {"op":"message","channel":"c","data":<data>}, with "epoch" and "offset"
// before "data" when pos is not nil (a channel with history).
func AppendMessage(b []byte, channel string, pos *Position, data []byte) []byte {
	b = append(b, `{"op":"message","channel":"`...)
	return appendBody(b, channel, pos, data)
}

// AppendEnvelope appends the transport-neutral form used by SSE and
// long-poll: {"channel":"c","data":<data>}, with "epoch" and "offset" when
// pos is not nil.
func AppendEnvelope(b []byte, channel string, pos *Position, data []byte) []byte {
	b = append(b, `{"channel":"`...)
	return appendBody(b, channel, pos, data)
}

func appendBody(b []byte, channel string, pos *Position, data []byte) []byte {
	b = append(b, channel...)
	b = append(b, '"')
	if pos != nil {
		b = appendPosition(b, *pos)
	}
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// appendPosition appends ,"epoch":"e","offset":N.
func appendPosition(b []byte, pos Position) []byte {
	b = append(b, `,"epoch":"`...)
	b = append(b, pos.Epoch...) // letters and digits only
	b = append(b, `","offset":`...)
	return strconv.AppendUint(b, pos.Offset, 10)
}

// Recovery reasons: why a client could not be brought up to date. They
// are stable strings; docs/history.md explains each.
const (
	ReasonEpochChanged = "epoch_changed"    // the client's epoch is not the channel's
	ReasonTooFarBehind = "too_far_behind"   // more missed messages than a replay may hold
	ReasonExpired      = "expired"          // the first missed message has left history
	ReasonUnavailable  = "unavailable"      // history could not be read
	ReasonNoHistory    = "no_history"       // the channel keeps no history
	ReasonGap          = "gap"              // the node missed live messages it could not fetch back
	ReasonReset        = "reset"            // the channel's history was reset under live subscribers
	ReasonAhead        = "ahead_of_history" // the client's position is past the newest message ever stored
	ReasonForbidden    = "forbidden"        // the client may not read the channel's past (--client-history)
)

// Recovery is the outcome of a resume: whether every missed message was
// (or is about to be) delivered, why not, and the client's position after.
type Recovery struct {
	Recovered bool
	Reason    string   // when not recovered
	Position  Position // where the client is after the replay
	History   bool     // the channel keeps history (Position is meaningful)
}

// AppendRecovery appends a recovery notice. With op it is the WebSocket
// form {"op":"recovery","channel":"c",...}; without, the SSE and long-poll
// form {"channel":"c",...}.
func AppendRecovery(b []byte, op bool, channel string, r Recovery) []byte {
	if op {
		b = append(b, `{"op":"recovery","channel":"`...)
	} else {
		b = append(b, `{"channel":"`...)
	}
	b = append(b, channel...)
	b = append(b, '"')
	b = appendRecoveryFields(b, r, true)
	return append(b, '}')
}

func appendRecoveryFields(b []byte, r Recovery, resumed bool) []byte {
	if resumed {
		b = append(b, `,"recovered":`...)
		b = strconv.AppendBool(b, r.Recovered)
		if !r.Recovered {
			b = append(b, `,"reason":`...)
			b = appendString(b, r.Reason)
		}
	}
	if r.History {
		b = appendPosition(b, r.Position)
	}
	return b
}

// AppendSubscribeReply appends the reply to a subscribe: {"op":"reply",
// "id":N}, with "recovered" (and "reason") when the client asked to
// resume, and "epoch" and "offset" for a channel with history.
func AppendSubscribeReply(b []byte, id uint64, r Recovery, resumed bool) []byte {
	b = append(b, `{"op":"reply","id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = appendRecoveryFields(b, r, resumed)
	return append(b, '}')
}

// AppendHistoryReply appends the reply to a history command:
// {"op":"reply","id":N,"epoch":"e","offset":L,"messages":[...]}, each
// message an envelope.
func AppendHistoryReply(b []byte, id uint64, top Position, msgs [][]byte) []byte {
	b = append(b, `{"op":"reply","id":`...)
	b = strconv.AppendUint(b, id, 10)
	return appendHistory(b, top, msgs)
}

// AppendHistoryBody appends the answer of GET /api/history:
// {"channel":"c","epoch":"e","offset":L,"messages":[...]}, each message an
// envelope.
func AppendHistoryBody(b []byte, channel string, top Position, msgs [][]byte) []byte {
	b = append(b, `{"channel":"`...)
	b = append(b, channel...)
	b = append(b, '"')
	return appendHistory(b, top, msgs)
}

func appendHistory(b []byte, top Position, msgs [][]byte) []byte {
	b = appendPosition(b, top)
	b = append(b, `,"messages":[`...)
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m...)
	}
	return append(b, "]}"...)
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

// AppendError appends {"code":"...","message":"..."}, with "reason"
// after the code when err has one.
func AppendError(b []byte, err *Error) []byte {
	b = append(b, `{"code":`...)
	b = appendString(b, err.Code)
	if err.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendString(b, err.Reason)
	}
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

// AppendUnsubscribed appends the notice of a subscription the server
// ended: {"op":"unsubscribed","channel":"c","reason":"token_expired"}.
// With op false (the SSE event's data) it leaves out "op".
func AppendUnsubscribed(b []byte, op bool, channel, reason string) []byte {
	if op {
		b = append(b, `{"op":"unsubscribed","channel":`...)
	} else {
		b = append(b, `{"channel":`...)
	}
	b = appendString(b, channel)
	b = append(b, `,"reason":`...)
	b = appendString(b, reason)
	return append(b, '}')
}

// ReasonTokenExpired is why a subscription held by a subscription token
// ends when that token expires.
const ReasonTokenExpired = "token_expired"
