package node_test

import (
	"fmt"
	"testing"

	"github.com/heraldrt/herald/internal/heraldtest"
)

// benchmarkResume measures a client resuming a channel over WebSocket:
// connect, subscribe with its position, and read the missed messages.
// The channel holds 1000 messages; the node keeps the last 128 in memory.
func benchmarkResume(b *testing.B, missed uint64) {
	cfg := historyConfig(b, "bench")
	n := heraldtest.StartNode(b, cfg)
	waitHistory(b, n)
	const ch = "news.bench"
	epoch := publishRange(b, n.Addr(), ch, 1, 1000)
	// One live subscriber keeps the channel (and its ring) on the node.
	keep := heraldtest.DialWS(b, n.Addr(), nil)
	keep.Subscribe(ch)
	since := fmt.Sprintf(`{"epoch":%q,"offset":%d}`, epoch, 1000-missed)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c := heraldtest.DialWS(b, n.Addr(), nil)
		if r := c.SubscribeSince(ch, since); recovered(r) != "true" {
			b.Fatalf("resume: %+v", r)
		}
		expectWS(b, c, ch, epoch, 1000-missed+1, 1000)
		c.Conn.Close()
	}
}

// 100 missed: served from the node's memory.
func BenchmarkResume100FromMemory(b *testing.B) { benchmarkResume(b, 100) }

// 900 missed: read from JetStream.
func BenchmarkResume900FromJetStream(b *testing.B) { benchmarkResume(b, 900) }
