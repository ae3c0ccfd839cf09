package node_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/heraldtest"
)

// TestDashboardStatsStayOffTheChannels has every node publish its stats
// where the dashboard of a --ui node reads them (GET /ui/stats), and no
// client or API request can: the channels _herald.* are Herald's own.
func TestDashboardStatsStayOffTheChannels(t *testing.T) {
	gw1, _, apiNode := threeNodes(t)
	ui := heraldtest.Config("ui")
	ui.Role = config.RoleAPI
	ui.UI = true
	ui.NATSURL = gw1.Bus().Server().ClientURL()
	uiNode := heraldtest.StartNode(t, ui)
	c := heraldtest.DialWS(t, gw1.Addr(), nil)

	resp, err := http.Get("http://" + uiNode.Addr() + "/ui/stats")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("/ui/stats: %d %s", resp.StatusCode, ct)
	}
	events := make(chan heraldtest.SSEEvent, 64)
	go heraldtest.ReadSSE(resp.Body, events)
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(seen) < 4 {
		var ev heraldtest.SSEEvent
		select {
		case ev = <-events:
		case <-deadline:
			t.Fatalf("stats seen from %v only", seen)
		}
		if ev.Event != "stats" {
			continue
		}
		var s struct {
			Node        string         `json:"node"`
			Role        string         `json:"role"`
			Connections map[string]int `json:"connections"`
			NATS        string         `json:"nats"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &s); err != nil {
			t.Fatalf("stats %s: %v", ev.Data, err)
		}
		if s.Node == "gw1" && s.Connections["websocket"] != 1 {
			t.Fatalf("gw1 reports %v connections, want its one WebSocket client", s.Connections)
		}
		if s.NATS != "connected" || s.Role == "" {
			t.Fatalf("stats %s", ev.Data)
		}
		seen[s.Node] = true
	}

	for _, ch := range []string{"_herald.nodes", "_herald", "_herald.anything.else"} {
		if r := c.Command("subscribe", ch, ""); r.Error == nil || r.Error.Code != "forbidden" {
			t.Errorf("subscribe %s: %+v, want forbidden", ch, r.Error)
		}
		if r := c.Command("history", ch, ""); r.Error == nil || r.Error.Code != "forbidden" {
			t.Errorf("history of %s: %+v, want forbidden", ch, r.Error)
		}
		status, body := heraldtest.Publish(t, apiNode.Addr(), "/api/publish", `{"channel":"`+ch+`","data":{"node":"fake"}}`)
		if status != http.StatusForbidden || !strings.Contains(body, "forbidden") {
			t.Errorf("API publish to %s: %d %s, want 403 forbidden", ch, status, body)
		}
		for _, path := range []string{"/sse?channel=", "/poll?timeout=0s&channel="} {
			if status, body := heraldtest.Get(t, "http://"+gw1.Addr()+path+ch); status != http.StatusForbidden {
				t.Errorf("GET %s%s: %d %s, want 403", path, ch, status, body)
			}
		}
	}
	// A node without --ui has no stats stream.
	if status, _ := heraldtest.Get(t, "http://"+apiNode.Addr()+"/ui/stats"); status != http.StatusNotFound {
		t.Errorf("/ui/stats without --ui: %d, want 404", status)
	}
}

func TestPingPublishesToUpdates(t *testing.T) {
	cfg := heraldtest.Config("ping")
	cfg.Ping = true
	n := heraldtest.StartNode(t, cfg)
	c := heraldtest.DialWS(t, n.Addr(), nil)
	c.Subscribe("updates")
	resp, err := http.Post("http://"+n.Addr()+"/ping", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Message string `json:"message"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || body.Message != "pong" {
		t.Fatalf("POST /ping: %d %+v", resp.StatusCode, body)
	}
	var msg struct {
		SendTime string `json:"sendTime"`
		SentAtMs int64  `json:"sentAtMs"`
	}
	f := c.Message(5 * time.Second)
	if err := json.Unmarshal(f.Data, &msg); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.ANSIC, msg.SendTime); err != nil || msg.SentAtMs == 0 {
		t.Fatalf("ping message %s: %v", f.Data, err)
	}

	// Without --ping there is no such endpoint.
	plain := heraldtest.StartNode(t, heraldtest.Config("no-ping"))
	resp, err = http.Post("http://"+plain.Addr()+"/ping", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("POST /ping without --ping: %d", resp.StatusCode)
	}
}

func TestProfilerOnItsOwnListener(t *testing.T) {
	cfg := heraldtest.Config("pprof")
	cfg.PprofListen = heraldtest.FreeAddr(t)
	n := heraldtest.StartNode(t, cfg)
	resp, err := http.Get("http://" + cfg.PprofListen + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("profiler: %d", resp.StatusCode)
	}
	// Not on the main listener.
	resp, err = http.Get("http://" + n.Addr() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("the profiler is served on the client listener")
	}
}
