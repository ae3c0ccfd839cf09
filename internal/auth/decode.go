package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/heraldrt/herald/internal/spell"
)

// DecodeRules reads the channels list as a config file or environment
// variable gives it: a list of maps (YAML, TOML), or a JSON string of one.
// Unknown keys and values of the wrong type are errors, all reported.
func DecodeRules(raw any) ([]RuleSpec, error) {
	if s, ok := raw.(string); ok {
		if strings.TrimSpace(s) == "" {
			return nil, nil
		}
		var list []any
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("not a JSON list of rules: %v", err)
		}
		raw = list
	}
	var items []any
	switch l := raw.(type) {
	case []any:
		items = l
	case []map[string]any:
		for _, m := range l {
			items = append(items, m)
		}
	default:
		return nil, fmt.Errorf("must be a list of rules, each with a pattern")
	}
	var errs []error
	specs := make([]RuleSpec, 0, len(items))
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("channels[%d]: must be a map with a pattern and access keys", i))
			continue
		}
		var s RuleSpec
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("channels[%d]: %s", i, fmt.Sprintf(format, args...)))
		}
		str := func(key string, v any) string {
			t, ok := v.(string)
			if !ok {
				bad("%s: %v is not a string (quote it)", key, v)
			}
			return t
		}
		boolean := func(key string, v any) bool {
			t, ok := v.(bool)
			if !ok {
				bad("%s: %v is not true or false", key, v)
			}
			return t
		}
		for k, v := range m {
			switch k {
			case "pattern":
				s.Pattern = str(k, v)
			case "subscribe":
				s.Subscribe = Access(str(k, v))
			case "publish":
				s.Publish = Access(str(k, v))
			case "history":
				s.History = str(k, v)
			case "history_read":
				s.HistoryRead = Access(str(k, v))
			case "presence":
				s.Presence = boolean(k, v)
			case "join_leave":
				s.JoinLeave = boolean(k, v)
			default:
				msg := fmt.Sprintf("unknown key %q; a rule may have %s", k, strings.Join(ruleKeys, ", "))
				if near := nearest(k); near != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", near)
				}
				bad("%s", msg)
			}
		}
		if _, ok := m["pattern"]; !ok {
			bad("needs a pattern")
		}
		specs = append(specs, s)
	}
	return specs, errors.Join(errs...)
}

// nearest returns the rule key that k most likely misspells, or "".
func nearest(k string) string { return spell.Nearest(strings.ToLower(k), ruleKeys, 3) }
