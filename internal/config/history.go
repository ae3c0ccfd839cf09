package config

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/protocol"
)

// HistoryRule says which channels keep history and how much: Size messages
// per channel, each for at most TTL (0: no age limit), and MaxBytes of
// messages for all the channels of the rule together: past it, the oldest
// go, whatever their channel.
type HistoryRule struct {
	Pattern  string
	Size     int
	TTL      time.Duration
	MaxBytes int64
}

// String is the rule as --history takes it.
func (r HistoryRule) String() string {
	s := fmt.Sprintf("%s=%d", r.Pattern, r.Size)
	if r.TTL > 0 {
		s += "," + r.TTL.String()
	}
	if r.MaxBytes != DefaultHistoryMaxBytes {
		if r.TTL == 0 {
			s += ","
		}
		s += "," + strconv.FormatInt(r.MaxBytes, 10)
	}
	return s
}

// DefaultHistoryMaxBytes bounds the disk a rule's channels use together
// when the rule does not say: clients that may publish to a channel with
// history could otherwise fill the disk.
const DefaultHistoryMaxBytes = 1 << 30

// minHistoryMaxBytes is the smallest MAXBYTES: room for many of the
// largest messages (64 KiB by default).
const minHistoryMaxBytes = 1 << 20

// joinedRules spots a pattern that is really the end of another rule
// (news.*=100,chat): '=' may be in a channel name, but not before a SIZE.
var joinedRules = regexp.MustCompile(`=[0-9]+(,[0-9a-z.]*)?,`)

// maxHistorySize bounds the messages one channel may keep.
const maxHistorySize = 1_000_000

// ParseHistoryRule reads PATTERN=SIZE[,TTL[,MAXBYTES]], such as
// "news.*=100,10m" or "chat.>=1000,24h,512MiB"; TTL may be empty when
// MAXBYTES is given ("chat.>=1000,,512MiB").
func ParseHistoryRule(s string) (HistoryRule, error) {
	// '=' may be in a channel name, never in SIZE or TTL: cut at the last.
	rule := strings.TrimSpace(s)
	i := strings.LastIndexByte(rule, '=')
	pattern, spec, ok := rule[:max(i, 0)], rule[i+1:], i >= 0
	if !ok {
		return HistoryRule{}, fmt.Errorf("%q is not PATTERN=SIZE[,TTL[,MAXBYTES]] (news.*=100,10m)", s)
	}
	if joinedRules.MatchString(pattern) {
		return HistoryRule{}, fmt.Errorf("%q looks like several rules joined by a comma; give one rule per --history flag, or separate them with spaces in HERALD_HISTORY", s)
	}
	if err := protocol.ValidatePattern(pattern); err != nil {
		return HistoryRule{}, err
	}
	size, ttl, hasTTL := strings.Cut(spec, ",")
	ttl, maxBytes, hasMax := strings.Cut(ttl, ",")
	r := HistoryRule{Pattern: pattern, MaxBytes: DefaultHistoryMaxBytes}
	n, err := strconv.Atoi(size)
	if err != nil || n < 1 || n > maxHistorySize {
		return HistoryRule{}, fmt.Errorf("%q: SIZE must be a whole number from 1 to %d", s, maxHistorySize)
	}
	r.Size = n
	if hasTTL && !(hasMax && ttl == "") {
		d, err := time.ParseDuration(ttl)
		if err != nil || d < time.Second {
			return HistoryRule{}, fmt.Errorf("%q: TTL must be a duration of at least 1s, such as 10m or 24h", s)
		}
		r.TTL = d
	}
	if hasMax {
		n, err := ParseBytes(maxBytes)
		if err != nil || n < minHistoryMaxBytes {
			return HistoryRule{}, fmt.Errorf("%q: MAXBYTES must be a size of at least 1MiB, such as 512MiB or 4GiB", s)
		}
		r.MaxBytes = n
	}
	return r, nil
}

// ParseBytes reads a size: a whole number of bytes, or one followed by
// KiB, MiB, GiB or TiB.
func ParseBytes(s string) (int64, error) {
	num, unit := s, int64(1)
	for i, suffix := range []string{"KiB", "MiB", "GiB", "TiB"} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			num, unit = n, 1<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q is not a size such as 1048576, 512MiB or 4GiB", s)
	}
	return n * unit, nil
}

// HistoryRules returns the history rules, in order: those of the channel
// rules (a {user} token kept as '*'), then --history's; the first rule
// whose pattern matches a channel applies to it. Call after Validate.
func (c *Config) HistoryRules() []HistoryRule {
	rules := make([]HistoryRule, 0, len(c.History))
	var specs []string
	for _, r := range c.Channels {
		if r.History != "" {
			specs = append(specs, auth.HistoryPattern(r.Pattern)+"="+r.History)
		}
	}
	for _, s := range append(specs, c.History...) {
		if r, err := ParseHistoryRule(s); err == nil {
			rules = append(rules, r)
		}
	}
	return rules
}
