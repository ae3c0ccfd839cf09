package node_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestNodesPublishTheirStats(t *testing.T) {
	gw1, _, _ := threeNodes(t)
	c := dialWS(t, gw1.Addr(), nil)
	c.subscribe("_herald.nodes")
	seen := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < 3 && time.Now().Before(deadline) {
		f := c.message(5 * time.Second)
		var s struct {
			Node        string         `json:"node"`
			Role        string         `json:"role"`
			Connections map[string]int `json:"connections"`
			NATS        string         `json:"nats"`
		}
		if err := json.Unmarshal(f.Data, &s); err != nil {
			t.Fatalf("stats %s: %v", f.Data, err)
		}
		if s.Node == "gw1" && s.Connections["websocket"] != 1 {
			t.Fatalf("gw1 reports %v connections, want its one WebSocket client", s.Connections)
		}
		if s.NATS != "connected" || s.Role == "" {
			t.Fatalf("stats %s", f.Data)
		}
		seen[s.Node] = true
	}
	for _, n := range []string{"gw1", "gw2", "api"} {
		if !seen[n] {
			t.Errorf("no stats from %s (saw %v)", n, seen)
		}
	}
}

func TestPingPublishesToUpdates(t *testing.T) {
	cfg := testConfig("ping")
	cfg.Ping = true
	n := startNode(t, cfg)
	c := dialWS(t, n.Addr(), nil)
	c.subscribe("updates")
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
	f := c.message(5 * time.Second)
	if err := json.Unmarshal(f.Data, &msg); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.ANSIC, msg.SendTime); err != nil || msg.SentAtMs == 0 {
		t.Fatalf("ping message %s: %v", f.Data, err)
	}

	// Without --ping there is no such endpoint.
	plain := startNode(t, testConfig("no-ping"))
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
	cfg := testConfig("pprof")
	cfg.PprofListen = freeAddr(t)
	n := startNode(t, cfg)
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
