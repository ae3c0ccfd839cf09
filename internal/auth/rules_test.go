package auth

import (
	"strings"
	"testing"

	"github.com/heraldrt/herald/internal/protocol"
)

func compile(t *testing.T, specs []RuleSpec, d Defaults) *Rules {
	t.Helper()
	r, err := Compile(specs, d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var (
	alice = &Identity{User: "alice", Subscribe: []string{"room.1", "team.{user}.*"}, Publish: []string{"chat.>"}}
	bob   = &Identity{User: "bob"}
	anon  = &Identity{}
)

func TestRulesDecideWhoMaySubscribe(t *testing.T) {
	r := compile(t, []RuleSpec{
		{Pattern: "user.{user}.>", Subscribe: Owner},
		{Pattern: "news.>", Subscribe: Anyone},
		{Pattern: "members.>", Subscribe: Authenticated},
	}, Defaults{Auth: true})
	cases := []struct {
		rule    string
		id      *Identity
		ch      string
		granted bool
		allowed bool
	}{
		{"the owner reads her inbox", alice, "user.alice.inbox", false, true},
		{"another user may not", bob, "user.alice.inbox", false, false},
		{"case is part of the name", alice, "user.Alice.inbox", false, false},
		{"the owner rule covers deeper channels", alice, "user.alice.a.b", false, true},
		{"no channel is owned by nobody", anon, "user.alice.inbox", false, false},
		{"a user id with a dot owns nothing", &Identity{User: "bob.x"}, "user.bob.x.inbox", false, false},
		{"a user id of * owns nothing", &Identity{User: "*"}, "user.*.inbox", false, false},
		{"a user id of > owns nothing", &Identity{User: ">"}, "user.>.inbox", false, false},
		{"a subscription token does not make an owner", bob, "user.alice.inbox", true, false},
		{"anyone reads the news", anon, "news.today", false, true},
		{"members need a token", anon, "members.lounge", false, false},
		{"members with a token may", bob, "members.lounge", false, true},
		{"default with auth on: the claim grants", alice, "room.1", false, true},
		{"default with auth on: no claim, no entry", alice, "room.2", false, false},
		{"default with auth on: a subscription token grants", alice, "room.2", true, true},
		{"claims may use {user}", alice, "team.alice.x", false, true},
		{"claims' {user} is the holder's own", alice, "team.bob.x", false, false},
		{"anonymous clients get no default grant", anon, "room.1", false, false},
	}
	for _, c := range cases {
		err := r.Subscribe(c.id, c.ch, c.granted)
		if (err == nil) != c.allowed {
			t.Errorf("%s: %s on %s: got %v, want allowed=%v", c.rule, c.id.User, c.ch, err, c.allowed)
		}
		if err != nil && err.Code != protocol.CodeForbidden {
			t.Errorf("%s: code %s", c.rule, err.Code)
		}
	}
}

func TestRefusalsSayWhyWithoutNamingOtherChannels(t *testing.T) {
	r := compile(t, []RuleSpec{{Pattern: "user.{user}.>", Subscribe: Owner}, {Pattern: "secret.>", Subscribe: Granted}}, Defaults{Auth: true})
	err := r.Subscribe(&Identity{User: "bob.x"}, "user.bob.inbox", false)
	if err == nil || !strings.Contains(err.Message, `"bob.x" is not a single channel token`) {
		t.Errorf("got %v", err)
	}
	err = r.Subscribe(alice, "user.bob.inbox", false)
	if err == nil || strings.Contains(err.Message, "secret") || strings.Contains(err.Message, "room.1") {
		t.Errorf("message leaks: %v", err)
	}
}

func TestRulesDecideWhoMayPublish(t *testing.T) {
	r := compile(t, []RuleSpec{
		{Pattern: "chat.{user}", Publish: Owner},
		{Pattern: "lobby", Publish: Authenticated},
		{Pattern: "wall", Publish: Anyone},
		{Pattern: "feed.>", Publish: Granted},
	}, Defaults{Auth: true, ClientPublish: []string{"free.>"}})
	cases := []struct {
		id      *Identity
		ch      string
		allowed bool
	}{
		{alice, "chat.alice", true},
		{alice, "chat.bob", false},
		{anon, "lobby", false},
		{bob, "lobby", true},
		{anon, "wall", true},
		{alice, "feed.x", false}, // alice's publish claim is chat.>, not feed
		{&Identity{User: "carol", Publish: []string{"feed.*"}}, "feed.x", true},
		{alice, "unruled", false}, // the default: api only
		{anon, "free.x", true},    // --client-publish shorthand
	}
	for _, c := range cases {
		if err := r.Publish(c.id, c.ch); (err == nil) != c.allowed {
			t.Errorf("%q publish to %s: got %v, want allowed=%v", c.id.User, c.ch, err, c.allowed)
		}
	}
	// A rule's own publish overrides the shorthand; api refuses everyone.
	r = compile(t, []RuleSpec{{Pattern: "free.locked", Publish: API}}, Defaults{ClientPublish: []string{"free.>"}})
	if r.Publish(alice, "free.locked") == nil || r.Publish(alice, "free.open") != nil {
		t.Error("a rule's publish: api does not override --client-publish")
	}
}

func TestAuthOffKeepsTodaysDefaults(t *testing.T) {
	r := compile(t, nil, Defaults{ClientHistory: []string{">"}})
	if r.Subscribe(nil, "anything", false) != nil {
		t.Error("auth off: anyone may subscribe")
	}
	if r.Publish(nil, "anything") == nil {
		t.Error("auth off: clients may not publish without --client-publish")
	}
	if r.ReadHistory(nil, "anything", false) != nil {
		t.Error("auth off: --client-history '>' lets subscribers read the past")
	}
	r = compile(t, nil, Defaults{})
	if r.ReadHistory(nil, "anything", false) == nil {
		t.Error("an empty --client-history allowed history")
	}
}

func TestHistoryReadDefaultsToTheChannelsSubscribers(t *testing.T) {
	r := compile(t, []RuleSpec{
		{Pattern: "user.{user}.>", Subscribe: Owner},
		{Pattern: "open.>", Subscribe: Anyone, HistoryRead: Authenticated},
		{Pattern: "sealed.>", Subscribe: Anyone, HistoryRead: Nobody},
	}, Defaults{Auth: true, ClientHistory: []string{">"}})
	if r.ReadHistory(alice, "user.alice.inbox", false) != nil || r.ReadHistory(bob, "user.alice.inbox", false) == nil {
		t.Error("history_read default is not the subscribers")
	}
	if r.ReadHistory(anon, "open.x", false) == nil || r.ReadHistory(bob, "open.x", false) != nil {
		t.Error("history_read: authenticated")
	}
	if r.ReadHistory(alice, "sealed.x", false) == nil {
		t.Error("history_read: none")
	}
}

func TestCompileReportsEveryMistake(t *testing.T) {
	_, err := Compile([]RuleSpec{
		{Pattern: "a.>.b"},
		{Pattern: "ok", Subscribe: "everyone"},
		{Pattern: "room.*", Subscribe: Owner},
		{Pattern: "x", Publish: "owner"},
		{Pattern: "x"},
		{Pattern: "_herald.stats", Subscribe: Anyone},
		{Pattern: "y", HistoryRead: "api"},
		{Pattern: "z", Subscribe: API},
		{Pattern: "u.{user}.{user}"},
		{Pattern: ""},
	}, Defaults{ClientPublish: []string{"bad..p"}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`channels[0] (a.>.b): pattern "a.>.b": '>' may only be the last token`,
		`channels[1] (ok): subscribe: "everyone" is not one of anyone, authenticated, granted, owner`,
		`channels[2] (room.*): subscribe: owner needs {user} in the pattern`,
		`channels[3] (x): publish: owner needs {user}`,
		`channels[4] (x): pattern is given twice`,
		`channels[5] (_herald.stats): channels starting with _herald. are Herald's own`,
		`channels[6] (y): history_read: "api" is not one of subscribers, anyone, authenticated, granted, owner, none`,
		`channels[7] (z): subscribe: "api" is not one of`,
		`channels[8] (u.{user}.{user}): pattern "u.{user}.{user}": {user} may appear once`,
		`channels[9] (): pattern is empty`,
		`client-publish: pattern "bad..p"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestDecodeRulesNamesUnknownKeysAndWrongTypes(t *testing.T) {
	specs, err := DecodeRules([]any{
		map[string]any{"pattern": "a", "subscribe": "anyone", "presence": true, "join_leave": false, "history": "10,1m", "history_read": "none"},
	})
	if err != nil || len(specs) != 1 || specs[0].Subscribe != Anyone || !specs[0].Presence || specs[0].History != "10,1m" || specs[0].HistoryRead != Nobody {
		t.Fatalf("%+v %v", specs, err)
	}
	_, err = DecodeRules([]any{
		map[string]any{"pattern": "a", "subcribe": "anyone"},
		map[string]any{"subscribe": 3},
		map[string]any{"pattern": "b", "presence": "yes"},
		"just a string",
	})
	for _, want := range []string{
		`channels[0]: unknown key "subcribe"`, `(did you mean "subscribe"?)`,
		`channels[1]: subscribe: 3 is not a string`, `channels[1]: needs a pattern`,
		`channels[2]: presence: yes is not true or false`,
		`channels[3]: must be a map`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	specs, err = DecodeRules(`[{"pattern":"user.{user}.>","subscribe":"owner"}]`)
	if err != nil || specs[0].Pattern != "user.{user}.>" {
		t.Errorf("from JSON: %+v %v", specs, err)
	}
	if _, err := DecodeRules("{not json"); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestPatternMatchAgreesWithChannelPatterns(t *testing.T) {
	for _, c := range []struct{ p, ch string }{
		{"a", "a"}, {"a", "b"}, {"a.*", "a.b"}, {"a.*", "a"}, {"a.*", "a.b.c"}, {"a.>", "a"}, {"a.>", "a.b.c"},
		{">", "x"}, {"*", "x.y"}, {"a.*.c", "a.b.c"}, {"a.*.c", "a.b.d"},
	} {
		p, err := parsePattern(c.p)
		if err != nil {
			t.Fatal(err)
		}
		_, got := p.match(c.ch)
		if want := protocol.MatchPattern(c.p, c.ch); got != want {
			t.Errorf("%s ~ %s: %v, want %v", c.p, c.ch, got, want)
		}
	}
	p, _ := parsePattern("user.{user}.>")
	if u, ok := p.match("user.alice.inbox"); !ok || u != "alice" {
		t.Errorf("%q %v", u, ok)
	}
	if HistoryPattern("user.{user}.>") != "user.*.>" {
		t.Error(HistoryPattern("user.{user}.>"))
	}
}
