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
	protocol.CodeUnauthorized:   true, // auth without a token
}

func FuzzDecodeCommand(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"op":"ping"}`,
		`{"id":2,"op":"subscribe","channel":"news"}`,
		`{"id":3,"op":"publish","channel":"chat.room","data":{"text":"hi"}}`,
		`{"id":4,"op":"publish","channel":"c","data":null}`,
		`{"id":5,"op":"subscribe","channel":"news","since":{"epoch":"k3Xw9QpLzA","offset":5}}`,
		`{"id":6,"op":"subscribe","channel":"news","since":{"offset":0}}`,
		`{"id":7,"op":"subscribe","channel":"news","since":{"rewind":10}}`,
		`{"id":8,"op":"subscribe","channel":"news","since":{"rewind":0}}`,
		`{"id":9,"op":"subscribe","channel":"news","since":{"epoch":"a-b","offset":1}}`,
		`{"id":10,"op":"history","channel":"news","limit":50,"since":10}`,
		`{"id":11,"op":"history","channel":"news"}`,
		`{"id":12,"op":"history","channel":"news","since":"10"}`,
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
			if cmd.Op == protocol.OpSubscribe && (cmd.Resume != nil) != (len(cmd.Since) > 0) {
				t.Fatalf("DecodeCommand(%q): since %q decoded to resume %+v", frame, cmd.Since, cmd.Resume)
			}
			if r := cmd.Resume; r != nil && (!protocol.ValidEpoch(r.From.Epoch) || r.Rewind != 0 && r.From != (protocol.Position{})) {
				t.Fatalf("DecodeCommand(%q) accepted resume %+v", frame, *r)
			}
		case protocol.OpHistory:
			if cmd.Channel == "" || cmd.Limit < 0 || (cmd.After != nil) != (len(cmd.Since) > 0) {
				t.Fatalf("DecodeCommand(%q) accepted history with channel %q limit %d since %q after %v", frame, cmd.Channel, cmd.Limit, cmd.Since, cmd.After)
			}
			if cmd.Resume != nil {
				t.Fatalf("DecodeCommand(%q): a history command got a resume", frame)
			}
		case protocol.OpPublish:
			if cmd.Channel == "" || len(cmd.Data) == 0 {
				t.Fatalf("DecodeCommand(%q) accepted publish without channel or data", frame)
			}
		case protocol.OpAuth:
			if cmd.Token == "" {
				t.Fatalf("DecodeCommand(%q) accepted auth without a token", frame)
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
		// stay valid JSON and carry the channel and data unchanged, with
		// or without a position (an epoch a server could give out).
		positions := []*protocol.Position{nil, {Epoch: "k3Xw9QpLzA", Offset: 1<<64 - 1}, {}}
		for _, enc := range []func([]byte, string, *protocol.Position, []byte) []byte{protocol.AppendMessage, protocol.AppendEnvelope} {
			for _, pos := range positions {
				out := enc(nil, cmd.Channel, pos, cmd.Data)
				if !json.Valid(out) {
					t.Fatalf("frame %q for %q is not valid JSON", out, frame)
				}
				if utf8.Valid(frame) && !utf8.Valid(out) {
					t.Fatalf("frame %q from UTF-8 input is not UTF-8", out)
				}
				var m struct {
					Channel string          `json:"channel"`
					Epoch   *string         `json:"epoch"`
					Offset  *uint64         `json:"offset"`
					Data    json.RawMessage `json:"data"`
				}
				if e := json.Unmarshal(out, &m); e != nil || m.Channel != cmd.Channel || !bytes.Equal(m.Data, cmd.Data) {
					t.Fatalf("frame %q does not round-trip channel %q data %q: %v", out, cmd.Channel, cmd.Data, e)
				}
				if pos == nil && (m.Epoch != nil || m.Offset != nil) ||
					pos != nil && (m.Epoch == nil || m.Offset == nil || *m.Epoch != pos.Epoch || *m.Offset != pos.Offset) {
					t.Fatalf("frame %q does not carry position %v", out, pos)
				}
			}
		}
	})
}

func TestDecodeCommandSince(t *testing.T) {
	t.Parallel()
	u := func(n uint64) *uint64 { return &n }
	tests := []struct {
		name   string
		frame  string
		code   string // "" for success
		id     uint64
		resume *protocol.Resume
		after  *uint64
		limit  int
	}{
		// subscribe: a position, an offset alone, or a rewind.
		{name: "subscribe without since", frame: `{"id":1,"op":"subscribe","channel":"c"}`, id: 1},
		{name: "since epoch and offset", frame: `{"id":2,"op":"subscribe","channel":"c","since":{"epoch":"k3Xw9QpLzA","offset":5}}`, id: 2,
			resume: &protocol.Resume{From: protocol.Position{Epoch: "k3Xw9QpLzA", Offset: 5}}},
		{name: "since offset only", frame: `{"id":3,"op":"subscribe","channel":"c","since":{"offset":5}}`, id: 3,
			resume: &protocol.Resume{From: protocol.Position{Offset: 5}}},
		{name: "since the zero position", frame: `{"id":4,"op":"subscribe","channel":"c","since":{"epoch":"","offset":0}}`, id: 4,
			resume: &protocol.Resume{}},
		{name: "since null epoch", frame: `{"id":5,"op":"subscribe","channel":"c","since":{"epoch":null,"offset":9}}`, id: 5,
			resume: &protocol.Resume{From: protocol.Position{Offset: 9}}},
		{name: "since max offset", frame: `{"id":6,"op":"subscribe","channel":"c","since":{"epoch":"e","offset":18446744073709551615}}`, id: 6,
			resume: &protocol.Resume{From: protocol.Position{Epoch: "e", Offset: 1<<64 - 1}}},
		{name: "since longest epoch", frame: `{"id":7,"op":"subscribe","channel":"c","since":{"epoch":"` + strings.Repeat("a", protocol.MaxEpochLength) + `","offset":1}}`, id: 7,
			resume: &protocol.Resume{From: protocol.Position{Epoch: strings.Repeat("a", protocol.MaxEpochLength), Offset: 1}}},
		{name: "since rewind", frame: `{"id":8,"op":"subscribe","channel":"c","since":{"rewind":10}}`, id: 8,
			resume: &protocol.Resume{Rewind: 10}},
		{name: "since unknown field ignored", frame: `{"id":9,"op":"subscribe","channel":"c","since":{"rewind":1,"x":true}}`, id: 9,
			resume: &protocol.Resume{Rewind: 1}},
		{name: "unsubscribe ignores since", frame: `{"id":10,"op":"unsubscribe","channel":"c","since":"whatever"}`, id: 10},

		{name: "rewind 0", frame: `{"id":20,"op":"subscribe","channel":"c","since":{"rewind":0}}`, code: protocol.CodeBadRequest, id: 20},
		{name: "rewind negative", frame: `{"id":21,"op":"subscribe","channel":"c","since":{"rewind":-1}}`, code: protocol.CodeBadRequest, id: 21},
		{name: "rewind and offset", frame: `{"id":22,"op":"subscribe","channel":"c","since":{"rewind":3,"offset":4}}`, code: protocol.CodeBadRequest, id: 22},
		{name: "rewind and epoch", frame: `{"id":23,"op":"subscribe","channel":"c","since":{"rewind":3,"epoch":"e"}}`, code: protocol.CodeBadRequest, id: 23},
		{name: "epoch without offset", frame: `{"id":24,"op":"subscribe","channel":"c","since":{"epoch":"e"}}`, code: protocol.CodeBadRequest, id: 24},
		{name: "empty since", frame: `{"id":25,"op":"subscribe","channel":"c","since":{}}`, code: protocol.CodeBadRequest, id: 25},
		{name: "since a number", frame: `{"id":26,"op":"subscribe","channel":"c","since":5}`, code: protocol.CodeBadRequest, id: 26},
		{name: "since a string", frame: `{"id":27,"op":"subscribe","channel":"c","since":"e:5"}`, code: protocol.CodeBadRequest, id: 27},
		{name: "since an array", frame: `{"id":28,"op":"subscribe","channel":"c","since":["e",5]}`, code: protocol.CodeBadRequest, id: 28},
		{name: "since null", frame: `{"id":29,"op":"subscribe","channel":"c","since":null}`, id: 29}, // as if absent
		{name: "offset negative", frame: `{"id":30,"op":"subscribe","channel":"c","since":{"epoch":"e","offset":-1}}`, code: protocol.CodeBadRequest, id: 30},
		{name: "offset fractional", frame: `{"id":31,"op":"subscribe","channel":"c","since":{"epoch":"e","offset":1.5}}`, code: protocol.CodeBadRequest, id: 31},
		{name: "offset a string", frame: `{"id":32,"op":"subscribe","channel":"c","since":{"epoch":"e","offset":"5"}}`, code: protocol.CodeBadRequest, id: 32},
		{name: "offset over uint64", frame: `{"id":33,"op":"subscribe","channel":"c","since":{"epoch":"e","offset":18446744073709551616}}`, code: protocol.CodeBadRequest, id: 33},
		{name: "epoch a number", frame: `{"id":34,"op":"subscribe","channel":"c","since":{"epoch":7,"offset":5}}`, code: protocol.CodeBadRequest, id: 34},
		{name: "epoch with a dash", frame: `{"id":35,"op":"subscribe","channel":"c","since":{"epoch":"a-b","offset":5}}`, code: protocol.CodeBadRequest, id: 35},
		{name: "epoch with a colon", frame: `{"id":36,"op":"subscribe","channel":"c","since":{"epoch":"a:b","offset":5}}`, code: protocol.CodeBadRequest, id: 36},
		{name: "epoch with a quote", frame: `{"id":37,"op":"subscribe","channel":"c","since":{"epoch":"a\"b","offset":5}}`, code: protocol.CodeBadRequest, id: 37},
		{name: "epoch not ASCII", frame: `{"id":38,"op":"subscribe","channel":"c","since":{"epoch":"é","offset":5}}`, code: protocol.CodeBadRequest, id: 38},
		{name: "epoch too long", frame: `{"id":39,"op":"subscribe","channel":"c","since":{"epoch":"` + strings.Repeat("a", protocol.MaxEpochLength+1) + `","offset":1}}`, code: protocol.CodeBadRequest, id: 39},
		{name: "since invalid JSON", frame: `{"id":40,"op":"subscribe","channel":"c","since":{"rewind":}}`, code: protocol.CodeBadRequest},

		// history: since is an offset; limit how many.
		{name: "history", frame: `{"id":50,"op":"history","channel":"c"}`, id: 50},
		{name: "history since and limit", frame: `{"id":51,"op":"history","channel":"c","limit":50,"since":10}`, id: 51, after: u(10), limit: 50},
		{name: "history since 0", frame: `{"id":52,"op":"history","channel":"c","since":0}`, id: 52, after: u(0)},
		{name: "history max since", frame: `{"id":53,"op":"history","channel":"c","since":18446744073709551615}`, id: 53, after: u(1<<64 - 1)},
		{name: "history limit 0", frame: `{"id":54,"op":"history","channel":"c","limit":0}`, id: 54},

		{name: "history without channel", frame: `{"id":60,"op":"history","since":1}`, code: protocol.CodeInvalidChannel, id: 60},
		{name: "history since a string", frame: `{"id":61,"op":"history","channel":"c","since":"10"}`, code: protocol.CodeBadRequest, id: 61},
		{name: "history since a position", frame: `{"id":62,"op":"history","channel":"c","since":{"epoch":"e","offset":1}}`, code: protocol.CodeBadRequest, id: 62},
		{name: "history since negative", frame: `{"id":63,"op":"history","channel":"c","since":-1}`, code: protocol.CodeBadRequest, id: 63},
		{name: "history since fractional", frame: `{"id":64,"op":"history","channel":"c","since":1.5}`, code: protocol.CodeBadRequest, id: 64},
		{name: "history since over uint64", frame: `{"id":65,"op":"history","channel":"c","since":18446744073709551616}`, code: protocol.CodeBadRequest, id: 65},
		{name: "history limit negative", frame: `{"id":66,"op":"history","channel":"c","limit":-1}`, code: protocol.CodeBadRequest, id: 66},
		{name: "history limit a string", frame: `{"id":67,"op":"history","channel":"c","limit":"5"}`, code: protocol.CodeBadRequest, id: 67},
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
			case err != nil && (err.Code != tt.code || err.Message == ""):
				t.Fatalf("code %s (%q), want %s with a message", err.Code, err.Message, tt.code)
			}
			if cmd.ID != tt.id {
				t.Errorf("id %d, want %d", cmd.ID, tt.id)
			}
			if err != nil {
				return
			}
			if (cmd.Resume == nil) != (tt.resume == nil) || cmd.Resume != nil && *cmd.Resume != *tt.resume {
				t.Errorf("resume %+v, want %+v", cmd.Resume, tt.resume)
			}
			if (cmd.After == nil) != (tt.after == nil) || cmd.After != nil && *cmd.After != *tt.after {
				t.Errorf("after %v, want %v", cmd.After, tt.after)
			}
			if cmd.Limit != tt.limit {
				t.Errorf("limit %d, want %d", cmd.Limit, tt.limit)
			}
		})
	}
}
