package node_test

import (
	"encoding/json"
	"fmt"
	"io"
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
		h, payload, err := readFrame(dead.rd)
		if err != nil {
			t.Fatalf("connection ended without a close frame: %v", err)
		}
		if h.OpCode == ws.OpText {
			_ = json.Unmarshal(payload, &disconnect)
		}
		if h.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(payload)
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
		h, payload, err := readFrame(alive.rd)
		if err != nil {
			t.Fatalf("after %d pings: %v", pings, err)
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

// readFrame reads one unmasked server frame of at most 64 KiB.
func readFrame(r io.Reader) (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return h, nil, err
	}
	if h.Length > 64<<10 {
		return h, nil, fmt.Errorf("server frame of %d bytes", h.Length)
	}
	payload := make([]byte, h.Length)
	_, err = io.ReadFull(r, payload)
	return h, payload, err
}
