package hub_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/protocol"
)

// recorder is a subscriber that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []*hub.Message
}

func (r *recorder) Deliver(m *hub.Message) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// newHub returns a hub over a real bus with an embedded NATS server.
func newHub(t testing.TB) (*hub.Hub, *bus.Bus) {
	t.Helper()
	var h *hub.Hub
	b := startBus(t, bus.Options{Name: "hub-test", Prefix: "test", Handler: func(ch string, data []byte, pos *protocol.Position) { h.Publish(ch, data, pos) }})
	h = hub.New(b, nil)
	return h, b
}

// startBus starts a bus, closed when the test ends.
func startBus(t testing.TB, opts bus.Options) *bus.Bus {
	t.Helper()
	b, err := bus.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Close(ctx)
	})
	return b
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOneBusSubscriptionPerChannel(t *testing.T) {
	h, b := newHub(t)
	ctx := context.Background()
	a, c := &recorder{}, &recorder{}
	for _, s := range []*recorder{a, c} {
		if err := h.Subscribe(ctx, "x", s); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Subscribe(ctx, "x", a); err != nil { // again: no-op
		t.Fatal(err)
	}
	if got := b.Stats().Watches; got != 1 {
		t.Fatalf("bus watches = %d, want 1", got)
	}
	if h.Channels() != 1 || h.Subscriptions() != 2 {
		t.Fatalf("channels %d subscriptions %d, want 1 and 2", h.Channels(), h.Subscriptions())
	}
	if err := b.Publish("x", []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both subscribers", func() bool { return a.count() == 1 && c.count() == 1 })
	// Both got the same shared message.
	if a.msgs[0] != c.msgs[0] {
		t.Fatal("subscribers got different Message values for one publish")
	}

	if !h.Unsubscribe("x", a) || h.Unsubscribe("x", a) {
		t.Fatal("Unsubscribe should report true once, then false")
	}
	if got := b.Stats().Watches; got != 1 {
		t.Fatalf("bus watches after one left = %d, want 1", got)
	}
	h.Unsubscribe("x", c)
	if got := b.Stats().Watches; got != 0 || h.Channels() != 0 || h.Subscriptions() != 0 {
		t.Fatalf("after all left: watches %d channels %d subs %d", got, h.Channels(), h.Subscriptions())
	}
}

// encodings counts the calls of testFormat's encoder. Formats are
// registered once per process (at most four exist), so the test's is made
// here rather than per run (go test -count=N).
var (
	encodings  atomic.Int32
	testFormat = hub.NewFormat(func(m *hub.Message) []byte {
		encodings.Add(1)
		return append([]byte(m.Channel+":"), m.Data...)
	})
)

func TestEncodedOncePerFormat(t *testing.T) {
	encodings.Store(0)
	calls, f := &encodings, testFormat
	m := &hub.Message{Channel: "c", Data: []byte(`"d"`)}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got := string(m.Bytes(f)); got != `c:"d"` {
				t.Errorf("Bytes = %s", got)
			}
		}()
	}
	wg.Wait()
	if calls.Load() != 1 {
		t.Fatalf("encoded %d times, want once", calls.Load())
	}
}

func TestConcurrentChurnLeavesNothingBehind(t *testing.T) {
	h, b := newHub(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &recorder{}
			for i := 0; i < 200; i++ {
				ch := fmt.Sprintf("ch%d", i%5)
				if err := h.Subscribe(ctx, ch, s); err != nil {
					t.Error(err)
					return
				}
				h.Publish(ch, []byte(`0`), nil)
				h.Unsubscribe(ch, s)
			}
		}()
	}
	wg.Wait()
	if h.Channels() != 0 || h.Subscriptions() != 0 || b.Stats().Watches != 0 {
		t.Fatalf("left behind: channels %d subs %d watches %d", h.Channels(), h.Subscriptions(), b.Stats().Watches)
	}
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if n := b.Server().GlobalAccount().Interest(b.Subject(fmt.Sprintf("ch%d", i))); n != 0 {
			t.Fatalf("NATS server still has %d subscriptions on ch%d", n, i)
		}
	}
}

func TestSubscribeAfterClose(t *testing.T) {
	h, _ := newHub(t)
	h.Close()
	if err := h.Subscribe(context.Background(), "x", &recorder{}); err != hub.ErrClosed {
		t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
	}
}

// TestPositionOnChannelWithoutHistory checks that a message that arrives
// with a position on a channel this hub keeps no history for (a hub with
// no history at all here; in a cluster, a node whose rules differ, or a
// backend publishing with history headers) is delivered, not a crash.
func TestPositionOnChannelWithoutHistory(t *testing.T) {
	h, _ := newHub(t)
	r := &recorder{}
	if err := h.Subscribe(context.Background(), "plain", r); err != nil {
		t.Fatal(err)
	}
	n := func() (n int) {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("Publish with a position on a channel without history panicked: %v", p)
			}
		}()
		return h.Publish("plain", []byte(`1`), &protocol.Position{Epoch: "e", Offset: 1})
	}()
	if n != 1 || r.count() != 1 {
		t.Fatalf("reached %d subscribers, recorder has %d messages; want 1 and 1", n, r.count())
	}
}

func TestFit(t *testing.T) {
	msgs := []*hub.Message{{Data: []byte("aa")}, {Data: []byte("bbb")}, {Data: []byte("c")}}
	size := func(m *hub.Message) int { return len(m.Data) }
	join := func(ms []*hub.Message) string {
		var s string
		for _, m := range ms {
			s += string(m.Data) + " "
		}
		return s
	}
	for _, tt := range []struct {
		newest bool
		budget int
		want   string
	}{
		{false, 6, "aa bbb c "}, {false, 5, "aa bbb "}, {false, 4, "aa "}, {false, 1, ""},
		{true, 6, "aa bbb c "}, {true, 4, "bbb c "}, {true, 3, "c "}, {true, 0, ""},
	} {
		if got := join(hub.Fit(msgs, tt.newest, tt.budget, size)); got != tt.want {
			t.Errorf("Fit(newest=%v, %d) = %q, want %q", tt.newest, tt.budget, got, tt.want)
		}
	}
}
