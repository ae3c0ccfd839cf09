package transport

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/metrics"
	"github.com/heraldrt/herald/internal/protocol"
)

// Long-poll sessions live on the node that created them: it holds their
// subscriptions and buffers messages between polls. A session id is
// "<route>.<secret>": the route is a random token of the owning node (not
// its name or id), so a poll that lands on another node is forwarded to
// the owner through the bus (a node-to-node "poll" request) and answered
// there, with no sticky sessions; the secret is 128 bits from crypto/rand,
// the only thing that grants access to the session. The owner finds a
// session by a hash of its secret and compares the secret in constant
// time, and a session answers only polls from the Origin that created it.

// polls is a node's set of long-poll sessions.
type polls struct {
	s         *Server
	stopServe func() // ends answering forwarded polls
	route     string // this node's part of its session ids
	nodeJSON  []byte // this node's name as a JSON string
	perIP     *perIP // live sessions by client address

	mu       sync.Mutex
	sessions map[[sha256.Size]byte]*session // by the hash of their secret; ended ones for a TTL
	live     int                            // sessions not yet ended
}

// session is one long-poll client.
type session struct {
	p        *polls
	id       string
	secret   string // the id's second part
	origin   string // the Origin header of the request that created it
	addr     netip.Addr
	channels []string
	acc      *access // who the client is, while tokens are on
	out      outbox
	wakeup   chan struct{}

	// cursor, for sessions with a history channel, is the position of each
	// channel after the last message queued; curMu keeps it in step with
	// the queue, so a response's cursor covers exactly its messages.
	curMu  sync.Mutex
	cursor *streamCursor

	mu      sync.Mutex
	ended   *protocol.Error      // set when the session is over
	goodbye *protocol.Disconnect // set by disconnect, sent with the last poll
	current *pollTurn            // the poll in progress, if any
	polls   int                  // polls answered so far, the first included
	expiry  *time.Timer
}

// firstPollTTL is how long a session lives after its first response if
// its client never polls again: a real client polls again at once, and a
// flood of sessions made and dropped must not hold the node's memory for
// a whole --poll-session-ttl.
const firstPollTTL = 10 * time.Second

// pollTurn is one poll of a session; stop ends it early with no messages.
type pollTurn struct {
	done chan struct{}
	once sync.Once
}

func (t *pollTurn) stop() { t.once.Do(func() { close(t.done) }) }

var _ hub.Subscriber = (*session)(nil)
var _ client = (*session)(nil)

// pollRequest is a poll forwarded to the session's owner.
type pollRequest struct {
	Session string `json:"session"`
	Origin  string `json:"origin,omitempty"` // the poll's Origin header, which must be the session's
	Token   string `json:"token,omitempty"`  // a fresher connection token, if the poll gave one
	Timeout int64  `json:"timeout_ms"`
	Cancel  bool   `json:"cancel,omitempty"` // the client gave up: end its poll without taking messages
}

// pollReply is the owner's answer: the HTTP status and body to return.
type pollReply struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

func newPolls(s *Server) *polls {
	name, _ := json.Marshal(s.NodeName)
	return &polls{
		s: s, route: randomID(routeBytes), nodeJSON: name,
		sessions: make(map[[sha256.Size]byte]*session), perIP: newPerIP(s.cfg.MaxPollSessionsPerIP),
	}
}

func (p *polls) start() error {
	if p.s.Nodes == nil {
		return nil
	}
	stop, err := p.s.Nodes.Serve(pollKind, p.route, p.serveForwarded)
	if err != nil {
		return err
	}
	p.stopServe = stop
	return nil
}

// pollKind is the kind of node-to-node request a forwarded poll is.
const pollKind = "poll"

// stop ends forwarded-poll handling after every session was disconnected.
func (p *polls) stop() {
	if p.stopServe != nil {
		p.stopServe()
	}
}

func (s *Server) servePoll(w http.ResponseWriter, r *http.Request) {
	if !s.admit(w, r) {
		return
	}
	q := r.URL.Query()
	timeout := s.cfg.PollTimeout
	if t := q.Get("timeout"); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d < 0 || d > s.cfg.PollMaxTimeout {
			writeError(w, protocol.NewError(protocol.CodeBadRequest, "timeout must be a Go duration such as 2s, from 0 to "+s.cfg.PollMaxTimeout.String()))
			return
		}
		timeout = d
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(timeout + s.cfg.WriteTimeout))
	allowCORS(w, r)

	id := q.Get("session")
	var status int
	var body []byte
	switch {
	case id != "" && q.Has("cursor"):
		writeError(w, protocol.NewError(protocol.CodeBadRequest, "give ?cursor= with ?channel= to start a session that resumes; a session keeps its own position"))
		return
	case id != "" && q.Has("channel"):
		writeError(w, protocol.NewError(protocol.CodeBadRequest, "give either ?session= or ?channel=, not both: a session remembers its channels"))
		return
	case id != "":
		token := ""
		if s.authOn() {
			token = requestToken(r)
		}
		status, body = s.polls.poll(r.Context(), id, r.Header.Get("Origin"), token, timeout)
	default:
		acc, chans, perr := s.streamAccess(r)
		if perr != nil {
			writeError(w, perr)
			return
		}
		var from protocol.Cursor
		if cur := q.Get("cursor"); cur != "" {
			if from, perr = protocol.ParseCursor(cur, len(chans)); perr != nil {
				writeError(w, perr)
				return
			}
		}
		sess, perr := s.polls.create(r.Context(), r, acc, chans, from)
		if perr != nil {
			writeError(w, perr)
			return
		}
		status, body = s.polls.wait(r.Context(), sess, timeout)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// poll serves a poll of an existing session, here or on its owner. A
// token given with it replaces the session's, if it is for the same user.
func (p *polls) poll(ctx context.Context, id, origin, token string, timeout time.Duration) (int, []byte) {
	route, _, ok := parseSessionID(id)
	if !ok {
		return errorReply(protocol.NewError(protocol.CodeSessionExpired, "session id is not valid; start a new session with ?channel="))
	}
	if route == p.route {
		sess := p.find(id, origin)
		if sess == nil {
			return errorReply(expired())
		}
		if token != "" {
			if err := sess.refresh(token); err != nil {
				return errorReply(err)
			}
		}
		return p.wait(ctx, sess, timeout)
	}
	return p.forward(ctx, route, id, origin, token, timeout)
}

// find returns this node's session with id, if the poll comes from the
// Origin that created it. A wrong secret and a wrong origin both look
// like a session that does not exist.
func (p *polls) find(id, origin string) *session {
	_, secret, ok := parseSessionID(id)
	if !ok {
		return nil
	}
	p.mu.Lock()
	sess := p.sessions[sha256.Sum256([]byte(secret))]
	p.mu.Unlock()
	if sess == nil || subtle.ConstantTimeCompare([]byte(sess.secret), []byte(secret)) != 1 || sess.origin != origin {
		return nil
	}
	return sess
}

func tokenExpired() *protocol.Error {
	return protocol.NewError(protocol.CodeTokenExpired, "the session's token expired; start a new session with a fresh token (messages since the last poll may be lost)")
}

// refresh replaces the session's token with a fresher one for the same
// user. A token that does not verify, or is another user's, is refused
// and the session keeps its own.
func (sess *session) refresh(token string) *protocol.Error {
	if sess.acc == nil {
		return nil
	}
	id, err := sess.p.s.verify(token)
	if err != nil {
		return err
	}
	if was := sess.acc.identity(); !was.Anonymous() && was.User != id.User {
		sess.p.s.Metrics.Forbidden(protocol.OpAuth)
		return protocol.NewError(protocol.CodeForbidden, "a refreshed token must be for the session's user (the same sub)")
	}
	sess.acc.set(id)
	return nil
}

// grantEnded ends the subscription to ch, whose subscription token has
// expired; the next poll carries an unsubscribed entry.
func (sess *session) grantEnded(ch string) {
	sess.p.s.Hub.Unsubscribe(ch, sess)
	if sess.out.push(protocol.AppendUnsubscribed(nil, true, ch, protocol.ReasonTokenExpired), false) == overflow {
		go sess.end(protocol.NewError(protocol.CodeSessionOverflow, "more messages arrived between two polls than the session buffer holds (see --poll-buffer); start a new session and reload state"))
	}
}

func expired() *protocol.Error {
	return protocol.NewError(protocol.CodeSessionExpired, "session expired or its node is gone; messages since the last poll may be lost: start a new session with ?channel= and reload state")
}

func errorReply(err *protocol.Error) (int, []byte) {
	return protocol.HTTPStatus(err.Code), append(protocol.AppendErrorBody(nil, err), '\n')
}

// parseSessionID splits a session id into its owner's route and its
// secret, checking their form.
func parseSessionID(id string) (route, secret string, ok bool) {
	route, secret, ok = strings.Cut(id, ".")
	if !ok || len(id) > 64 || !idToken(route) || !idToken(secret) {
		return "", "", false
	}
	return route, secret, true
}

// idToken reports whether s is a non-empty run of base64url characters.
func idToken(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}

// forward sends a poll to the node that owns the session.
func (p *polls) forward(ctx context.Context, owner, id, origin, token string, timeout time.Duration) (int, []byte) {
	if p.s.Nodes == nil {
		return errorReply(expired())
	}
	req, _ := json.Marshal(pollRequest{Session: id, Origin: origin, Token: token, Timeout: timeout.Milliseconds()})
	rctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	answer, err := p.s.Nodes.Request(rctx, pollKind, owner, req)
	switch {
	case errors.Is(err, bus.ErrNoResponder):
		return errorReply(expired())
	case err != nil && ctx.Err() != nil:
		// The client went away: tell the owner, so that messages arriving
		// now stay buffered for the client's next poll.
		stop, _ := json.Marshal(pollRequest{Session: id, Origin: origin, Cancel: true})
		_ = p.s.Nodes.Tell(pollKind, owner, stop)
		return errorReply(protocol.NewError(protocol.CodeUnavailable, "poll abandoned"))
	case err != nil:
		return errorReply(protocol.NewError(protocol.CodeUnavailable, "the node holding this session did not answer; poll again"))
	}
	var rep pollReply
	if json.Unmarshal(answer, &rep) != nil || rep.Status == 0 {
		return errorReply(protocol.NewError(protocol.CodeInternal, "bad answer from the node holding this session"))
	}
	return rep.Status, append(rep.Body, '\n') // json.Marshal compacted it
}

// serveForwarded answers a poll forwarded by another node; a cancel
// needs no answer.
func (p *polls) serveForwarded(data []byte) []byte {
	var req pollRequest
	var status int
	var body []byte
	if err := json.Unmarshal(data, &req); err != nil {
		status, body = errorReply(protocol.NewError(protocol.CodeBadRequest, "bad forwarded poll"))
	} else if req.Cancel {
		p.stopPoll(req.Session, req.Origin)
		return nil
	} else {
		timeout := min(time.Duration(req.Timeout)*time.Millisecond, p.s.cfg.PollMaxTimeout)
		status, body = p.poll(context.Background(), req.Session, req.Origin, req.Token, timeout)
	}
	rep, _ := json.Marshal(pollReply{Status: status, Body: body})
	return rep
}

// stopPoll ends the poll in progress of a local session, if any.
func (p *polls) stopPoll(id, origin string) {
	sess := p.find(id, origin)
	if sess == nil {
		return
	}
	sess.mu.Lock()
	if sess.current != nil {
		sess.current.stop()
	}
	sess.mu.Unlock()
}

// create starts a session for r subscribed to chans, resuming each channel
// from its position in from, if any. A node holds at most
// --max-poll-sessions live sessions, and one client address at most
// --max-poll-sessions-per-ip.
func (p *polls) create(ctx context.Context, r *http.Request, acc *access, chans []string, from protocol.Cursor) (*session, *protocol.Error) {
	secret := randomID(secretBytes)
	sess := &session{
		p: p, id: p.route + "." + secret, secret: secret, origin: r.Header.Get("Origin"), addr: clientAddr(r),
		channels: chans, acc: acc, wakeup: make(chan struct{}, 1),
	}
	p.mu.Lock()
	if p.live >= p.s.cfg.MaxPollSessions {
		p.mu.Unlock()
		p.s.Metrics.Refused("max-poll-sessions")
		return nil, protocol.NewError(protocol.CodeUnavailable, fmt.Sprintf("this node holds its most long-poll sessions (%d, see --max-poll-sessions); try another node", p.s.cfg.MaxPollSessions))
	}
	if !p.perIP.acquire(sess.addr) {
		p.mu.Unlock()
		p.s.Metrics.Refused("max-poll-sessions-per-ip")
		return nil, protocol.NewError(protocol.CodeTooManyConnections, fmt.Sprintf("your address holds the most long-poll sessions allowed (%d, see --max-poll-sessions-per-ip); end one first", p.s.cfg.MaxPollSessionsPerIP))
	}
	p.live++
	p.sessions[sha256.Sum256([]byte(secret))] = sess
	p.mu.Unlock()
	sess.cursor = p.s.newCursor(chans)
	sess.out = outbox{maxFrames: p.s.cfg.PollBuffer, maxBytes: p.s.cfg.QueueBytes, wake: sess.wake}
	p.s.clients.add(sess)
	p.s.Metrics.Connections(metrics.LongPoll).Inc()
	if acc != nil {
		acc.start(func() { sess.end(tokenExpired()) }, sess.grantEnded)
	}
	_, _, err := p.s.joinChannels(ctx, acc, chans, from, sess, &sess.out, func(i int, pos protocol.Position) {
		sess.curMu.Lock()
		sess.cursor.set(i, pos)
		sess.curMu.Unlock()
	})
	if err != nil {
		perr := protocol.NewError(protocol.CodeUnavailable, "cannot subscribe now: "+err.Error())
		sess.end(perr)
		return nil, perr
	}
	sess.mu.Lock()
	ended := sess.ended != nil
	sess.mu.Unlock()
	if ended { // shut down while subscribing: undo what end could not see
		for _, ch := range chans {
			p.s.Hub.Unsubscribe(ch, sess)
		}
	}
	return sess, nil
}

// wait answers one poll: at once if messages are buffered, else when the
// first arrives, else with none after timeout. A newer poll of the same
// session ends an older one that is still waiting.
func (p *polls) wait(ctx context.Context, sess *session, timeout time.Duration) (int, []byte) {
	sess.mu.Lock()
	if sess.ended != nil && sess.goodbye == nil {
		err := sess.ended
		sess.mu.Unlock()
		return errorReply(err)
	}
	if sess.current != nil {
		sess.current.stop() // a newer poll ends the older one
	}
	turn := &pollTurn{done: make(chan struct{})}
	sess.current = turn
	sess.polls++
	if sess.expiry != nil {
		sess.expiry.Stop()
	}
	sess.mu.Unlock()
	defer sess.pollDone(turn)

	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		frames, msgs, last, cursor := sess.take()
		if frames != nil || last {
			return sess.respond(frames, msgs, last, cursor)
		}
		select {
		case <-sess.wakeup:
		case <-t.C:
			return sess.respond(nil, 0, false, cursor)
		case <-turn.done:
			return sess.respond(nil, 0, false, cursor)
		case <-ctx.Done():
			return errorReply(protocol.NewError(protocol.CodeUnavailable, "poll abandoned"))
		}
	}
}

// pollDone starts the session's expiry clock when its current poll ends.
func (sess *session) pollDone(turn *pollTurn) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.current != turn || sess.ended != nil {
		return // superseded by a newer poll, or over
	}
	sess.current = nil
	ttl := sess.p.s.cfg.PollSessionTTL
	if sess.polls == 1 {
		ttl = min(ttl, firstPollTTL)
	}
	if sess.expiry == nil {
		sess.expiry = time.AfterFunc(ttl, func() { sess.end(expired()) })
	} else {
		sess.expiry.Reset(ttl)
	}
}

// respond builds {"messages":[...],"session":"id","node":"name"}. After the session's
// final poll at shutdown it adds "disconnect"; a session that ended for
// another reason answers with its error.
func (sess *session) respond(frames [][]byte, msgs int, last bool, cursor []byte) (int, []byte) {
	var goodbye *protocol.Disconnect
	if last {
		sess.mu.Lock()
		var err *protocol.Error
		goodbye, err = sess.goodbye, sess.ended
		sess.mu.Unlock()
		if goodbye == nil && err != nil {
			return errorReply(err)
		}
		defer sess.end(expired())
	}
	b := append(make([]byte, 0, 64), `{"messages":[`...)
	for i, f := range frames {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f...)
	}
	b = append(b, `],"session":"`...)
	b = append(b, sess.id...)
	b = append(b, `","node":`...)
	b = append(b, sess.p.nodeJSON...)
	if cursor != nil {
		b = append(b, `,"cursor":"`...)
		b = append(b, cursor...)
		b = append(b, '"')
	}
	if goodbye != nil {
		b = append(b, `,"disconnect":`...)
		b = protocol.AppendDisconnectData(b, *goodbye)
	}
	b = append(b, "}\n"...)
	sess.p.s.Metrics.Delivered(metrics.LongPoll).Add(float64(msgs))
	return http.StatusOK, b
}

// end closes the session: later polls get err until the session is
// forgotten one TTL later.
func (sess *session) end(err *protocol.Error) {
	sess.mu.Lock()
	if sess.ended != nil {
		sess.mu.Unlock()
		return
	}
	sess.ended = err
	if sess.expiry != nil {
		sess.expiry.Stop()
	}
	sess.mu.Unlock()

	n, _ := sess.out.close()
	sess.p.s.Metrics.Dropped.Add(float64(n))
	sess.wake()
	sess.acc.end()
	p := sess.p
	for _, ch := range sess.channels {
		p.s.Hub.Unsubscribe(ch, sess)
	}
	p.s.clients.remove(sess)
	p.s.Metrics.Connections(metrics.LongPoll).Dec()
	p.mu.Lock()
	p.live--
	p.mu.Unlock()
	p.perIP.release(sess.addr)
	time.AfterFunc(p.s.cfg.PollSessionTTL, func() {
		p.mu.Lock()
		delete(p.sessions, sha256.Sum256([]byte(sess.secret)))
		p.mu.Unlock()
	})
}

func (sess *session) wake() {
	select {
	case sess.wakeup <- struct{}{}:
	default:
	}
}

// take takes every queued message, with the cursor that follows them.
func (sess *session) take() (frames [][]byte, msgs int, last bool, cursor []byte) {
	if sess.cursor == nil {
		frames, msgs, last = sess.out.take()
		return frames, msgs, last, nil
	}
	sess.curMu.Lock()
	defer sess.curMu.Unlock()
	frames, msgs, last = sess.out.take()
	return frames, msgs, last, protocol.AppendCursor(nil, sess.cursor.positions)
}

// Deliver buffers a message until the next poll. A full buffer ends the
// session: its next poll is told so (session_overflow).
func (sess *session) Deliver(m *hub.Message) {
	if sess.cursor != nil {
		sess.curMu.Lock()
		defer sess.curMu.Unlock()
		sess.cursor.follow(m)
	}
	switch sess.out.push(m.Bytes(pollFormat), true) {
	case overflow:
		sess.p.s.Metrics.Dropped.Inc()
		sess.p.s.Metrics.SlowConsumers.Inc()
		// Deliver runs under a hub lock; end unsubscribes, so not here.
		go sess.end(protocol.NewError(protocol.CodeSessionOverflow, "more messages arrived between two polls than the session buffer holds (see --poll-buffer); start a new session and reload state"))
	case dropped:
		sess.p.s.Metrics.Dropped.Inc()
	}
}

// abort ends the session at once.
func (sess *session) abort() { sess.end(expired()) }

// disconnect ends the session at shutdown. A poll in progress returns what
// is buffered with the disconnect; a session between polls has nobody to
// tell and ends at once (its next poll gets session_expired).
func (sess *session) disconnect(d protocol.Disconnect) {
	sess.mu.Lock()
	sess.goodbye = &d
	polling := sess.current != nil
	sess.mu.Unlock()
	sess.out.seal()
	if polling {
		sess.wake()
		return
	}
	sess.end(expired())
}
