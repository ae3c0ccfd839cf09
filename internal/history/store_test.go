package history_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/history"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startJetStream runs a NATS server with JetStream on a random port and
// returns a connection's JetStream context.
func startJetStream(t testing.TB) (*server.Server, func() jetstream.JetStream) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	t.Cleanup(ns.Shutdown)
	connect := func() jetstream.JetStream {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	return ns, connect
}

func newStore(t testing.TB, js jetstream.JetStream, rules ...string) *history.Store {
	t.Helper()
	var parsed []config.HistoryRule
	for _, r := range rules {
		rule, err := config.ParseHistoryRule(r)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, rule)
	}
	s := history.New(history.Options{JS: bus.NewStreams(js), Prefix: "t", Rules: parsed, DedupeWindow: time.Minute, Replicas: func() int { return 1 }})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStorePublishReadLast(t *testing.T) {
	_, connect := startJetStream(t)
	s := newStore(t, connect(), "a.*=5", "b=100")
	ctx := context.Background()

	if !s.Keeps("a.x") || s.Keeps("a.x.y") || !s.Keeps("b") || s.Keeps("c") {
		t.Fatal("Keeps does not follow the rules")
	}
	if _, _, err := s.Publish(ctx, "c", []byte(`1`), ""); !errors.Is(err, history.ErrNoHistory) {
		t.Fatalf("publish to a channel without history: %v", err)
	}
	if last, err := s.Last(ctx, "a.x"); err != nil || last.Epoch != "" || last.Offset != 0 {
		t.Fatalf("last of an empty channel = %+v, %v", last, err)
	}
	var epoch string
	for i := 1; i <= 8; i++ {
		pos, dup, err := s.Publish(ctx, "a.x", fmt.Appendf(nil, `%d`, i), "")
		if err != nil || dup || pos.Offset != uint64(i) || (epoch != "" && pos.Epoch != epoch) {
			t.Fatalf("publish %d: %+v dup=%v err=%v", i, pos, dup, err)
		}
		epoch = pos.Epoch
	}
	// Another channel of the same rule has offsets of its own.
	if pos, _, err := s.Publish(ctx, "a.y", []byte(`1`), ""); err != nil || pos.Offset != 1 || pos.Epoch == epoch {
		t.Fatalf("first publish to a.y: %+v, %v", pos, err)
	}
	if last, err := s.Last(ctx, "a.x"); err != nil || last.Epoch != epoch || last.Offset != 8 {
		t.Fatalf("last = %+v, %v", last, err)
	}
	// 5 kept: offsets 4..8.
	msgs, err := s.Read(ctx, "a.x", epoch, 4, 8)
	if err != nil || len(msgs) != 4 || msgs[0].Pos.Offset != 5 || string(msgs[3].Data) != "8" || msgs[0].Channel != "a.x" {
		t.Fatalf("read 5..8: %d messages, %v", len(msgs), err)
	}
	if _, err := s.Read(ctx, "a.x", epoch, 2, 8); !errors.Is(err, hub.ErrExpired) {
		t.Fatalf("read from 3 with 4..8 kept: %v, want ErrExpired", err)
	}
	if _, err := s.Read(ctx, "a.x", "other", 4, 8); !errors.Is(err, hub.ErrEpochChanged) {
		t.Fatalf("read in another epoch: %v, want ErrEpochChanged", err)
	}
	after := uint64(6)
	top, recent, err := s.Recent(ctx, "a.x", &after, 10)
	if err != nil || top.Offset != 8 || len(recent) != 2 || recent[0].Pos.Offset != 7 {
		t.Fatalf("recent after 6: top %+v, %d messages, %v", top, len(recent), err)
	}
	top, recent, err = s.Recent(ctx, "a.x", nil, 2)
	if err != nil || top.Offset != 8 || len(recent) != 2 || recent[1].Pos.Offset != 8 {
		t.Fatalf("recent 2: top %+v, %d messages, %v", top, len(recent), err)
	}
	for _, past := range []uint64{8, 9, 1<<64 - 1} {
		if top, recent, err := s.Recent(ctx, "a.x", &past, 10); err != nil || len(recent) != 0 || top.Offset != 8 {
			t.Fatalf("recent after %d: top %+v, %d messages, %v; want none", past, top, len(recent), err)
		}
	}
	zero := uint64(0)
	if _, recent, err := s.Recent(ctx, "a.x", &zero, 100); err != nil || len(recent) != 5 || recent[0].Pos.Offset != 4 {
		t.Fatalf("recent from the start: %d messages, %v; want the 5 kept", len(recent), err)
	}
}

// Several publishers (as on several nodes) to one channel: every offset is
// given out once, with no gap.
func TestStoreConcurrentPublishersShareOffsets(t *testing.T) {
	_, connect := startJetStream(t)
	stores := []*history.Store{newStore(t, connect(), "c=10000"), newStore(t, connect(), "c=10000"), newStore(t, connect(), "c=10000")}
	const each = 150
	var mu sync.Mutex
	var offsets []uint64
	epochs := map[string]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*2)
	for _, s := range stores {
		for range 2 { // two goroutines per store, as two API requests
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					pos, _, err := s.Publish(context.Background(), "c", fmt.Appendf(nil, `%d`, i), "")
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					offsets = append(offsets, pos.Offset)
					epochs[pos.Epoch] = true
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sort.Slice(offsets, func(i, j int) bool { return offsets[i] < offsets[j] })
	for i, o := range offsets {
		if o != uint64(i)+1 {
			t.Fatalf("offset %d at place %d: offsets are not 1..%d once each", o, i, len(offsets))
		}
	}
	if len(epochs) != 1 {
		t.Fatalf("%d epochs, want 1", len(epochs))
	}
}

// A retry with the same key stores nothing and answers the first position,
// even from another publisher.
func TestStoreIdempotencyKey(t *testing.T) {
	_, connect := startJetStream(t)
	a, b := newStore(t, connect(), "c=100"), newStore(t, connect(), "c=100")
	ctx := context.Background()
	first, dup, err := a.Publish(ctx, "c", []byte(`"x"`), "k1")
	if err != nil || dup {
		t.Fatal(dup, err)
	}
	if _, _, err := a.Publish(ctx, "c", []byte(`"y"`), "k2"); err != nil {
		t.Fatal(err)
	}
	again, dup, err := b.Publish(ctx, "c", []byte(`"x"`), "k1")
	if err != nil || !dup || again != first {
		t.Fatalf("retry = %+v dup=%v err=%v, want %+v as a duplicate", again, dup, err, first)
	}
	if _, dup, err := a.Publish(ctx, "c", []byte(`"z"`), "k3"); err != nil || dup {
		t.Fatal(dup, err)
	}
	if last, _ := a.Last(ctx, "c"); last.Offset != 3 {
		t.Fatalf("last offset %d, want 3 (the retry stored nothing)", last.Offset)
	}
}

// TestStoreIdempotencyKeysOfDistinctChannelsNeverMeet publishes pairs of
// (channel, key) that a plain "channel:key" id would confuse, since both
// may hold ':'; each is a message of its own.
func TestStoreIdempotencyKeysOfDistinctChannelsNeverMeet(t *testing.T) {
	_, connect := startJetStream(t)
	s := newStore(t, connect(), "*=100")
	ctx := context.Background()
	pairs := []struct{ ch, key string }{
		{"a:b", "k"}, {"a", "b:k"}, {"a:b:k", "x"}, {"a:b", "k:x"}, {"2:a", "b"}, {"2", "a:b"},
	}
	stored := map[string]uint64{}
	for _, p := range pairs {
		pos, dup, err := s.Publish(ctx, p.ch, []byte(`"`+p.key+`"`), p.key)
		stored[p.ch]++
		if err != nil || dup || pos.Offset != stored[p.ch] {
			t.Fatalf("publish to %q with key %q = %+v, dup %v, %v; want offset %d, not a duplicate", p.ch, p.key, pos, dup, err, stored[p.ch])
		}
	}
	for _, p := range pairs[:2] {
		if _, dup, err := s.Publish(ctx, p.ch, []byte(`"again"`), p.key); err != nil || !dup {
			t.Fatalf("retry to %q with key %q: dup %v, %v; want a duplicate", p.ch, p.key, dup, err)
		}
	}
}

func BenchmarkStorePublish(b *testing.B) {
	_, connect := startJetStream(b)
	s := newStore(b, connect(), "c.>=1000")
	ctx := context.Background()
	data := []byte(`{"text":"a message of about sixty bytes, as a chat line is"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, err := s.Publish(ctx, "c.one", data, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStorePublishParallelChannels(b *testing.B) {
	_, connect := startJetStream(b)
	s := newStore(b, connect(), "c.>=1000")
	data := []byte(`{"text":"a message of about sixty bytes, as a chat line is"}`)
	var next sync.Mutex
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		next.Lock()
		ch := fmt.Sprintf("c.%d", n)
		n++
		next.Unlock()
		for pb.Next() {
			if _, _, err := s.Publish(context.Background(), ch, data, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkStoreRead100(b *testing.B) {
	_, connect := startJetStream(b)
	s := newStore(b, connect(), "c.>=1000")
	ctx := context.Background()
	var epoch string
	for range 1000 {
		pos, _, err := s.Publish(ctx, "c.one", []byte(`1`), "")
		if err != nil {
			b.Fatal(err)
		}
		epoch = pos.Epoch
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if msgs, err := s.Read(ctx, "c.one", epoch, 500, 600); err != nil || len(msgs) != 100 {
			b.Fatal(len(msgs), err)
		}
	}
}

// A rule's SIZE or TTL changed on restart updates its stream in place and
// keeps its history. (That replicas are never lowered is checked by the
// three-node process test in cmd/herald.)
func TestStoreUpdatesStreamSettings(t *testing.T) {
	_, connect := startJetStream(t)
	js := connect()
	s := newStore(t, js, "c=100")
	ctx := context.Background()
	for range 10 {
		if _, _, err := s.Publish(ctx, "c", []byte(`1`), ""); err != nil {
			t.Fatal(err)
		}
	}
	s2 := newStore(t, js, "c=5,1h")
	st, err := js.Stream(ctx, history.StreamName("t", "c"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	if cfg.MaxMsgsPerSubject != 5 || cfg.MaxAge != time.Hour || cfg.Duplicates != time.Minute {
		t.Fatalf("stream after the rule changed: per-subject %d, max age %s, duplicates %s", cfg.MaxMsgsPerSubject, cfg.MaxAge, cfg.Duplicates)
	}
	if last, err := s2.Last(ctx, "c"); err != nil || last.Offset != 10 {
		t.Fatalf("history after the update: %+v, %v; want offset 10 kept", last, err)
	}
	if pos, _, err := s2.Publish(ctx, "c", []byte(`1`), ""); err != nil || pos.Offset != 11 {
		t.Fatalf("next publish %+v, %v", pos, err)
	}
}
