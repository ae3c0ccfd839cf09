package protocol

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultMaxChannelLength is the longest channel name accepted unless
// configured otherwise.
const DefaultMaxChannelLength = 255

// channelByte marks the bytes allowed in a channel name, besides '.', which
// separates tokens.
var channelByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_-:=@/,~+#!" {
		t[c] = true
	}
	return t
}()

// ValidateChannel reports whether name is a valid channel name of at most
// maxLen bytes. A channel is one or more tokens separated by '.', each
// token one or more of the bytes A-Z a-z 0-9 and _ - : = @ / , ~ + # !.
// So a channel maps to exactly one NATS subject under the node's prefix and
// can never be a wildcard, reach '$' subjects or hold white space.
func ValidateChannel(name string, maxLen int) *Error {
	if name == "" {
		return &Error{Code: CodeInvalidChannel, Message: "channel is empty"}
	}
	if len(name) > maxLen {
		return &Error{Code: CodeInvalidChannel, Message: fmt.Sprintf("channel is longer than %d bytes", maxLen)}
	}
	prevDot := true // a leading '.' is an empty token
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '.' {
			if prevDot {
				return &Error{Code: CodeInvalidChannel, Message: fmt.Sprintf("channel %q has an empty token", name)}
			}
			prevDot = true
			continue
		}
		if !channelByte[c] {
			return &Error{Code: CodeInvalidChannel, Message: fmt.Sprintf("channel %q holds %s at byte %d; allowed: A-Z a-z 0-9 _ - : = @ / , ~ + # ! and '.' between tokens", name, quoteAt(name, i), i)}
		}
		prevDot = false
	}
	if prevDot {
		return &Error{Code: CodeInvalidChannel, Message: fmt.Sprintf("channel %q ends with '.'", name)}
	}
	return nil
}

// quoteAt quotes the character that starts at byte i of s: the whole UTF-8
// sequence ('ï', not the 'Ã' its first byte would make), or, where s is
// not valid UTF-8, the byte itself ('\xff').
func quoteAt(s string, i int) string {
	r, size := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("'\\x%02x'", s[i])
	}
	return strconv.QuoteRune(r)
}

// ReservedToken is the first token of the channels Herald keeps for its
// own use (_herald, _herald.anything): clients and API requests may not
// subscribe to them, publish to them or read their history.
const ReservedToken = "_herald"

// ValidateClientChannel is ValidateChannel for a channel a client or an
// API request names: Herald's own channels are refused as forbidden.
func ValidateClientChannel(name string, maxLen int) *Error {
	if err := ValidateChannel(name, maxLen); err != nil {
		return err
	}
	if first, _, _ := strings.Cut(name, "."); first == ReservedToken {
		return &Error{Code: CodeForbidden, Message: fmt.Sprintf("channel %q is Herald's own: names starting with %s. are reserved", name, ReservedToken)}
	}
	return nil
}
