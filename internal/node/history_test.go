package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/heraldtest"
	"github.com/heraldrt/herald/internal/history"
	"github.com/heraldrt/herald/internal/node"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// historyRules are the --history rules of the history tests.
var historyRules = []string{"news.>=1000,1h", "small.>=20"}

func historyConfig(t testing.TB, name string) config.Config {
	cfg := heraldtest.Config(name)
	cfg.History = historyRules
	cfg.DataDir = t.TempDir()
	return cfg
}

// historyPair starts node 1 with an embedded NATS (and JetStream) that
// listens, and node 2 joined to it with --nats-url; both keep history.
func historyPair(t *testing.T) (n1, n2 *node.Node) {
	t.Helper()
	c1 := historyConfig(t, "h1")
	c1.NATSListen = "127.0.0.1:0"
	n1 = heraldtest.StartNode(t, c1)
	c2 := historyConfig(t, "h2")
	c2.NATSURL = n1.Bus().Server().ClientURL()
	n2 = heraldtest.StartNode(t, c2)
	waitHistory(t, n1)
	return n1, n2
}

// waitHistory waits until a node can publish to a history channel.
func waitHistory(t testing.TB, n *node.Node) {
	t.Helper()
	heraldtest.Eventually(t, 20*time.Second, "history streams ready", func() bool {
		status, _ := heraldtest.Publish(t, n.Addr(), "/api/publish", `{"channel":"news.warmup","data":0}`)
		return status == http.StatusOK
	})
}

// position is a publish's answer.
type position struct {
	Epoch     string `json:"epoch"`
	Offset    uint64 `json:"offset"`
	Duplicate bool   `json:"duplicate"`
}

// publishPos publishes data to channel and returns its position.
func publishPos(t testing.TB, addr, channel, data, key string) position {
	t.Helper()
	body := `{"channel":"` + channel + `","data":` + data
	if key != "" {
		body += `,"idempotency_key":"` + key + `"`
	}
	status, answer := heraldtest.Publish(t, addr, "/api/publish", body+"}")
	if status != http.StatusOK {
		t.Fatalf("publish to %s: %d %s", channel, status, answer)
	}
	var p position
	if err := json.Unmarshal([]byte(answer), &p); err != nil || p.Epoch == "" || p.Offset == 0 {
		t.Fatalf("publish to %s answered %q, want a position", channel, answer)
	}
	return p
}

// publishRange publishes {"n":i} for i in from..to and checks that each
// gets offset i of one epoch.
func publishRange(t testing.TB, addr, channel string, from, to uint64) string {
	t.Helper()
	var epoch string
	for i := from; i <= to; i++ {
		p := publishPos(t, addr, channel, fmt.Sprintf(`{"n":%d}`, i), "")
		if p.Offset != i || (epoch != "" && p.Epoch != epoch) {
			t.Fatalf("publish %d to %s got position %+v (epoch so far %q)", i, channel, p, epoch)
		}
		epoch = p.Epoch
	}
	return epoch
}

// n reads {"n":N} from a message's data.
func n(t testing.TB, data []byte) uint64 {
	t.Helper()
	var v struct {
		N uint64 `json:"n"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("data %q: %v", data, err)
	}
	return v.N
}

// expectWS reads messages from..to of channel, in order, each with its
// offset, epoch and data.
func expectWS(t testing.TB, c *heraldtest.WS, channel, epoch string, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		m := c.Message(5 * time.Second)
		if m.Channel != channel || m.Epoch != epoch || m.Offset != i || n(t, m.Data) != i {
			t.Fatalf("message %d: got channel %s epoch %s offset %d data %s", i, m.Channel, m.Epoch, m.Offset, m.Data)
		}
	}
}

func recovered(f heraldtest.Frame) string {
	if f.Recovered == nil {
		return "absent"
	}
	return strconv.FormatBool(*f.Recovered)
}

// A client of node 1 goes away; 500 messages are published; it comes back
// on node 2 with its position and gets exactly those 500, in order, then
// live messages — over each transport.
func TestResumeOnAnotherNode(t *testing.T) {
	n1, n2 := historyPair(t)

	t.Run("websocket", func(t *testing.T) {
		const ch = "news.ws"
		c1 := heraldtest.DialWS(t, n1.Addr(), nil)
		r := c1.Command("subscribe", ch, "")
		if r.Error != nil || r.Epoch != "" || r.Offset != 0 || r.Recovered != nil {
			t.Fatalf("first subscribe reply = %+v, want epoch \"\" offset 0 and no recovered", r)
		}
		epoch := publishRange(t, n1.Addr(), ch, 1, 3)
		expectWS(t, c1, ch, epoch, 1, 3)
		c1.Conn.Close()

		publishRange(t, n2.Addr(), ch, 4, 503)

		c2 := heraldtest.DialWS(t, n2.Addr(), nil)
		r = c2.SubscribeSince(ch, fmt.Sprintf(`{"epoch":%q,"offset":3}`, epoch))
		if recovered(r) != "true" || r.Epoch != epoch || r.Offset != 503 {
			t.Fatalf("resume reply = %+v (recovered %s), want recovered at %s:503", r, recovered(r), epoch)
		}
		expectWS(t, c2, ch, epoch, 4, 503)
		publishRange(t, n1.Addr(), ch, 504, 508)
		expectWS(t, c2, ch, epoch, 504, 508)
	})

	t.Run("sse", func(t *testing.T) {
		const ch = "news.sse"
		s1 := heraldtest.OpenSSE(t, n1.Addr(), ch)
		if s1.Welcome.ID != ":0" {
			t.Fatalf("welcome id = %q, want :0", s1.Welcome.ID)
		}
		epoch := publishRange(t, n1.Addr(), ch, 1, 3)
		var last string
		for i := uint64(1); i <= 3; i++ {
			ev := s1.Next(t, 5*time.Second)
			if want := fmt.Sprintf("%s:%d", epoch, i); ev.Event != "message" || ev.ID != want {
				t.Fatalf("event %d = %+v, want a message with id %s", i, ev, want)
			}
			last = ev.ID
		}
		s1.Close()

		publishRange(t, n2.Addr(), ch, 4, 503)

		s2 := heraldtest.OpenSSEFrom(t, n2.Addr(), last, ch)
		if s2.Welcome.ID != last {
			t.Fatalf("resumed welcome id = %q, want %q", s2.Welcome.ID, last)
		}
		ev := s2.Next(t, 5*time.Second)
		var rec struct {
			Channel   string `json:"channel"`
			Recovered bool   `json:"recovered"`
			Epoch     string `json:"epoch"`
			Offset    uint64 `json:"offset"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &rec); err != nil || ev.Event != "recovery" || !rec.Recovered || rec.Offset != 503 || rec.Epoch != epoch || ev.ID != last {
			t.Fatalf("first event after resume = %+v, want recovery true at 503 with id %s", ev, last)
		}
		expectSSE := func(from, to uint64) {
			t.Helper()
			for i := from; i <= to; i++ {
				ev := s2.Next(t, 5*time.Second)
				var m heraldtest.Frame
				if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf("%s:%d", epoch, i); ev.Event != "message" || ev.ID != want || m.Offset != i || n(t, m.Data) != i {
					t.Fatalf("event %d = %+v, want message with id %s", i, ev, want)
				}
			}
		}
		expectSSE(4, 503)
		publishRange(t, n1.Addr(), ch, 504, 506)
		expectSSE(504, 506)
	})

	t.Run("longpoll", func(t *testing.T) {
		const ch = "news.poll"
		status, first, body := heraldtest.Poll(t, n1.Addr(), "channel="+ch+"&timeout=0s")
		if status != http.StatusOK || first.Cursor != ":0" {
			t.Fatalf("first poll = %d %s, want cursor :0", status, body)
		}
		epoch := publishRange(t, n1.Addr(), ch, 1, 3)
		var got []uint64
		cursor := first.Cursor
		for len(got) < 3 {
			status, pr, body := heraldtest.Poll(t, n1.Addr(), "session="+first.Session+"&timeout=5s")
			if status != http.StatusOK {
				t.Fatalf("poll = %d %s", status, body)
			}
			for _, m := range pr.Messages {
				got = append(got, m.Offset)
			}
			cursor = pr.Cursor
		}
		if want := epoch + ":3"; cursor != want || fmt.Sprint(got) != "[1 2 3]" {
			t.Fatalf("polled offsets %v, cursor %q; want [1 2 3] and %s", got, cursor, want)
		}

		publishRange(t, n2.Addr(), ch, 4, 503)

		// A new session on the other node, from the cursor.
		status, pr, body := heraldtest.Poll(t, n2.Addr(), "channel="+ch+"&cursor="+cursor+"&timeout=0s")
		if status != http.StatusOK || len(pr.Messages) != 501 {
			t.Fatalf("resumed poll = %d with %d items, want 501: %.300s", status, len(pr.Messages), body)
		}
		if r := pr.Messages[0]; r.Recovered == nil || !*r.Recovered || r.Offset != 503 || r.Data != nil {
			t.Fatalf("first item = %+v, want a recovery item, recovered at 503", r)
		}
		for i, m := range pr.Messages[1:] {
			if want := uint64(i) + 4; m.Offset != want || m.Epoch != epoch || n(t, m.Data) != want {
				t.Fatalf("item %d = %+v, want offset %d", i+1, m, want)
			}
		}
		if want := epoch + ":503"; pr.Cursor != want {
			t.Fatalf("cursor = %q, want %s", pr.Cursor, want)
		}
		publishRange(t, n1.Addr(), ch, 504, 505)
		var live []uint64
		for len(live) < 2 {
			status, next, body := heraldtest.Poll(t, n2.Addr(), "session="+pr.Session+"&timeout=5s")
			if status != http.StatusOK {
				t.Fatalf("poll = %d %s", status, body)
			}
			for _, m := range next.Messages {
				live = append(live, m.Offset)
			}
		}
		if fmt.Sprint(live) != "[504 505]" {
			t.Fatalf("live offsets %v, want [504 505]", live)
		}
	})
}

// A publish retried with the same idempotency key is stored and delivered
// once, and both answers name the same position.
func TestIdempotentPublish(t *testing.T) {
	n1, n2 := historyPair(t)
	const ch = "news.idem"
	c := heraldtest.DialWS(t, n2.Addr(), nil)
	c.Subscribe(ch)

	a := publishPos(t, n1.Addr(), ch, `{"n":1}`, "order-17")
	b := publishPos(t, n2.Addr(), ch, `{"n":1}`, "order-17")
	if a.Duplicate || !b.Duplicate || a.Epoch != b.Epoch || a.Offset != b.Offset || a.Offset != 1 {
		t.Fatalf("first %+v, retry %+v: want one position, the retry marked duplicate", a, b)
	}
	next := publishPos(t, n1.Addr(), ch, `{"n":2}`, "order-18")
	if next.Offset != 2 || next.Duplicate {
		t.Fatalf("a new key got %+v, want offset 2", next)
	}
	expectWS(t, c, ch, a.Epoch, 1, 2) // offset 1 once, then 2

	// A key on a channel without history is refused.
	status, body := heraldtest.Publish(t, n1.Addr(), "/api/publish", `{"channel":"plain","data":1,"idempotency_key":"k"}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "history") {
		t.Fatalf("key on a plain channel: %d %s", status, body)
	}
}

// Deleting or purging a channel's history starts a new epoch: live
// subscribers are told (reset), resuming clients get recovered:false.
func TestResetHistoryChangesEpoch(t *testing.T) {
	n1, _ := historyPair(t)
	const ch = "news.reset"
	live := heraldtest.DialWS(t, n1.Addr(), nil)
	live.Subscribe(ch)
	old := publishRange(t, n1.Addr(), ch, 1, 5)
	expectWS(t, live, ch, old, 1, 5)

	js, err := n1.Bus().JetStream()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.Stream(ctx, history.StreamName("herald", "news.>"))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSubject("herald.hist."+history.RuleID("news.>")+"."+ch)); err != nil {
		t.Fatal(err)
	}

	p := publishPos(t, n1.Addr(), ch, `{"n":1}`, "")
	if p.Epoch == old || p.Offset != 1 {
		t.Fatalf("after a purge the next publish got %+v, want offset 1 of a new epoch", p)
	}
	notice, err := live.Next(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if notice.Op != "recovery" || recovered(notice) != "false" || notice.Reason != "reset" || notice.Epoch != p.Epoch || notice.Offset != 0 {
		t.Fatalf("live subscriber got %+v, want a reset notice for epoch %s", notice, p.Epoch)
	}
	expectWS(t, live, ch, p.Epoch, 1, 1)

	c := heraldtest.DialWS(t, n1.Addr(), nil)
	r := c.SubscribeSince(ch, fmt.Sprintf(`{"epoch":%q,"offset":5}`, old))
	if recovered(r) != "false" || r.Reason != "epoch_changed" || r.Epoch != p.Epoch || r.Offset != 1 {
		t.Fatalf("resume in the old epoch: %+v (recovered %s), want recovered:false epoch_changed at %s:1", r, recovered(r), p.Epoch)
	}

	// Deleting the whole stream: the node makes it again on the next
	// heraldtest.Publish, in a new epoch.
	if err := js.DeleteStream(ctx, history.StreamName("herald", "news.>")); err != nil {
		t.Fatal(err)
	}
	q := publishPos(t, n1.Addr(), ch, `{"n":1}`, "")
	if q.Epoch == p.Epoch || q.Offset != 1 {
		t.Fatalf("after deleting the stream the next publish got %+v, want offset 1 of a new epoch", q)
	}
}

// A node whose NATS connection drops misses live messages; once back, it
// fetches them from history and its clients get every offset, in order,
// without waiting for another publish.
func TestLiveGapIsFilledAfterReconnect(t *testing.T) {
	n1, n2 := historyPair(t)
	const ch = "news.gap"
	c := heraldtest.DialWS(t, n2.Addr(), nil)
	c.Subscribe(ch)
	epoch := publishRange(t, n1.Addr(), ch, 1, 3)
	expectWS(t, c, ch, epoch, 1, 3)

	ns := n1.Bus().Server()
	connz, err := ns.Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kicked := false
	for _, ci := range connz.Conns {
		if ci.Name == "herald:h2" {
			kicked = ns.DisconnectClientByID(ci.Cid) == nil
		}
	}
	if !kicked {
		t.Fatal("node 2's NATS connection not found")
	}
	heraldtest.Eventually(t, 5*time.Second, "node 2 to lose NATS", func() bool { return !n2.Bus().Connected() })
	publishRange(t, n1.Addr(), ch, 4, 10)
	if n2.Bus().Connected() {
		t.Fatal("node 2 reconnected before the messages were published; the test proves nothing")
	}
	expectWS(t, c, ch, epoch, 4, 10)
	if found, lost := heraldtest.Metric(t, n2.Addr(), "herald_history_gaps_total"), heraldtest.Metric(t, n2.Addr(), "herald_history_gaps_lost_total"); found < 1 || lost != 0 {
		t.Fatalf("gaps found %v, lost %v; want at least one found, none lost", found, lost)
	}
	publishRange(t, n1.Addr(), ch, 11, 12)
	expectWS(t, c, ch, epoch, 11, 12)
}

// rewind replays the last N messages on a first subscribe.
func TestSubscribeRewind(t *testing.T) {
	n1, _ := historyPair(t)
	const ch = "news.rewind"
	epoch := publishRange(t, n1.Addr(), ch, 1, 10)
	c := heraldtest.DialWS(t, n1.Addr(), nil)
	r := c.SubscribeSince(ch, `{"rewind":3}`)
	if recovered(r) != "true" || r.Epoch != epoch || r.Offset != 10 {
		t.Fatalf("rewind reply = %+v", r)
	}
	expectWS(t, c, ch, epoch, 8, 10)
	publishRange(t, n1.Addr(), ch, 11, 11)
	expectWS(t, c, ch, epoch, 11, 11)

	// More than the channel holds: all of it.
	c2 := heraldtest.DialWS(t, n1.Addr(), nil)
	if r := c2.SubscribeSince(ch, `{"rewind":500}`); recovered(r) != "true" || r.Offset != 11 {
		t.Fatalf("rewind 500 reply = %+v", r)
	}
	expectWS(t, c2, ch, epoch, 1, 11)
}

// Resuming further back than history keeps, or further than a replay may
// hold, says recovered:false and starts live delivery.
func TestResumeBeyondHistory(t *testing.T) {
	n1, _ := historyPair(t)
	const ch = "small.c" // keeps 20 messages
	epoch := publishRange(t, n1.Addr(), ch, 1, 30)
	c := heraldtest.DialWS(t, n1.Addr(), nil)
	r := c.SubscribeSince(ch, fmt.Sprintf(`{"epoch":%q,"offset":5}`, epoch))
	if recovered(r) != "false" || r.Reason != "expired" || r.Offset != 30 {
		t.Fatalf("resume from 5 of 30 with 20 kept: %+v (recovered %s), want expired at 30", r, recovered(r))
	}
	publishRange(t, n1.Addr(), ch, 31, 31)
	expectWS(t, c, ch, epoch, 31, 31)

	c2 := heraldtest.DialWS(t, n1.Addr(), nil)
	r = c2.SubscribeSince(ch, fmt.Sprintf(`{"epoch":%q,"offset":11}`, epoch))
	if recovered(r) != "true" || r.Offset != 31 {
		t.Fatalf("resume from 11: %+v", r)
	}
	expectWS(t, c2, ch, epoch, 12, 31)

	// A channel without history cannot be resumed.
	c3 := heraldtest.DialWS(t, n1.Addr(), nil)
	if r := c3.SubscribeSince("plain", `{"epoch":"x","offset":1}`); recovered(r) != "false" || r.Reason != "no_history" {
		t.Fatalf("resume of a plain channel: %+v", r)
	}

	for name, want := range map[string]float64{
		`herald_history_resumes_total{outcome="expired"}`:    1,
		`herald_history_resumes_total{outcome="recovered"}`:  1,
		`herald_history_resumes_total{outcome="no_history"}`: 1,
		`herald_history_replayed_total`:                      20,
	} {
		if got := heraldtest.Metric(t, n1.Addr(), name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// TestResumeAheadOfHistory resumes, on every transport, from a position
// past the newest message ever stored (a client's bug, or a forged
// cursor): the client is told recovered:false, ahead_of_history, at the
// channel's position, and gets the next live message. Before, it was told
// recovered:true and then got nothing until offsets caught up with it.
func TestResumeAheadOfHistory(t *testing.T) {
	n1, _ := historyPair(t)
	const ch = "news.ahead"
	epoch := publishRange(t, n1.Addr(), ch, 1, 5)
	ahead := fmt.Sprintf("%s:50", epoch)

	c := heraldtest.DialWS(t, n1.Addr(), nil)
	r := c.SubscribeSince(ch, fmt.Sprintf(`{"epoch":%q,"offset":50}`, epoch))
	if recovered(r) != "false" || r.Reason != "ahead_of_history" || r.Epoch != epoch || r.Offset != 5 {
		t.Fatalf("WebSocket resume from %s: %+v, want recovered:false, ahead_of_history at 5", ahead, r)
	}
	sse := heraldtest.OpenSSEFrom(t, n1.Addr(), ahead, ch)
	if ev := sse.Next(t, 5*time.Second); ev.Event != "recovery" || !strings.Contains(ev.Data, `"recovered":false,"reason":"ahead_of_history"`) || ev.ID != epoch+":5" {
		t.Fatalf("SSE resume from %s: %+v, want a recovery event, ahead_of_history", ahead, ev)
	}
	_, first, body := heraldtest.Poll(t, n1.Addr(), "channel="+ch+"&cursor="+ahead+"&timeout=0s")
	if len(first.Messages) != 1 || recovered(heraldtest.Frame{Recovered: first.Messages[0].Recovered}) != "false" || first.Messages[0].Reason != "ahead_of_history" || first.Cursor != epoch+":5" {
		t.Fatalf("long-poll resume from %s: %s, want a recovery item, ahead_of_history, and cursor %s:5", ahead, body, epoch)
	}

	publishRange(t, n1.Addr(), ch, 6, 6)
	expectWS(t, c, ch, epoch, 6, 6)
	if ev := sse.Next(t, 5*time.Second); ev.Event != "message" || ev.ID != epoch+":6" {
		t.Fatalf("SSE after the resume: %+v, want message 6", ev)
	}
	_, next, body := heraldtest.Poll(t, n1.Addr(), "session="+first.Session+"&timeout=5s")
	if len(next.Messages) != 1 || next.Messages[0].Offset != 6 {
		t.Fatalf("long poll after the resume: %s, want message 6", body)
	}
	if got := heraldtest.Metric(t, n1.Addr(), `herald_history_resumes_total{outcome="ahead_of_history"}`); got != 3 {
		t.Errorf("ahead_of_history resumes counted %v, want 3", got)
	}
}

// History reads: the API and the WebSocket history command. Clients read
// the past of the channels matching --client-history only, on every path:
// the history command, and resuming over each transport.
func TestHistoryRead(t *testing.T) {
	c1 := historyConfig(t, "read")
	c1.ClientHistory = []string{"news.public.>"}
	n1 := heraldtest.StartNode(t, c1)
	waitHistory(t, n1)
	epoch := publishRange(t, n1.Addr(), "news.public.a", 1, 8)
	publishRange(t, n1.Addr(), "news.private", 1, 2)

	resp, err := http.Get("http://" + n1.Addr() + "/api/history?channel=news.public.a&limit=3&since=2")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Channel  string             `json:"channel"`
		Epoch    string             `json:"epoch"`
		Offset   uint64             `json:"offset"`
		Messages []heraldtest.Frame `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("history: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if h.Epoch != epoch || h.Offset != 8 || len(h.Messages) != 3 || h.Messages[0].Offset != 3 || h.Messages[2].Offset != 5 || n(t, h.Messages[2].Data) != 5 {
		t.Fatalf("history since 2 limit 3 = %+v", h)
	}
	for _, bad := range []struct {
		query  string
		status int
	}{
		{"channel=plain", http.StatusNotFound},
		{"channel=news.public.a&limit=0", http.StatusBadRequest},
		{"channel=news.public.a&since=x", http.StatusBadRequest},
		{"channel=bad..name", http.StatusBadRequest},
	} {
		resp, err := http.Get("http://" + n1.Addr() + "/api/history?" + bad.query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != bad.status {
			t.Errorf("history?%s = %d, want %d", bad.query, resp.StatusCode, bad.status)
		}
	}

	c := heraldtest.DialWS(t, n1.Addr(), nil)
	c.NextID++
	c.SendText(fmt.Sprintf(`{"id":%d,"op":"history","channel":"news.public.a","limit":2}`, c.NextID))
	r := c.ReplyTo(c.NextID)
	if r.Error != nil || r.Epoch != epoch || r.Offset != 8 || len(r.Messages) != 2 {
		t.Fatalf("history command = %+v", r)
	}
	var last heraldtest.Frame
	if err := json.Unmarshal(r.Messages[1], &last); err != nil || last.Offset != 8 {
		t.Fatalf("last message %s", r.Messages[1])
	}
	historyCmd := func(ch string) heraldtest.Frame {
		c.NextID++
		c.SendText(fmt.Sprintf(`{"id":%d,"op":"history","channel":%q}`, c.NextID, ch))
		return c.ReplyTo(c.NextID)
	}
	if r := historyCmd("news.public.unsubscribed"); r.Error != nil {
		t.Fatalf("history of a --client-history channel not subscribed: %+v", r)
	}
	if r := historyCmd("news.private"); r.Error == nil || r.Error.Code != "forbidden" {
		t.Fatalf("history of a channel outside --client-history: %+v", r)
	}
	c.Subscribe("news.private")
	if r := historyCmd("news.private"); r.Error == nil || r.Error.Code != "forbidden" {
		t.Fatalf("history of a subscribed channel outside --client-history: %+v", r)
	}
	c.Subscribe("plain")
	if r := historyCmd("plain"); r.Error == nil || r.Error.Code != "forbidden" {
		t.Fatalf("history of a plain channel outside --client-history: %+v", r)
	}

	// Resuming reads the past too: the subscription is made, live from
	// now, and the client is told it was not recovered, and why.
	private := epochOf(t, n1.Addr(), "news.private")
	for i, since := range []string{fmt.Sprintf(`{"epoch":%q,"offset":0}`, private), `{"epoch":"","offset":0}`, `{"rewind":2}`} {
		c2 := heraldtest.DialWS(t, n1.Addr(), nil)
		r := c2.SubscribeSince("news.private", since)
		if top := uint64(2 + i); recovered(r) != "false" || r.Reason != "forbidden" || r.Offset != top {
			t.Fatalf("subscribe since %s: %+v, want recovered:false, forbidden, at %d", since, r, top)
		}
		publishRange(t, n1.Addr(), "news.private", r.Offset+1, r.Offset+1)
		expectWS(t, c2, "news.private", private, r.Offset+1, r.Offset+1)
	}
	sse := heraldtest.OpenSSEFrom(t, n1.Addr(), ":0", "news.private")
	if ev := sse.Next(t, 5*time.Second); ev.Event != "recovery" || !strings.Contains(ev.Data, `"recovered":false,"reason":"forbidden"`) {
		t.Fatalf("SSE from :0: %+v, want a recovery event, forbidden", ev)
	}
	_, first, body := heraldtest.Poll(t, n1.Addr(), "channel=news.private&cursor=:0&timeout=0s")
	if len(first.Messages) != 1 || first.Messages[0].Reason != "forbidden" || first.Messages[0].Data != nil {
		t.Fatalf("long-poll from :0: %s, want one recovery item, forbidden", body)
	}
	if got := heraldtest.Metric(t, n1.Addr(), `herald_history_resumes_total{outcome="forbidden"}`); got != 5 {
		t.Errorf("forbidden resumes counted %v, want 5", got)
	}
}

// epochOf returns a channel's epoch, from the history API.
func epochOf(t *testing.T, addr, channel string) string {
	t.Helper()
	status, body := heraldtest.Get(t, "http://"+addr+"/api/history?channel="+channel+"&limit=1")
	var h struct {
		Epoch string `json:"epoch"`
	}
	if status != http.StatusOK || json.Unmarshal([]byte(body), &h) != nil || h.Epoch == "" {
		t.Fatalf("history of %s: %d %s", channel, status, body)
	}
	return h.Epoch
}

// Cursors: ?last_event_id= resumes like the header; a cursor that does not
// parse or does not fit the channels is refused before the stream starts.
func TestCursorParameters(t *testing.T) {
	n1, _ := historyPair(t)
	epoch := publishRange(t, n1.Addr(), "news.cur", 1, 4)

	s := heraldtest.OpenSSEQuery(t, n1.Addr(), "channel=news.cur&channel=plain&last_event_id="+epoch+":2,-", nil)
	if ev := s.Welcome; ev.ID != epoch+":2,-" {
		t.Fatalf("welcome = %+v, want id %s:2,-", ev, epoch)
	}
	if ev := s.Next(t, 5*time.Second); ev.Event != "recovery" || ev.ID != epoch+":2,-" {
		t.Fatalf("second event = %+v, want recovery", ev)
	}
	for i := uint64(3); i <= 4; i++ {
		if ev := s.Next(t, 5*time.Second); ev.ID != fmt.Sprintf("%s:%d,-", epoch, i) {
			t.Fatalf("event %d = %+v", i, ev)
		}
	}

	for _, bad := range []string{
		"/sse?channel=news.cur&last_event_id=" + epoch + ":1,-",                 // two positions, one channel
		"/sse?channel=news.cur&last_event_id=nope",                              // not epoch:offset
		"/poll?channel=news.cur&cursor=" + epoch + ":x",                         // bad offset
		"/poll?channel=news.cur&channel=plain&cursor=" + epoch + ":1",           // one position, two channels
		"/poll?session=abc.def&cursor=" + epoch + ":1",                          // a session keeps its own
		"/sse?channel=news.cur&last_event_id=" + strings.Repeat("a", 40) + ":1", // epoch too long
	} {
		resp, err := http.Get("http://" + n1.Addr() + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", bad, resp.StatusCode)
		}
	}
}

// A history reply never overflows the client's queue: with large messages
// it holds fewer, and the connection stays.
func TestHistoryReplyFitsTheQueue(t *testing.T) {
	cfg := historyConfig(t, "fit")
	cfg.MaxMessageBytes = 4096
	cfg.QueueBytes = 16 << 10
	n1 := heraldtest.StartNode(t, cfg)
	waitHistory(t, n1)
	big := `"` + strings.Repeat("x", 2000) + `"`
	for range 20 {
		publishPos(t, n1.Addr(), "news.big", big, "")
	}
	c := heraldtest.DialWS(t, n1.Addr(), nil)
	c.Subscribe("news.big")
	c.NextID++
	c.SendText(fmt.Sprintf(`{"id":%d,"op":"history","channel":"news.big","limit":20}`, c.NextID))
	r := c.ReplyTo(c.NextID)
	if r.Error != nil || len(r.Messages) == 0 || len(r.Messages) >= 20 {
		t.Fatalf("history of 20 messages of 2 KB with a 16 KiB queue: %d messages, error %v", len(r.Messages), r.Error)
	}
	var last heraldtest.Frame
	if err := json.Unmarshal(r.Messages[len(r.Messages)-1], &last); err != nil || last.Offset != 20 {
		t.Fatalf("without since the newest come back; the last is %d", last.Offset)
	}
	if r := c.Command("ping", "", ""); r.Error != nil {
		t.Fatalf("connection after the reply: %+v", r)
	}
}

// A broadcast answers one position per history channel; with a key, a
// retry is stored once per channel.
func TestBroadcastPositions(t *testing.T) {
	n1, _ := historyPair(t)
	c := heraldtest.DialWS(t, n1.Addr(), nil)
	c.Subscribe("news.b1")
	body := `{"channels":["news.b1","news.b2","plain","news.b1"],"data":{"n":1},"idempotency_key":"b-1"}`
	status, answer := heraldtest.Publish(t, n1.Addr(), "/api/broadcast", body)
	if status != http.StatusBadRequest {
		t.Fatalf("a key with a plain channel in the broadcast: %d %s, want 400", status, answer)
	}
	body = `{"channels":["news.b1","news.b2","plain","news.b1"],"data":{"n":1}}`
	var got struct {
		Positions map[string]position `json:"positions"`
	}
	status, answer = heraldtest.Publish(t, n1.Addr(), "/api/broadcast", body)
	if err := json.Unmarshal([]byte(answer), &got); err != nil || status != http.StatusOK {
		t.Fatalf("broadcast: %d %s", status, answer)
	}
	b1, b2 := got.Positions["news.b1"], got.Positions["news.b2"]
	if len(got.Positions) != 2 || b1.Offset != 1 || b2.Offset != 1 || b1.Epoch == "" || b1.Epoch == b2.Epoch {
		t.Fatalf("positions %+v: want news.b1 and news.b2 at offset 1, each in its own epoch, and no plain", got.Positions)
	}
	keyed := `{"channels":["news.b1","news.b2"],"data":{"n":2},"idempotency_key":"b-2"}`
	for i := range 2 {
		status, answer = heraldtest.Publish(t, n1.Addr(), "/api/broadcast", keyed)
		got.Positions = nil
		if err := json.Unmarshal([]byte(answer), &got); err != nil || status != http.StatusOK {
			t.Fatalf("keyed broadcast %d: %d %s", i, status, answer)
		}
		if p := got.Positions["news.b1"]; p.Offset != 2 || p.Duplicate != (i == 1) {
			t.Fatalf("keyed broadcast %d: news.b1 at %+v", i, p)
		}
	}
	expectWS(t, c, "news.b1", b1.Epoch, 1, 2) // each once
	if r := c.Command("ping", "", ""); r.Error != nil || len(c.Kept()) != 0 {
		t.Fatalf("more frames than expected: %+v", c.Kept())
	}
}

// A client's own publish to a history channel is stored and numbered like
// any other.
func TestClientPublishToHistoryChannel(t *testing.T) {
	cfg := historyConfig(t, "clientpub")
	cfg.ClientPublish = []string{"news.chat"}
	n1 := heraldtest.StartNode(t, cfg)
	waitHistory(t, n1)
	reader := heraldtest.DialWS(t, n1.Addr(), nil)
	reader.Subscribe("news.chat")
	writer := heraldtest.DialWS(t, n1.Addr(), nil)
	for i := 1; i <= 3; i++ {
		if r := writer.Command("publish", "news.chat", fmt.Sprintf(`{"n":%d}`, i)); r.Error != nil {
			t.Fatalf("publish %d: %+v", i, r.Error)
		}
	}
	first := reader.Message(5 * time.Second)
	if first.Offset != 1 || first.Epoch == "" {
		t.Fatalf("first message %+v, want offset 1 with an epoch", first)
	}
	expectWS(t, reader, "news.chat", first.Epoch, 2, 3)
	top, _, err := recentOf(n1.Addr(), "news.chat")
	if err != nil || top != 3 {
		t.Fatalf("history holds up to %d (%v), want 3", top, err)
	}
}

// recentOf reads a channel's newest offset and message count through the
// history API.
func recentOf(addr, channel string) (uint64, int, error) {
	resp, err := http.Get("http://" + addr + "/api/history?channel=" + channel)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var h struct {
		Offset   uint64            `json:"offset"`
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return 0, 0, err
	}
	return h.Offset, len(h.Messages), nil
}
