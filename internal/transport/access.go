package transport

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/protocol"
)

// access is who a client is and what its tokens grant it: its identity
// (from its connection token), the subscription tokens it subscribed
// with, and the timers that end each when it expires. A client has one
// only while tokens are on; with tokens off, every client is anonymous
// and the rules' auth-off defaults apply.
type access struct {
	s *Server

	mu      sync.Mutex
	who     *auth.Identity // nil until a WebSocket authenticates
	pending bool           // a WebSocket that has not authenticated yet
	expiry  *time.Timer    // ends the client when who's token expires
	wait    *time.Timer    // ends a WebSocket that does not authenticate in time
	grants  map[string]*grant
	started bool // the timers run: start was called
	ended   bool

	expired      func()          // the connection token expired
	grantExpired func(ch string) // a subscription token expired; its subscription is over
}

// grant is a subscription that needed a subscription token, and the
// timer that ends it with the token.
type grant struct {
	expires time.Time
	timer   *time.Timer
}

// start arms the timers: expired is called when the connection token
// expires, grantEnded when a subscription token does.
func (a *access) start(expired func(), grantEnded func(ch string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expired, a.grantExpired, a.started = expired, grantEnded, true
	a.armExpiry()
	for ch, g := range a.grants {
		a.armGrant(ch, g)
	}
}

// identity returns the client's identity: nil for an anonymous client.
// It is safe on a nil access (tokens off).
func (a *access) identity() *auth.Identity {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.who
}

// waiting reports whether the client has yet to authenticate.
func (a *access) waiting() bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pending
}

// granted reports whether the client holds a grant for ch beyond its
// token's claims: a subscription token, or the channels claim.
func (a *access) granted(ch string) bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.grants[ch]
	return ok || (a.who != nil && slices.Contains(a.who.Channels, ch))
}

// set makes id the client's identity and, once started, arms the timer
// that ends the client when id's token expires.
func (a *access) set(id *auth.Identity) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return
	}
	a.who, a.pending = id, false
	if a.wait != nil {
		a.wait.Stop()
	}
	if a.started {
		a.armExpiry()
	}
}

func (a *access) armExpiry() {
	if a.who == nil || a.who.Expires.IsZero() {
		return
	}
	d := time.Until(a.who.Expires)
	if a.expiry == nil {
		a.expiry = time.AfterFunc(d, a.expire)
	} else {
		a.expiry.Reset(d)
	}
}

// await calls timeout after d unless the client authenticates first.
func (a *access) await(d time.Duration, timeout func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.wait = time.AfterFunc(d, func() {
		if a.waiting() {
			a.s.Metrics.AuthRefused(auth.ReasonMissing)
			timeout()
		}
	})
}

// expire ends the client, unless a refresh moved its expiry on.
func (a *access) expire() {
	a.mu.Lock()
	if a.ended || a.who == nil {
		a.mu.Unlock()
		return
	}
	if left := time.Until(a.who.Expires); left > 0 {
		a.expiry.Reset(left)
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	a.s.Metrics.AuthRefused(auth.ReasonExpired)
	a.expired()
}

// hold records that the subscription to ch rests on g, to end it when g
// expires.
func (a *access) hold(ch string, g *auth.Grant) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return
	}
	if a.grants == nil {
		a.grants = make(map[string]*grant)
	}
	if old := a.grants[ch]; old != nil && old.timer != nil {
		old.timer.Stop()
	}
	gr := &grant{expires: g.Expires}
	a.grants[ch] = gr
	if a.started {
		a.armGrant(ch, gr)
	}
}

func (a *access) armGrant(ch string, gr *grant) {
	gr.timer = time.AfterFunc(time.Until(gr.expires), func() {
		a.mu.Lock()
		if a.ended || a.grants[ch] != gr {
			a.mu.Unlock()
			return
		}
		delete(a.grants, ch)
		a.mu.Unlock()
		a.s.Metrics.AuthRefused(auth.ReasonExpired)
		a.grantExpired(ch)
	})
}

// drop forgets the grant of ch, when the client unsubscribes.
func (a *access) drop(ch string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if g := a.grants[ch]; g != nil {
		if g.timer != nil {
			g.timer.Stop()
		}
		delete(a.grants, ch)
	}
}

// end stops every timer; the client is gone.
func (a *access) end() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ended = true
	if a.expiry != nil {
		a.expiry.Stop()
	}
	if a.wait != nil {
		a.wait.Stop()
	}
	for _, g := range a.grants {
		if g.timer != nil {
			g.timer.Stop()
		}
	}
	a.grants = nil
}

// authOn reports whether clients need tokens.
func (s *Server) authOn() bool { return s.Verifier != nil }

// requestToken is the connection token a request carries: ?token=, else
// Authorization: Bearer.
func requestToken(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	t, _ := protocol.BearerToken(r)
	return t
}

// verify checks a connection token, counting a refusal by its reason.
func (s *Server) verify(token string) (*auth.Identity, *protocol.Error) {
	id, err := s.Verifier.Verify(token)
	if err != nil {
		s.Metrics.AuthRefused(err.Reason)
		return nil, err.Protocol()
	}
	return id, nil
}

// admitIdentity decides who an SSE or long-poll request, or a WebSocket
// upgrade, is. With tokens off it returns a nil access. A request with no
// token is anonymous under --allow-anonymous; else a WebSocket waits for
// auth (wait) and the others are refused.
func (s *Server) admitIdentity(r *http.Request, wait bool) (*access, *protocol.Error) {
	if !s.authOn() {
		return nil, nil
	}
	a := &access{s: s}
	token := requestToken(r)
	switch {
	case token != "":
		id, err := s.verify(token)
		if err != nil {
			return nil, err
		}
		a.who = id
	case s.cfg.AllowAnonymous:
		a.who = &auth.Identity{}
	case wait:
		a.pending = true
	default:
		s.Metrics.AuthRefused(auth.ReasonMissing)
		return nil, &protocol.Error{Code: protocol.CodeUnauthorized, Reason: auth.ReasonMissing, Message: "a token is required: give ?token= or Authorization: Bearer"}
	}
	return a, nil
}

// grantFor verifies a subscription token for ch ("": for the channel it
// names) presented by the client of a.
func (s *Server) grantFor(a *access, ch, token string) (*auth.Grant, *protocol.Error) {
	g, err := s.Verifier.VerifyGrant(token)
	if err != nil {
		s.Metrics.AuthRefused(err.Reason)
		return nil, err.Protocol()
	}
	want, why := ch, "the subscription token for "+ch+" is not for this connection's user and that channel"
	if ch == "" { // any channel: the one the token names
		want, why = g.Channel, "a sub_token is not for this connection's user"
	}
	if id := a.identity(); id.Anonymous() || !g.Covers(id.User, want) {
		s.Metrics.Forbidden(protocol.OpSubscribe)
		return nil, protocol.NewError(protocol.CodeForbidden, why)
	}
	return g, nil
}

// authorizeSubscribe decides whether the client of a may subscribe to ch.
// g is its subscription token for ch, if it gave one: when the rules
// allow ch only because of it, the subscription is held to its expiry.
func (s *Server) authorizeSubscribe(a *access, ch string, g *auth.Grant) *protocol.Error {
	id := a.identity()
	if s.Rules.Subscribe(id, ch, a.granted(ch)) == nil {
		return nil
	}
	if g != nil && s.Rules.Subscribe(id, ch, true) == nil {
		a.hold(ch, g)
		return nil
	}
	s.Metrics.Forbidden(protocol.OpSubscribe)
	return s.Rules.Subscribe(id, ch, false)
}

// authorizePublish decides whether the client of a may publish to ch.
func (s *Server) authorizePublish(a *access, ch string) *protocol.Error {
	if err := s.Rules.Publish(a.identity(), ch); err != nil {
		s.Metrics.Forbidden(protocol.OpPublish)
		return err
	}
	return nil
}

// mayReadPast decides whether the client of a may read ch's past: resume
// from a position, rewind, or the history command.
func (s *Server) mayReadPast(a *access, ch string) *protocol.Error {
	if err := s.Rules.ReadHistory(a.identity(), ch, a.granted(ch)); err != nil {
		s.Metrics.Forbidden(protocol.OpHistory)
		return err
	}
	return nil
}

// streamAccess decides who an SSE or long-poll request is and which
// channels it subscribes to: those it names and those its token's
// channels claim names, each of which the rules must allow, counting the
// subscription tokens it gives as repeated ?sub_token=. Any refusal
// refuses the request.
func (s *Server) streamAccess(r *http.Request) (*access, []string, *protocol.Error) {
	a, err := s.admitIdentity(r, false)
	if err != nil {
		return nil, nil, err
	}
	var claimed []string
	if id := a.identity(); id != nil {
		claimed = id.Channels
	}
	chans, err := s.channels(r, claimed)
	if err != nil {
		return nil, nil, err
	}
	grants := map[string]*auth.Grant{}
	if a != nil {
		for _, t := range r.URL.Query()["sub_token"] {
			g, err := s.grantFor(a, "", t)
			if err != nil {
				return nil, nil, err
			}
			grants[g.Channel] = g
		}
	}
	for _, ch := range chans {
		if err := s.authorizeSubscribe(a, ch, grants[ch]); err != nil {
			return nil, nil, err
		}
	}
	return a, chans, nil
}
