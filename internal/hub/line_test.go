package hub_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/history"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/protocol"
)

// lineHub returns a hub whose history channels (rule "h.>") are kept by a
// real JetStream store. The store republishes under the prefix "store",
// the bus listens under "bus": no stored message reaches the hub by
// itself, so each test hands it live messages in the order it wants,
// gaps and duplicates included.
func lineHub(t *testing.T) (*hub.Hub, *history.Store) {
	t.Helper()
	var h *hub.Hub
	b := startBus(t, bus.Options{
		Name: "line-test", ID: "LINETEST", Prefix: "bus", StoreDir: t.TempDir(),
		Handler: func(ch string, data []byte, pos *protocol.Position) { h.Publish(ch, data, pos) },
	})
	js, err := b.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	rule, _ := config.ParseHistoryRule("h.>=1000")
	store := history.New(history.Options{JS: bus.NewStreams(js), Prefix: "store", Rules: []config.HistoryRule{rule}, DedupeWindow: time.Minute, Replicas: func() int { return 1 }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := store.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	h = hub.New(b, store)
	return h, store
}

// storeN stores n messages {"n":<offset>} and returns their positions.
func storeN(t *testing.T, s *history.Store, ch string, n int) []protocol.Position {
	t.Helper()
	last, err := s.Last(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	var out []protocol.Position
	for i := range n {
		pos, _, err := s.Publish(context.Background(), ch, fmt.Appendf(nil, `{"n":%d}`, last.Offset+uint64(i)+1), "")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pos)
	}
	return out
}

// live hands the hub a message as the bus would.
func live(h *hub.Hub, ch string, pos protocol.Position) {
	h.Publish(ch, fmt.Appendf(nil, `{"n":%d}`, pos.Offset), &pos)
}

// seen describes what a recorder got: offsets, and notices as reason@offset.
func (r *recorder) seen() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []string
	for _, m := range r.msgs {
		switch {
		case m.Notice != nil:
			parts = append(parts, fmt.Sprintf("%s@%d", m.Notice.Reason, m.Notice.Position.Offset))
		case m.Pos != nil:
			if want := fmt.Sprintf(`{"n":%d}`, m.Pos.Offset); string(m.Data) != want {
				parts = append(parts, "bad-data:"+string(m.Data))
			}
			parts = append(parts, fmt.Sprint(m.Pos.Offset))
		default:
			parts = append(parts, "plain")
		}
	}
	return strings.Join(parts, " ")
}

// waitSeen waits until r has seen exactly want (fetches run in the
// background), failing on anything else.
func (r *recorder) waitSeen(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.seen()
		if got == want {
			return
		}
		if !strings.HasPrefix(want, got) || time.Now().After(deadline) {
			t.Fatalf("got %q, want %q", got, want)
		}
		time.Sleep(time.Millisecond) // polling: the fetch has no event to wait on
	}
}

var room = hub.Room{Messages: 1000, Bytes: 1 << 20}

func join(t *testing.T, h *hub.Hub, ch string, r *recorder, resume *protocol.Resume) protocol.Recovery {
	t.Helper()
	rec, err := h.Join(context.Background(), ch, r, resume, room, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestLineFillsGapsAndDropsDuplicates(t *testing.T) {
	h, s := lineHub(t)
	const ch = "h.gap"
	pos := storeN(t, s, ch, 10)
	a := &recorder{}
	join(t, h, ch, a, nil) // anchored at 10
	more := storeN(t, s, ch, 3)
	live(h, ch, more[2]) // 13 arrives first: 11 and 12 are fetched before it
	live(h, ch, more[0]) // a late duplicate
	live(h, ch, more[2]) // and another
	a.waitSeen(t, "11 12 13")
	found, lost := h.Gaps()
	if found != 1 || lost != 0 {
		t.Fatalf("gaps %d found, %d lost; want 1, 0", found, lost)
	}
	// A gap history cannot fill (offsets 14..19 were never stored): the
	// subscriber is told, then gets 20.
	live(h, ch, protocol.Position{Epoch: pos[0].Epoch, Offset: 20})
	a.waitSeen(t, "11 12 13 gap@19 20")
	if _, lost := h.Gaps(); lost != 1 {
		t.Fatalf("lost gaps %d, want 1", lost)
	}
	// A new epoch on the live stream: reset notice, then offset 1 of it.
	live(h, ch, protocol.Position{Epoch: "NEWEPOCH", Offset: 1})
	if got := a.seen(); !strings.HasSuffix(got, "20 reset@0 1") {
		t.Fatalf("got %q, want a reset notice before offset 1", got)
	}
}

func TestLineJoinAheadOfTheNode(t *testing.T) {
	h, s := lineHub(t)
	const ch = "h.ahead"
	storeN(t, s, ch, 10)
	a, b := &recorder{}, &recorder{}
	top := join(t, h, ch, a, nil).Position
	more := storeN(t, s, ch, 3) // 11..13, not yet delivered to this node
	// b got 11 and 12 from another node before it moved here.
	rec := join(t, h, ch, b, &protocol.Resume{From: protocol.Position{Epoch: top.Epoch, Offset: 12}})
	if !rec.Recovered || rec.Position.Offset != 12 {
		t.Fatalf("join ahead: %+v", rec)
	}
	for _, p := range more {
		live(h, ch, p)
	}
	if got := a.seen(); got != "11 12 13" {
		t.Fatalf("a got %q", got)
	}
	if got := b.seen(); got != "13" {
		t.Fatalf("b got %q, want only 13 (it had 11 and 12)", got)
	}
}

// TestLineJoinAheadOfHistory resumes from positions no message ever had:
// the join says recovered:false at the channel's position, and live
// messages follow at once, where following the position given would have
// skipped them.
func TestLineJoinAheadOfHistory(t *testing.T) {
	h, s := lineHub(t)
	const ch = "h.beyond"
	stored := storeN(t, s, ch, 10)
	epoch, last := stored[0].Epoch, stored[9]
	for _, from := range []protocol.Position{
		{Epoch: epoch, Offset: 12},
		{Epoch: epoch, Offset: 1 << 40},
	} {
		r := &recorder{}
		rec := join(t, h, ch, r, &protocol.Resume{From: from})
		if rec.Recovered || rec.Reason != protocol.ReasonAhead || rec.Position != last {
			t.Fatalf("resume from %+v: %+v, want recovered:false, %s, at %+v", from, rec, protocol.ReasonAhead, last)
		}
		last = storeN(t, s, ch, 1)[0]
		live(h, ch, last)
		if got, want := r.seen(), fmt.Sprint(last.Offset); got != want {
			t.Fatalf("after resuming from %+v the client got %q, want the live message %s", from, got, want)
		}
	}
}

func TestLineJoinReplaysFromRingAndHistory(t *testing.T) {
	h, s := lineHub(t)
	const ch = "h.replay"
	pos := storeN(t, s, ch, 200)
	a := &recorder{}
	join(t, h, ch, a, nil) // anchored at 200
	for _, p := range storeN(t, s, ch, 5) {
		live(h, ch, p) // 201..205 through the ring
	}
	epoch := pos[0].Epoch

	// From the ring.
	b := &recorder{}
	if rec := join(t, h, ch, b, &protocol.Resume{From: protocol.Position{Epoch: epoch, Offset: 202}}); !rec.Recovered || rec.Position.Offset != 205 {
		t.Fatalf("resume from 202: %+v", rec)
	}
	if got := b.seen(); got != "203 204 205" {
		t.Fatalf("b got %q", got)
	}
	// From history (the ring starts at 201).
	c := &recorder{}
	if rec := join(t, h, ch, c, &protocol.Resume{From: protocol.Position{Epoch: epoch, Offset: 150}}); !rec.Recovered {
		t.Fatalf("resume from 150: %+v", rec)
	}
	want := make([]string, 0, 55)
	for i := 151; i <= 205; i++ {
		want = append(want, fmt.Sprint(i))
	}
	if got := c.seen(); got != strings.Join(want, " ") {
		t.Fatalf("c got %q", got)
	}
	// Live goes on for everyone, once.
	next := storeN(t, s, ch, 1)
	live(h, ch, next[0])
	for name, r := range map[string]*recorder{"a": a, "b": b, "c": c} {
		if got := r.seen(); !strings.HasSuffix(got, "205 206") {
			t.Fatalf("%s got %q, want it to end with 205 206", name, got)
		}
	}
	// Too far behind for the room given; another epoch; a rewind.
	d := &recorder{}
	small := hub.Room{Messages: 10, Bytes: 1 << 20}
	if rec, _ := h.Join(context.Background(), ch, d, &protocol.Resume{From: protocol.Position{Epoch: epoch, Offset: 100}}, small, nil); rec.Recovered || rec.Reason != protocol.ReasonTooFarBehind {
		t.Fatalf("resume 106 behind with room for 10: %+v", rec)
	}
	e := &recorder{}
	if rec := join(t, h, ch, e, &protocol.Resume{From: protocol.Position{Epoch: "OTHER", Offset: 5}}); rec.Recovered || rec.Reason != protocol.ReasonEpochChanged || rec.Position.Offset != 206 {
		t.Fatalf("resume in another epoch: %+v", rec)
	}
	f := &recorder{}
	var order []string
	joined := func(r protocol.Recovery) { order = append(order, "joined:"+f.seen()) }
	if _, err := h.Join(context.Background(), ch, f, &protocol.Resume{Rewind: 2}, room, joined); err != nil {
		t.Fatal(err)
	}
	if got := f.seen(); got != "205 206" || len(order) != 1 || order[0] != "joined:" {
		t.Fatalf("rewind 2: got %q, joined called %v (want before the replay)", got, order)
	}
}

// Messages held during a fetch that show a further gap start another
// fetch; everything comes out in order, once.
func TestLineSecondGapWhileFilling(t *testing.T) {
	h, s := lineHub(t)
	const ch = "h.twice"
	storeN(t, s, ch, 10)
	a := &recorder{}
	join(t, h, ch, a, nil) // anchored at 10
	more := storeN(t, s, ch, 6)
	live(h, ch, more[2]) // 13: fetch 11, 12
	live(h, ch, more[5]) // 16: held, or a gap of its own
	live(h, ch, more[2]) // a duplicate
	a.waitSeen(t, "11 12 13 14 15 16")
	if found, lost := h.Gaps(); found != 2 || lost != 0 {
		t.Fatalf("gaps %d found, %d lost; want 2, 0", found, lost)
	}
	// Live delivery goes on at once once caught up.
	last := storeN(t, s, ch, 1)
	live(h, ch, last[0])
	if got := a.seen(); got != "11 12 13 14 15 16 17" {
		t.Fatalf("got %q", got)
	}
}
