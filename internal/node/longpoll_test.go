package node_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestLongPollKeepsMessagesBetweenPollsOnAnyNode(t *testing.T) {
	gw1, gw2, apiNode := threeNodes(t)

	status, first, body := poll(t, gw1.Addr(), "channel=feed&timeout=0s")
	if status != http.StatusOK || first.Session == "" || len(first.Messages) != 0 {
		t.Fatalf("first poll: %d %s", status, body)
	}
	session := first.Session

	for round, target := range []struct {
		name string
		addr string
	}{{"owner node", gw1.Addr()}, {"other node", gw2.Addr()}} {
		before := metric(t, gw1.Addr(), "herald_messages_received_total")
		for i := 0; i < 20; i++ {
			mustPublish(t, apiNode.Addr(), "feed", fmt.Sprintf(`{"round":%d,"i":%d}`, round, i))
		}
		// All 20 reach the session's node before the client polls again.
		eventually(t, 5*time.Second, "messages at the owner node", func() bool {
			return metric(t, gw1.Addr(), "herald_messages_received_total") == before+20
		})
		status, got, body := poll(t, target.addr, "session="+session+"&timeout=5s")
		if status != http.StatusOK {
			t.Fatalf("%s: poll: %d %s", target.name, status, body)
		}
		if got.Session != session {
			t.Fatalf("%s: session %q, want %q", target.name, got.Session, session)
		}
		if len(got.Messages) != 20 {
			t.Fatalf("%s: %d messages, want 20: %s", target.name, len(got.Messages), body)
		}
		for i, m := range got.Messages {
			want := fmt.Sprintf(`{"round":%d,"i":%d}`, round, i)
			if m.Channel != "feed" || string(m.Data) != want {
				t.Fatalf("%s: message %d = %s on %q, want %s", target.name, i, m.Data, m.Channel, want)
			}
		}
	}
}

func TestLongPollWaitsForAMessage(t *testing.T) {
	n := startNode(t, testConfig("wait"))
	_, first, _ := poll(t, n.Addr(), "channel=later&timeout=0s")
	done := make(chan pollResponse, 1)
	go func() {
		_, r, _ := poll(t, n.Addr(), "session="+first.Session+"&timeout=20s")
		done <- r
	}()
	// The poll is held open until the message arrives, not until timeout.
	mustPublish(t, n.Addr(), "later", `"now"`)
	select {
	case r := <-done:
		if len(r.Messages) != 1 || string(r.Messages[0].Data) != `"now"` {
			t.Fatalf("poll: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("poll did not return when the message arrived (its timeout is 20s)")
	}
}

func TestLongPollSessionExpires(t *testing.T) {
	cfg := testConfig("ttl")
	cfg.PollSessionTTL = 200 * time.Millisecond
	n := startNode(t, cfg)
	_, first, _ := poll(t, n.Addr(), "channel=gone&timeout=0s")
	eventually(t, 5*time.Second, "session expiry", func() bool {
		return metric(t, n.Addr(), `herald_connections{transport="longpoll"}`) == 0 &&
			metric(t, n.Addr(), "herald_subscriptions") == 0
	})
	status, r, body := poll(t, n.Addr(), "session="+first.Session)
	if status != http.StatusGone || r.Error == nil || r.Error.Code != "session_expired" {
		t.Fatalf("poll of an expired session: %d %s", status, body)
	}
}

func TestLongPollSessionOverflow(t *testing.T) {
	cfg := testConfig("overflow")
	cfg.PollBuffer = 5
	n := startNode(t, cfg)
	_, first, _ := poll(t, n.Addr(), "channel=burst&timeout=0s")
	for i := 0; i < 6; i++ {
		mustPublish(t, n.Addr(), "burst", fmt.Sprint(i))
	}
	eventually(t, 5*time.Second, "overflow", func() bool {
		return metric(t, n.Addr(), "herald_slow_consumer_disconnects_total") == 1
	})
	status, r, body := poll(t, n.Addr(), "session="+first.Session)
	if status != http.StatusGone || r.Error == nil || r.Error.Code != "session_overflow" {
		t.Fatalf("poll after overflow: %d %s", status, body)
	}
}
