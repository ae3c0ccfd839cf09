package history

import (
	"context"

	"github.com/heraldrt/herald/internal/protocol"
)

// Bus sends a message to a channel's live subject.
type Bus interface {
	// Publish sends data, one valid JSON value, to channel.
	Publish(channel string, data []byte) error
}

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
