package history

import (
	"context"
	"errors"

	"github.com/heraldrt/herald/internal/protocol"
)

// Bus sends a message to a channel's live subject.
type Bus interface {
	// Publish sends data, one valid JSON value, to channel.
	Publish(channel string, data []byte) error
	// Connected reports whether the NATS connection is up.
	Connected() bool
}

// ErrNotConnected is a publish refused at once because NATS is away. The
// message was not sent and never will be: it is safe to retry.
var ErrNotConnected = errors.New("NATS is not connected")

// Router publishes each message the way its channel needs: into history
// (which delivers it live once stored) when the channel keeps history,
// else straight to the live subject.
type Router struct {
	Bus   Bus
	Store *Store // nil: no channel keeps history
}

// Publish sends data to channel and returns its position when the channel
// keeps history. key, when set, makes retries of one publish count once;
// it needs a channel that keeps history.
func (r *Router) Publish(ctx context.Context, ch string, data []byte, key string) (*protocol.Position, bool, error) {
	if !r.Bus.Connected() {
		// Fail fast: a history publish would otherwise wait out its
		// deadline for an answer that cannot come.
		return nil, false, ErrNotConnected
	}
	if r.Store == nil || !r.Store.Keeps(ch) {
		if key != "" {
			return nil, false, ErrNoHistory
		}
		return nil, false, r.Bus.Publish(ch, data)
	}
	pos, dup, err := r.Store.Publish(ctx, ch, data, key)
	if err != nil {
		return nil, false, err
	}
	return &pos, dup, nil
}
