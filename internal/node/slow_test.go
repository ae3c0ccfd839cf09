package node_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/heraldtest"
)

func TestSlowConsumerIsCutOffOthersUnaffected(t *testing.T) {
	cfg := heraldtest.Config("slow")
	cfg.QueueBytes = 256 << 10
	n := heraldtest.StartNode(t, cfg)

	// The slow client has a tiny receive buffer, so the server's writes
	// back up soon after it stops reading.
	small := func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}
	slow, f, err := heraldtest.Handshake(n.Addr(), heraldtest.Dial{Control: small})
	if err != nil || f.Op != "welcome" {
		t.Fatalf("welcome: %+v %v", f, err)
	}
	slow.Bind(t)
	slow.Subscribe("firehose")

	fast := heraldtest.DialWS(t, n.Addr(), nil)
	fast.Subscribe("firehose")
	// The fast client reads on its own; it must see every message in order.
	var got atomic.Int64
	readErr := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			b, err := fast.Raw(30 * time.Second)
			if err != nil {
				readErr <- err
				return
			}
			var m struct {
				Data struct {
					Seq int `json:"seq"`
				} `json:"data"`
			}
			if err := json.Unmarshal(b, &m); err != nil || m.Data.Seq != i {
				readErr <- fmt.Errorf("message %d: seq %d (%v)", i, m.Data.Seq, err)
				return
			}
			got.Add(1)
		}
	}()

	pad := strings.Repeat("x", 16<<10)
	sent := 0
	for ; sent < 3000 && heraldtest.Metric(t, n.Addr(), "herald_slow_consumer_disconnects_total") == 0; sent++ {
		heraldtest.MustPublish(t, n.Addr(), "firehose", fmt.Sprintf(`{"seq":%d,"pad":"%s"}`, sent, pad))
	}
	if heraldtest.Metric(t, n.Addr(), "herald_slow_consumer_disconnects_total") != 1 {
		t.Fatalf("no slow-consumer disconnect after %d messages", sent)
	}
	// The slow client's subscription is freed without waiting for it.
	heraldtest.Eventually(t, 5*time.Second, "slow client's subscription freed", func() bool {
		return heraldtest.Metric(t, n.Addr(), "herald_subscriptions") == 1
	})
	// More traffic after the cut-off still reaches the fast client.
	for i := 0; i < 20; i++ {
		heraldtest.MustPublish(t, n.Addr(), "firehose", fmt.Sprintf(`{"seq":%d,"pad":"x"}`, sent))
		sent++
	}
	heraldtest.Eventually(t, 10*time.Second, "fast client received everything", func() bool {
		select {
		case err := <-readErr:
			t.Fatalf("fast client after %d messages: %v", got.Load(), err)
		default:
		}
		return got.Load() == int64(sent)
	})

	// When the slow client reads again it finds the disconnect and 3008.
	disc, code := slow.CloseCode(10 * time.Second)
	if code != 3008 {
		t.Fatalf("close code %d, want 3008", code)
	}
	if disc.Code != 3008 || !disc.Reconnect {
		t.Fatalf("disconnect heraldtest.Frame %+v, want code 3008 reconnect true", disc)
	}
}
