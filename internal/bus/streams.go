package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldrt/herald/internal/protocol"
)

// JetStream, as history uses it: streams that keep messages by subject,
// conditional publishes, and reads by sequence. Streams wraps the
// JetStream client so that the history store speaks of positions and
// sequences, never of NATS messages and headers.

// Errors of Streams, for the callers to tell apart.
var (
	ErrStreamNotFound = errors.New("bus: no such stream")
	ErrMsgNotFound    = errors.New("bus: no such message")
	// ErrWrongLastSequence is a conditional publish that found another
	// message stored since: another publisher was first.
	ErrWrongLastSequence = errors.New("bus: the subject's last sequence is not the one expected")
	// ErrNoStream is a publish no stream answered: it was deleted, or
	// never made.
	ErrNoStream = errors.New("bus: no stream took the message")
	// ErrInsufficientResources is a stream that asks for more replicas
	// than there are servers.
	ErrInsufficientResources = errors.New("bus: not enough JetStream servers")
	// ErrJetStreamUnavailable is JetStream not answering: not enabled, or
	// without a leader.
	ErrJetStreamUnavailable = errors.New("bus: JetStream did not answer")
	// ErrTimeout is a request that got no answer in time.
	ErrTimeout = errors.New("bus: JetStream request timed out")
)

// errCodeInsufficientResources is JetStream's answer when a stream asks
// for more replicas than there are servers.
const errCodeInsufficientResources = 10023

// StreamConfig is what a history stream is.
type StreamConfig struct {
	Name              string
	Description       string
	Subjects          string // the subjects it keeps: a pattern ending in '>'
	MaxMsgsPerSubject int64
	MaxAge            time.Duration
	MaxBytes          int64
	Replicas          int
	Duplicates        time.Duration // how long a message id is remembered
	RepublishTo       string        // where each stored message is published again
	AllowRollup       bool
}

// StreamInfo is what a stream says of itself.
type StreamInfo struct {
	Config StreamConfig
	// Leaderless is a replicated stream whose replicas have not elected
	// a leader yet: made, but not usable.
	Leaderless bool
}

// Stored is one message read back from a stream.
type Stored struct {
	Seq     uint64
	Subject string
	Pos     protocol.Position
	HasPos  bool // the message carries a valid position
	Data    []byte
}

// Streams is the JetStream of a connection.
type Streams struct {
	js jetstream.JetStream
}

// Stream is one stream.
type Stream struct {
	st jetstream.Stream
}

// Streams returns the JetStream of the bus's connection.
func (b *Bus) Streams() (*Streams, error) {
	js, err := jetstream.New(b.nc)
	if err != nil {
		return nil, err
	}
	return NewStreams(js), nil
}

// NewStreams wraps a JetStream client (tests make their own).
func NewStreams(js jetstream.JetStream) *Streams { return &Streams{js: js} }

func (c StreamConfig) jetstream() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              c.Name,
		Description:       c.Description,
		Subjects:          []string{c.Subjects},
		MaxMsgsPerSubject: c.MaxMsgsPerSubject,
		MaxAge:            c.MaxAge,
		MaxBytes:          c.MaxBytes,
		Storage:           jetstream.FileStorage,
		Replicas:          c.Replicas,
		Duplicates:        c.Duplicates,
		Discard:           jetstream.DiscardOld,
		RePublish:         &jetstream.RePublish{Source: c.Subjects, Destination: c.RepublishTo},
		AllowRollup:       c.AllowRollup,
	}
}

// info reads what Herald sets of a stream's configuration back.
func info(st jetstream.Stream) StreamInfo {
	ci := st.CachedInfo()
	have := ci.Config
	c := StreamConfig{
		Name: have.Name, Description: have.Description, MaxMsgsPerSubject: have.MaxMsgsPerSubject,
		MaxAge: have.MaxAge, MaxBytes: have.MaxBytes, Replicas: have.Replicas, Duplicates: have.Duplicates,
		AllowRollup: have.AllowRollup,
	}
	if len(have.Subjects) == 1 {
		c.Subjects = have.Subjects[0]
	} else {
		c.Subjects = fmt.Sprint(have.Subjects) // matches no config Herald makes
	}
	if rp := have.RePublish; rp != nil && rp.Source == c.Subjects && !rp.HeadersOnly {
		c.RepublishTo = rp.Destination
	}
	return StreamInfo{Config: c, Leaderless: ci.Cluster != nil && ci.Cluster.Leader == ""}
}

// Stream returns the stream named name, with its info.
func (s *Streams) Stream(ctx context.Context, name string) (*Stream, StreamInfo, error) {
	st, err := s.js.Stream(ctx, name)
	if err != nil {
		return nil, StreamInfo{}, streamError(err)
	}
	return &Stream{st: st}, info(st), nil
}

// Create makes a stream.
func (s *Streams) Create(ctx context.Context, c StreamConfig) (*Stream, StreamInfo, error) {
	st, err := s.js.CreateStream(ctx, c.jetstream())
	if err != nil {
		return nil, StreamInfo{}, streamError(err)
	}
	return &Stream{st: st}, info(st), nil
}

// Update changes a stream's configuration.
func (s *Streams) Update(ctx context.Context, c StreamConfig) (*Stream, StreamInfo, error) {
	st, err := s.js.UpdateStream(ctx, c.jetstream())
	if err != nil {
		return nil, StreamInfo{}, streamError(err)
	}
	return &Stream{st: st}, info(st), nil
}

// Put is one message to store.
type Put struct {
	Subject string
	Data    []byte
	Pos     *protocol.Position // the position it carries, if any
	// ExpectLastSeq, when set, stores the message only if the subject's
	// last stored message has that sequence (0: none stored).
	ExpectLastSeq *uint64
	MsgID         string // a retry with the same id within Duplicates is stored once
	Rollup        bool   // the message replaces every earlier one of its subject
}

// Publish stores a message and returns its stream sequence; dup reports a
// message id already stored within the stream's Duplicates window (the
// sequence is then the first one's).
func (s *Streams) Publish(ctx context.Context, p Put) (seq uint64, dup bool, err error) {
	m := nats.NewMsg(p.Subject)
	m.Data = p.Data
	if p.Pos != nil {
		SetPosition(m.Header, *p.Pos)
	}
	if p.ExpectLastSeq != nil {
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(*p.ExpectLastSeq, 10))
	}
	if p.MsgID != "" {
		m.Header.Set(jetstream.MsgIDHeader, p.MsgID)
	}
	if p.Rollup {
		m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	}
	ack, err := s.js.PublishMsg(ctx, m)
	if err != nil {
		return 0, false, streamError(err)
	}
	return ack.Sequence, ack.Duplicate, nil
}

// Get reads the message at sequence seq; with a subject, the first
// message of that subject at or after seq.
func (s *Stream) Get(ctx context.Context, seq uint64, subject string) (Stored, error) {
	var opts []jetstream.GetMsgOpt
	if subject != "" {
		opts = append(opts, jetstream.WithGetMsgSubject(subject))
	}
	m, err := s.st.GetMsg(ctx, seq, opts...)
	if err != nil {
		return Stored{}, streamError(err)
	}
	return stored(m), nil
}

// Last reads the last stored message of subject.
func (s *Stream) Last(ctx context.Context, subject string) (Stored, error) {
	m, err := s.st.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return Stored{}, streamError(err)
	}
	return stored(m), nil
}

func stored(m *jetstream.RawStreamMsg) Stored {
	pos, ok := ParsePosition(m.Header)
	return Stored{Seq: m.Sequence, Subject: m.Subject, Pos: pos, HasPos: ok, Data: m.Data}
}

// Fetch reads up to n messages of subject from sequence seq on, in one
// go, through a short-lived consumer of its own. It returns fewer when no
// more are stored.
func (s *Stream) Fetch(ctx context.Context, subject string, seq uint64, n int) ([]Stored, error) {
	cons, err := s.st.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       seq,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return nil, streamError(err)
	}
	defer func() {
		name := cons.CachedInfo().Name
		go func() { // tidy up off the caller's path; the server drops it anyway when idle
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.st.DeleteConsumer(dctx, name)
		}()
	}()
	wait := 2 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = max(10*time.Millisecond, min(wait, time.Until(d)))
	}
	out := make([]Stored, 0, n)
	for len(out) < n {
		batch, err := cons.Fetch(n-len(out), jetstream.FetchMaxWait(wait))
		if err != nil {
			return nil, streamError(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			pos, ok := ParsePosition(m.Headers())
			md, err := m.Metadata()
			if err != nil {
				return nil, err
			}
			out = append(out, Stored{Seq: md.Sequence.Stream, Subject: m.Subject(), Pos: pos, HasPos: ok, Data: m.Data()})
		}
		if err := batch.Error(); err != nil {
			return nil, streamError(err)
		}
		if got == 0 {
			break // nothing more is stored
		}
	}
	return out, nil
}

// streamError maps JetStream's errors to the bus's, keeping the original
// in the chain for messages.
func streamError(err error) error {
	var apiErr *jetstream.APIError
	var sentinel error
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		sentinel = ErrStreamNotFound
	case errors.Is(err, jetstream.ErrMsgNotFound):
		sentinel = ErrMsgNotFound
	case errors.As(err, &apiErr) && slices.Contains([]jetstream.ErrorCode{jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant}, apiErr.ErrorCode):
		sentinel = ErrWrongLastSequence
	case errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeInsufficientResources:
		sentinel = ErrInsufficientResources
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		sentinel = ErrNoStream
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		sentinel = ErrJetStreamUnavailable
	case errors.Is(err, nats.ErrTimeout):
		sentinel = ErrTimeout
	default:
		return err
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}
