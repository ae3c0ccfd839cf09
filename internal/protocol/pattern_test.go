package protocol_test

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/heraldrt/herald/internal/protocol"
)

func TestMatchPattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, channel string
		want             bool
	}{
		{"chat", "chat", true},
		{"chat", "chats", false},
		{"chat", "cha", false},
		{"chat", "chat.room", false},
		{"chat.room", "chat", false},
		{"a.b.c", "a.b.c", true},
		{"a.b.c", "a.b.d", false},

		{"*", "a", true},
		{"*", "a.b", false},
		{"chat.*", "chat.room", true},
		{"chat.*", "chat", false},
		{"chat.*", "chat.room.x", false},
		{"*.room", "chat.room", true},
		{"*.room", "chat.hall", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.b.c", false},
		{"*.*", "a.b", true},
		{"*.*", "a", false},

		{">", "a", true},
		{">", "a.b.c", true},
		{">", "", false},
		{"chat.>", "chat.room", true},
		{"chat.>", "chat.room.private", true},
		{"chat.>", "chat", false},
		{"chat.>", "chatter.x", false},
		{"*.>", "a.b", true},
		{"*.>", "a", false},
		{"news.*.>", "news.eu.paris", true},
		{"news.*.>", "news.eu", false},
		// '>' only counts as the last token; elsewhere it matches nothing
		// a valid channel holds.
		{"a.>.c", "a.b.c", false},
		// Tokens are whole: no partial wildcards.
		{"ch*", "chat", false},
		{"chat.r>", "chat.room", false},
		// Case matters.
		{"Chat", "chat", false},
		// Channel bytes other than letters are literal.
		{"a:b.#", "a:b.#", true},
		{"a:b.#", "a:b.x", false},
	}
	for _, tt := range tests {
		if got := protocol.MatchPattern(tt.pattern, tt.channel); got != tt.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tt.pattern, tt.channel, got, tt.want)
		}
		// NATS subject matching is the model: a history rule's pattern
		// becomes a stream subject filter.
		if protocol.ValidatePattern(tt.pattern) == nil && protocol.ValidateChannel(tt.channel, protocol.DefaultMaxChannelLength) == nil {
			if nats := server.SubjectMatchesFilter(tt.channel, tt.pattern); nats != tt.want {
				t.Errorf("NATS says %q matches %q: %v; table says %v", tt.channel, tt.pattern, nats, tt.want)
			}
		}
	}
}

func TestValidatePattern(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		"a", "chat.room", "*", ">", "a.*", "a.>", "*.>", "*.*.*", "news.*.>", "_-:=@/,~+#!",
		strings.Repeat("a", 1000), // no length limit of its own
	} {
		if err := protocol.ValidatePattern(p); err != nil {
			t.Errorf("ValidatePattern(%q): %v", p, err)
		}
	}
	for _, p := range []string{
		"", ".", "a.", ".a", "a..b", ">.a", "a.>.b", ">.>", "a*", "*a", "a.b*", "a>", ">a", "**",
		"a b", "a\tb", "a\x00", "é", "$SYS.>", `a"b`, `a\b`, "a.*.",
	} {
		err := protocol.ValidatePattern(p)
		if err == nil {
			t.Errorf("ValidatePattern(%q) = nil, want an error", p)
			continue
		}
		if err.Error() == "" {
			t.Errorf("ValidatePattern(%q): an error without a message", p)
		}
	}
}

// channelFrom builds a channel a valid pattern should match: each '*'
// token made tok, a '>' made tok twice.
func channelFrom(pattern, tok string) string {
	toks := strings.Split(pattern, ".")
	for i, t := range toks {
		switch t {
		case "*":
			toks[i] = tok
		case ">":
			toks[i] = tok + "." + tok
		}
	}
	return strings.Join(toks, ".")
}

func FuzzValidatePattern(f *testing.F) {
	for _, s := range []string{
		"a", "news.*", "chat.>", "*", ">", "*.>", "a.>.b", "a..b", "a*", ".", "", "$SYS.>", "é.*", "a.b.c.d.*.>",
	} {
		f.Add(s, "x")
	}
	f.Add("a.*", "y.z")
	f.Add("a.*", "")
	f.Add("a.*", "*")
	f.Fuzz(func(t *testing.T, pattern, tok string) {
		err := protocol.ValidatePattern(pattern)
		// Whatever the inputs, matching answers without panicking.
		protocol.MatchPattern(pattern, tok)
		protocol.MatchPattern(tok, pattern)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("ValidatePattern(%q): an error without a message", pattern)
			}
			return
		}
		// A valid pattern is a valid NATS subject (filter) and holds no
		// byte a channel could not.
		if !server.IsValidSubject("herald.ch." + pattern) {
			t.Fatalf("ValidatePattern(%q) accepted a pattern NATS refuses", pattern)
		}
		if strings.ContainsAny(pattern, "$\"\\ \t\r\n") {
			t.Fatalf("ValidatePattern(%q) accepted a byte no channel holds", pattern)
		}

		// It matches the channels made from it by filling in its wildcards.
		for _, fill := range []string{"x", tok} {
			if protocol.ValidateChannel(fill, protocol.DefaultMaxChannelLength) != nil || strings.Contains(fill, ".") {
				continue
			}
			ch := channelFrom(pattern, fill)
			if protocol.ValidateChannel(ch, len(ch)) != nil {
				t.Fatalf("channel %q made from pattern %q is not valid", ch, pattern)
			}
			if !protocol.MatchPattern(pattern, ch) {
				t.Fatalf("pattern %q does not match %q", pattern, ch)
			}
		}

		// And it agrees with NATS on any valid channel.
		if protocol.ValidateChannel(tok, len(tok)) == nil {
			if got, want := protocol.MatchPattern(pattern, tok), server.SubjectMatchesFilter(tok, pattern); got != want {
				t.Fatalf("MatchPattern(%q, %q) = %v; NATS says %v", pattern, tok, got, want)
			}
		}
	})
}
