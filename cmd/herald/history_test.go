package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/heraldrt/herald/internal/heraldtest"
	"github.com/heraldrt/herald/internal/history"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A gateway is SIGKILLed while messages are published to a history
// channel, then started again. Its clients resume on the other gateway or
// on the restarted one; every client of both gateways ends with each
// message exactly once, in order.
func TestGatewayKilledDuringPublishing(t *testing.T) {
	const (
		channel   = "news.k"
		messages  = 1500
		killAt    = 500
		restartAt = 800 // G1 stays down for 300 messages
		clients   = 20
		rule      = "news.>=10000,1h"
	)
	start := time.Now()
	natsAddr := heraldtest.FreeAddr(t)
	a := startHerald(t, "A", "--role", "api", "--nats-listen", natsAddr, "--history", rule, "--data-dir", t.TempDir())
	gwArgs := []string{"--role", "gateway", "--nats-url", "nats://" + natsAddr, "--history", rule}
	g1 := startHerald(t, "G1", gwArgs...)
	g2 := startHerald(t, "G2", gwArgs...)
	for _, h := range []*herald{a, g1, g2} {
		h.waitLog(t, "history streams ready", 30*time.Second)
	}
	book := newAddrBook(map[string]string{"A": a.addr, "G1": g1.addr, "G2": g2.addr})

	// Half the clients on each gateway. When G1 dies, half of its clients
	// go to G2 and the others wait for G1 to come back.
	var fs []*follower
	for i := 0; i < clients; i++ {
		f := newFollower(i, channel, "G2")
		if i%2 == 0 {
			f.home = "G1"
			f.away = []string{"G2"}
			if i%4 == 2 {
				f.away = []string{"G1"}
			}
		}
		fs = append(fs, f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	stop := runFollowers(ctx, book, fs)
	defer stop()
	waitSubscribed(t, fs, 15*time.Second)

	marks := map[int]chan struct{}{killAt: make(chan struct{}), restartAt: make(chan struct{})}
	pubDone := make(chan pubResult, 1)
	go func() {
		pubDone <- publishAll(ctx, book, []string{"A"}, channel, messages, 3*time.Millisecond, marks)
	}()

	waitMark(t, ctx, marks, killAt)
	g1.kill()
	waitMark(t, ctx, marks, restartAt)
	restarted := time.Now()
	restartedAt := time.Since(start)
	g1b := startHerald(t, "G1", gwArgs...)
	g1b.waitLog(t, "history streams ready", 30*time.Second)
	book.set("G1", g1b.addr)
	t.Logf("G1 killed at message %d, restarted at message %d (%s into the test), ready after %s", killAt, restartAt, restartedAt.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))

	pub := finishRun(t, ctx, pubDone, fs, stop, messages, func(f *follower) bool { return f.home == "G1" })
	t.Logf("%d messages in %s (%d publish retries, %d duplicates), last %s:%d; %d clients; total %s",
		messages, pub.took.Round(time.Millisecond), pub.retries, pub.dups, pub.epoch, pub.last, len(fs), time.Since(start).Round(time.Millisecond))
}

// Three nodes form an embedded cluster keeping a channel's history with
// three replicas. The node leading the stream is SIGKILLed while messages
// are published to the two others. Every client, including those of the
// dead node (which resume on the others), ends with each message exactly
// once, in order.
func TestClusterR3NodeKilledDuringPublishing(t *testing.T) {
	const (
		channel  = "news.r3"
		messages = 1200
		killAt   = 400
		perNode  = 5
		rule     = "news.>=10000,1h"
	)
	start := time.Now()
	names := []string{"n1", "n2", "n3"}
	natsAddrs := map[string]string{}
	clusterAddrs := map[string]string{}
	dirs := map[string]string{}
	for _, n := range names {
		natsAddrs[n], clusterAddrs[n], dirs[n] = heraldtest.FreeAddr(t), heraldtest.FreeAddr(t), t.TempDir()
	}
	nodes := map[string]*herald{}
	for _, n := range names {
		var routes []string
		for _, o := range names {
			if o != n {
				routes = append(routes, "nats://"+clusterAddrs[o])
			}
		}
		nodes[n] = launchHerald(t, n, 0, "--data-dir", dirs[n], "--cluster-listen", clusterAddrs[n],
			"--cluster-routes", strings.Join(routes, ","), "--nats-listen", natsAddrs[n], "--history", rule)
	}
	for _, n := range names {
		nodes[n].waitReady(t)
	}
	book := newAddrBook(map[string]string{"n1": nodes["n1"].addr, "n2": nodes["n2"].addr, "n3": nodes["n3"].addr})

	nc, err := nats.Connect("nats://"+natsAddrs["n1"]+",nats://"+natsAddrs["n2"], nats.Name("history test"), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream := history.StreamName("herald", "news.>")
	info := waitReplicated(t, js, stream, 45*time.Second)
	t.Logf("stream %s has 3 current replicas after %s, leader %s", stream, time.Since(start).Round(time.Millisecond), info.Cluster.Leader)
	// Kill the stream leader: make n3 lead it.
	leader := makeLeader(t, nc, js, stream, "n3", 20*time.Second)

	var fs []*follower
	for i := 0; i < 3*perNode; i++ {
		home := names[i%3]
		f := newFollower(i, channel, home)
		if home == "n3" {
			f.away = []string{names[(i/3)%2], names[(i/3+1)%2]}
		}
		fs = append(fs, f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	stop := runFollowers(ctx, book, fs)
	defer stop()
	waitSubscribed(t, fs, 15*time.Second)

	marks := map[int]chan struct{}{killAt: make(chan struct{})}
	pubDone := make(chan pubResult, 1)
	go func() {
		pubDone <- publishAll(ctx, book, []string{"n1", "n2"}, channel, messages, 3*time.Millisecond, marks)
	}()
	waitMark(t, ctx, marks, killAt)
	nodes["n3"].kill()
	t.Logf("n3 (stream leader %s) killed at message %d", leader, killAt)

	pub := finishRun(t, ctx, pubDone, fs, stop, messages, func(f *follower) bool { return f.home == "n3" })
	t.Logf("%d messages in %s (%d publish retries, %d duplicates, longest stall %s), last %s:%d; %d clients; live gaps filled from history: n1 %s, n2 %s; total %s",
		messages, pub.took.Round(time.Millisecond), pub.retries, pub.dups, pub.stall.Round(time.Millisecond), pub.epoch, pub.last, len(fs),
		heraldtest.MetricText(nodes["n1"].addr, "herald_history_gaps_total"), heraldtest.MetricText(nodes["n2"].addr, "herald_history_gaps_total"), time.Since(start).Round(time.Millisecond))
}

// A single node keeps history on disk: SIGKILLed and started again on the
// same --data-dir, it continues the channel's epoch and offsets, and a
// client resumes across the restart.
func TestHistorySurvivesNodeRestart(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--history", "news.>=100", "--data-dir", dir}
	h := startHerald(t, "solo", args...)
	post := func(addr string, n int) (string, uint64) {
		t.Helper()
		resp, err := http.Post("http://"+addr+"/api/publish", "application/json", strings.NewReader(fmt.Sprintf(`{"channel":"news.disk","data":{"n":%d}}`, n)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var p struct {
			Epoch  string `json:"epoch"`
			Offset uint64 `json:"offset"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&p); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("publish %d: %d %v", n, resp.StatusCode, err)
		}
		return p.Epoch, p.Offset
	}
	var epoch string
	for i := 1; i <= 5; i++ {
		e, off := post(h.addr, i)
		if off != uint64(i) || (epoch != "" && e != epoch) {
			t.Fatalf("publish %d got %s:%d", i, e, off)
		}
		epoch = e
	}
	h.kill()

	h2 := startHerald(t, "solo", args...)
	if e, off := post(h2.addr, 6); e != epoch || off != 6 {
		t.Fatalf("after the restart the next publish got %s:%d, want %s:6", e, off, epoch)
	}
	c, err := heraldtest.TryDialWS(h2.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Conn.Close()
	sub := fmt.Sprintf(`{"id":1,"op":"subscribe","channel":"news.disk","since":{"epoch":%q,"offset":3}}`, epoch)
	if err := wsutil.WriteClientText(c.Conn, []byte(sub)); err != nil {
		t.Fatal(err)
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []string
	for len(got) < 4 {
		b, err := c.Raw(0)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		var f struct {
			Op        string `json:"op"`
			Recovered *bool  `json:"recovered"`
			Offset    uint64 `json:"offset"`
		}
		_ = json.Unmarshal(b, &f)
		switch f.Op {
		case "reply":
			if f.Recovered == nil || !*f.Recovered || f.Offset != 6 {
				t.Fatalf("resume reply %s, want recovered at 6", b)
			}
			got = append(got, "reply")
		case "message":
			got = append(got, fmt.Sprint(f.Offset))
		}
	}
	if strings.Join(got, " ") != "reply 4 5 6" {
		t.Fatalf("got %v, want the reply then 4 5 6", got)
	}
}
