package main_test

// Helpers of the history process tests: processes, a publisher, clients
// that follow a channel and check every frame.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
	"github.com/heraldrt/herald/internal/heraldtest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// herald is a `herald serve` process and its log.
type herald struct {
	name  string
	cmd   *exec.Cmd
	addr  string // HTTP address
	eof   chan struct{}
	once  sync.Once
	mu    sync.Mutex
	lines []string
}

// startHerald starts `herald serve` named name and waits until it is ready
// (NATS connected). It is killed when the test ends; its warnings and
// errors are logged if the test failed, and a data race it reports fails
// the test.
func startHerald(t *testing.T, name string, args ...string) *herald {
	t.Helper()
	h := launchHerald(t, name, 0, args...)
	h.waitReady(t)
	return h
}

// startHeraldWithFiles is startHerald with the process's open-files limit
// set to files (soft and hard).
func startHeraldWithFiles(t *testing.T, name string, files int, args ...string) *herald {
	t.Helper()
	h := launchHerald(t, name, files, args...)
	h.waitReady(t)
	return h
}

// launchHerald starts `herald serve` like startHerald, but returns once it
// listens, ready or not: the nodes of an embedded cluster are ready only
// together, once their JetStream has formed. files, when not 0, sets the
// process's open-files limit.
func launchHerald(t *testing.T, name string, files int, args ...string) *herald {
	t.Helper()
	all := append([]string{"serve", "--name", name, "--listen", "127.0.0.1:0", "--log-format", "json", "--drain-timeout", "200ms"}, args...)
	cmd := exec.Command(binary, all...)
	if files > 0 {
		// The shell lowers its own limit, then becomes herald (same pid).
		cmd = exec.Command("sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, files), binary}, all...)...)
	}
	h := &herald{name: name, cmd: cmd, eof: make(chan struct{})}
	stderr, err := h.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(h.eof)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			h.mu.Lock()
			h.lines = append(h.lines, line)
			h.mu.Unlock()
			var l struct {
				Msg    string `json:"msg"`
				Listen string `json:"listen"`
			}
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "herald node started" && l.Listen != "" {
				addr <- l.Listen
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		h.kill()
		h.mu.Lock()
		defer h.mu.Unlock()
		var race []string
		for i, l := range h.lines {
			if strings.Contains(l, "WARNING: DATA RACE") {
				race = h.lines[i:min(len(h.lines), i+80)]
				break
			}
		}
		if race != nil {
			t.Errorf("%s reported a data race:\n%s", name, strings.Join(race, "\n"))
		}
		if t.Failed() {
			var notable []string
			for _, l := range h.lines {
				var e struct {
					Level string `json:"level"`
				}
				if json.Unmarshal([]byte(l), &e) != nil || e.Level == "WARN" || e.Level == "ERROR" {
					notable = append(notable, l)
				}
			}
			if len(notable) > 60 {
				notable = append([]string{fmt.Sprintf("(%d earlier lines left out)", len(notable)-60)}, notable[len(notable)-60:]...)
			}
			t.Logf("%s (pid %d) warnings and errors:\n%s", name, h.cmd.Process.Pid, strings.Join(notable, "\n"))
		}
	})
	select {
	case h.addr = <-addr:
	case <-h.eof:
		t.Fatalf("%s exited at start:\n%s", name, h.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not log its address:\n%s", name, h.log())
	}
	return h
}

// waitReady waits until the node says it is ready: NATS connected and, with
// history, its streams working.
func (h *herald) waitReady(t *testing.T) {
	t.Helper()
	heraldtest.Eventually(t, 45*time.Second, h.name+" ready", func() bool {
		resp, err := http.Get("http://" + h.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// kill SIGKILLs the process and waits for it to end.
func (h *herald) kill() {
	h.once.Do(func() {
		_ = h.cmd.Process.Kill()
		select {
		case <-h.eof:
		case <-time.After(10 * time.Second):
		}
		_ = h.cmd.Wait()
	})
}

func (h *herald) log() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.lines, "\n")
}

// waitLog waits until the process logs a line with message msg.
func (h *herald) waitLog(t *testing.T, msg string, within time.Duration) {
	t.Helper()
	h.waitLogContaining(t, `"msg":"`+msg+`"`, within)
}

// waitLogContaining waits until the process logs a line holding text.
func (h *herald) waitLogContaining(t *testing.T, text string, within time.Duration) {
	t.Helper()
	heraldtest.Eventually(t, within, h.name+" logging "+text, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, l := range h.lines {
			if strings.Contains(l, text) {
				return true
			}
		}
		return false
	})
}

// addrBook maps node names to their current HTTP addresses.
type addrBook struct {
	mu    sync.Mutex
	addrs map[string]string
}

func newAddrBook(m map[string]string) *addrBook { return &addrBook{addrs: m} }

func (b *addrBook) get(name string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addrs[name]
}

func (b *addrBook) set(name, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addrs[name] = addr
}

// pubResult is what the publisher saw.
type pubResult struct {
	epoch   string
	last    uint64
	retries int
	dups    int
	stall   time.Duration // longest time one message took to publish
	took    time.Duration
	errs    []string
}

// publishAll publishes {"n":i} for i in 1..count to channel through the
// publish API of the nodes named, in turn, one every `every` at most, each
// with idempotency key "k-i", retrying a failed publish (on the next node)
// until it succeeds. It closes marks[i] once message i is stored.
func publishAll(ctx context.Context, book *addrBook, via []string, channel string, count int, every time.Duration, marks map[int]chan struct{}) pubResult {
	var r pubResult
	client := &http.Client{Timeout: 15 * time.Second}
	tick := time.NewTicker(every)
	defer tick.Stop()
	begin := time.Now()
	fail := func(format string, args ...any) {
		if len(r.errs) < 20 {
			r.errs = append(r.errs, fmt.Sprintf(format, args...))
		}
	}
	for i := 1; i <= count; i++ {
		body := fmt.Sprintf(`{"channel":%q,"data":{"n":%d},"idempotency_key":"k-%d"}`, channel, i, i)
		first := time.Now()
		for attempt := 0; ; attempt++ {
			if ctx.Err() != nil {
				fail("gave up on message %d: %v", i, ctx.Err())
				r.took = time.Since(begin)
				return r
			}
			if attempt > 0 {
				r.retries++
				select {
				case <-ctx.Done():
					continue
				case <-time.After(20 * time.Millisecond):
				}
			}
			node := via[(i+attempt)%len(via)]
			resp, err := client.Post("http://"+book.get(node)+"/api/publish", "application/json", strings.NewReader(body))
			if err != nil {
				continue
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				if resp.StatusCode != http.StatusServiceUnavailable {
					fail("publish %d to %s: %d %s", i, node, resp.StatusCode, answer)
				}
				continue
			}
			var p struct {
				Epoch     string `json:"epoch"`
				Offset    uint64 `json:"offset"`
				Duplicate bool   `json:"duplicate"`
			}
			if err := json.Unmarshal(answer, &p); err != nil || p.Epoch == "" {
				fail("publish %d to %s answered %s", i, node, answer)
				continue
			}
			if p.Duplicate {
				r.dups++
			}
			if r.epoch == "" {
				r.epoch = p.Epoch
			}
			if p.Epoch != r.epoch || p.Offset != uint64(i) {
				fail("publish %d (attempt %d, %s) got position %s:%d, want %s:%d", i, attempt+1, node, p.Epoch, p.Offset, r.epoch, i)
			}
			r.last = p.Offset
			break
		}
		r.stall = max(r.stall, time.Since(first))
		if m, ok := marks[i]; ok {
			close(m)
		}
		if i < count {
			select {
			case <-tick.C:
			case <-ctx.Done():
			}
		}
	}
	r.took = time.Since(begin)
	return r
}

// waitMark waits until the publisher has stored message i.
func waitMark(t *testing.T, ctx context.Context, marks map[int]chan struct{}, i int) {
	t.Helper()
	select {
	case <-marks[i]:
	case <-ctx.Done():
		t.Fatalf("the publisher did not reach message %d", i)
	}
}

func checkPublisher(t *testing.T, pub pubResult, count int) {
	t.Helper()
	if len(pub.errs) > 0 || pub.last != uint64(count) {
		t.Fatalf("publisher ended at offset %d of %d:\n%s", pub.last, count, strings.Join(pub.errs, "\n"))
	}
}

// follower is a WebSocket client subscribed to one history channel. It
// checks every frame against the contract, and when its connection is
// lost it reconnects and resumes from the position it has.
type follower struct {
	id      int
	channel string
	home    string   // the node it first connects to
	away    []string // the nodes it reconnects to, in turn

	subscribed chan struct{} // closed at the first subscribe reply
	born       time.Time
	dialed     time.Time
	at         atomic.Uint64 // its offset, for the test to watch

	// Read after its goroutine ends.
	epoch    string
	last     uint64
	received int
	nextID   uint64
	drops    int      // connections lost
	resumes  []string // each resume and its outcome
	notices  []string // each recovered:false, from a reply or a notice
	errs     []string
}

func newFollower(id int, channel, home string) *follower {
	return &follower{id: id, channel: channel, home: home, subscribed: make(chan struct{}), born: time.Now()}
}

func (f *follower) String() string {
	return fmt.Sprintf("client %d (home %s)", f.id, f.home)
}

func (f *follower) fail(format string, args ...any) {
	if len(f.errs) < 20 {
		f.errs = append(f.errs, fmt.Sprintf(format, args...))
	}
}

// runFollowers runs each follower until ctx ends or stop is called;
// stop returns once all have ended.
func runFollowers(ctx context.Context, book *addrBook, fs []*follower) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.run(ctx, book)
		}()
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

func (f *follower) run(ctx context.Context, book *addrBook) {
	node := f.home
	for attempt := 0; ctx.Err() == nil; attempt++ {
		c, err := heraldtest.TryDialWS(book.get(node), nil)
		if err == nil {
			f.dialed = time.Now()
			if !f.session(ctx, c, node) {
				return
			}
			f.drops++
			attempt = 0
		}
		if len(f.away) > 0 {
			node = f.away[(f.drops+attempt)%len(f.away)]
		}
		if err != nil { // the node is down or not back yet: try again soon
			select {
			case <-ctx.Done():
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
}

// session subscribes (resuming after the first time) and reads frames
// until the connection ends. It reports whether the connection was lost
// (rather than closed because the test is over).
func (f *follower) session(ctx context.Context, c *heraldtest.WS, node string) (lost bool) {
	defer c.Conn.Close()
	defer context.AfterFunc(ctx, func() { c.Conn.Close() })()
	f.nextID++
	id := f.nextID
	resumed := id > 1
	cmd := fmt.Sprintf(`{"id":%d,"op":"subscribe","channel":%q`, id, f.channel)
	if resumed {
		cmd += fmt.Sprintf(`,"since":{"epoch":%q,"offset":%d}`, f.epoch, f.last)
	}
	if err := wsutil.WriteClientText(c.Conn, []byte(cmd+"}")); err != nil {
		return ctx.Err() == nil
	}
	replied := false
	for {
		b, err := c.Raw(0)
		if err != nil {
			return ctx.Err() == nil
		}
		var fr heraldtest.Frame
		if err := json.Unmarshal(b, &fr); err != nil {
			f.fail("on %s: frame %s: %v", node, b, err)
			continue
		}
		switch fr.Op {
		case "reply":
			if fr.ID != id || replied {
				f.fail("on %s: unexpected reply %s", node, b)
				continue
			}
			replied = true
			if !f.reply(node, fr, resumed, b) {
				return true // try again
			}
		case "message":
			if !replied {
				f.fail("on %s: message before the subscribe reply: %s", node, b)
			}
			f.message(node, fr, b)
		case "recovery":
			if fr.Channel != f.channel || fr.Recovered == nil {
				f.fail("on %s: bad recovery notice %s", node, b)
				continue
			}
			if !*fr.Recovered {
				f.notices = append(f.notices, fmt.Sprintf("on %s at %s:%d: notice %s", node, f.epoch, f.last, b))
			}
			f.epoch, f.last = fr.Epoch, fr.Offset
			f.at.Store(f.last)
		case "disconnect":
		default:
			f.fail("on %s: unexpected frame %s", node, b)
		}
	}
}

// reply checks a subscribe reply; false when the subscribe failed.
func (f *follower) reply(node string, fr heraldtest.Frame, resumed bool, raw []byte) bool {
	if fr.Error != nil {
		f.fail("on %s: subscribe failed: %s", node, raw)
		return false
	}
	if !resumed {
		if fr.Recovered != nil {
			f.fail("on %s: first subscribe reply %s has recovered", node, raw)
		}
		f.epoch, f.last = fr.Epoch, fr.Offset
		f.at.Store(f.last)
		close(f.subscribed)
		return true
	}
	f.resumes = append(f.resumes, fmt.Sprintf("dialed at %s, reply at %s on %s since %s:%d: %s", f.dialed.Sub(f.born).Round(time.Millisecond), time.Since(f.born).Round(time.Millisecond), node, f.epoch, f.last, raw))
	switch {
	case fr.Recovered == nil:
		f.fail("on %s: resume reply %s has no recovered", node, raw)
	case !*fr.Recovered:
		f.notices = append(f.notices, fmt.Sprintf("on %s at %s:%d: reply %s", node, f.epoch, f.last, raw))
		f.epoch, f.last = fr.Epoch, fr.Offset
		f.at.Store(f.last)
	case fr.Epoch != f.epoch && f.epoch != "" || fr.Offset < f.last:
		f.fail("on %s: resumed from %s:%d, reply %s", node, f.epoch, f.last, raw)
	}
	return true
}

// message checks that a message follows the last one: the next offset
// of the same epoch (any epoch for the first message), with {"n":offset}.
func (f *follower) message(node string, fr heraldtest.Frame, raw []byte) {
	var d struct {
		N uint64 `json:"n"`
	}
	_ = json.Unmarshal(fr.Data, &d)
	sameEpoch := fr.Epoch == f.epoch || f.epoch == "" && f.last == 0
	if fr.Channel != f.channel || !sameEpoch || fr.Offset != f.last+1 || d.N != fr.Offset {
		f.fail("on %s: after %s:%d got %s", node, f.epoch, f.last, raw)
	}
	f.epoch, f.last = fr.Epoch, fr.Offset
	f.received++
	f.at.Store(f.last)
}

func waitSubscribed(t *testing.T, fs []*follower, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for _, f := range fs {
		select {
		case <-f.subscribed:
		case <-timeout:
			t.Fatalf("%s did not subscribe within %s", f, within)
		}
	}
}

// waitCaughtUp waits until every follower is at offset last.
func waitCaughtUp(t *testing.T, fs []*follower, last uint64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var behind []string
		for _, f := range fs {
			if at := f.at.Load(); at != last {
				behind = append(behind, fmt.Sprintf("%s at %d", f, at))
			}
		}
		if len(behind) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s, clients not at offset %d: %s", within, last, strings.Join(behind, ", "))
			return
		}
		<-tick.C
	}
}

// checkFollowers checks each follower's record once they have ended:
// every message once and in order, no recovered:false, all at the last
// offset of the publisher's epoch; those for which moved says so lost
// their connection at least once, the others never.
func checkFollowers(t *testing.T, fs []*follower, pub pubResult, moved func(*follower) bool) {
	t.Helper()
	for _, f := range fs {
		for _, e := range f.errs {
			t.Errorf("%s: %s", f, e)
		}
		for _, n := range f.notices {
			t.Errorf("%s was told recovered:false: %s", f, n)
		}
		if f.epoch != pub.epoch || f.last != pub.last {
			t.Errorf("%s ended at %s:%d, want %s:%d", f, f.epoch, f.last, pub.epoch, pub.last)
		}
		switch {
		case moved(f) && f.drops == 0:
			t.Errorf("%s never lost its connection", f)
		case !moved(f) && f.drops > 0:
			t.Errorf("%s lost its connection %d times", f, f.drops)
		}
		if t.Failed() || testing.Verbose() && moved(f) {
			t.Logf("%s: %d messages, %d drops; resumes: %s", f, f.received, f.drops, strings.Join(f.resumes, "; "))
		}
	}
}

// waitReplicated waits until stream has three replicas, a leader and
// both followers current. The nodes only ever raise a stream's replicas:
// seeing them go down fails the test.
func waitReplicated(t *testing.T, js jetstream.JetStream, stream string, within time.Duration) *jetstream.StreamInfo {
	t.Helper()
	var info *jetstream.StreamInfo
	var last string
	var seen []int // replica counts, as they changed
	defer func() {
		for i := 1; i < len(seen); i++ {
			if seen[i] < seen[i-1] {
				t.Errorf("stream %s went from %d replicas down to %d (replica counts seen: %v)", stream, seen[i-1], seen[i], seen)
				return
			}
		}
		t.Logf("stream %s replica counts seen: %v", stream, seen)
	}()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := js.Stream(ctx, stream)
		if err == nil {
			info, err = s.Info(ctx)
		}
		cancel()
		if err == nil && (len(seen) == 0 || seen[len(seen)-1] != info.Config.Replicas) {
			seen = append(seen, info.Config.Replicas)
		}
		switch {
		case err != nil:
			last = err.Error()
		case info.Cluster == nil:
			last = fmt.Sprintf("%d replicas, no cluster info", info.Config.Replicas)
		default:
			current := 0
			for _, p := range info.Cluster.Replicas {
				if p.Current {
					current++
				}
			}
			last = fmt.Sprintf("%d replicas, leader %q, %d of %d followers current", info.Config.Replicas, info.Cluster.Leader, current, len(info.Cluster.Replicas))
			if info.Config.Replicas == 3 && info.Cluster.Leader != "" && len(info.Cluster.Replicas) == 2 && current == 2 {
				return info
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s not replicated within %s: %s", stream, within, last)
		}
		<-tick.C
	}
}

// makeLeader makes the node named node lead stream (JetStream server
// names are the node name, '-', and an id) and returns its server name.
func makeLeader(t *testing.T, nc *nats.Conn, js jetstream.JetStream, stream, node string, within time.Duration) string {
	t.Helper()
	var leader string
	heraldtest.Eventually(t, within, node+" leading "+stream, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		if err != nil || info.Cluster == nil || info.Cluster.Leader == "" {
			return false
		}
		if strings.HasPrefix(info.Cluster.Leader, node+"-") {
			current := 0
			for _, p := range info.Cluster.Replicas {
				if p.Current {
					current++
				}
			}
			leader = info.Cluster.Leader
			return current == 2
		}
		var want string
		for _, p := range info.Cluster.Replicas {
			if strings.HasPrefix(p.Name, node+"-") {
				want = p.Name
			}
		}
		if want == "" {
			return false
		}
		req, _ := json.Marshal(map[string]any{"placement": map[string]string{"preferred": want}})
		resp, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, req, 2*time.Second)
		if err != nil && !errors.Is(err, nats.ErrTimeout) {
			t.Logf("step down: %v", err)
		} else if err == nil && bytes.Contains(resp.Data, []byte(`"error"`)) {
			t.Logf("step down: %s", resp.Data)
		}
		return false
	})
	return leader
}

// finishRun waits for the publisher and checks it, waits until every
// client has the last message, stops the clients and checks what each
// got; moved tells the clients that had to move to another node.
func finishRun(t *testing.T, ctx context.Context, pubDone <-chan pubResult, fs []*follower, stop func(), messages int, moved func(*follower) bool) pubResult {
	t.Helper()
	var pub pubResult
	select {
	case pub = <-pubDone:
	case <-ctx.Done():
		t.Fatal("the publisher did not finish")
	}
	checkPublisher(t, pub, messages)
	waitCaughtUp(t, fs, pub.last, 20*time.Second)
	stop()
	checkFollowers(t, fs, pub, moved)
	return pub
}
