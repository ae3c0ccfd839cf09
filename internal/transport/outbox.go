package transport

import "sync"

// outbox is a client's bounded outbound queue. Producers (the hub, the
// client's own command handling) push frames without blocking; a single
// writer takes them in batches. Frames are shared and never modified.
type outbox struct {
	mu      sync.Mutex
	frames  [][]byte
	msgs    int // how many of frames are published messages
	size    int // bytes in frames
	active  bool
	closing bool
	spare   [][]byte // a drained batch's array, reused by the next batch

	maxFrames int
	maxBytes  int
	wake      func() // called, without the lock, when a push finds no writer active
}

// pushResult says what happened to a pushed frame.
type pushResult int

const (
	pushed   pushResult = iota
	dropped             // the outbox is closing; the frame is discarded
	overflow            // the frame does not fit; the client is too slow
)

// push queues a frame. isMsg marks published messages, which are counted
// as deliveries once written.
func (o *outbox) push(frame []byte, isMsg bool) pushResult {
	o.mu.Lock()
	if o.closing {
		o.mu.Unlock()
		return dropped
	}
	if len(o.frames) >= o.maxFrames || o.size+len(frame) > o.maxBytes {
		o.mu.Unlock()
		return overflow
	}
	o.frames = append(o.frames, frame)
	o.size += len(frame)
	if isMsg {
		o.msgs++
	}
	start := !o.active
	o.active = true
	o.mu.Unlock()
	if start {
		o.wake()
	}
	return pushed
}

// close discards what is queued, queues the final frames, and makes every
// later push a drop. It reports false if the outbox was already closing,
// and otherwise how many queued messages were discarded.
func (o *outbox) close(final ...[]byte) (discarded int, ok bool) {
	o.mu.Lock()
	if o.closing {
		o.mu.Unlock()
		return 0, false
	}
	o.closing = true
	discarded = o.msgs
	o.frames = append(o.frames[:0:0], final...)
	o.msgs, o.size = 0, 0
	start := !o.active && len(final) > 0
	o.active = o.active || start
	o.mu.Unlock()
	if start {
		o.wake()
	}
	return discarded, true
}

// take hands the writer everything queued. With nothing queued it returns
// nil frames and the writer must stop: the next push wakes a new one. last
// is true when the outbox is closing: these are the final frames, and the
// writer ends the connection after writing them.
func (o *outbox) take() (frames [][]byte, msgs int, last bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.frames) == 0 {
		if !o.closing {
			o.active = false
		}
		return nil, 0, o.closing
	}
	frames, msgs = o.frames, o.msgs
	o.frames, o.msgs, o.size = o.spare, 0, 0
	o.spare = nil
	return frames, msgs, o.closing
}

// maxSpare bounds the batch array an outbox keeps between batches, so that
// an idle client holds little.
const maxSpare = 16

// recycle hands back a written batch's array for reuse.
func (o *outbox) recycle(frames [][]byte) {
	if cap(frames) > maxSpare {
		return
	}
	clear(frames)
	o.mu.Lock()
	if o.spare == nil && !o.closing {
		o.spare = frames[:0]
	}
	o.mu.Unlock()
}

// seal makes every later push a drop but keeps what is queued, so that a
// long-poll session's last poll still returns it.
func (o *outbox) seal() {
	o.mu.Lock()
	o.closing = true
	o.mu.Unlock()
}

// room returns how many more frames and bytes the outbox takes now.
func (o *outbox) room() (frames, bytes int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.maxFrames - len(o.frames), o.maxBytes - o.size
}
