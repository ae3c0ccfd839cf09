package demo_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gobwas/ws"

	"github.com/heraldrt/herald/internal/demo"
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
	d, err := demo.Start(demo.Options{DrainTimeout: 200 * time.Millisecond})
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

// messages returns the data-node and data-send-time of a pane's rows.
func messages(t *testing.T, ctx context.Context, pane string) [][2]string {
	t.Helper()
	rows, err := page[[][2]string](ctx, fmt.Sprintf(
		"Array.from(document.querySelectorAll(%q)).map(li => [li.dataset.node, li.dataset.sendTime])", pane+" ul.messages > li"))
	if err != nil {
		t.Fatal(err)
	}
	return rows
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
			click(t, ctx, "#client-a button.call-api")
			waitFor(t, ctx, 20*time.Second, "the message in both panes", rows("#client-a")+" >= 1 && "+rows("#client-b")+" >= 1")
			a, b := messages(t, ctx, "#client-a"), messages(t, ctx, "#client-b")
			if a[0][0] != "node1" || b[0][0] != "node2" {
				t.Fatalf("delivering nodes: A %q, B %q; want node1 and node2", a[0][0], b[0][0])
			}
			if a[0][1] == "" || a[0][1] != b[0][1] {
				t.Fatalf("panes show different messages: A %q, B %q", a[0][1], b[0][1])
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
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Gateways[0].Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 30*time.Second, "client A on node 2",
		text("#client-a .node")+" === 'node2' && "+text("#client-a .state")+" === 'connected'")
	click(t, ctx, "#client-b button.call-api")
	waitFor(t, ctx, 20*time.Second, "the next message in client A", rows("#client-a")+" >= 1")
	if a := messages(t, ctx, "#client-a"); a[0][0] != "node2" {
		t.Fatalf("message delivered by %q, want node2", a[0][0])
	}
}

func TestDashboardListsBothGateways(t *testing.T) {
	d := startDemo(t)
	ctx := browser(t)
	// A WebSocket client on each gateway, besides the dashboard's own.
	for _, g := range d.Gateways {
		conn, _, _, err := ws.Dial(context.Background(), "ws://"+g.Addr()+"/ws")
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
