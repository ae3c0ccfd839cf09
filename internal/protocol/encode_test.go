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
		msg := protocol.AppendMessage(prefix, tt.channel, []byte(tt.data))
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
		env := protocol.AppendEnvelope(nil, tt.channel, []byte(tt.data))
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
