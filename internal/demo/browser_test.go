package demo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gobwas/ws"
	"github.com/heraldrt/herald/internal/demo"
	"github.com/heraldrt/herald/internal/heraldtest"
)

// These tests drive the demo in a real headless Chromium (Debian's
// chromium package; scripts/test.sh installs it). Set
// HERALD_SKIP_BROWSER=1 to skip them on a machine without it.

func chromiumPath(t *testing.T) string {
	t.Helper()
	if os.Getenv("HERALD_SKIP_BROWSER") != "" {
		t.Skip("HERALD_SKIP_BROWSER is set")
	}
	for _, p := range []string{os.Getenv("HERALD_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("no Chromium found: install Debian's chromium package (scripts/test.sh does), set HERALD_CHROMIUM, or HERALD_SKIP_BROWSER=1")
	return ""
}

// browser starts a headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

func startDemo(t *testing.T) *demo.Demo {
	t.Helper()
	return startDemoWith(t, demo.Options{})
}

// startDemoWith starts a demo with o; by default with a short drain.
func startDemoWith(t *testing.T, o demo.Options) *demo.Demo {
	t.Helper()
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 200 * time.Millisecond
	}
	d, err := demo.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = d.Stop(ctx)
	})
	return d
}

// page runs JavaScript in the tab and decodes its value.
func page[T any](ctx context.Context, js string) (T, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[T](js))
}

// open navigates the tab to url.
func open(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
}

// waitFor polls a JavaScript condition until it is true.
func waitFor(t *testing.T, ctx context.Context, within time.Duration, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := page[bool](cctx, "!!("+cond+")")
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := page[string](ctx, "document.body.innerText")
			t.Fatalf("timed out after %s waiting for %s (%v); the page says:\n%s", within, what, err, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text is a JavaScript expression for the trimmed text of sel.
func text(sel string) string {
	return fmt.Sprintf("(document.querySelector(%q)?.textContent ?? '').trim()", sel)
}

func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if _, err := page[bool](ctx, fmt.Sprintf("(document.querySelector(%q).click(), true)", sel)); err != nil {
		t.Fatalf("click %s: %v", sel, err)
	}
}

// row is a message row of a pane, from its data attributes.
type row struct {
	Node     string `json:"node"`
	SendTime string `json:"sendTime"`
	Epoch    string `json:"epoch"`
	Offset   uint64 `json:"offset"`
}

func (r row) String() string { return fmt.Sprintf("%s:%d via %s", r.Epoch, r.Offset, r.Node) }

// messages returns a pane's rows, newest first.
func messages(t *testing.T, ctx context.Context, pane string) []row {
	t.Helper()
	rows, err := page[[]row](ctx, fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(li => ({
		node: li.dataset.node ?? '', sendTime: li.dataset.sendTime ?? '',
		epoch: li.dataset.epoch ?? '', offset: Number(li.dataset.offset ?? 0)}))`, pane+" ul.messages > li"))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// contiguous fails the test unless rows (newest first) are one epoch's
// messages with offsets that follow each other.
func contiguous(t *testing.T, pane string, rows []row) {
	t.Helper()
	for i, r := range rows {
		if r.Epoch == "" || r.Offset == 0 {
			t.Fatalf("%s: row %d shows no position: %v", pane, i, rows)
		}
		if i > 0 && (r.Epoch != rows[0].Epoch || r.Offset != rows[i-1].Offset-1) {
			t.Fatalf("%s: offsets not contiguous at row %d: %v", pane, i, rows)
		}
	}
}

// callAPI presses a pane's Call API button and waits until both panes
// list want messages and the button can be pressed again.
func callAPI(t *testing.T, ctx context.Context, pane string, want int) {
	t.Helper()
	click(t, ctx, pane+" button.call-api")
	waitFor(t, ctx, 20*time.Second, fmt.Sprintf("message %d in both panes", want),
		fmt.Sprintf("%s >= %d && %s >= %d && !document.querySelector(%q).disabled",
			rows("#client-a"), want, rows("#client-b"), want, pane+" button.call-api"))
}

// position is where a publish put its message.
type position struct {
	Epoch  string `json:"epoch"`
	Offset uint64 `json:"offset"`
}

// publish publishes n messages to the channel updates through the api
// node's HTTP API, as a backend would, and returns their positions.
func publish(t *testing.T, d *demo.Demo, n int) []position {
	t.Helper()
	var out []position
	for i := range n {
		body, _ := json.Marshal(map[string]any{"channel": "updates", "data": map[string]any{
			"sendTime": fmt.Sprintf("backend message %d", i+1)}})
		res, err := http.Post("http://"+d.API.Addr()+"/api/publish", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("publish: %d %s (%v)", res.StatusCode, b, err)
		}
		var p position
		if err := json.Unmarshal(b, &p); err != nil || p.Epoch == "" || p.Offset == 0 {
			t.Fatalf("publish answered %s, want a position (%v)", b, err)
		}
		out = append(out, p)
	}
	return out
}

// failOverWhilePublishing stops gateway 1, and publishes n messages while
// the clients of panes, which were on it, are away: after they lost node 1
// and before they are on node 2 (a client's next attempt waits at least
// 0.5s). It returns their positions once client A is connected to node 2.
func failOverWhilePublishing(t *testing.T, ctx context.Context, d *demo.Demo, n int, panes ...string) []position {
	t.Helper()
	stopped := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- d.StopGateway(sctx, 1)
	}()
	var away []string
	for _, p := range panes {
		away = append(away, fmt.Sprintf("document.querySelector(%q).dataset.state !== 'connected'", p))
	}
	waitFor(t, ctx, 20*time.Second, "the clients of node 1 to lose it", strings.Join(away, " && "))
	published := publish(t, d, n)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 30*time.Second, "client A on node 2",
		text("#client-a .node")+" === 'node2' && "+text("#client-a .state")+" === 'connected'")
	return published
}

// recovery is a pane's recovery indicator.
type recovery struct {
	Hidden    bool   `json:"hidden"`
	Recovered string `json:"recovered"`
	Reason    string `json:"reason"`
	Offset    string `json:"offset"`
	Result    string `json:"result"`
	Detail    string `json:"detail"`
}

func recoveryOf(t *testing.T, ctx context.Context, key string) recovery {
	t.Helper()
	r, err := page[recovery](ctx, fmt.Sprintf(`(() => {
		const el = document.querySelector('[data-testid="recovery-%s"]');
		return {hidden: el.hidden, recovered: el.dataset.recovered ?? '', reason: el.dataset.reason ?? '',
			offset: el.dataset.offset ?? '', result: el.querySelector('.recovery-result').textContent,
			detail: el.querySelector('.recovery-detail').textContent};
	})()`, key))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rows(pane string) string {
	return fmt.Sprintf("document.querySelectorAll(%q).length", pane+" ul.messages > li")
}

func TestDemoBothPanesReceiveOverEveryTransport(t *testing.T) {
	d := startDemo(t)
	ctx := browser(t)
	for _, transport := range []string{"websocket", "sse", "longpoll"} {
		t.Run(transport, func(t *testing.T) {
			open(t, ctx, fmt.Sprintf("%s/demo?a=1&b=2&ta=%s&tb=%s", d.URL, transport, transport))
			waitFor(t, ctx, 20*time.Second, "both panes connected to their nodes",
				text("#client-a .state")+" === 'connected' && "+text("#client-b .state")+" === 'connected' && "+
					text("#client-a .node")+" === 'node1' && "+text("#client-b .node")+" === 'node2'")
			subscribed(t, d, transport)
			const n = 3
			for i := 1; i <= n; i++ {
				callAPI(t, ctx, "#client-a", i)
			}
			a, b := messages(t, ctx, "#client-a"), messages(t, ctx, "#client-b")
			if len(a) != n || len(b) != n {
				t.Fatalf("A lists %d messages, B %d; want %d each: A %v, B %v", len(a), len(b), n, a, b)
			}
			for i := range n {
				if a[i].Node != "node1" || b[i].Node != "node2" {
					t.Fatalf("delivering nodes: A %q, B %q; want node1 and node2", a[i].Node, b[i].Node)
				}
				if a[i].SendTime == "" || a[i].SendTime != b[i].SendTime {
					t.Fatalf("panes show different messages: A %q, B %q", a[i].SendTime, b[i].SendTime)
				}
				if a[i].Epoch != b[i].Epoch || a[i].Offset != b[i].Offset {
					t.Fatalf("panes show different positions: A %v, B %v", a, b)
				}
			}
			contiguous(t, "A", a)
			for _, key := range []string{"a", "b"} {
				if r := recoveryOf(t, ctx, key); !r.Hidden {
					t.Errorf("pane %s shows a recovery on its first connection: %+v", key, r)
				}
			}
			if transport == "websocket" {
				screenshot(t, ctx)
			}
		})
	}
}

func TestDemoClientFailsOverWhenItsNodeStops(t *testing.T) {
	d := startDemo(t)
	ctx := browser(t)
	open(t, ctx, d.URL+"/demo?a=1&b=2&ta=websocket&tb=websocket")
	waitFor(t, ctx, 20*time.Second, "both panes connected",
		text("#client-a .node")+" === 'node1' && "+text("#client-b .node")+" === 'node2' && "+text("#client-a .state")+" === 'connected'")
	callAPI(t, ctx, "#client-b", 1)
	callAPI(t, ctx, "#client-b", 2)

	published := failOverWhilePublishing(t, ctx, d, 3, "#client-a")
	waitFor(t, ctx, 20*time.Second, "the missed messages in client A and its recovered indicator",
		rows("#client-a")+" >= 5 && document.querySelector('[data-testid=\"recovery-a\"]')?.dataset.recovered === 'true'")
	a := messages(t, ctx, "#client-a")
	if len(a) != 5 {
		t.Fatalf("client A lists %d messages, want 5: %v", len(a), a)
	}
	contiguous(t, "A", a)
	for i, p := range published {
		if r := a[len(published)-1-i]; r.Epoch != p.Epoch || r.Offset != p.Offset || r.Node != "node2" {
			t.Fatalf("client A shows %v where the message published while it was away at %v should be, via node2: %v", r, p, a)
		}
	}
	r := recoveryOf(t, ctx, "a")
	last := published[len(published)-1]
	if r.Hidden || r.Result != "recovered ✓" || r.Offset != fmt.Sprint(last.Offset) {
		t.Fatalf("client A's recovery indicator %+v; want visible, recovered ✓, at offset %d", r, last.Offset)
	}
	if !strings.Contains(r.Detail, "3 missed messages replayed") {
		t.Errorf("recovery detail %q does not say that 3 missed messages were replayed", r.Detail)
	}
	if r := recoveryOf(t, ctx, "b"); !r.Hidden {
		t.Errorf("client B, which stayed connected, shows a recovery: %+v", r)
	}

	// Live messages go on after the resume, with the next offset.
	callAPI(t, ctx, "#client-b", 6)
	a = messages(t, ctx, "#client-a")
	if a[0].Node != "node2" || a[0].Epoch != last.Epoch || a[0].Offset != last.Offset+1 {
		t.Fatalf("next message in client A: %v, want %s:%d via node2", a[0], last.Epoch, last.Offset+1)
	}
}

func TestDemoShowsMessagesLostWhileAway(t *testing.T) {
	// A history of two messages: five published while the clients are
	// away leave the first ones they missed out of it. Both clients are on
	// node 1, so that node 2 holds none of those messages in memory either;
	// a short drain disconnects them together.
	d := startDemoWith(t, demo.Options{History: []string{"updates=2"}, DrainTimeout: 10 * time.Millisecond})
	ctx := browser(t)
	open(t, ctx, d.URL+"/demo?a=1&b=1&ta=websocket&tb=sse")
	waitFor(t, ctx, 20*time.Second, "both panes connected to node 1",
		text("#client-a .node")+" === 'node1' && "+text("#client-b .node")+" === 'node1'")
	callAPI(t, ctx, "#client-b", 1)

	published := failOverWhilePublishing(t, ctx, d, 5, "#client-a", "#client-b")
	last := published[len(published)-1]
	for _, key := range []string{"a", "b"} {
		waitFor(t, ctx, 20*time.Second, "the not-recovered indicator of client "+key,
			fmt.Sprintf("document.querySelector('[data-testid=\"recovery-%s\"]')?.dataset.recovered === 'false'", key))
		r := recoveryOf(t, ctx, key)
		if r.Hidden || r.Result != "not recovered: expired" || r.Reason != "expired" || r.Offset != fmt.Sprint(last.Offset) {
			t.Fatalf("client %s's recovery indicator %+v; want visible, not recovered: expired, at offset %d", key, r, last.Offset)
		}
	}
	waitFor(t, ctx, 30*time.Second, "client B on node 2", text("#client-b .node")+" === 'node2'")
	for _, pane := range []string{"#client-a", "#client-b"} {
		if m := messages(t, ctx, pane); len(m) != 1 {
			t.Fatalf("%s lists %v; want only the message from before it went away", pane, m)
		}
	}
	// Live messages go on from the stated position.
	callAPI(t, ctx, "#client-b", 2)
	for _, pane := range []string{"#client-a", "#client-b"} {
		if m := messages(t, ctx, pane); m[0].Epoch != last.Epoch || m[0].Offset != last.Offset+1 || m[0].Node != "node2" {
			t.Fatalf("next message in %s: %v, want %s:%d via node2", pane, m[0], last.Epoch, last.Offset+1)
		}
	}
}

func TestDashboardListsBothGateways(t *testing.T) {
	d := startDemo(t)
	ctx := browser(t)
	// A WebSocket client on each gateway, besides the dashboard's own.
	for _, g := range d.Gateways() {
		conn, _, _, err := ws.Dial(context.Background(), "ws://"+g.Addr+"/ws")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
	}
	dash := ctx
	open(t, dash, d.URL+"/")
	conns := func(node string) string {
		return fmt.Sprintf("Number(%s) > 0", text(`#nodes [data-node="`+node+`"] .conn-websocket`))
	}
	waitFor(t, dash, 30*time.Second, "both gateways listed with connections",
		conns("node1")+" && "+conns("node2")+" && "+text(`#nodes [data-node="node1"] .nats`)+" === 'connected' && document.querySelector('#rate-chart')")
}

// TestDemoPageStopsAndStartsAGateway stops node 1 with the demo page's
// own button: client A moves to node 2 and resumes without loss; Start
// brings node 1 back, and the page and the terminal agree on its state.
func TestDemoPageStopsAndStartsAGateway(t *testing.T) {
	d := startDemo(t)
	ctx := browser(t)
	open(t, ctx, d.URL+"/demo?a=1&b=2&ta=websocket&tb=sse")
	waitFor(t, ctx, 20*time.Second, "both panes connected and the gateway controls shown",
		text("#client-a .node")+" === 'node1' && "+text("#client-b .node")+" === 'node2' && "+
			`!document.querySelector('#demo-controls').hidden && document.querySelector('#demo-controls [data-node="node1"] button')?.dataset.action === 'stop'`)
	callAPI(t, ctx, "#client-b", 1)

	click(t, ctx, `#demo-controls [data-node="node1"] button`)
	waitFor(t, ctx, 20*time.Second, "node 1 shown stopped",
		`document.querySelector('#demo-controls [data-node="node1"]')?.dataset.running === 'false'`)
	if d.Gateway(1) != nil {
		t.Fatal("the page says node1 stopped, but it runs")
	}
	waitFor(t, ctx, 30*time.Second, "client A on node 2",
		text("#client-a .node")+" === 'node2' && "+text("#client-a .state")+" === 'connected'")
	callAPI(t, ctx, "#client-b", 2)
	a := messages(t, ctx, "#client-a")
	contiguous(t, "A", a)
	if a[0].Node != "node2" {
		t.Fatalf("client A's latest message came via %s, want node2: %v", a[0].Node, a)
	}
	if out := d.Command(context.Background(), "status"); !strings.Contains(out, "node1 on ") || !strings.Contains(out, ": stopped") {
		t.Fatalf("the terminal's status says %q; want node1 stopped", out)
	}

	click(t, ctx, `#demo-controls [data-node="node1"] button`)
	waitFor(t, ctx, 20*time.Second, "node 1 shown running",
		`document.querySelector('#demo-controls [data-node="node1"]')?.dataset.running === 'true'`)
	g := d.Gateway(1)
	if g == nil {
		t.Fatal("the page says node1 runs, but it is stopped")
	}
	if res, err := http.Get("http://" + g.Addr() + "/readyz"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("node1 after Start: %v %v", res, err)
	}
}

// TestDashboardStopsAGatewayAndTheTerminalStartsIt stops node 2 from the
// dashboard: its card says stopped, then the terminal's "start 2" brings
// it back, and the dashboard follows.
func TestDashboardStopsAGatewayAndTheTerminalStartsIt(t *testing.T) {
	d := startDemo(t)
	ctx := browser(t)
	open(t, ctx, d.URL+"/")
	card := func(node string) string { return `document.querySelector('#nodes [data-node="` + node + `"]')` }
	waitFor(t, ctx, 30*time.Second, "both gateways live, with controls",
		card("node1")+"?.dataset.state === 'live' && "+card("node2")+"?.dataset.state === 'live' && "+
			`document.querySelector('#demo-controls [data-node="node2"] button')?.dataset.action === 'stop'`)
	click(t, ctx, `#demo-controls [data-node="node2"] button`)
	waitFor(t, ctx, 20*time.Second, "node 2's card stopped", card("node2")+"?.dataset.state === 'stopped' && "+card("node1")+"?.dataset.state === 'live'")
	if d.Gateway(2) != nil {
		t.Fatal("the dashboard says node2 stopped, but it runs")
	}
	if out := d.Command(context.Background(), "start 2"); !strings.Contains(out, "node2 on ") || strings.Contains(out, "stopped") {
		t.Fatalf("start 2 answered %q", out)
	}
	waitFor(t, ctx, 30*time.Second, "node 2's card live again, its button Stop",
		card("node2")+"?.dataset.state === 'live' && "+`document.querySelector('#demo-controls [data-node="node2"] button')?.dataset.action === 'stop'`)
}

// screenshot saves the demo page to the file HERALD_SCREENSHOT names (make
// screenshot sets it to docs/demo.png).
func screenshot(t *testing.T, ctx context.Context) {
	path := os.Getenv("HERALD_SCREENSHOT")
	if path == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join("..", "..", path) // tests run in internal/demo
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

func TestDemoPaneResumesWhenItsChoiceChanges(t *testing.T) {
	d := startDemo(t)
	ctx := browser(t)
	open(t, ctx, d.URL+"/demo?a=1&b=2&ta=websocket&tb=websocket")
	waitFor(t, ctx, 20*time.Second, "both panes connected",
		text("#client-a .node")+" === 'node1' && "+text("#client-b .node")+" === 'node2'")
	callAPI(t, ctx, "#client-b", 1)
	callAPI(t, ctx, "#client-b", 2)
	// Client A moves to node 2 over long polling: the new client starts
	// from the old one's position.
	if _, err := page[bool](ctx, `(() => {
		const a = document.querySelector('#client-a');
		a.querySelector('select[name=node]').value = '2';
		const t = a.querySelector('select[name=transport]');
		t.value = 'longpoll';
		t.dispatchEvent(new Event('change'));
		return true;
	})()`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 20*time.Second, "client A on node 2 over long-poll, recovered",
		text("#client-a .node")+" === 'node2' && "+text("#client-a .transport")+" === 'over long-poll' && "+
			"document.querySelector('[data-testid=\"recovery-a\"]').dataset.recovered === 'true'")
	if r := recoveryOf(t, ctx, "a"); r.Result != "recovered ✓" || !strings.Contains(r.Detail, "nothing missed") {
		t.Errorf("client A's recovery indicator %+v; want recovered ✓, nothing missed", r)
	}
	callAPI(t, ctx, "#client-b", 3)
	a := messages(t, ctx, "#client-a")
	if len(a) != 3 || a[0].Node != "node2" {
		t.Fatalf("client A lists %v; want 3 messages, the last via node2", a)
	}
	contiguous(t, "A", a)
}

// inbox returns the senders of the notes a pane's inbox lists, newest
// first.
func inbox(t *testing.T, ctx context.Context, pane string) []string {
	t.Helper()
	from, err := page[[]string](ctx, fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(li => li.dataset.from + ' on ' + li.dataset.channel)`, pane+" ul.inbox > li"))
	if err != nil {
		t.Fatal(err)
	}
	return from
}

// TestDemoInboxesReachOnlyTheirUser: on every transport, a note to Bob
// shows in Bob's pane only, and a note to Alice in Alice's only, though
// both panes hold tokens and connections to the same cluster.
func TestDemoInboxesReachOnlyTheirUser(t *testing.T) {
	d := startDemo(t)
	ctx := browser(t)
	for i, transport := range []string{"websocket", "sse", "longpoll"} {
		t.Run(transport, func(t *testing.T) {
			open(t, ctx, fmt.Sprintf("%s/demo?a=1&b=2&ta=%s&tb=%s", d.URL, transport, transport))
			waitFor(t, ctx, 20*time.Second, "both panes connected, as Alice and Bob",
				text("#client-a .state")+" === 'connected' && "+text("#client-b .state")+" === 'connected' && "+
					text("#client-a h2")+".endsWith('Alice') && "+text("#client-b h2")+".endsWith('Bob')")
			subscribed(t, d, transport)
			click(t, ctx, "#client-a button.send-note") // to Bob
			waitFor(t, ctx, 20*time.Second, "the note in Bob's inbox", "document.querySelectorAll('#client-b ul.inbox > li').length === 1")
			click(t, ctx, "#client-b button.send-note") // to Alice
			waitFor(t, ctx, 20*time.Second, "the note in Alice's inbox", "document.querySelectorAll('#client-a ul.inbox > li').length === 1")
			// A message on updates after both notes: once both panes have
			// it, anything misdelivered would have arrived too.
			callAPI(t, ctx, "#client-a", 1)
			a, b := inbox(t, ctx, "#client-a"), inbox(t, ctx, "#client-b")
			if len(a) != 1 || a[0] != "bob on user.alice.inbox" || len(b) != 1 || b[0] != "alice on user.bob.inbox" {
				t.Fatalf("Alice's pane lists %q, Bob's %q; want only bob's note to Alice, and only alice's note to Bob", a, b)
			}
			if i == 0 {
				screenshot(t, ctx)
			}
		})
	}
}

// subscribed waits until each gateway holds one client of transport with
// both its subscriptions (updates and its user's inbox) made. A pane says
// "connected" as soon as the node welcomed it, before its subscribe
// commands are answered; a message published in between would not reach
// it.
func subscribed(t *testing.T, d *demo.Demo, transport string) {
	t.Helper()
	heraldtest.Eventually(t, 20*time.Second, "each pane's subscriptions made", func() bool {
		for n := 1; n <= 2; n++ {
			g := d.Gateway(n)
			if g == nil {
				return false
			}
			conns := heraldtest.MetricText(g.Addr(), `herald_connections{transport="`+transport+`"}`)
			if conns != "1" || heraldtest.MetricText(g.Addr(), "herald_subscriptions") != "2" {
				return false
			}
		}
		return true
	})
}
