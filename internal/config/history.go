package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldrt/herald/internal/protocol"
)

// HistoryRule says which channels keep history and how much: Size messages
// per channel, each for at most TTL (0: no age limit).
type HistoryRule struct {
	Pattern string
	Size    int
	TTL     time.Duration
}

// joinedRules spots a pattern that is really the end of another rule
// (news.*=100,chat): '=' may be in a channel name, but not before a SIZE.
var joinedRules = regexp.MustCompile(`=[0-9]+(,[0-9a-z.]*)?,`)

// maxHistorySize bounds the messages one channel may keep.
const maxHistorySize = 1_000_000

// ParseHistoryRule reads PATTERN=SIZE[,TTL], such as "news.*=100,10m".
func ParseHistoryRule(s string) (HistoryRule, error) {
	// '=' may be in a channel name, never in SIZE or TTL: cut at the last.
	rule := strings.TrimSpace(s)
	i := strings.LastIndexByte(rule, '=')
	pattern, spec, ok := rule[:max(i, 0)], rule[i+1:], i >= 0
	if !ok {
		return HistoryRule{}, fmt.Errorf("%q is not PATTERN=SIZE[,TTL] (news.*=100,10m)", s)
	}
	if joinedRules.MatchString(pattern) {
		return HistoryRule{}, fmt.Errorf("%q looks like several rules joined by a comma; give one rule per --history flag, or separate them with spaces in HERALD_HISTORY", s)
	}
	if err := protocol.ValidatePattern(pattern); err != nil {
		return HistoryRule{}, err
	}
	size, ttl, hasTTL := strings.Cut(spec, ",")
	r := HistoryRule{Pattern: pattern}
	n, err := strconv.Atoi(size)
	if err != nil || n < 1 || n > maxHistorySize {
		return HistoryRule{}, fmt.Errorf("%q: SIZE must be a whole number from 1 to %d", s, maxHistorySize)
	}
	r.Size = n
	if hasTTL {
		d, err := time.ParseDuration(ttl)
		if err != nil || d < time.Second {
			return HistoryRule{}, fmt.Errorf("%q: TTL must be a duration of at least 1s, such as 10m or 24h", s)
		}
		r.TTL = d
	}
	return r, nil
}

// HistoryRules returns the parsed --history rules, in order; the first
// rule whose pattern matches a channel applies to it. Call after Validate.
func (c *Config) HistoryRules() []HistoryRule {
	rules := make([]HistoryRule, 0, len(c.History))
	for _, s := range c.History {
		if r, err := ParseHistoryRule(s); err == nil {
			rules = append(rules, r)
		}
	}
	return rules
}
