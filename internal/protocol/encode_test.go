package protocol_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldrt/herald/internal/protocol"
)

// decodeJSON unmarshals b strictly into a map, failing on invalid JSON or
// invalid UTF-8 (every frame is sent as text).
func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	if !json.Valid(b) || !utf8.Valid(b) {
		t.Fatalf("%q is not valid JSON text", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return m
}

func TestAppendMessageAndEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct{ channel, data string }{
		{"news", `{"a":1}`},
		{"a.b.c", `null`},
		{"x", `"a string with \"quotes\" and \\ and \u2028"`},
		{"_-:=@/,~+#!", `[1.50, 2e3, -0, true, false, null]`},
		{"n", "{\n  \"pretty\": true\r\n}"},
		{strings.Repeat("c", 255), `0`},
	}
	for _, tt := range tests {
		// Data is copied byte for byte, and appending keeps what is there.
		prefix := []byte("HEAD")
		msg := protocol.AppendMessage(prefix, tt.channel, nil, []byte(tt.data))
		if string(msg[:4]) != "HEAD" {
			t.Fatalf("AppendMessage overwrote its input: %q", msg)
		}
		msg = msg[4:]
		want := `{"op":"message","channel":"` + tt.channel + `","data":` + tt.data + `}`
		if string(msg) != want {
			t.Errorf("AppendMessage = %q, want %q", msg, want)
		}
		m := decodeJSON(t, msg)
		if m["op"] != "message" || m["channel"] != tt.channel {
			t.Errorf("AppendMessage decoded to %v", m)
		}
		env := protocol.AppendEnvelope(nil, tt.channel, nil, []byte(tt.data))
		if want := `{"channel":"` + tt.channel + `","data":` + tt.data + `}`; string(env) != want {
			t.Errorf("AppendEnvelope = %q, want %q", env, want)
		}
		if m := decodeJSON(t, env); m["channel"] != tt.channel || len(m) != 2 {
			t.Errorf("AppendEnvelope decoded to %v", m)
		}
	}
}

func TestAppendWelcome(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		client, node string
		ping         int
	}{
		{"abc123", "node-1", 25},
		{"", "", 0},
		{`we"ird`, "node\nwith\tcontrol\x00bytes", -1},
		{"\xff\xfe", "日本", 1 << 30},
	} {
		b := protocol.AppendWelcome(nil, tt.client, tt.node, tt.ping)
		m := decodeJSON(t, b)
		if m["op"] != "welcome" || m["ping"] != float64(tt.ping) {
			t.Errorf("AppendWelcome = %s", b)
		}
		if utf8.ValidString(tt.client) && m["client"] != tt.client || utf8.ValidString(tt.node) && m["node"] != tt.node {
			t.Errorf("AppendWelcome(%q, %q) = %s", tt.client, tt.node, b)
		}
	}
}

func TestAppendReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   uint64
		err  *protocol.Error
		want string
	}{
		{1, nil, `{"op":"reply","id":1}`},
		{0, nil, `{"op":"reply","id":0}`},
		{1<<64 - 1, nil, `{"op":"reply","id":18446744073709551615}`},
		{7, protocol.NewError(protocol.CodeForbidden, "no"), `{"op":"reply","id":7,"error":{"code":"forbidden","message":"no"}}`},
		{8, protocol.NewError(protocol.CodeBadRequest, `quote " backslash \ newline`+"\n"), `{"op":"reply","id":8,"error":{"code":"bad_request","message":"quote \" backslash \\ newline\n"}}`},
		{9, protocol.NewError(protocol.CodeBadRequest, "<script>&"), ``}, // checked by decoding only
		{10, protocol.NewError(protocol.CodeBadRequest, "bad utf-8 \xff\xfe and \x00\x1b"), ``},
	}
	for _, tt := range tests {
		b := protocol.AppendReply(nil, tt.id, tt.err)
		if tt.want != "" && string(b) != tt.want {
			t.Errorf("AppendReply = %s, want %s", b, tt.want)
		}
		var r struct {
			Op    string          `json:"op"`
			ID    uint64          `json:"id"`
			Error *protocol.Error `json:"error"`
		}
		decodeJSON(t, b)
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if r.Op != "reply" || r.ID != tt.id || (r.Error == nil) != (tt.err == nil) {
			t.Errorf("AppendReply(%d, %v) = %s", tt.id, tt.err, b)
		}
		if tt.err != nil && (r.Error.Code != tt.err.Code || utf8.ValidString(tt.err.Message) && r.Error.Message != tt.err.Message) {
			t.Errorf("error round-trips to %+v, want %+v", r.Error, tt.err)
		}
	}
}

func TestAppendErrorBody(t *testing.T) {
	t.Parallel()
	b := protocol.AppendErrorBody(nil, protocol.NewError(protocol.CodeNotFound, `no "x"`))
	if want := `{"error":{"code":"not_found","message":"no \"x\""}}`; string(b) != want {
		t.Errorf("AppendErrorBody = %s, want %s", b, want)
	}
	decodeJSON(t, b)
}

func TestAppendDisconnect(t *testing.T) {
	t.Parallel()
	known := []protocol.Disconnect{
		protocol.DisconnectShutdown, protocol.DisconnectKeepalive,
		protocol.DisconnectSlowConsumer, protocol.DisconnectBadRequest, protocol.DisconnectMessageTooBig,
		{Code: protocol.CloseBadRequest, Reason: "odd \"reason\"\n\xff", Reconnect: false},
	}
	for _, d := range known {
		// The documented ranges: 3000-3499 reconnect, 3500-3999 do not.
		if d.Reconnect != (d.Code >= 3000 && d.Code < 3500) || d.Code < 3000 || d.Code > 3999 {
			t.Errorf("disconnect %+v: code outside its documented range", d)
		}
		b := protocol.AppendDisconnect(nil, d)
		m := decodeJSON(t, b)
		if m["op"] != "disconnect" || m["code"] != float64(d.Code) || m["reconnect"] != d.Reconnect {
			t.Errorf("AppendDisconnect(%+v) = %s", d, b)
		}
		if utf8.ValidString(d.Reason) && m["reason"] != d.Reason {
			t.Errorf("AppendDisconnect(%+v) reason = %v", d, m["reason"])
		}
		data := protocol.AppendDisconnectData(nil, d)
		var back protocol.Disconnect
		decodeJSON(t, data)
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if utf8.ValidString(d.Reason) && !reflect.DeepEqual(back, d) {
			t.Errorf("AppendDisconnectData round-trips %+v to %+v", d, back)
		}
	}
}

func TestWriteHTTPError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code   string
		status int
	}{
		{protocol.CodeBadRequest, http.StatusBadRequest},
		{protocol.CodeUnknownOp, http.StatusBadRequest},
		{protocol.CodeInvalidChannel, http.StatusBadRequest},
		{protocol.CodeAlreadySubscribed, http.StatusBadRequest},
		{protocol.CodeTooManySubscriptions, http.StatusBadRequest},
		{protocol.CodeMessageTooLarge, http.StatusBadRequest},
		{protocol.CodeUnauthorized, http.StatusUnauthorized},
		{protocol.CodeForbidden, http.StatusForbidden},
		{protocol.CodeNotFound, http.StatusNotFound},
		{protocol.CodeNoHistory, http.StatusNotFound},
		{protocol.CodeMethodNotAllowed, http.StatusMethodNotAllowed},
		{protocol.CodeSessionExpired, http.StatusGone},
		{protocol.CodeSessionOverflow, http.StatusGone},
		{protocol.CodeUnavailable, http.StatusServiceUnavailable},
		{protocol.CodeInternal, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		protocol.WriteHTTPError(rec, protocol.NewError(tt.code, "why"))
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.code, rec.Code, tt.status)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tt.code, ct)
		}
		var body struct{ Error protocol.Error }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != tt.code || body.Error.Message != "why" {
			t.Errorf("%s: body %q: %v", tt.code, rec.Body, err)
		}
	}
}

func TestAppendMessageAndEnvelopeWithPosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		channel string
		pos     protocol.Position
		data    string
		msg     string
		env     string
	}{
		{"c", protocol.Position{Epoch: "e", Offset: 7}, `{"a":1}`,
			`{"op":"message","channel":"c","epoch":"e","offset":7,"data":{"a":1}}`,
			`{"channel":"c","epoch":"e","offset":7,"data":{"a":1}}`},
		{"news.world", protocol.Position{Epoch: "k3Xw9QpLzA", Offset: 1}, `null`,
			`{"op":"message","channel":"news.world","epoch":"k3Xw9QpLzA","offset":1,"data":null}`,
			`{"channel":"news.world","epoch":"k3Xw9QpLzA","offset":1,"data":null}`},
		{"x", protocol.Position{Epoch: "Z9", Offset: 1<<64 - 1}, `"s"`,
			`{"op":"message","channel":"x","epoch":"Z9","offset":18446744073709551615,"data":"s"}`,
			`{"channel":"x","epoch":"Z9","offset":18446744073709551615,"data":"s"}`},
		// The zero position is still a position: the fields are there.
		{"x", protocol.Position{}, `0`,
			`{"op":"message","channel":"x","epoch":"","offset":0,"data":0}`,
			`{"channel":"x","epoch":"","offset":0,"data":0}`},
	}
	for _, tt := range tests {
		pos := tt.pos
		msg := protocol.AppendMessage([]byte("HEAD"), tt.channel, &pos, []byte(tt.data))
		if string(msg[:4]) != "HEAD" || string(msg[4:]) != tt.msg {
			t.Errorf("AppendMessage(%+v) = %s, want HEAD%s", tt.pos, msg, tt.msg)
		}
		env := protocol.AppendEnvelope(nil, tt.channel, &pos, []byte(tt.data))
		if string(env) != tt.env {
			t.Errorf("AppendEnvelope(%+v) = %s, want %s", tt.pos, env, tt.env)
		}
		for _, b := range [][]byte{msg[4:], env} {
			var m struct {
				Channel string          `json:"channel"`
				Epoch   string          `json:"epoch"`
				Offset  uint64          `json:"offset"`
				Data    json.RawMessage `json:"data"`
			}
			decodeJSON(t, b)
			if err := json.Unmarshal(b, &m); err != nil || m.Channel != tt.channel || m.Epoch != tt.pos.Epoch || m.Offset != tt.pos.Offset || string(m.Data) != tt.data {
				t.Errorf("%s decodes to %+v (%v)", b, m, err)
			}
		}
		if pos != tt.pos {
			t.Errorf("appending changed the position to %+v", pos)
		}
	}
}

func TestAppendRecovery(t *testing.T) {
	t.Parallel()
	pos := protocol.Position{Epoch: "k3Xw9QpLzA", Offset: 12}
	tests := []struct {
		name    string
		channel string
		r       protocol.Recovery
		ws, env string
	}{
		{
			name: "recovered", channel: "a",
			r:   protocol.Recovery{Recovered: true, Position: pos, History: true},
			ws:  `{"op":"recovery","channel":"a","recovered":true,"epoch":"k3Xw9QpLzA","offset":12}`,
			env: `{"channel":"a","recovered":true,"epoch":"k3Xw9QpLzA","offset":12}`,
		},
		{
			name: "not recovered: gap", channel: "news.world",
			r:   protocol.Recovery{Reason: protocol.ReasonGap, Position: protocol.Position{Epoch: "e", Offset: 311}, History: true},
			ws:  `{"op":"recovery","channel":"news.world","recovered":false,"reason":"gap","epoch":"e","offset":311}`,
			env: `{"channel":"news.world","recovered":false,"reason":"gap","epoch":"e","offset":311}`,
		},
		{
			name: "before any message", channel: "b",
			r:   protocol.Recovery{Recovered: true, History: true},
			ws:  `{"op":"recovery","channel":"b","recovered":true,"epoch":"","offset":0}`,
			env: `{"channel":"b","recovered":true,"epoch":"","offset":0}`,
		},
		{
			// A reason is only said when not recovered, even if set.
			name: "recovered ignores a reason", channel: "c",
			r:   protocol.Recovery{Recovered: true, Reason: protocol.ReasonExpired, Position: pos, History: true},
			ws:  `{"op":"recovery","channel":"c","recovered":true,"epoch":"k3Xw9QpLzA","offset":12}`,
			env: `{"channel":"c","recovered":true,"epoch":"k3Xw9QpLzA","offset":12}`,
		},
		{
			// Without history there is no position to state.
			name: "no history", channel: "plain",
			r:   protocol.Recovery{Reason: protocol.ReasonNoHistory, Position: pos},
			ws:  `{"op":"recovery","channel":"plain","recovered":false,"reason":"no_history"}`,
			env: `{"channel":"plain","recovered":false,"reason":"no_history"}`,
		},
	}
	for _, tt := range tests {
		ws := protocol.AppendRecovery([]byte("HEAD"), true, tt.channel, tt.r)
		if string(ws) != "HEAD"+tt.ws {
			t.Errorf("%s: WebSocket form %s, want HEAD%s", tt.name, ws, tt.ws)
		}
		env := protocol.AppendRecovery(nil, false, tt.channel, tt.r)
		if string(env) != tt.env {
			t.Errorf("%s: envelope form %s, want %s", tt.name, env, tt.env)
		}
		m := decodeJSON(t, ws[4:])
		if m["op"] != "recovery" || m["channel"] != tt.channel || m["recovered"] != tt.r.Recovered {
			t.Errorf("%s: %s decodes to %v", tt.name, ws, m)
		}
		m = decodeJSON(t, env)
		if _, ok := m["op"]; ok {
			t.Errorf("%s: envelope form %s has an op", tt.name, env)
		}
		// A recovery item of a long-poll response is told from a message
		// by having no "data".
		if _, ok := m["data"]; ok || m["recovered"] != tt.r.Recovered {
			t.Errorf("%s: envelope form %s", tt.name, env)
		}
	}
}

func TestRecoveryReasons(t *testing.T) {
	t.Parallel()
	// The reasons are stable strings clients match on (spec and
	// docs/history.md).
	want := map[string]string{
		protocol.ReasonEpochChanged: "epoch_changed",
		protocol.ReasonTooFarBehind: "too_far_behind",
		protocol.ReasonExpired:      "expired",
		protocol.ReasonUnavailable:  "unavailable",
		protocol.ReasonNoHistory:    "no_history",
		protocol.ReasonGap:          "gap",
		protocol.ReasonReset:        "reset",
		protocol.ReasonAhead:        "ahead_of_history",
	}
	if len(want) != 8 {
		t.Fatalf("two reasons share a string: %v", want)
	}
	for got, w := range want {
		if got != w {
			t.Errorf("reason %q, want %q", got, w)
		}
	}
}

func TestAppendSubscribeReply(t *testing.T) {
	t.Parallel()
	pos := protocol.Position{Epoch: "k3Xw9QpLzA", Offset: 12}
	tests := []struct {
		name    string
		id      uint64
		r       protocol.Recovery
		resumed bool
		want    string
	}{
		{"plain channel", 1, protocol.Recovery{}, false, `{"op":"reply","id":1}`},
		{"plain channel with since", 1, protocol.Recovery{Reason: protocol.ReasonNoHistory}, true,
			`{"op":"reply","id":1,"recovered":false,"reason":"no_history"}`},
		{"history channel", 2, protocol.Recovery{Position: pos, History: true}, false,
			`{"op":"reply","id":2,"epoch":"k3Xw9QpLzA","offset":12}`},
		{"history channel before any message", 3, protocol.Recovery{History: true}, false,
			`{"op":"reply","id":3,"epoch":"","offset":0}`},
		{"history channel resumed", 4, protocol.Recovery{Recovered: true, Position: pos, History: true}, true,
			`{"op":"reply","id":4,"recovered":true,"epoch":"k3Xw9QpLzA","offset":12}`},
		{"history channel not recovered", 5, protocol.Recovery{Reason: protocol.ReasonExpired, Position: protocol.Position{Epoch: "k3Xw9QpLzA", Offset: 240}, History: true}, true,
			`{"op":"reply","id":5,"recovered":false,"reason":"expired","epoch":"k3Xw9QpLzA","offset":240}`},
		// Without since, no "recovered" whatever the recovery says.
		{"not resumed hides recovery", 6, protocol.Recovery{Reason: protocol.ReasonGap, Position: pos, History: true}, false,
			`{"op":"reply","id":6,"epoch":"k3Xw9QpLzA","offset":12}`},
		{"max id", 1<<64 - 1, protocol.Recovery{}, false, `{"op":"reply","id":18446744073709551615}`},
	}
	for _, tt := range tests {
		b := protocol.AppendSubscribeReply([]byte("HEAD"), tt.id, tt.r, tt.resumed)
		if string(b) != "HEAD"+tt.want {
			t.Errorf("%s: %s, want HEAD%s", tt.name, b, tt.want)
			continue
		}
		var r struct {
			Op        string  `json:"op"`
			ID        uint64  `json:"id"`
			Recovered *bool   `json:"recovered"`
			Epoch     *string `json:"epoch"`
			Offset    *uint64 `json:"offset"`
		}
		decodeJSON(t, b[4:])
		if err := json.Unmarshal(b[4:], &r); err != nil {
			t.Fatal(err)
		}
		if r.Op != "reply" || r.ID != tt.id || (r.Recovered != nil) != tt.resumed || (r.Epoch != nil) != tt.r.History || (r.Offset != nil) != tt.r.History {
			t.Errorf("%s: %s decodes to %+v", tt.name, b, r)
		}
	}
}

func TestAppendHistoryReply(t *testing.T) {
	t.Parallel()
	top := protocol.Position{Epoch: "e1", Offset: 12}
	p11 := protocol.Position{Epoch: "e1", Offset: 11}
	p12 := protocol.Position{Epoch: "e1", Offset: 12}
	msgs := [][]byte{
		protocol.AppendEnvelope(nil, "c", &p11, []byte(`{"n":11}`)),
		protocol.AppendEnvelope(nil, "c", &p12, []byte(`null`)),
	}
	tests := []struct {
		name string
		id   uint64
		top  protocol.Position
		msgs [][]byte
		want string
	}{
		{"empty", 2, protocol.Position{}, nil, `{"op":"reply","id":2,"epoch":"","offset":0,"messages":[]}`},
		{"one", 3, top, msgs[1:], `{"op":"reply","id":3,"epoch":"e1","offset":12,"messages":[{"channel":"c","epoch":"e1","offset":12,"data":null}]}`},
		{"two", 4, top, msgs, `{"op":"reply","id":4,"epoch":"e1","offset":12,"messages":[{"channel":"c","epoch":"e1","offset":11,"data":{"n":11}},{"channel":"c","epoch":"e1","offset":12,"data":null}]}`},
	}
	for _, tt := range tests {
		b := protocol.AppendHistoryReply([]byte("HEAD"), tt.id, tt.top, tt.msgs)
		if string(b) != "HEAD"+tt.want {
			t.Errorf("%s: %s, want HEAD%s", tt.name, b, tt.want)
			continue
		}
		var r struct {
			Op       string            `json:"op"`
			ID       uint64            `json:"id"`
			Epoch    string            `json:"epoch"`
			Offset   uint64            `json:"offset"`
			Messages []json.RawMessage `json:"messages"`
		}
		decodeJSON(t, b[4:])
		if err := json.Unmarshal(b[4:], &r); err != nil {
			t.Fatal(err)
		}
		if r.Op != "reply" || r.ID != tt.id || r.Epoch != tt.top.Epoch || r.Offset != tt.top.Offset || r.Messages == nil || len(r.Messages) != len(tt.msgs) {
			t.Errorf("%s: %s decodes to %+v", tt.name, b, r)
		}
	}
}

func TestAppendHistoryBody(t *testing.T) {
	t.Parallel()
	p := protocol.Position{Epoch: "e1", Offset: 7}
	msgs := [][]byte{protocol.AppendEnvelope(nil, "c.d", &p, []byte(`"x"`))}
	want := `{"channel":"c.d","epoch":"e1","offset":7,"messages":[{"channel":"c.d","epoch":"e1","offset":7,"data":"x"}]}`
	if b := protocol.AppendHistoryBody([]byte("HEAD"), "c.d", p, msgs); string(b) != "HEAD"+want {
		t.Fatalf("%s, want HEAD%s", b, want)
	}
	if b := protocol.AppendHistoryBody(nil, "c", protocol.Position{}, nil); string(b) != `{"channel":"c","epoch":"","offset":0,"messages":[]}` {
		t.Fatalf("empty: %s", b)
	}
}
