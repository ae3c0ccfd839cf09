package transport

import (
	"testing"

	"github.com/heraldrt/herald/internal/config"
)

// TestRoomForAReplay checks what a resuming client's queue is said to
// have room for: the hub replays when the missed messages' data fits in
// Room.Bytes and their count in Room.Messages.
func TestRoomForAReplay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		queueBytes int
		maxMsg     int
	}{
		{"defaults", config.Default().QueueBytes, config.Default().MaxMessageBytes},
		// A small queue, still large enough for a message of the largest
		// size (Validate accepts it): a client that missed one small
		// message must be able to get it back.
		{"small queue", 64 << 10, 4 << 10},
	}
	for _, tt := range tests {
		cfg := config.Default()
		cfg.QueueBytes, cfg.MaxMessageBytes = tt.queueBytes, tt.maxMsg
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		s := &Server{cfg: &cfg}
		out, _ := newTestOutbox(cfg.QueueMessages, cfg.QueueBytes)
		r := s.room(out, "news")
		if r.Messages < 1 || r.Messages > cfg.HistoryMaxReplay || r.Messages > cfg.QueueMessages {
			t.Errorf("%s: room for %d messages in an empty queue of %d (max replay %d)", tt.name, r.Messages, cfg.QueueMessages, cfg.HistoryMaxReplay)
		}
		if r.Bytes < tt.maxMsg || r.Bytes > cfg.QueueBytes {
			t.Errorf("%s: room for %d bytes in an empty queue of %d: not even one message of %d bytes can be replayed", tt.name, r.Bytes, cfg.QueueBytes, tt.maxMsg)
		}
	}

	// A queue that is full has room for nothing.
	cfg := config.Default()
	s := &Server{cfg: &cfg}
	out, _ := newTestOutbox(4, 1<<20)
	for i := 0; i < 4; i++ {
		out.push([]byte("x"), true)
	}
	if r := s.room(out, "news"); r.Messages != 0 {
		t.Errorf("full queue: room for %d messages", r.Messages)
	}
}
