package protocol_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/heraldrt/herald/internal/protocol"
)

func TestDecodeCommand(t *testing.T) {
	t.Parallel()
	// Past encoding/json's nesting limit of 10000.
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	tests := []struct {
		name    string
		frame   string
		code    string // "" for success
		id      uint64 // id the result must hold, success or not
		op      string
		channel string
		data    string
	}{
		// Accepted commands.
		{name: "subscribe", frame: `{"id":1,"op":"subscribe","channel":"news"}`, id: 1, op: "subscribe", channel: "news"},
		{name: "unsubscribe", frame: `{"id":2,"op":"unsubscribe","channel":"a.b"}`, id: 2, op: "unsubscribe", channel: "a.b"},
		{name: "publish", frame: `{"id":3,"op":"publish","channel":"c","data":{"x":[1,2]}}`, id: 3, op: "publish", channel: "c", data: `{"x":[1,2]}`},
		{name: "publish null data", frame: `{"id":4,"op":"publish","channel":"c","data":null}`, id: 4, op: "publish", channel: "c", data: `null`},
		{name: "publish odd data kept byte for byte", frame: `{"id":4,"op":"publish","channel":"c","data": [1.50, 2e3 ,"\u00e9"] }`, id: 4, op: "publish", channel: "c", data: `[1.50, 2e3 ,"\u00e9"]`},
		{name: "ping", frame: `{"id":5,"op":"ping"}`, id: 5, op: "ping"},
		{name: "ping ignores channel and data", frame: `{"id":5,"op":"ping","channel":"x","data":1}`, id: 5, op: "ping", channel: "x", data: "1"},
		{name: "max id", frame: `{"id":18446744073709551615,"op":"ping"}`, id: 1<<64 - 1, op: "ping"},
		{name: "unknown fields ignored", frame: `{"id":6,"op":"ping","extra":{"a":[]}}`, id: 6, op: "ping"},
		{name: "white space", frame: " \t\r\n{ \"id\" : 7 , \"op\" : \"ping\" }\n", id: 7, op: "ping"},
		{name: "duplicate key: last wins", frame: `{"id":1,"op":"ping","id":8}`, id: 8, op: "ping"},
		{name: "duplicate op: last wins", frame: `{"id":9,"op":"bogus","op":"ping"}`, id: 9, op: "ping"},
		{name: "deep data", frame: `{"id":10,"op":"publish","channel":"c","data":` + strings.Repeat("[", 500) + strings.Repeat("]", 500) + `}`, id: 10, op: "publish", channel: "c", data: strings.Repeat("[", 500) + strings.Repeat("]", 500)},
		// Channel names are validated later, by the handler.
		{name: "wildcard channel passes decode", frame: `{"id":11,"op":"subscribe","channel":"a.*"}`, id: 11, op: "subscribe", channel: "a.*"},

		// Not JSON, or not an object.
		{name: "empty", frame: ``, code: protocol.CodeBadRequest},
		{name: "space", frame: ` `, code: protocol.CodeBadRequest},
		{name: "garbage", frame: `hello`, code: protocol.CodeBadRequest},
		{name: "truncated", frame: `{"id":1,"op":"pi`, code: protocol.CodeBadRequest},
		{name: "trailing garbage", frame: `{"id":1,"op":"ping"}x`, code: protocol.CodeBadRequest},
		{name: "two objects", frame: `{"id":1,"op":"ping"}{"id":2,"op":"ping"}`, code: protocol.CodeBadRequest},
		{name: "array", frame: `[{"id":1,"op":"ping"}]`, code: protocol.CodeBadRequest},
		{name: "string", frame: `"ping"`, code: protocol.CodeBadRequest},
		{name: "number", frame: `1`, code: protocol.CodeBadRequest},
		{name: "null", frame: `null`, code: protocol.CodeBadRequest, id: 0}, // null decodes to the zero command
		{name: "true", frame: `true`, code: protocol.CodeBadRequest},
		{name: "deeply nested", frame: deep, code: protocol.CodeBadRequest},
		{name: "too deeply nested data", frame: `{"id":12,"op":"publish","channel":"c","data":` + deep + `}`, code: protocol.CodeBadRequest},
		{name: "invalid data", frame: `{"id":13,"op":"publish","channel":"c","data":{x}}`, code: protocol.CodeBadRequest},

		// The id.
		{name: "missing id", frame: `{"op":"ping"}`, code: protocol.CodeBadRequest},
		{name: "id 0", frame: `{"id":0,"op":"ping"}`, code: protocol.CodeBadRequest},
		{name: "id null", frame: `{"id":null,"op":"ping"}`, code: protocol.CodeBadRequest},
		{name: "negative id", frame: `{"id":-1,"op":"ping"}`, code: protocol.CodeBadRequest},
		{name: "fractional id", frame: `{"id":1.5,"op":"ping"}`, code: protocol.CodeBadRequest},
		{name: "exponent id", frame: `{"id":1e3,"op":"ping"}`, code: protocol.CodeBadRequest},
		{name: "id over uint64", frame: `{"id":18446744073709551616,"op":"ping"}`, code: protocol.CodeBadRequest},
		{name: "huge id", frame: `{"id":` + strings.Repeat("9", 400) + `,"op":"ping"}`, code: protocol.CodeBadRequest},
		{name: "id as string", frame: `{"id":"1","op":"ping"}`, code: protocol.CodeBadRequest},
		{name: "id as object", frame: `{"id":{},"op":"ping"}`, code: protocol.CodeBadRequest},

		// Other fields of the wrong type keep a readable id for the reply.
		{name: "op as number", frame: `{"id":14,"op":1}`, code: protocol.CodeBadRequest, id: 14},
		{name: "channel as number", frame: `{"id":15,"op":"subscribe","channel":7}`, code: protocol.CodeBadRequest, id: 15},
		{name: "channel as array", frame: `{"id":16,"op":"subscribe","channel":["a"]}`, code: protocol.CodeBadRequest, id: 16},

		// The op.
		{name: "missing op", frame: `{"id":17}`, code: protocol.CodeUnknownOp, id: 17},
		{name: "empty op", frame: `{"id":18,"op":""}`, code: protocol.CodeUnknownOp, id: 18},
		{name: "null op", frame: `{"id":19,"op":null}`, code: protocol.CodeUnknownOp, id: 19},
		{name: "unknown op", frame: `{"id":20,"op":"shutdown"}`, code: protocol.CodeUnknownOp, id: 20, op: "shutdown"},
		{name: "op with different case", frame: `{"id":21,"op":"PING"}`, code: protocol.CodeUnknownOp, id: 21, op: "PING"},
		{name: "long op", frame: `{"id":22,"op":"` + strings.Repeat("x", 10000) + `"}`, code: protocol.CodeUnknownOp, id: 22, op: strings.Repeat("x", 10000)},
		{name: "op server-only", frame: `{"id":23,"op":"message"}`, code: protocol.CodeUnknownOp, id: 23, op: "message"},

		// Channel and data.
		{name: "subscribe without channel", frame: `{"id":24,"op":"subscribe"}`, code: protocol.CodeInvalidChannel, id: 24, op: "subscribe"},
		{name: "subscribe empty channel", frame: `{"id":25,"op":"subscribe","channel":""}`, code: protocol.CodeInvalidChannel, id: 25, op: "subscribe"},
		{name: "subscribe null channel", frame: `{"id":26,"op":"subscribe","channel":null}`, code: protocol.CodeInvalidChannel, id: 26, op: "subscribe"},
		{name: "unsubscribe without channel", frame: `{"id":27,"op":"unsubscribe"}`, code: protocol.CodeInvalidChannel, id: 27, op: "unsubscribe"},
		{name: "publish without channel", frame: `{"id":28,"op":"publish","data":1}`, code: protocol.CodeInvalidChannel, id: 28, op: "publish", data: "1"},
		{name: "publish without data", frame: `{"id":29,"op":"publish","channel":"c"}`, code: protocol.CodeBadRequest, id: 29, op: "publish", channel: "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd, err := protocol.DecodeCommand([]byte(tt.frame))
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("DecodeCommand: %v", err)
			case tt.code != "" && err == nil:
				t.Fatalf("DecodeCommand = %+v, want %s", cmd, tt.code)
			case err != nil && err.Code != tt.code:
				t.Fatalf("code %s (%s), want %s", err.Code, err.Message, tt.code)
			case err != nil && err.Message == "":
				t.Fatal("error without a message")
			}
			if cmd.ID != tt.id {
				t.Errorf("id %d, want %d", cmd.ID, tt.id)
			}
			if err != nil && err.Code == protocol.CodeBadRequest {
				return // the other fields are not promised
			}
			if cmd.Op != tt.op || cmd.Channel != tt.channel || string(cmd.Data) != tt.data {
				t.Errorf("got op %q channel %q data %q, want %q %q %q", short(cmd.Op), cmd.Channel, cmd.Data, short(tt.op), tt.channel, tt.data)
			}
		})
	}
}

// TestDecodeCommandErrorMessages checks that what a client sent is echoed
// back only truncated and safely.
func TestDecodeCommandErrorMessages(t *testing.T) {
	t.Parallel()
	_, err := protocol.DecodeCommand([]byte(`{"id":1,"op":"` + strings.Repeat("é", 100) + `"}`))
	if err == nil || err.Code != protocol.CodeUnknownOp {
		t.Fatalf("err = %v", err)
	}
	if len(err.Message) > 200 {
		t.Errorf("message of %d bytes echoes the whole op", len(err.Message))
	}
	// The truncated op may end inside a rune; the reply must still be
	// valid JSON and valid UTF-8 (it goes out in a text frame).
	reply := protocol.AppendReply(nil, 1, err)
	if !json.Valid(reply) || !utf8.Valid(reply) {
		t.Errorf("reply %q is not valid JSON text", reply)
	}

	_, err = protocol.DecodeCommand([]byte(`{"id":1,"op":"ping","channel":7}`))
	if err == nil || !strings.Contains(err.Message, `"channel"`) {
		t.Errorf("a field type error does not name the field: %v", err)
	}
	_, err = protocol.DecodeCommand([]byte(`{"id":1,`))
	if err == nil || !strings.Contains(err.Message, "not a valid JSON object") {
		t.Errorf("a syntax error is not described: %v", err)
	}
}

// commandCodes are the codes DecodeCommand may return.
var commandCodes = map[string]bool{
	protocol.CodeBadRequest:     true,
	protocol.CodeUnknownOp:      true,
	protocol.CodeInvalidChannel: true,
}

func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"op":"ping"}`,
		`{"id":2,"op":"subscribe","channel":"news"}`,
		`{"id":3,"op":"publish","channel":"chat.room","data":{"text":"hi"}}`,
		`{"id":4,"op":"publish","channel":"c","data":null}`,
		`{"id":-1,"op":"ping"}`,
		`{"id":"1","op":"ping"}`,
		`{"id":1,"op":"ping","id":2}`,
		`[1,2,3]`,
		`null`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		cmd, err := protocol.DecodeCommand(frame)

		// Whatever happened, the reply is valid JSON, and valid UTF-8 as
		// a text frame needs.
		reply := protocol.AppendReply(nil, cmd.ID, err)
		if !json.Valid(reply) || !utf8.Valid(reply) {
			t.Fatalf("reply %q is not valid JSON text", reply)
		}
		var back struct {
			ID    uint64          `json:"id"`
			Error *protocol.Error `json:"error"`
		}
		if e := json.Unmarshal(reply, &back); e != nil || back.ID != cmd.ID || (back.Error == nil) != (err == nil) {
			t.Fatalf("reply %q does not round-trip (id %d, err %v): %v", reply, cmd.ID, err, e)
		}

		if err != nil {
			if !commandCodes[err.Code] || err.Message == "" {
				t.Fatalf("DecodeCommand(%q) = code %q message %q: not a documented command error", frame, err.Code, err.Message)
			}
			return
		}

		// Accepted: a complete, well-formed command.
		if cmd.ID == 0 {
			t.Fatalf("DecodeCommand(%q) accepted id 0", frame)
		}
		if !json.Valid(frame) {
			t.Fatalf("DecodeCommand(%q) accepted invalid JSON", frame)
		}
		switch cmd.Op {
		case protocol.OpPing:
		case protocol.OpSubscribe, protocol.OpUnsubscribe:
			if cmd.Channel == "" {
				t.Fatalf("DecodeCommand(%q) accepted %s without a channel", frame, cmd.Op)
			}
		case protocol.OpPublish:
			if cmd.Channel == "" || len(cmd.Data) == 0 {
				t.Fatalf("DecodeCommand(%q) accepted publish without channel or data", frame)
			}
		default:
			t.Fatalf("DecodeCommand(%q) accepted op %q", frame, cmd.Op)
		}
		if len(cmd.Data) > 0 && !json.Valid(cmd.Data) {
			t.Fatalf("DecodeCommand(%q) returned invalid data %q", frame, cmd.Data)
		}
		if cmd.Op != protocol.OpPublish || protocol.ValidateChannel(cmd.Channel, protocol.DefaultMaxChannelLength) != nil {
			return
		}

		// An accepted channel goes into frames unescaped; the frames must
		// stay valid JSON and carry the channel and data unchanged.
		for _, enc := range []func([]byte, string, []byte) []byte{protocol.AppendMessage, protocol.AppendEnvelope} {
			out := enc(nil, cmd.Channel, cmd.Data)
			if !json.Valid(out) {
				t.Fatalf("frame %q for %q is not valid JSON", out, frame)
			}
			if utf8.Valid(frame) && !utf8.Valid(out) {
				t.Fatalf("frame %q from UTF-8 input is not UTF-8", out)
			}
			var m struct {
				Channel string          `json:"channel"`
				Data    json.RawMessage `json:"data"`
			}
			if e := json.Unmarshal(out, &m); e != nil || m.Channel != cmd.Channel || !bytes.Equal(m.Data, cmd.Data) {
				t.Fatalf("frame %q does not round-trip channel %q data %q: %v", out, cmd.Channel, cmd.Data, e)
			}
		}
	})
}
