package protocol_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/heraldrt/herald/internal/protocol"
	"github.com/nats-io/nats-server/v2/server"
)

func TestValidateChannel(t *testing.T) {
	t.Parallel()
	max := protocol.DefaultMaxChannelLength
	long := strings.Repeat("a", max)
	dotted := strings.Repeat("ab.", max/3)[:max-1] + "z" // 255 bytes, many tokens
	tests := []struct {
		name string
		ok   bool
	}{
		// Accepted.
		{"a", true},
		{"news", true},
		{"chat.room-1", true},
		{"a.b.c.d.e.f", true},
		{"Upper.CASE.09", true},
		{"_-:=@/,~+#!", true},
		{"user:42.inbox", true},
		{"a.#.b", true}, // '#' is an ordinary byte in NATS
		{long, true},
		{dotted, true},
		{"SYS", true},
		{"JS.API", true},

		// Empty tokens.
		{"", false},
		{".", false},
		{"..", false},
		{".a", false},
		{"a.", false},
		{"a..b", false},
		{"a.b.", false},

		// Wildcards, alone and inside tokens.
		{"*", false},
		{">", false},
		{"a.*", false},
		{"a.>", false},
		{"*.a", false},
		{">.a", false},
		{"a*b", false},
		{"a>b", false},
		{"a.*.b", false},

		// System and JetStream subjects.
		{"$SYS", false},
		{"$SYS.REQ.SERVER.PING", false},
		{"$JS.API.STREAM.LIST", false},
		{"$KV.bucket.key", false},
		{"a$b", false},
		{"a.$G", false},

		// White space and control bytes.
		{" ", false},
		{" a", false},
		{"a ", false},
		{"a b", false},
		{"a\tb", false},
		{"a\nb", false},
		{"a\rb", false},
		{"a\fb", false},
		{"a\vb", false},
		{"a\x00b", false},
		{"\x00", false},
		{"a\x1bb", false},
		{"a\x7fb", false},
		{"a\u00a0b", false}, // no-break space
		{"a\u2028b", false}, // line separator

		// Quoting and escaping bytes a JSON encoder would have to escape.
		{`a"b`, false},
		{`a\b`, false},
		{"a'b", false},
		{"a<b", false},
		{"a&b", false},
		{"a%2Eb", false},
		{"a?b", false},
		{"a;b", false},
		{"a|b", false},

		// Non-ASCII.
		{"héllo", false},
		{"日本", false},
		{"emoji.😀", false},
		{"a\xffb", false}, // invalid UTF-8
		{"\ufffd", false},

		// Too long.
		{long + "a", false},
		{dotted + "z", false},
		{strings.Repeat("a", 4096), false},
	}
	for _, tt := range tests {
		err := protocol.ValidateChannel(tt.name, max)
		switch {
		case tt.ok && err != nil:
			t.Errorf("ValidateChannel(%q) = %v, want nil", short(tt.name), err)
		case !tt.ok && err == nil:
			t.Errorf("ValidateChannel(%q) = nil, want an error", short(tt.name))
		case !tt.ok && (err.Code != protocol.CodeInvalidChannel || err.Message == ""):
			t.Errorf("ValidateChannel(%q) = %+v, want code %s with a message", short(tt.name), err, protocol.CodeInvalidChannel)
		}
	}
}

func TestValidateChannelMaxLen(t *testing.T) {
	t.Parallel()
	for _, max := range []int{1, 2, 16, 255, 1024} {
		at := strings.Repeat("x", max)
		if err := protocol.ValidateChannel(at, max); err != nil {
			t.Errorf("max %d: %d bytes refused: %v", max, len(at), err)
		}
		if err := protocol.ValidateChannel(at+"x", max); err == nil {
			t.Errorf("max %d: %d bytes accepted", max, len(at)+1)
		} else if !strings.Contains(err.Message, "longer than") {
			t.Errorf("max %d: message %q does not say the name is too long", max, err.Message)
		}
	}
}

// TestValidateChannelMessageIsSafe checks that an error message quotes the
// name, so a hostile name cannot inject lines into logs or replies.
func TestValidateChannelMessageIsSafe(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a\nb", "a\r\nINJECTED: yes", "a\x00", "a\x1b[31m", "a\xff", `a"b`} {
		err := protocol.ValidateChannel(name, protocol.DefaultMaxChannelLength)
		if err == nil {
			t.Fatalf("%q accepted", name)
		}
		if strings.ContainsAny(err.Message, "\n\r\x00\x1b") || !utf8.ValidString(err.Message) {
			t.Errorf("message for %q holds raw control bytes or bad UTF-8: %q", name, err.Message)
		}
	}
}

// TestValidateChannelNamesTheCharacter checks that the refusal quotes the
// character a person typed, whole, wherever it is multi-byte.
func TestValidateChannelNamesTheCharacter(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, want string }{
		{"naïve", `holds 'ï' at byte 2`},
		{"a.日本", `holds '日' at byte 2`},
		{"chat.🙂", `holds '🙂' at byte 5`},
		{"a*", `holds '*' at byte 1`},
		{"a\xffb", `holds '\xff' at byte 1`},
		{"a b", `holds ' ' at byte 1`},
		{"a\nb", `holds '\n' at byte 1`},
	} {
		err := protocol.ValidateChannel(tt.name, protocol.DefaultMaxChannelLength)
		if err == nil || !strings.Contains(err.Message, tt.want) {
			t.Errorf("ValidateChannel(%q) = %v, want a message that %s", tt.name, err, tt.want)
		}
	}
}

// channelRule is the documented channel syntax, written independently of
// the table ValidateChannel uses.
var channelRule = regexp.MustCompile(`^[A-Za-z0-9_\-:=@/,~+#!]+(\.[A-Za-z0-9_\-:=@/,~+#!]+)*$`)

func FuzzValidateChannel(f *testing.F) {
	for _, s := range []string{
		"a", "news.sport", "a..b", ".a", "a.", "*", ">", "a.*", "a.>", "$SYS.x",
		"a b", "a\tb", "a\x00", "héllo", strings.Repeat("a", 255), strings.Repeat("a", 256),
		"_herald", "_herald.nodes", "_heraldx.a", "a._herald",
	} {
		f.Add(s)
	}
	const prefix = "herald.ch."
	f.Fuzz(func(t *testing.T, name string) {
		for _, max := range []int{protocol.DefaultMaxChannelLength, len(name), len(name) - 1, 1} {
			if max < 1 {
				continue
			}
			err := protocol.ValidateChannel(name, max)
			if err != nil {
				if err.Code != protocol.CodeInvalidChannel || err.Message == "" {
					t.Fatalf("ValidateChannel(%q, %d) = %+v: want code %s with a message", name, max, err, protocol.CodeInvalidChannel)
				}
				if want := len(name) <= max && channelRule.MatchString(name); want {
					t.Fatalf("ValidateChannel(%q, %d) refused a name the documented rule accepts: %v", name, max, err)
				}
				continue
			}
			// Accepted: it must be one literal NATS subject, safe to put
			// under the node's prefix and into JSON unescaped.
			if len(name) == 0 || len(name) > max {
				t.Fatalf("ValidateChannel(%q, %d) accepted a name of %d bytes", name, max, len(name))
			}
			if !channelRule.MatchString(name) {
				t.Fatalf("ValidateChannel(%q, %d) accepted a name outside the documented rule", name, max)
			}
			if !server.IsValidPublishSubject(prefix + name) {
				t.Fatalf("ValidateChannel(%q) accepted a name NATS does not take as a literal subject", name)
			}
			if strings.ContainsAny(name, "*>$\"\\") {
				t.Fatalf("ValidateChannel(%q) accepted a wildcard, '$' or a JSON-escaped byte", name)
			}
			for _, tok := range strings.Split(name, ".") {
				if tok == "" || tok == "*" || tok == ">" {
					t.Fatalf("ValidateChannel(%q) accepted token %q", name, tok)
				}
			}
			for _, r := range name {
				if r >= utf8.RuneSelf || unicode.IsSpace(r) || unicode.IsControl(r) {
					t.Fatalf("ValidateChannel(%q) accepted %q", name, r)
				}
			}
			// Clients and the API may use every valid channel but Herald's own.
			cerr := protocol.ValidateClientChannel(name, max)
			first, _, _ := strings.Cut(name, ".")
			if reserved := first == protocol.ReservedToken; (cerr != nil) != reserved || (reserved && cerr.Code != protocol.CodeForbidden) {
				t.Fatalf("ValidateClientChannel(%q) = %v", name, cerr)
			}
		}
	})
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
