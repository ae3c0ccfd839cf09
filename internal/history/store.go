package history

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/protocol"
)

// Errors of the store.
var (
	ErrNoHistory = errors.New("history: the channel keeps no history (see --history)")
	ErrConflict  = errors.New("history: too many concurrent publishes to one channel; retry")
)

// Options configure a Store.
type Options struct {
	JS     *bus.Streams // the JetStream the streams live in
	Prefix string       // the node's subject prefix
	Rules  []config.HistoryRule
	// Replicas returns how many copies each stream should have.
	Replicas func() int
	// ExactReplicas makes Replicas the exact count; else streams never
	// lose replicas they have.
	ExactReplicas bool
	// DedupeWindow is how long an idempotency key is remembered.
	DedupeWindow time.Duration
	Logger       *slog.Logger
}

// Store keeps channel history in JetStream: one stream per rule. It
// assigns each message of a channel the next offset, exactly once even
// with several publishers, and reads history back for resuming clients.
type Store struct {
	opts  Options
	log   *slog.Logger
	rules []*rule
	seed  maphash.Seed
	locks [256]sync.Mutex // serialize publishes per channel (by hash)

	mu   sync.Mutex
	tips map[string]tip // channel -> its last message, as this node last saw it
}

// rule is one --history rule and its stream.
type rule struct {
	config.HistoryRule
	stream  string // stream name
	subject string // "<prefix>.hist.<id>."; a channel's subject appends its name

	mu     sync.Mutex
	handle *bus.Stream // nil until ensured
}

// tip is a channel's last stored message: its stream sequence and position.
type tip struct {
	seq uint64
	pos protocol.Position
}

// maxTips bounds the per-channel cache of last positions.
const maxTips = 100_000

// keyedAttemptTimeout bounds one attempt of a publish with an idempotency
// key, which may be retried safely (as while a stream elects a new leader).
const keyedAttemptTimeout = 2 * time.Second

// publishAttempts bounds retries after a concurrent publish to a channel
// took the offset this node meant to use.
const publishAttempts = 32

var _ hub.History = (*Store)(nil)

// New returns a store for rules. Call Ensure before use.
func New(opts Options) *Store {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{opts: opts, log: opts.Logger.With("component", "history"), seed: maphash.MakeSeed(), tips: make(map[string]tip)}
	for _, r := range opts.Rules {
		id := RuleID(r.Pattern)
		s.rules = append(s.rules, &rule{
			HistoryRule: r,
			stream:      StreamName(opts.Prefix, r.Pattern),
			subject:     opts.Prefix + ".hist." + id + ".",
		})
	}
	return s
}

// RuleID is the short, stable id of a history pattern.
func RuleID(pattern string) string {
	sum := sha256.Sum256([]byte(pattern))
	return hex.EncodeToString(sum[:4])
}

// StreamName is the JetStream stream that keeps the history of pattern.
func StreamName(prefix, pattern string) string {
	p := strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(prefix))
	return p + "_HISTORY_" + RuleID(pattern)
}

func (s *Store) rule(ch string) *rule {
	for _, r := range s.rules {
		if protocol.MatchPattern(r.Pattern, ch) {
			return r
		}
	}
	return nil
}

// Keeps reports whether channel keeps history.
func (s *Store) Keeps(ch string) bool { return s.rule(ch) != nil }

// config is the stream configuration of r.
func (s *Store) config(r *rule, replicas int) bus.StreamConfig {
	dedupe := s.opts.DedupeWindow
	if r.TTL > 0 && dedupe > r.TTL {
		dedupe = r.TTL
	}
	return bus.StreamConfig{
		Name:              r.stream,
		Description:       "Herald history of the channels matching " + r.Pattern,
		Subjects:          r.subject + ">",
		MaxMsgsPerSubject: int64(r.Size),
		MaxAge:            r.TTL,
		MaxBytes:          r.MaxBytes,
		Replicas:          replicas,
		Duplicates:        dedupe,
		RepublishTo:       s.opts.Prefix + ".ch.>",
		AllowRollup:       true, // for Probe, which keeps one message per node
	}
}

// probeTimeout bounds one probe write.
const probeTimeout = 2 * time.Second

// Probe stores a small message in every rule's stream, as a node's proof
// that history can be written right now: streams that exist and answer
// may still fail to write (a JetStream out of file descriptors does). Each
// node's probe replaces its previous one (a rollup on its subject, a
// channel of Herald's own that no client can reach), so probes cost no
// history.
func (s *Store) Probe(ctx context.Context, node string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	for _, r := range s.rules {
		probe := bus.Put{Subject: r.subject + protocol.ReservedToken + ".probe." + node, Data: []byte(`{}`), Rollup: true}
		if _, _, err := s.opts.JS.Publish(ctx, probe); err != nil {
			return fmt.Errorf("history: stream %s for %q cannot be written: %w", r.stream, r.Pattern, err)
		}
	}
	return nil
}

// Ensure creates or updates the stream of every rule.
func (s *Store) Ensure(ctx context.Context) error {
	var errs []error
	for _, r := range s.rules {
		if _, err := s.ensure(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ensure creates r's stream, or updates it when its settings differ from
// the rule's, and returns its handle. Replicas only grow, unless they are
// set exactly: a node that sees fewer servers (its routes not up yet) must
// not shrink a stream that others have replicated.
func (s *Store) ensure(ctx context.Context, r *rule) (*bus.Stream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	want := max(1, s.opts.Replicas())
	st, in, err := s.opts.JS.Stream(ctx, r.stream)
	switch {
	case err == nil:
		have := in.Config
		if !s.opts.ExactReplicas {
			want = max(want, have.Replicas)
		}
		cfg := s.config(r, want)
		if sameSettings(have, cfg) {
			break
		}
		st, in, err = s.opts.JS.Update(ctx, cfg)
		if errors.Is(err, bus.ErrInsufficientResources) && want > have.Replicas {
			s.log.Warn("not enough JetStream servers for more history replicas; keeping the stream as it is", "stream", r.stream, "replicas", have.Replicas, "wanted", want)
			st, in, err = s.opts.JS.Update(ctx, s.config(r, have.Replicas))
		}
	case errors.Is(err, bus.ErrStreamNotFound):
		st, in, err = s.opts.JS.Create(ctx, s.config(r, want))
		if errors.Is(err, bus.ErrInsufficientResources) && want > 1 {
			s.log.Warn("not enough JetStream servers for replicated history; keeping one copy", "stream", r.stream, "replicas", want)
			st, in, err = s.opts.JS.Create(ctx, s.config(r, 1))
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, bus.ErrJetStreamUnavailable):
		return nil, fmt.Errorf("history: stream %s for %q: JetStream did not answer (is it enabled on the NATS server, and has its cluster a leader?): %w", r.stream, r.Pattern, err)
	case err != nil:
		return nil, fmt.Errorf("history: stream %s for %q: %w", r.stream, r.Pattern, err)
	}
	r.handle = st
	if in.Leaderless {
		// Made, but not usable until its replicas elect a leader.
		return nil, fmt.Errorf("history: stream %s for %q has no leader yet", r.stream, r.Pattern)
	}
	return st, nil
}

// sameSettings reports whether a stream already has the settings Herald
// gives it.
func sameSettings(have, want bus.StreamConfig) bool {
	have.Name, have.Description = want.Name, want.Description
	return have == want
}

// stream returns r's stream handle, ensuring it on first use.
func (s *Store) stream(ctx context.Context, r *rule) (*bus.Stream, error) {
	r.mu.Lock()
	st := r.handle
	r.mu.Unlock()
	if st != nil {
		return st, nil
	}
	return s.ensure(ctx, r)
}

// Publish stores data as channel's next message and returns its position.
// A key already used on the channel within the dedupe window stores
// nothing and returns the first publish's position, with dup set.
func (s *Store) Publish(ctx context.Context, ch string, data []byte, key string) (pos protocol.Position, dup bool, err error) {
	r := s.rule(ch)
	if r == nil {
		return pos, false, ErrNoHistory
	}
	mu := &s.locks[maphash.String(s.seed, ch)%uint64(len(s.locks))]
	mu.Lock()
	defer mu.Unlock()
	for attempt := 0; attempt < publishAttempts; attempt++ {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if key != "" {
			// With a key a retry is safe, so a stream leader that is gone
			// costs one short attempt rather than the caller's deadline.
			actx, cancel = context.WithTimeout(ctx, keyedAttemptTimeout)
		}
		pos, dup, retry, err := s.publishOnce(actx, r, ch, data, key, attempt)
		cancel()
		switch {
		case err != nil && key != "" && ctx.Err() == nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, bus.ErrTimeout)):
			s.forget(ch) // the retry carries the same key: stored once at most
		case err != nil:
			return pos, false, err
		case !retry:
			return pos, dup, nil
		}
	}
	return pos, false, ErrConflict
}

// publishOnce makes one attempt at storing a message as the channel's next;
// retry reports a conflict or a missing stream, worth another attempt.
func (s *Store) publishOnce(ctx context.Context, r *rule, ch string, data []byte, key string, attempt int) (pos protocol.Position, dup, retry bool, err error) {
	subject := r.subject + ch
	st, err := s.stream(ctx, r)
	if err != nil {
		return pos, false, false, err
	}
	t, ok := s.tip(ch)
	if !ok {
		if t, err = s.loadTip(ctx, st, subject); err != nil {
			return pos, false, false, err
		}
	}
	next := protocol.Position{Epoch: t.pos.Epoch, Offset: t.pos.Offset + 1}
	if t.seq == 0 { // nothing kept: a new epoch begins
		next = protocol.Position{Epoch: NewEpoch(), Offset: 1}
	}
	put := bus.Put{Subject: subject, Data: data, Pos: &next, ExpectLastSeq: &t.seq}
	if key != "" {
		put.MsgID = dedupeID(ch, key)
	}
	seq, isDup, err := s.opts.JS.Publish(ctx, put)
	switch {
	case err == nil && isDup:
		s.forget(ch)
		pos, err := s.positionAt(ctx, st, seq)
		return pos, true, false, err
	case err == nil:
		s.setTip(ch, tip{seq: seq, pos: next})
		return next, false, false, nil
	case errors.Is(err, bus.ErrWrongLastSequence):
		// Another publisher took this offset: look again, after a short
		// random pause once it keeps happening, so that contending
		// publishers fall out of step.
		s.forget(ch)
		if attempt > 0 {
			pause := time.Duration(mrand.N(int64(attempt) * int64(time.Millisecond)))
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return pos, false, false, ctx.Err()
			}
		}
		return pos, false, true, nil
	case errors.Is(err, bus.ErrNoStream), errors.Is(err, bus.ErrJetStreamUnavailable):
		s.forget(ch) // the stream is gone (deleted, or never made): make it
		r.mu.Lock()
		r.handle = nil
		r.mu.Unlock()
		return pos, false, true, nil
	default:
		s.forget(ch)
		return pos, false, false, fmt.Errorf("history: publish to %s: %w", ch, err)
	}
}

// dedupeID is the JetStream message id of a publish with an idempotency
// key: the channel's length, the channel and the key. Channel and key may
// both hold ':', so the length keeps two distinct pairs from ever having
// one id ("a:b" with "k" and "a" with "b:k").
func dedupeID(ch, key string) string {
	return strconv.Itoa(len(ch)) + ":" + ch + ":" + key
}

// NewEpoch returns a fresh epoch: 10 random letters and digits.
func NewEpoch() string {
	const chars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [10]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b[:])
}

func (s *Store) tip(ch string) (tip, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tips[ch]
	return t, ok
}

func (s *Store) setTip(ch string, t tip) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tips) >= maxTips {
		clear(s.tips)
	}
	s.tips[ch] = t
}

func (s *Store) forget(ch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tips, ch)
}

// loadTip reads the last stored message of subject.
func (s *Store) loadTip(ctx context.Context, st *bus.Stream, subject string) (tip, error) {
	m, err := st.Last(ctx, subject)
	if errors.Is(err, bus.ErrMsgNotFound) {
		return tip{}, nil
	}
	if err != nil {
		return tip{}, fmt.Errorf("history: read the last message of %s: %w", subject, err)
	}
	pos, err := position(m)
	return tip{seq: m.Seq, pos: pos}, err
}

func (s *Store) positionAt(ctx context.Context, st *bus.Stream, seq uint64) (protocol.Position, error) {
	m, err := st.Get(ctx, seq, "")
	if err != nil {
		return protocol.Position{}, fmt.Errorf("history: read message %d: %w", seq, err)
	}
	return position(m)
}

// position is a stored message's position, from its headers.
func position(m bus.Stored) (protocol.Position, error) {
	if !m.HasPos {
		return protocol.Position{}, fmt.Errorf("history: message %d of %s has no valid %s and %s headers", m.Seq, m.Subject, bus.HeaderEpoch, bus.HeaderOffset)
	}
	return m.Pos, nil
}

// Last returns the position of channel's newest message, or the zero
// Position when it has none.
func (s *Store) Last(ctx context.Context, ch string) (protocol.Position, error) {
	r := s.rule(ch)
	if r == nil {
		return protocol.Position{}, ErrNoHistory
	}
	st, err := s.stream(ctx, r)
	if err != nil {
		return protocol.Position{}, err
	}
	t, err := s.loadTip(ctx, st, r.subject+ch)
	return t.pos, err
}
