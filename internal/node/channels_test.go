package node_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/heraldtest"
)

func TestChannelIsolation(t *testing.T) {
	n := heraldtest.StartNode(t, heraldtest.Config("iso"))
	c := heraldtest.DialWS(t, n.Addr(), nil)
	c.Subscribe("a")

	// Neither a deeper nor a sibling subject reaches a subscriber of "a".
	heraldtest.MustPublish(t, n.Addr(), "a.b", `"deeper"`)
	heraldtest.MustPublish(t, n.Addr(), "ab", `"sibling"`)
	heraldtest.MustPublish(t, n.Addr(), "a", `"mine"`)
	f := c.Message(5 * time.Second)
	if f.Channel != "a" || string(f.Data) != `"mine"` {
		t.Fatalf("subscriber of a got %s on %s", f.Data, f.Channel)
	}
}

func TestInvalidChannelNamesRejected(t *testing.T) {
	n := heraldtest.StartNode(t, heraldtest.Config("names"))
	c := heraldtest.DialWS(t, n.Addr(), nil)
	bad := []string{
		"*", ">", "a.*", "a.>", "news.*.x", "$SYS.x", "$JS.API.x", "a$b",
		"a b", "a\tb", "a\nb", "a\x00b", "a\x7fb", ".a", "a.", "a..b", "",
		strings.Repeat("x", 256), "ünïcode",
	}
	for _, name := range bad {
		r := c.Command("subscribe", name, "")
		if r.Error == nil || r.Error.Code != "invalid_channel" {
			t.Errorf("subscribe %q: reply %+v, want invalid_channel", name, r)
		}
		status, body := heraldtest.Publish(t, n.Addr(), "/api/publish", `{"channel":`+jsonString(name)+`,"data":1}`)
		if status != http.StatusBadRequest || !strings.Contains(body, `"invalid_channel"`) {
			t.Errorf("publish to %q: %d %s, want 400 invalid_channel", name, status, body)
		}
	}
	// The longest valid name works.
	c.Subscribe(strings.Repeat("x", 255))
}

func TestInterestFollowsLocalSubscribers(t *testing.T) {
	n := heraldtest.StartNode(t, heraldtest.Config("interest"))
	ns := n.Bus().Server()
	subject := n.Bus().Subject("tick")
	natsInterest := func() int { return ns.GlobalAccount().Interest(subject) }
	if got := natsInterest(); got != 0 {
		t.Fatalf("interest before any subscriber: %d", got)
	}

	a := heraldtest.DialWS(t, n.Addr(), nil)
	b := heraldtest.DialWS(t, n.Addr(), nil)
	a.Subscribe("tick")
	b.Subscribe("tick")
	// Two local subscribers share one NATS subscription.
	if got := natsInterest(); got != 1 {
		t.Fatalf("NATS subscriptions for two local subscribers: %d, want 1", got)
	}
	if got := heraldtest.Metric(t, n.Addr(), "herald_nats_subscriptions"); got != 1 {
		t.Fatalf("herald_nats_subscriptions = %v, want 1", got)
	}

	if r := a.Command("unsubscribe", "tick", ""); r.Error != nil {
		t.Fatalf("unsubscribe: %+v", r.Error)
	}
	if got := natsInterest(); got != 1 {
		t.Fatalf("after one of two left: %d NATS subscriptions, want 1", got)
	}
	// The last one leaves by closing its connection.
	b.Conn.Close()
	heraldtest.Eventually(t, 5*time.Second, "NATS subscription dropped", func() bool {
		return natsInterest() == 0 && heraldtest.Metric(t, n.Addr(), "herald_nats_subscriptions") == 0
	})
	if got := heraldtest.Metric(t, n.Addr(), "herald_subscriptions"); got != 0 {
		t.Fatalf("herald_subscriptions = %v, want 0", got)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
