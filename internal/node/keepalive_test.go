package node_test

import (
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/heraldrt/herald/internal/heraldtest"
)

func TestKeepalive(t *testing.T) {
	cfg := heraldtest.Config("keepalive")
	cfg.PingInterval = 100 * time.Millisecond
	cfg.PongTimeout = 150 * time.Millisecond
	n := heraldtest.StartNode(t, cfg)

	// A client that never answers is dropped with 3005.
	dead := heraldtest.DialWS(t, n.Addr(), nil)
	var disconnect struct {
		Op   string `json:"op"`
		Code int    `json:"code"`
	}
	_ = dead.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		h, payload, err := readFrame(dead.Reader())
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
	alive := heraldtest.DialWS(t, n.Addr(), nil)
	pings := 0
	_ = alive.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for pings < 5 {
		h, payload, err := readFrame(alive.Reader())
		if err != nil {
			t.Fatalf("after %d pings: %v", pings, err)
		}
		if h.OpCode == ws.OpPing {
			pings++
			if err := wsutil.WriteClientMessage(alive.Conn, ws.OpPong, payload); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The answering client is still there.
	if r := alive.Command("ping", "", ""); r.Error != nil {
		t.Fatalf("ping: %+v", r.Error)
	}
}

// readFrame reads one unmasked server heraldtest.Frame of at most 64 KiB.
func readFrame(r io.Reader) (ws.Header, []byte, error) {
	h, err := ws.ReadHeader(r)
	if err != nil {
		return h, nil, err
	}
	if h.Length > 64<<10 {
		return h, nil, fmt.Errorf("server heraldtest.Frame of %d bytes", h.Length)
	}
	payload := make([]byte, h.Length)
	_, err = io.ReadFull(r, payload)
	return h, payload, err
}
