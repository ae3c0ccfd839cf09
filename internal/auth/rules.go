package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/heraldrt/herald/internal/protocol"
)

// Access says who may do something on a channel.
type Access string

// Access levels of a channel rule.
const (
	Anyone        Access = "anyone"        // every client, anonymous ones too
	Authenticated Access = "authenticated" // any client with a valid token
	Granted       Access = "granted"       // the token's subscribe/publish claim covers the channel, or a subscription token names it
	Owner         Access = "owner"         // the client whose user id is the channel's {user} token
	API           Access = "api"           // publish: backends only, through the publish API
	Subscribers   Access = "subscribers"   // history_read: whoever may subscribe
	Nobody        Access = "none"          // history_read: no client
)

var (
	subscribeLevels   = []Access{Anyone, Authenticated, Granted, Owner}
	publishLevels     = []Access{Anyone, Authenticated, Granted, Owner, API}
	historyReadLevels = []Access{Subscribers, Anyone, Authenticated, Granted, Owner, Nobody}
)

// RuleSpec is one entry of the config file's channels list, as written.
type RuleSpec struct {
	Pattern     string `json:"pattern"`
	Subscribe   Access `json:"subscribe,omitempty"`
	Publish     Access `json:"publish,omitempty"`
	History     string `json:"history,omitempty"` // SIZE[,TTL[,MAXBYTES]], as a --history rule's value
	HistoryRead Access `json:"history_read,omitempty"`
	Presence    bool   `json:"presence,omitempty"`
	JoinLeave   bool   `json:"join_leave,omitempty"`
}

// ruleKeys are the keys a rule may have, in the order docs list them.
var ruleKeys = []string{"pattern", "subscribe", "publish", "history", "history_read", "presence", "join_leave"}

// Defaults are what applies where no rule matches.
type Defaults struct {
	// Auth is on: a channel no rule matches needs a grant to subscribe.
	// Off: anyone may.
	Auth bool
	// ClientPublish patterns (--client-publish) may be published to by
	// any client where no rule matches.
	ClientPublish []string
	// ClientHistory patterns (--client-history) have a past that their
	// subscribers may read, where no rule says otherwise.
	ClientHistory []string
}

// Rules decides, per channel, who may subscribe, publish and read
// history. The first rule whose pattern matches a channel applies.
type Rules struct {
	rules []rule
	d     Defaults
}

type rule struct {
	RuleSpec
	pat pattern
}

// Compile validates specs and returns the rules they make, reporting
// every mistake at once.
func Compile(specs []RuleSpec, d Defaults) (*Rules, error) {
	var errs []error
	r := &Rules{d: d}
	seen := map[string]bool{}
	for i, s := range specs {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("channels[%d] (%s): %s", i, s.Pattern, fmt.Sprintf(format, args...)))
		}
		p, err := parsePattern(s.Pattern)
		if err != nil {
			bad("%v", err)
			continue
		}
		if seen[s.Pattern] {
			bad("pattern is given twice; the first rule that matches applies, so this one never would")
		}
		seen[s.Pattern] = true
		if first := p.toks[0]; first == protocol.ReservedToken {
			bad("channels starting with %s. are Herald's own and cannot be given rules", protocol.ReservedToken)
		}
		check := func(key string, a Access, levels []Access) {
			if a != "" && !slices.Contains(levels, a) {
				bad("%s: %q is not one of %s", key, a, join(levels))
				return
			}
			if a == Owner && p.user < 0 {
				bad("%s: owner needs %s in the pattern (such as user.%s.>)", key, UserToken, UserToken)
			}
		}
		check("subscribe", s.Subscribe, subscribeLevels)
		check("publish", s.Publish, publishLevels)
		check("history_read", s.HistoryRead, historyReadLevels)
		r.rules = append(r.rules, rule{RuleSpec: s, pat: p})
	}
	for _, list := range []struct {
		name     string
		patterns []string
	}{{"client-publish", d.ClientPublish}, {"client-history", d.ClientHistory}} {
		for _, p := range list.patterns {
			if err := protocol.ValidatePattern(p); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", list.name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

func join(levels []Access) string {
	s := make([]string, len(levels))
	for i, l := range levels {
		s[i] = string(l)
	}
	return strings.Join(s, ", ")
}

// find returns the rule for ch, and the token of ch where its pattern has
// UserToken; nil when no rule matches.
func (r *Rules) find(ch string) (*rule, string) {
	for i := range r.rules {
		if tok, ok := r.rules[i].pat.match(ch); ok {
			return &r.rules[i], tok
		}
	}
	return nil, ""
}

// Subscribe decides whether id may subscribe to ch. granted says a
// verified subscription token (or the connection token's channels claim)
// names ch. A nil id is an anonymous client.
func (r *Rules) Subscribe(id *Identity, ch string, granted bool) *protocol.Error {
	a := Granted
	if !r.d.Auth {
		a = Anyone
	}
	ru, tok := r.find(ch)
	if ru != nil && ru.Subscribe != "" {
		a = ru.Subscribe
	}
	return decide("subscribe to", a, id, ch, tok, id.subscribePatterns(), granted)
}

// Publish decides whether a client with id may publish to ch.
func (r *Rules) Publish(id *Identity, ch string) *protocol.Error {
	a := API
	if matchAny(r.d.ClientPublish, ch) {
		a = Anyone
	}
	ru, tok := r.find(ch)
	if ru != nil && ru.Publish != "" {
		a = ru.Publish
	}
	return decide("publish to", a, id, ch, tok, id.publishPatterns(), false)
}

// ReadHistory decides whether id may read ch's past: resume, rewind and
// the history command. granted is as for Subscribe.
func (r *Rules) ReadHistory(id *Identity, ch string, granted bool) *protocol.Error {
	a := Nobody
	if matchAny(r.d.ClientHistory, ch) {
		a = Subscribers
	}
	ru, tok := r.find(ch)
	if ru != nil && ru.HistoryRead != "" {
		a = ru.HistoryRead
	}
	switch a {
	case Subscribers:
		if r.Subscribe(id, ch, granted) != nil {
			return protocol.NewError(protocol.CodeForbidden, "you may not read the history of "+ch+": only its subscribers may")
		}
		return nil
	case Nobody:
		return protocol.NewError(protocol.CodeForbidden, "clients may not read the history of "+ch+" (see --client-history and the channel rules)")
	}
	return decide("read the history of", a, id, ch, tok, id.subscribePatterns(), granted)
}

// decide applies access level a to id's wish to act on ch. tok is ch's
// token at the rule's {user}; claim the token's patterns for the act.
func decide(act string, a Access, id *Identity, ch, tok string, claim []pattern, granted bool) *protocol.Error {
	anon := id.Anonymous()
	forbid := func(why string) *protocol.Error {
		return protocol.NewError(protocol.CodeForbidden, "you may not "+act+" "+ch+": "+why)
	}
	switch a {
	case Anyone:
		return nil
	case API:
		return forbid("only the publish API publishes there")
	}
	if anon {
		return forbid("anonymous clients may not; connect with a token")
	}
	switch a {
	case Authenticated:
		return nil
	case Granted:
		if granted || covered(claim, ch, id.User) {
			return nil
		}
		return forbid("your token does not grant it (no matching claim or subscription token)")
	case Owner:
		if !ValidUser(id.User) {
			return forbid(fmt.Sprintf("your user id %q is not a single channel token, so it owns no channel", id.User))
		}
		if tok == id.User {
			return nil
		}
		return forbid("it is another user's channel")
	}
	return forbid("no rule allows it")
}

func matchAny(patterns []string, ch string) bool {
	for _, p := range patterns {
		if protocol.MatchPattern(p, ch) {
			return true
		}
	}
	return false
}

// HistoryPattern is the stream pattern of a rule's history: its pattern
// with UserToken as '*'.
func HistoryPattern(p string) string {
	toks := strings.Split(p, ".")
	for i, t := range toks {
		if t == UserToken {
			toks[i] = "*"
		}
	}
	return strings.Join(toks, ".")
}
