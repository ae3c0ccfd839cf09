package transport

import (
	"bytes"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newTestOutbox returns an outbox whose wake only counts calls.
func newTestOutbox(maxFrames, maxBytes int) (*outbox, *atomic.Int32) {
	var wakes atomic.Int32
	return &outbox{maxFrames: maxFrames, maxBytes: maxBytes, wake: func() { wakes.Add(1) }}, &wakes
}

func TestOutboxLimitByFrames(t *testing.T) {
	t.Parallel()
	o, _ := newTestOutbox(3, 1<<20)
	for i := range 3 {
		if r := o.push([]byte("x"), true); r != pushed {
			t.Fatalf("push %d = %v, want pushed", i, r)
		}
	}
	if r := o.push([]byte("x"), true); r != overflow {
		t.Fatalf("push past 3 frames = %v, want overflow", r)
	}
	// An overflow does not queue anything.
	frames, msgs, last := o.take()
	if len(frames) != 3 || msgs != 3 || last {
		t.Fatalf("take = %d frames, %d msgs, last %v; want 3, 3, false", len(frames), msgs, last)
	}
	// Taking frees the room.
	for i := range 3 {
		if r := o.push([]byte("y"), false); r != pushed {
			t.Fatalf("push %d after take = %v", i, r)
		}
	}
}

func TestOutboxLimitByBytes(t *testing.T) {
	t.Parallel()
	o, _ := newTestOutbox(100, 10)
	if r := o.push(make([]byte, 6), true); r != pushed {
		t.Fatalf("6 bytes: %v", r)
	}
	if r := o.push(make([]byte, 5), true); r != overflow {
		t.Fatalf("6+5 bytes of 10: %v, want overflow", r)
	}
	if r := o.push(make([]byte, 4), true); r != pushed {
		t.Fatalf("6+4 bytes of 10 (exactly full): %v, want pushed", r)
	}
	if r := o.push(nil, true); r != pushed {
		t.Fatalf("an empty frame into a full byte budget: %v, want pushed", r)
	}
	if r := o.push([]byte{0}, true); r != overflow {
		t.Fatalf("1 byte past the budget: %v, want overflow", r)
	}
	if _, msgs, _ := o.take(); msgs != 3 {
		t.Fatalf("take: %d msgs, want 3", msgs)
	}
	// A frame larger than the whole budget never fits, even when empty.
	if r := o.push(make([]byte, 11), true); r != overflow {
		t.Fatalf("11 bytes into an empty outbox of 10: %v, want overflow", r)
	}
	// The byte count was reset by take.
	if r := o.push(make([]byte, 10), true); r != pushed {
		t.Fatalf("10 bytes after take: %v, want pushed", r)
	}
}

func TestOutboxTakeCountsMessagesOnly(t *testing.T) {
	t.Parallel()
	o, _ := newTestOutbox(10, 100)
	o.push([]byte("welcome"), false)
	o.push([]byte("m1"), true)
	o.push([]byte("reply"), false)
	o.push([]byte("m2"), true)
	frames, msgs, last := o.take()
	want := [][]byte{[]byte("welcome"), []byte("m1"), []byte("reply"), []byte("m2")}
	if len(frames) != len(want) || msgs != 2 || last {
		t.Fatalf("take = %q, %d, %v", frames, msgs, last)
	}
	for i := range want {
		if !bytes.Equal(frames[i], want[i]) {
			t.Fatalf("frame %d = %q, want %q: order not kept", i, frames[i], want[i])
		}
	}
}

func TestOutboxWake(t *testing.T) {
	t.Parallel()
	o, wakes := newTestOutbox(10, 100)
	o.push([]byte("a"), true)
	o.push([]byte("b"), true)
	if n := wakes.Load(); n != 1 {
		t.Fatalf("two pushes to an idle outbox woke %d writers, want 1", n)
	}
	if frames, _, _ := o.take(); len(frames) != 2 {
		t.Fatalf("take: %d frames", len(frames))
	}
	// The writer is still active until a take finds nothing.
	o.push([]byte("c"), true)
	if n := wakes.Load(); n != 1 {
		t.Fatalf("push while the writer is active woke another: %d", n)
	}
	o.take()
	if frames, msgs, last := o.take(); frames != nil || msgs != 0 || last {
		t.Fatalf("empty take = %q, %d, %v; want nil, 0, false", frames, msgs, last)
	}
	// The writer stopped: the next push wakes a new one.
	o.push([]byte("d"), true)
	if n := wakes.Load(); n != 2 {
		t.Fatalf("push after the writer stopped: %d wakes, want 2", n)
	}
	// Overflows and drops never wake.
	o2, wakes2 := newTestOutbox(1, 100)
	o2.push(make([]byte, 200), true)
	if wakes2.Load() != 0 {
		t.Fatal("an overflowing push woke a writer")
	}
}

func TestOutboxClose(t *testing.T) {
	t.Parallel()
	o, wakes := newTestOutbox(10, 100)
	o.push([]byte("m1"), true)
	o.push([]byte("reply"), false)
	o.push([]byte("m2"), true)
	if o.isClosing() {
		t.Fatal("closing before close")
	}
	discarded, ok := o.close([]byte("bye"), []byte("close"))
	if !ok || discarded != 2 {
		t.Fatalf("close = %d, %v; want 2 discarded messages, true", discarded, ok)
	}
	if !o.isClosing() {
		t.Fatal("not closing after close")
	}
	if n := wakes.Load(); n != 1 {
		t.Fatalf("close while a writer is active woke another: %d wakes", n)
	}
	if r := o.push([]byte("late"), true); r != dropped {
		t.Fatalf("push after close = %v, want dropped", r)
	}
	if _, ok := o.close([]byte("again")); ok {
		t.Fatal("a second close reported ok")
	}
	frames, msgs, last := o.take()
	if len(frames) != 2 || string(frames[0]) != "bye" || string(frames[1]) != "close" || msgs != 0 || !last {
		t.Fatalf("take after close = %q, %d, %v; want the final frames, 0, true", frames, msgs, last)
	}
	frames, _, last = o.take()
	if frames != nil || !last {
		t.Fatalf("second take after close = %q, %v; want nil, true", frames, last)
	}
	if r := o.push([]byte("later"), false); r != dropped || wakes.Load() != 1 {
		t.Fatalf("push after the final take = %v with %d wakes; want dropped, no wake", r, wakes.Load())
	}
}

func TestOutboxCloseIdle(t *testing.T) {
	t.Parallel()
	// With no writer running, final frames wake one.
	o, wakes := newTestOutbox(10, 100)
	if _, ok := o.close([]byte("bye")); !ok {
		t.Fatal("close failed")
	}
	if wakes.Load() != 1 {
		t.Fatalf("close of an idle outbox with final frames: %d wakes, want 1", wakes.Load())
	}
	if frames, _, last := o.take(); len(frames) != 1 || !last {
		t.Fatalf("take = %q, %v", frames, last)
	}

	// Without final frames there is nothing to write: no wake.
	o2, wakes2 := newTestOutbox(10, 100)
	if d, ok := o2.close(); !ok || d != 0 {
		t.Fatalf("close = %d, %v", d, ok)
	}
	if wakes2.Load() != 0 {
		t.Fatal("close without final frames woke a writer")
	}
	if frames, _, last := o2.take(); frames != nil || !last {
		t.Fatalf("take = %q, %v; want nil, true", frames, last)
	}

	// Final frames are not counted against the limits.
	o3, _ := newTestOutbox(1, 1)
	o3.push([]byte("x"), true)
	if d, ok := o3.close(make([]byte, 100), make([]byte, 100)); !ok || d != 1 {
		t.Fatalf("close = %d, %v", d, ok)
	}
	if frames, _, _ := o3.take(); len(frames) != 2 {
		t.Fatalf("final frames over the limits were cut: %d", len(frames))
	}
}

func TestOutboxSeal(t *testing.T) {
	t.Parallel()
	o, _ := newTestOutbox(10, 100)
	o.push([]byte("m1"), true)
	o.push([]byte("m2"), true)
	o.seal()
	if !o.isClosing() {
		t.Fatal("not closing after seal")
	}
	if r := o.push([]byte("m3"), true); r != dropped {
		t.Fatalf("push after seal = %v, want dropped", r)
	}
	frames, msgs, last := o.take()
	if len(frames) != 2 || msgs != 2 || !last {
		t.Fatalf("take after seal = %q, %d, %v; want what was queued, 2, true", frames, msgs, last)
	}
	// A sealed outbox can still be closed once (close does the goodbye).
	if _, ok := o.close(); ok {
		t.Fatal("close after seal reported ok; seal already made it closing")
	}
}

// TestOutboxConcurrent runs producers against the wake-a-writer pattern the
// WebSocket transport uses and checks that at most one writer works at a
// time, nothing is lost and each producer's order is kept. Run with -race.
func TestOutboxConcurrent(t *testing.T) {
	t.Parallel()
	const producers, perProducer = 8, 2000
	var (
		o        outbox
		busy     atomic.Int32
		writers  sync.WaitGroup
		mu       sync.Mutex
		got      = make(map[uint32][]uint32)
		received atomic.Int64
		overlap  atomic.Bool
	)
	writer := func() {
		defer writers.Done()
		for {
			frames, msgs, _ := o.take()
			if frames == nil {
				return
			}
			if busy.Add(1) != 1 {
				overlap.Store(true)
			}
			mu.Lock()
			for _, f := range frames {
				p, seq := binary.BigEndian.Uint32(f), binary.BigEndian.Uint32(f[4:])
				got[p] = append(got[p], seq)
			}
			mu.Unlock()
			received.Add(int64(msgs))
			busy.Add(-1)
		}
	}
	o = outbox{maxFrames: producers * perProducer, maxBytes: 1 << 30, wake: func() {
		writers.Add(1)
		go writer()
	}}

	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range perProducer {
				f := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(p)), uint32(i))
				if r := o.push(f, true); r != pushed {
					t.Errorf("producer %d push %d = %v", p, i, r)
					return
				}
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < producers*perProducer {
		if time.Now().After(deadline) {
			t.Fatalf("writers got %d of %d messages", received.Load(), producers*perProducer)
		}
		time.Sleep(time.Millisecond)
	}
	writers.Wait()
	if overlap.Load() {
		t.Fatal("two writers took frames at the same time")
	}
	for p := range uint32(producers) {
		seqs := got[p]
		if len(seqs) != perProducer {
			t.Fatalf("producer %d: %d frames, want %d", p, len(seqs), perProducer)
		}
		for i, s := range seqs {
			if s != uint32(i) {
				t.Fatalf("producer %d: frame %d has seq %d: order not kept", p, i, s)
			}
		}
	}
}

// TestOutboxConcurrentClose races pushes with close: every push is either
// queued before the close (and then discarded and counted) or dropped.
func TestOutboxConcurrentClose(t *testing.T) {
	t.Parallel()
	for range 50 {
		o, _ := newTestOutbox(1<<20, 1<<30)
		var pushedN, droppedN atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				<-start
				for range 200 {
					switch o.push([]byte("m"), true) {
					case pushed:
						pushedN.Add(1)
					case dropped:
						droppedN.Add(1)
					default:
						t.Error("overflow with room to spare")
					}
				}
			})
		}
		var discarded atomic.Int64
		var closes atomic.Int32
		for range 2 {
			wg.Go(func() {
				<-start
				if d, ok := o.close([]byte("bye")); ok {
					discarded.Store(int64(d))
					closes.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if closes.Load() != 1 {
			t.Fatalf("%d closes reported ok, want exactly 1", closes.Load())
		}
		frames, msgs, last := o.take()
		if len(frames) != 1 || string(frames[0]) != "bye" || msgs != 0 || !last {
			t.Fatalf("after close: take = %q, %d, %v", frames, msgs, last)
		}
		if pushedN.Load()+droppedN.Load() != 800 {
			t.Fatalf("pushed %d + dropped %d != 800", pushedN.Load(), droppedN.Load())
		}
		// Nothing was taken before the close, so it discarded every push.
		if discarded.Load() != pushedN.Load() {
			t.Fatalf("close discarded %d messages, %d were pushed", discarded.Load(), pushedN.Load())
		}
	}
}

// isClosing reports whether close was called.
func (o *outbox) isClosing() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closing
}
