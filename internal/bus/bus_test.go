package bus_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/bus"
	"github.com/heraldrt/herald/internal/heraldtest"
	"github.com/heraldrt/herald/internal/protocol"
	"github.com/nats-io/nats.go"
)

type got struct {
	mu   sync.Mutex
	msgs []string
}

// add records ch=data, with @epoch:offset when the message has a position.
func (g *got) add(ch string, data []byte, pos *protocol.Position) {
	s := ch + "=" + string(data)
	if pos != nil {
		s += "@" + pos.Epoch + ":" + strconv.FormatUint(pos.Offset, 10)
	}
	g.mu.Lock()
	g.msgs = append(g.msgs, s)
	g.mu.Unlock()
}

func (g *got) all() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.msgs...)
}

// watchFromNATS watches channel on b, waits until the watch is in
// effect, and returns its handle and a plain NATS connection to b's
// embedded server, as a backend publishing straight to NATS would hold.
func watchFromNATS(t *testing.T, b *bus.Bus, channel string) (any, *nats.Conn) {
	t.Helper()
	h, err := b.Watch(channel)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(b.Server().ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return h, nc
}

func start(t *testing.T, opts bus.Options) *bus.Bus {
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

func TestEmbeddedHasNoListenerByDefault(t *testing.T) {
	b := start(t, bus.Options{Name: "quiet", Prefix: "p", Handler: func(string, []byte, *protocol.Position) {}})
	if !b.Connected() {
		t.Fatal("not connected to the embedded server")
	}
	if addr := b.Server().Addr(); addr != nil {
		t.Fatalf("embedded server listens on %v; it should not without --nats-listen", addr)
	}
}

func TestDeliversJSONAndDropsTheRest(t *testing.T) {
	var g got
	b := start(t, bus.Options{Name: "n", Prefix: "app", Handler: g.add, Listen: "127.0.0.1:0", MaxData: 16})
	// A backend can publish straight to NATS on the channel's subject.
	h, nc := watchFromNATS(t, b, "orders.eu")
	if b.Subject("orders.eu") != "app.ch.orders.eu" {
		t.Fatalf("subject = %s", b.Subject("orders.eu"))
	}
	for _, p := range []string{`{"id":1}`, `not json`, "\"\xff\"", `"seventeen bytes!"`, `[2]`} {
		if err := nc.Publish("app.ch.orders.eu", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	_ = nc.Flush()
	heraldtest.Eventually(t, 5*time.Second, "two valid messages", func() bool { return len(g.all()) == 2 })
	if m := g.all(); m[0] != `orders.eu={"id":1}` || m[1] != `orders.eu=[2]` {
		t.Fatalf("delivered %q", m)
	}
	heraldtest.Eventually(t, 5*time.Second, "invalid counted", func() bool { return b.Stats().Invalid == 3 })

	b.Unwatch(h)
	if err := b.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := b.Server().GlobalAccount().Interest("app.ch.orders.eu"); n != 0 {
		t.Fatalf("interest after Unwatch = %d", n)
	}
}

func TestStartsWhileExternalNATSIsDown(t *testing.T) {
	// Nothing listens on this port: the bus starts and keeps trying, and
	// says so at once (and again now and then), without its password.
	logged := heraldtest.NewLogBuffer()
	b := start(t, bus.Options{
		Name: "n", Prefix: "p", Handler: func(string, []byte, *protocol.Position) {},
		URL: "nats://herald:s3cret@127.0.0.1:1", Logger: slog.New(slog.NewTextHandler(logged, nil)),
	})
	if b.Connected() {
		t.Fatal("connected to nothing")
	}
	if err := b.Publish("x", []byte("1")); err != bus.ErrNotConnected {
		t.Fatalf("Publish while down = %v, want ErrNotConnected", err)
	}
	heraldtest.Eventually(t, 5*time.Second, "a warning that NATS cannot be reached", func() bool {
		return strings.Contains(logged.String(), "cannot reach NATS")
	})
	if out := logged.String(); !strings.Contains(out, "nats://127.0.0.1:1") || strings.Contains(out, "s3cret") {
		t.Errorf("the warning should name the URL without its password:\n%s", out)
	}
}

// TestPositionFromHeaders checks that a message carrying valid history
// headers (as the history streams republish them) reaches the handler
// with its position, and any other message with none.
func TestPositionFromHeaders(t *testing.T) {
	var g got
	b := start(t, bus.Options{Name: "n", Prefix: "app", Handler: g.add, Listen: "127.0.0.1:0"})
	_, nc := watchFromNATS(t, b, "news")
	send := func(data string, hdr map[string]string) {
		t.Helper()
		m := nats.NewMsg("app.ch.news")
		m.Data = []byte(data)
		for k, v := range hdr {
			m.Header.Set(k, v)
		}
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	send(`1`, map[string]string{bus.HeaderEpoch: "k3Xw9QpLzA", bus.HeaderOffset: "7"})
	send(`2`, nil)
	send(`3`, map[string]string{"Other": "x"})
	send(`4`, map[string]string{bus.HeaderEpoch: "bad-epoch", bus.HeaderOffset: "8"})
	send(`5`, map[string]string{bus.HeaderEpoch: "e", bus.HeaderOffset: "0"})
	send(`6`, map[string]string{bus.HeaderEpoch: "e", bus.HeaderOffset: "-1"})
	send(`7`, map[string]string{bus.HeaderOffset: "9"})
	send(`8`, map[string]string{bus.HeaderEpoch: "e", bus.HeaderOffset: "18446744073709551615"})
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"news=1@k3Xw9QpLzA:7", "news=2", "news=3", "news=4", "news=5", "news=6", "news=7",
		"news=8@e:18446744073709551615",
	}
	heraldtest.Eventually(t, 5*time.Second, "eight messages", func() bool { return len(g.all()) == len(want) })
	for i, m := range g.all() {
		if m != want[i] {
			t.Errorf("message %d: %q, want %q", i, m, want[i])
		}
	}
}
