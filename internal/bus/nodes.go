package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/heraldrt/herald/internal/protocol"
)

// Node-to-node calls: a node serves one kind of request ("poll", and the
// kinds later features add) on its own subject, and any node may send it
// one. Requests are answered each on a goroutine of its own, since an
// answer may wait (a long poll waits for messages).

// ErrNoResponder is a request that no node serves: the node it was meant
// for is gone.
var ErrNoResponder = errors.New("bus: no node answers this request")

// Serve answers the requests of kind what sent to the node id with h,
// until the returned stop is called; stop waits for the answers in
// progress. h returns the answer, or nil for a one-way message.
func (b *Bus) Serve(what, id string, h func(data []byte) []byte) (stop func(), err error) {
	var wg sync.WaitGroup
	sub, err := b.nc.Subscribe(b.NodeSubject(what, id), func(m *nats.Msg) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if answer := h(m.Data); answer != nil && m.Reply != "" {
				_ = m.Respond(answer)
			}
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("bus: serve %s: %w", what, err)
	}
	return func() {
		_ = sub.Unsubscribe()
		wg.Wait()
	}, nil
}

// Request sends data as a request of kind what to the node id and waits
// for its answer until ctx ends. It returns ErrNoResponder when no node
// serves it.
func (b *Bus) Request(ctx context.Context, what, id string, data []byte) ([]byte, error) {
	m, err := b.nc.RequestWithContext(ctx, b.NodeSubject(what, id), data)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, ErrNoResponder
	}
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// Tell sends data as a one-way message of kind what to the node id.
func (b *Bus) Tell(what, id string, data []byte) error {
	return b.nc.Publish(b.NodeSubject(what, id), data)
}

// NodeSubject returns the subject on which node id answers requests of
// one kind (such as forwarded long-polls).
func (b *Bus) NodeSubject(what, id string) string {
	return b.opts.Prefix + ".node." + id + "." + what
}

// Headers of a message of a channel that keeps history: its position.
// JetStream stores them with the message and republishes them with it.
const (
	HeaderEpoch  = "Herald-Epoch"
	HeaderOffset = "Herald-Offset"
)

// SetPosition writes pos into h.
func SetPosition(h nats.Header, pos protocol.Position) {
	h.Set(HeaderEpoch, pos.Epoch)
	h.Set(HeaderOffset, strconv.FormatUint(pos.Offset, 10))
}

// ParsePosition reads a position from message headers.
func ParsePosition(h nats.Header) (protocol.Position, bool) {
	epoch := h.Get(HeaderEpoch)
	off, err := strconv.ParseUint(h.Get(HeaderOffset), 10, 64)
	if err != nil || off == 0 || epoch == "" || !protocol.ValidEpoch(epoch) {
		return protocol.Position{}, false
	}
	return protocol.Position{Epoch: epoch, Offset: off}, true
}
