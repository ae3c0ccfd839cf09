package transport

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/hub"
	"github.com/heraldrt/herald/internal/protocol"
)

// benchClient is a subscriber with a real outbox whose writer drains into
// io.Discard: the fan-out path of a WebSocket client without the socket.
type benchClient struct {
	out  outbox
	done *atomic.Int64
	bufs net.Buffers
}

func (c *benchClient) Deliver(m *hub.Message) { c.out.push(m.Bytes(wsFormat), true) }

func (c *benchClient) drain() {
	for {
		frames, msgs, _ := c.out.take()
		if frames == nil {
			return
		}
		c.bufs = frames
		_, _ = c.bufs.WriteTo(io.Discard)
		c.done.Add(int64(msgs))
		c.out.recycle(frames)
	}
}

func benchHub(b *testing.B) *hub.Hub {
	b.Helper()
	var h *hub.Hub
	bs, err := bus.Start(bus.Options{Name: "bench", Prefix: "bench", Handler: func(ch string, data []byte, pos *protocol.Position) { h.Publish(ch, data, pos) }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bs.Close(context.Background()) })
	h = hub.New(bs, nil)
	return h
}

// BenchmarkFanOut10k publishes one message to 10,000 local subscribers of
// a channel and waits until every subscriber's queue is drained.
func BenchmarkFanOut10k(b *testing.B) {
	const subs = 10000
	h := benchHub(b)
	var done atomic.Int64
	for i := 0; i < subs; i++ {
		c := &benchClient{done: &done}
		c.out = outbox{maxFrames: 1024, maxBytes: 1 << 20, wake: func() { go c.drain() }}
		if err := h.Subscribe(context.Background(), "fan", c); err != nil {
			b.Fatal(err)
		}
	}
	data := []byte(`{"t":1732700000000000000,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.Publish("fan", data, nil)
		want := int64(i+1) * subs
		for done.Load() < want {
			time.Sleep(20 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*subs), "ns/delivery")
}

// BenchmarkSubscribeChurn subscribes and unsubscribes on channels that
// already have subscribers, so the registry alone is measured (no NATS
// round trip).
func BenchmarkSubscribeChurn(b *testing.B) {
	const channels = 1000
	h := benchHub(b)
	names := make([]string, channels)
	for i := range names {
		names[i] = fmt.Sprintf("ch.%d", i)
		if err := h.Subscribe(context.Background(), names[i], &benchClient{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := &benchClient{}
		i := 0
		for pb.Next() {
			ch := names[i%channels]
			_ = h.Subscribe(context.Background(), ch, c)
			h.Unsubscribe(ch, c)
			i++
		}
	})
}

// BenchmarkWriterCoalescing queues 64 small frames and writes them with
// one writev on a loopback TCP connection.
func BenchmarkWriterCoalescing(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	frame := wsFrame([]byte(`{"op":"message","channel":"news","data":{"n":1}}`))
	o := outbox{maxFrames: 1024, maxBytes: 1 << 20, wake: func() {}}
	b.ReportAllocs()
	b.SetBytes(int64(64 * len(frame)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := 0; j < 64; j++ {
			o.push(frame, true)
		}
		frames, _, _ := o.take()
		bufs := net.Buffers(frames)
		if _, err := bufs.WriteTo(conn); err != nil {
			b.Fatal(err)
		}
		o.take() // marks the writer idle, as writeLoop does
	}
}
