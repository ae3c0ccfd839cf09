package node_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

func TestKeepalive(t *testing.T) {
	cfg := testConfig("keepalive")
	cfg.PingInterval = 100 * time.Millisecond
	cfg.PongTimeout = 150 * time.Millisecond
	n := startNode(t, cfg)

	// A client that never answers is dropped with 3005.
	dead := dialWS(t, n.Addr(), nil)
	var disconnect struct {
		Op   string `json:"op"`
		Code int    `json:"code"`
	}
	_ = dead.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		f, err := ws.ReadFrame(dead.rd)
		if err != nil {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpText {
			_ = json.Unmarshal(f.Payload, &disconnect)
		}
		if f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			if code != 3005 || disconnect.Op != "disconnect" || disconnect.Code != 3005 {
				t.Fatalf("close %d after %+v, want 3005 keepalive", code, disconnect)
			}
			break
		}
	}
	// A client that answers pings (as browsers do) stays connected.
	alive := dialWS(t, n.Addr(), nil)
	pings := 0
	_ = alive.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for pings < 5 {
		h, err := ws.ReadHeader(alive.rd)
		if err != nil {
			t.Fatalf("after %d pings: %v", pings, err)
		}
		payload := make([]byte, h.Length)
		if _, err := alive.rd.Read(payload); err != nil && h.Length > 0 {
			t.Fatal(err)
		}
		if h.OpCode == ws.OpPing {
			pings++
			if err := wsutil.WriteClientMessage(alive.conn, ws.OpPong, payload); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The answering client is still there.
	if r := alive.command("ping", "", ""); r.Error != nil {
		t.Fatalf("ping: %+v", r.Error)
	}
}
