package protocol

import (
	"fmt"
	"strings"
)

// MatchPattern reports whether channel matches pattern, NATS style: a
// pattern is a channel name whose tokens may be '*' (exactly one token) or,
// as the last token, '>' (one or more tokens).
func MatchPattern(pattern, channel string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		if pt == ">" && !pmore {
			return channel != ""
		}
		ct, crest, cmore := strings.Cut(channel, ".")
		if pt != "*" && pt != ct {
			return false
		}
		if !pmore || !cmore {
			return pmore == cmore
		}
		pattern, channel = prest, crest
	}
}

// ValidatePattern reports whether p is a valid channel pattern.
func ValidatePattern(p string) error {
	if p == "" {
		return fmt.Errorf("pattern is empty")
	}
	toks := strings.Split(p, ".")
	for i, t := range toks {
		switch {
		case t == "*":
		case t == ">":
			if i != len(toks)-1 {
				return fmt.Errorf("pattern %q: '>' may only be the last token", p)
			}
		default:
			if err := ValidateChannel(t, len(t)+1); err != nil {
				return fmt.Errorf("pattern %q: token %q is not '*', '>' or channel bytes", p, t)
			}
		}
	}
	return nil
}
