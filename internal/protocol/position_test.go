package protocol_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/heraldrt/herald/internal/protocol"
)

func TestValidEpoch(t *testing.T) {
	t.Parallel()
	for _, e := range []string{"", "a", "Z", "0", "k3Xw9QpLzA", strings.Repeat("9", protocol.MaxEpochLength)} {
		if !protocol.ValidEpoch(e) {
			t.Errorf("ValidEpoch(%q) = false", e)
		}
	}
	for _, e := range []string{
		strings.Repeat("a", protocol.MaxEpochLength+1), "a-b", "a:b", "a,b", "a b", "a.b", "a_b",
		`a"b`, `a\b`, "é", "a\x00", "\xff", "-",
	} {
		if protocol.ValidEpoch(e) {
			t.Errorf("ValidEpoch(%q) = true", e)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	p := func(e string, o uint64) *protocol.Position { return &protocol.Position{Epoch: e, Offset: o} }
	tests := []struct {
		c    protocol.Cursor
		text string
	}{
		{protocol.Cursor{p("k3Xw9QpLzA", 12), p("", 0), nil}, "k3Xw9QpLzA:12,:0,-"},
		{protocol.Cursor{nil}, "-"},
		{protocol.Cursor{p("", 0)}, ":0"},
		{protocol.Cursor{p("e", 1<<64-1)}, "e:18446744073709551615"},
		{protocol.Cursor{nil, nil, nil}, "-,-,-"},
		{protocol.Cursor{p(strings.Repeat("A", protocol.MaxEpochLength), 1<<64-1), p(strings.Repeat("b", protocol.MaxEpochLength), 1<<64-1)},
			strings.Repeat("A", protocol.MaxEpochLength) + ":18446744073709551615," + strings.Repeat("b", protocol.MaxEpochLength) + ":18446744073709551615"},
	}
	for _, tt := range tests {
		b := protocol.AppendCursor([]byte("HEAD"), tt.c)
		if string(b) != "HEAD"+tt.text {
			t.Errorf("AppendCursor(%v) = %q, want HEAD%s", tt.c, b, tt.text)
		}
		back, err := protocol.ParseCursor(tt.text, len(tt.c))
		if err != nil {
			t.Errorf("ParseCursor(%q, %d): %v", tt.text, len(tt.c), err)
			continue
		}
		if !reflect.DeepEqual(back, tt.c) {
			t.Errorf("ParseCursor(%q) = %v, want %v", tt.text, back, tt.c)
		}
	}
	if b := protocol.AppendCursor(nil, nil); len(b) != 0 {
		t.Errorf("AppendCursor(nil) = %q", b)
	}
}

func TestParseCursorAccepts(t *testing.T) {
	t.Parallel()
	// Texts AppendCursor would not write but that still name positions.
	for _, tt := range []struct {
		text string
		n    int
		want protocol.Cursor
	}{
		{"e:007", 1, protocol.Cursor{{Epoch: "e", Offset: 7}}},
		{":5", 1, protocol.Cursor{{Offset: 5}}},
	} {
		c, err := protocol.ParseCursor(tt.text, tt.n)
		if err != nil || !reflect.DeepEqual(c, tt.want) {
			t.Errorf("ParseCursor(%q, %d) = %v, %v; want %v", tt.text, tt.n, c, err, tt.want)
		}
	}
}

func TestParseCursorRejects(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", protocol.MaxEpochLength)
	tests := []struct {
		name, text string
		n          int
	}{
		{"too few positions", "e:1", 2},
		{"too many positions", "e:1,-", 1},
		{"empty for one channel", "", 1},
		{"empty for no channel", "", 0},
		{"trailing comma", "e:1,", 1},
		{"empty position", "e:1,,-", 3},
		{"no colon", "e1", 1},
		{"two colons", "e:1:2", 1},
		{"epoch with a dash", "a-b:1", 1},
		{"epoch with a space", "a b:1", 1},
		{"epoch not ASCII", "é:1", 1},
		{"epoch too long", long + "a:1", 1},
		{"empty offset", "e:", 1},
		{"negative offset", "e:-1", 1},
		{"signed offset", "e:+1", 1},
		{"offset not a number", "e:x", 1},
		{"offset with space", "e: 1", 1},
		{"offset fractional", "e:1.5", 1},
		{"offset over uint64", "e:18446744073709551616", 1},
		{"dash with more", "-x", 1},
		{"double dash", "--", 1},
		{"space around dash", " -", 1},
		{"too long", long + ":" + strings.Repeat("1", 40), 1},
		{"too long for many channels", strings.Repeat("-,", 10000) + "-", 3},
	}
	for _, tt := range tests {
		c, err := protocol.ParseCursor(tt.text, tt.n)
		if err == nil {
			t.Errorf("%s: ParseCursor(%q, %d) = %v, want an error", tt.name, short(tt.text), tt.n, c)
			continue
		}
		if err.Code != protocol.CodeBadRequest || !strings.HasPrefix(err.Message, "cursor") {
			t.Errorf("%s: error %+v, want bad_request about the cursor", tt.name, err)
		}
		if len(err.Message) > 200 {
			t.Errorf("%s: error message of %d bytes", tt.name, len(err.Message))
		}
		if c != nil {
			t.Errorf("%s: a cursor %v with the error", tt.name, c)
		}
	}
}

func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{
		"k3Xw9QpLzA:12,:0,-", "-", ":0", "e:18446744073709551615", "e:18446744073709551616",
		"a-b:1", "e:1,", ",", "e:007", "e:-1", "é:1", "-,-,-", "",
	} {
		f.Add(s, uint8(strings.Count(s, ",")+1))
	}
	f.Fuzz(func(t *testing.T, s string, n uint8) {
		// Any text, any count: no panic, and an answer that makes sense.
		c, err := protocol.ParseCursor(s, int(n))
		if err != nil {
			if c != nil || err.Code != protocol.CodeBadRequest || err.Message == "" {
				t.Fatalf("ParseCursor(%q, %d) = %v, %+v", s, n, c, err)
			}
		} else {
			if len(c) != int(n) {
				t.Fatalf("ParseCursor(%q, %d) gave %d positions", s, n, len(c))
			}
			for _, p := range c {
				if p != nil && !protocol.ValidEpoch(p.Epoch) {
					t.Fatalf("ParseCursor(%q) accepted epoch %q", s, p.Epoch)
				}
			}
			// What parsed re-encodes to a text that parses to the same.
			again := string(protocol.AppendCursor(nil, c))
			c2, err := protocol.ParseCursor(again, int(n))
			if err != nil || !reflect.DeepEqual(c, c2) {
				t.Fatalf("ParseCursor(%q) = %v re-encodes to %q which parses to %v, %v", s, c, again, c2, err)
			}
		}

		// A cursor built from the input (split on ',', each part made
		// into a position AppendCursor can write) round-trips exactly.
		parts := strings.Split(s, ",")
		built := make(protocol.Cursor, len(parts))
		for i, part := range parts {
			if part == "-" {
				continue
			}
			epoch := strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
					return r
				}
				return -1
			}, part)
			if len(epoch) > protocol.MaxEpochLength {
				epoch = epoch[:protocol.MaxEpochLength]
			}
			var off uint64
			for j := 0; j < len(part); j++ {
				off = off*131 + uint64(part[j])
			}
			built[i] = &protocol.Position{Epoch: epoch, Offset: off}
		}
		text := string(protocol.AppendCursor(nil, built))
		back, err := protocol.ParseCursor(text, len(built))
		if err != nil {
			t.Fatalf("ParseCursor(%q) of AppendCursor(%v): %v", text, built, err)
		}
		if !reflect.DeepEqual(back, built) {
			t.Fatalf("ParseCursor(%q) = %v, want %v", text, back, built)
		}
		if re := string(protocol.AppendCursor(nil, back)); re != text {
			t.Fatalf("cursor %q re-encodes to %q", text, re)
		}
	})
}
