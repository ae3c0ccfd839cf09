package auth

import (
	"fmt"
	"strings"

	"github.com/heraldrt/herald/internal/protocol"
)

// UserToken in a pattern stands for one channel token that must equal
// the connection's user id (its token's sub) wherever the pattern is
// used for that user. For choosing a rule, it matches any one token.
const UserToken = "{user}"

// pattern is a channel pattern: tokens that are literal, '*', '>' (last)
// or UserToken (at most once).
type pattern struct {
	text string
	toks []string
	user int // index of UserToken in toks; -1 if none
}

func parsePattern(p string) (pattern, error) {
	if p == "" {
		return pattern{}, fmt.Errorf("pattern is empty")
	}
	pt := pattern{text: p, toks: strings.Split(p, "."), user: -1}
	for i, t := range pt.toks {
		switch {
		case t == "*":
		case t == ">":
			if i != len(pt.toks)-1 {
				return pattern{}, fmt.Errorf("pattern %q: '>' may only be the last token", p)
			}
		case t == UserToken:
			if pt.user >= 0 {
				return pattern{}, fmt.Errorf("pattern %q: %s may appear once", p, UserToken)
			}
			pt.user = i
		default:
			if protocol.ValidateChannel(t, len(t)+1) != nil {
				return pattern{}, fmt.Errorf("pattern %q: token %q is not '*', '>', %s or channel bytes", p, t, UserToken)
			}
		}
	}
	return pt, nil
}

// ValidateGrantPattern checks a pattern from a token's subscribe or
// publish claim.
func ValidateGrantPattern(p string) error {
	_, err := parsePattern(p)
	return err
}

// match reports whether ch matches, and the channel token that stands
// where UserToken is ("" when the pattern has none).
func (p *pattern) match(ch string) (user string, ok bool) {
	rest := ch
	for i, pt := range p.toks {
		if pt == ">" {
			return user, rest != ""
		}
		tok, after, more := strings.Cut(rest, ".")
		switch {
		case pt == UserToken:
			user = tok
		case pt != "*" && pt != tok:
			return "", false
		}
		if i == len(p.toks)-1 {
			return user, !more
		}
		if !more {
			return "", false
		}
		rest = after
	}
	return "", false
}

// matchFor reports whether ch matches for the given user: where the
// pattern has UserToken, the channel must have user's id.
func (p *pattern) matchFor(ch, user string) bool {
	tok, ok := p.match(ch)
	if !ok {
		return false
	}
	return p.user < 0 || (tok == user && ValidUser(user))
}

// ValidUser reports whether a user id can stand for UserToken: it must
// be exactly one channel token (no '.', '*', '>', spaces or other bytes
// a channel may not hold).
func ValidUser(user string) bool {
	return user != "" && user != "*" && user != ">" && !strings.Contains(user, ".") && protocol.ValidateChannel(user, len(user)+1) == nil
}

// covered reports whether any of the patterns (from a token's claims)
// covers ch for user.
func covered(patterns []pattern, ch, user string) bool {
	for i := range patterns {
		if patterns[i].matchFor(ch, user) {
			return true
		}
	}
	return false
}

// compile parses the patterns of a claim; those that do not parse (the
// verifier refuses such tokens) are left out.
func compilePatterns(patterns []string) []pattern {
	if len(patterns) == 0 {
		return nil
	}
	out := make([]pattern, 0, len(patterns))
	for _, s := range patterns {
		if p, err := parsePattern(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}
