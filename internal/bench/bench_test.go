package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/heraldtest"
)

// These tests run the generator against real nodes started in this
// process, on real loopback sockets. They check what a run counts and
// reports, never how fast anything is.

// TestMain lets this test binary serve as a worker process: runs with
// Workers start it again with the arguments "bench worker", as they would
// start herald.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "bench" && os.Args[2] == "worker" {
		if err := Worker(context.Background(), os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func nodeConfig(name string, role string) config.Config {
	cfg := heraldtest.Config(name)
	cfg.Role = role
	cfg.DrainTimeout = 100 * time.Millisecond
	cfg.StatsInterval = 0
	return cfg
}

func startNode(t *testing.T, cfg config.Config) string {
	t.Helper()
	return "http://" + heraldtest.StartNode(t, cfg).Addr()
}

// cluster starts two gateways and an api node: the first gateway's
// embedded NATS server listens, the others connect to it.
func cluster(t *testing.T, tune func(*config.Config)) (gateways []string, api string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := ln.Addr().String()
	ln.Close()
	for i, role := range []string{config.RoleGateway, config.RoleGateway, config.RoleAPI} {
		cfg := nodeConfig(fmt.Sprintf("n%d", i+1), role)
		if i == 0 {
			cfg.NATSListen = natsAddr
		} else {
			cfg.NATSURL = "nats://" + natsAddr
		}
		if tune != nil {
			tune(&cfg)
		}
		u := startNode(t, cfg)
		if role == config.RoleGateway {
			gateways = append(gateways, u)
		} else {
			api = u
		}
	}
	return gateways, api
}

// checkReport checks that a report renders as a table holding each of
// want, and as JSON that reads back the same.
func checkReport(t *testing.T, rep *Report, want ...string) {
	t.Helper()
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(table.String(), w) {
			t.Errorf("table does not hold %q:\n%s", w, table.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON %s: %v", js.String(), err)
	}
	if back.Mode != rep.Mode || back.Seconds != rep.Seconds {
		t.Errorf("JSON reads back as %+v", back)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("report:\n%s", table.String())
	}
}

func TestFanoutOverTwoGateways(t *testing.T) {
	t.Parallel()
	gws, api := cluster(t, nil)
	var progress bytes.Buffer
	rep, err := Fanout(context.Background(), Options{
		URLs: gws, API: api, Conns: 200, Channels: 10,
		Rate: 50, Duration: 2 * time.Second, Wait: 5 * time.Second,
		PIDs: []int{os.Getpid()}, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := rep.Fanout
	if rep.Ramp.Connected != 200 || rep.Ramp.Failed != 0 {
		t.Fatalf("ramp %+v", rep.Ramp)
	}
	// 100 messages, each to a channel with 20 subscribers.
	if f.Published != 100 || f.Expected != 2000 || f.Received != 2000 || f.Lost != 0 || f.Latency.Count != 2000 {
		t.Errorf("published %d, expected %d, received %d, lost %d, latencies %d",
			f.Published, f.Expected, f.Received, f.Lost, f.Latency.Count)
	}
	if len(rep.Ended) > 0 || len(f.PublishErrors) > 0 {
		t.Errorf("ended %v, publish errors %v", rep.Ended, f.PublishErrors)
	}
	if len(f.Server) != 1 || f.Server[0].Error != "" || f.GeneratorCPU <= 0 {
		t.Errorf("server CPU %+v, generator %v", f.Server, f.GeneratorCPU)
	}
	if f.Latency.P50 <= 0 || f.Latency.P50 > f.Latency.P99 || f.Latency.P99 > f.Latency.Max {
		t.Errorf("latency %+v", f.Latency)
	}
	checkReport(t, rep, "200 connected, 0 failed", "2000 expected, 2000 received, 0 lost", "latency", "server CPU", "p99.9")
	if !strings.Contains(progress.String(), "ramp: 200 connected") {
		t.Errorf("progress %q", progress.String())
	}
}

// TestFanoutSSEInWorkers splits the connections over two worker
// processes (this test binary, see TestMain) and merges their counts.
func TestFanoutSSEInWorkers(t *testing.T) {
	t.Parallel()
	gws, api := cluster(t, nil)
	rep, err := Fanout(context.Background(), Options{
		URLs: gws, API: api, Transport: SSE, Conns: 60, Channels: 3, Workers: 2, Sources: 2,
		Rate: 20, Duration: time.Second, Wait: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f := rep.Fanout
	if rep.Workers != 2 || rep.Ramp.Connected != 60 || rep.Ramp.Handshake.Count != 60 {
		t.Fatalf("workers %d, ramp %+v", rep.Workers, rep.Ramp)
	}
	if f.Expected != 400 || f.Received != 400 || f.Latency.Count != 400 {
		t.Errorf("expected %d, received %d, latencies %d", f.Expected, f.Received, f.Latency.Count)
	}
	checkReport(t, rep, "60 SSE connections", "in 2 worker processes", "400 expected, 400 received, 0 lost")
}

func TestConnect(t *testing.T) {
	t.Parallel()
	gws, _ := cluster(t, nil)
	rep, err := Connect(context.Background(), Options{URLs: gws, Conns: 200, Channels: 7, Sources: 3, RampRate: 2000})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Ramp
	if r.Connected != 200 || r.Failed != 0 || r.Handshake.Count != 200 || r.PerSecond <= 0 {
		t.Fatalf("ramp %+v", r)
	}
	checkReport(t, rep, "200 connected, 0 failed", "handshake", "p50")
}

// TestConnectWithATokenOnEachTransport: against gateways with tokens on,
// connections with a token that grants the bench channels subscribe on
// WebSocket and SSE; without one, every WebSocket waits for an auth that
// never comes and SSE streams are refused with 401.
func TestConnectWithATokenOnEachTransport(t *testing.T) {
	t.Parallel()
	gws, _ := cluster(t, func(c *config.Config) {
		c.TokenSecret = heraldtest.Secret
		c.AuthTimeout = 300 * time.Millisecond
	})
	tok := heraldtest.Token(t, auth.Claims{Sub: "bench", Subscribe: []string{"bench.>"}})
	for _, transport := range []string{WebSocket, SSE} {
		rep, err := Connect(context.Background(), Options{URLs: gws, Conns: 50, Channels: 5, Transport: transport, Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Ramp.Connected != 50 || rep.Ramp.Failed != 0 {
			t.Fatalf("%s with a token: ramp %+v", transport, rep.Ramp)
		}
	}
	rep, err := Connect(context.Background(), Options{URLs: gws, Conns: 10, Channels: 5, Transport: SSE, HandshakeTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ramp.Connected != 0 || rep.Ramp.Failures["http 401 unauthorized"] != 10 {
		t.Fatalf("SSE without a token: ramp %+v", rep.Ramp)
	}
}

// TestConnectCountsFailures loads a port nobody listens on.
func TestConnectCountsFailures(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rep, err := Connect(context.Background(), Options{URLs: []string{"http://" + addr}, Conns: 20, Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ramp.Connected != 0 || rep.Ramp.Failed != 20 || rep.Ramp.Failures["connection refused"] != 20 {
		t.Fatalf("ramp %+v", rep.Ramp)
	}
	checkReport(t, rep, "0 connected, 20 failed", "connection refused: 20")
}

// TestIdleAnswersPings holds connections past several server pings: a
// client that did not answer them would be cut off with 3005 within ping
// interval + pong timeout (1.2s) of its last frame, well inside the hold.
// The pong timeout leaves a loaded machine (the race detector, parallel
// tests) a second to answer each ping.
func TestIdleAnswersPings(t *testing.T) {
	t.Parallel()
	gws, _ := cluster(t, func(c *config.Config) {
		c.PingInterval = 200 * time.Millisecond
		c.PongTimeout = time.Second
	})
	rep, err := Idle(context.Background(), Options{URLs: gws, Conns: 100, Channels: 5, Hold: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Memory
	if rep.Ramp.Connected != 100 || len(rep.Ended) > 0 {
		t.Fatalf("ramp %+v, ended by server %v", rep.Ramp, rep.Ended)
	}
	if m.Source != "metrics" || len(m.Processes) != 2 || m.Before <= 0 || m.After <= 0 {
		t.Errorf("memory %+v", m)
	}
	var total float64
	for _, n := range m.Nodes {
		if n.Error != "" {
			t.Errorf("node %s: %s", n.URL, n.Error)
		}
		total += n.Connections["websocket"]
	}
	if total != 100 {
		t.Errorf("the gateways count %v WebSocket connections, want 100: %+v", total, m.Nodes)
	}
	checkReport(t, rep, "KiB per connection", "websocket 50")
}

func TestIdleFromProc(t *testing.T) {
	t.Parallel()
	gws, _ := cluster(t, nil)
	rep, err := Idle(context.Background(), Options{URLs: gws[:1], Transport: SSE, Conns: 50, Channels: 5,
		Hold: 100 * time.Millisecond, PIDs: []int{os.Getpid()}})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Memory
	if m.Source != "proc" || len(m.Processes) != 1 || m.Processes[0].Error != "" || m.Before <= 0 {
		t.Errorf("memory %+v", m)
	}
	if len(m.Nodes) != 1 || m.Nodes[0].Connections["sse"] != 50 {
		t.Errorf("nodes %+v", m.Nodes)
	}
	checkReport(t, rep, fmt.Sprintf("memory pid %d", os.Getpid()), "sse 50")
}

func TestPublish(t *testing.T) {
	t.Parallel()
	_, api := cluster(t, nil)
	for _, broadcast := range []int{0, 3} {
		rep, err := Publish(context.Background(), Options{API: api, Duration: 300 * time.Millisecond, Concurrency: 2, Broadcast: broadcast})
		if err != nil {
			t.Fatal(err)
		}
		p := rep.Publish
		if p.OK == 0 || p.OK != p.Requests || len(p.Errors) > 0 || p.Latency.Count != p.Requests {
			t.Fatalf("broadcast %d: %+v", broadcast, p)
		}
		checkReport(t, rep, "requests", " ok")
	}
	// A gateway has no publish API: every request fails, and says why.
	gws, _ := cluster(t, nil)
	rep, err := Publish(context.Background(), Options{API: gws[0], Duration: 100 * time.Millisecond, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Publish.OK != 0 || rep.Publish.Errors["http 404"]+rep.Publish.Errors["http 404 not_found"] == 0 {
		t.Fatalf("publish to a gateway: %+v", rep.Publish)
	}
}

func TestRefusesRemoteTargets(t *testing.T) {
	t.Parallel()
	// Documentation addresses (RFC 5737, 3849): nothing is sent to them,
	// since the run is refused before it dials.
	remote := []string{"http://192.0.2.1:8080", "http://[2001:db8::1]:8080", "198.51.100.7:80"}
	for _, u := range remote {
		if _, err := Connect(context.Background(), Options{URLs: []string{u}, Conns: 1}); !errors.Is(err, ErrRemote) {
			t.Errorf("connect %s: %v, want ErrRemote", u, err)
		}
		if _, err := Publish(context.Background(), Options{API: u}); !errors.Is(err, ErrRemote) {
			t.Errorf("publish %s: %v, want ErrRemote", u, err)
		}
	}
	gws, _ := cluster(t, nil)
	if _, err := Fanout(context.Background(), Options{URLs: gws, API: remote[0], Conns: 1}); !errors.Is(err, ErrRemote) {
		t.Errorf("fanout with a remote API: %v, want ErrRemote", err)
	}
	for _, u := range []string{"http://127.0.0.1:1", "http://127.9.9.9:1", "http://[::1]:1", "http://localhost:1"} {
		if _, err := resolve(context.Background(), u, false); err != nil {
			t.Errorf("%s is loopback, but: %v", u, err)
		}
	}
	if _, err := resolve(context.Background(), remote[0], true); err != nil {
		t.Errorf("allow remote: %v", err)
	}
	if _, err := resolve(context.Background(), "https://127.0.0.1:1", false); !errors.Is(err, ErrOptions) {
		t.Errorf("https: %v, want ErrOptions", err)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{
		{Transport: "longpoll"},
		{Conns: -1},
		{Rate: -5},
		{Sources: 1000},
		{Workers: 1, Conns: 100, MaxPerProcess: 10},
	} {
		if _, err := Connect(context.Background(), o); !errors.Is(err, ErrOptions) {
			t.Errorf("%+v: %v, want ErrOptions", o, err)
		}
	}
}

// TestNoGoroutineLeft runs each mode and checks that every goroutine a run
// starts has ended once it returns. It is not parallel: parallel tests
// wait until it is over, so the count is this test's alone.
func TestNoGoroutineLeft(t *testing.T) {
	gws, api := cluster(t, nil)
	time.Sleep(100 * time.Millisecond) // let the nodes settle
	before := runtime.NumGoroutine()
	if _, err := Fanout(context.Background(), Options{URLs: gws, API: api, Conns: 40, Channels: 4, Rate: 20, Duration: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := Idle(context.Background(), Options{URLs: gws, Transport: SSE, Conns: 40, Hold: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := Publish(context.Background(), Options{API: api, Duration: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before the runs, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
