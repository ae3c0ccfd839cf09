package node_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/heraldtest"
	"github.com/heraldrt/herald/internal/node"
)

// oddData is valid JSON with white space, escapes and number forms a
// re-encoder would change, so byte-for-byte equality means something.
const oddData = `{"text": "h\u00e9llo \"there\"" ,"n":[1.50, 2e3,-0],"nested":{ "ok" : true }}`

// threeNodes starts gateway 1 with an embedded NATS that listens, and
// gateway 2 and an api node that join it with --nats-url.
func threeNodes(t *testing.T) (gw1, gw2, apiNode *node.Node) {
	t.Helper()
	c1 := heraldtest.Config("gw1")
	c1.Role = config.RoleGateway
	c1.NATSListen = "127.0.0.1:0"
	gw1 = heraldtest.StartNode(t, c1)
	natsURL := gw1.Bus().Server().ClientURL()

	c2 := heraldtest.Config("gw2")
	c2.Role = config.RoleGateway
	c2.NATSURL = natsURL
	gw2 = heraldtest.StartNode(t, c2)

	c3 := heraldtest.Config("api")
	c3.Role = config.RoleAPI
	c3.NATSURL = natsURL
	apiNode = heraldtest.StartNode(t, c3)
	return gw1, gw2, apiNode
}

func TestFanOutAcrossNodesAndTransports(t *testing.T) {
	gw1, gw2, apiNode := threeNodes(t)

	wsc := heraldtest.DialWS(t, gw1.Addr(), nil)
	if wsc.Welcome.Node != "gw1" || wsc.Welcome.Client == "" {
		t.Fatalf("welcome = %+v", wsc.Welcome)
	}
	wsc.Subscribe("news")
	sse := heraldtest.OpenSSE(t, gw2.Addr(), "news")

	// The long-poll client opens its session, then polls in the background.
	type pollResult struct {
		status int
		resp   heraldtest.PollResponse
		body   []byte
	}
	polled := make(chan pollResult, 1)
	status, first, _ := heraldtest.Poll(t, gw2.Addr(), "channel=news&timeout=0s")
	if status != http.StatusOK || first.Session == "" {
		t.Fatalf("first poll: %d %+v", status, first)
	}
	go func() {
		s, r, b := heraldtest.Poll(t, gw2.Addr(), "session="+first.Session+"&timeout=10s")
		polled <- pollResult{s, r, b}
	}()
	// Every node must hold a NATS subscription before publishing.
	heraldtest.Eventually(t, 5*time.Second, "interest on both gateways", func() bool {
		return heraldtest.Metric(t, gw1.Addr(), "herald_nats_subscriptions") == 1 &&
			heraldtest.Metric(t, gw2.Addr(), "herald_nats_subscriptions") == 1
	})

	heraldtest.MustPublish(t, apiNode.Addr(), "news", oddData)

	got := wsc.RawMessage(5 * time.Second)
	want := fmt.Sprintf(`{"op":"message","channel":"news","data":%s}`, oddData)
	if string(got) != want {
		t.Errorf("websocket frame\n got %s\nwant %s", got, want)
	}
	ev := sse.Next(t, 5*time.Second)
	if ev.Event != "message" {
		t.Fatalf("sse event %q", ev.Event)
	}
	if d := heraldtest.EnvelopeData(t, []byte(ev.Data)); !bytes.Equal(d, []byte(oddData)) {
		t.Errorf("sse data\n got %s\nwant %s", d, oddData)
	}
	select {
	case r := <-polled:
		if r.status != http.StatusOK || len(r.resp.Messages) != 1 {
			t.Fatalf("poll: %d %s", r.status, r.body)
		}
		if d := []byte(r.resp.Messages[0].Data); !bytes.Equal(d, []byte(oddData)) {
			t.Errorf("long-poll data\n got %s\nwant %s", d, oddData)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("long-poll got nothing")
	}
}

func TestFanOutOnEmbeddedCluster(t *testing.T) {
	// The first node's cluster port is picked by the system; the others
	// route to it and learn of each other from it.
	nodes := make([]*node.Node, 3)
	var seed string
	for i := range nodes {
		// Two nodes share a name: their NATS servers must still route.
		cfg := heraldtest.Config(fmt.Sprintf("n%d", min(i+1, 2)))
		cfg.ClusterListen = "127.0.0.1:0"
		if seed != "" {
			cfg.ClusterRoutes = []string{seed}
		}
		nodes[i] = heraldtest.StartNode(t, cfg)
		if i == 0 {
			seed = "nats://" + nodes[0].Bus().Server().ClusterAddr().String()
		}
	}
	for _, n := range nodes {
		heraldtest.Eventually(t, 10*time.Second, "routes between the three servers", func() bool {
			return n.Bus().Server().NumRemotes() == 2
		})
	}

	clients := make([]*heraldtest.WS, len(nodes))
	for i, n := range nodes {
		clients[i] = heraldtest.DialWS(t, n.Addr(), nil)
		clients[i].Subscribe("room.1")
	}
	// Publish through node 1 once its server knows every node's interest.
	subject := nodes[0].Bus().Subject("room.1")
	heraldtest.Eventually(t, 10*time.Second, "cluster-wide interest", func() bool {
		return nodes[0].Bus().Server().GlobalAccount().Interest(subject) >= 3
	})
	heraldtest.MustPublish(t, nodes[0].Addr(), "room.1", oddData)
	for i, c := range clients {
		f := c.Message(5 * time.Second)
		if f.Channel != "room.1" || !bytes.Equal(f.Data, []byte(oddData)) {
			t.Errorf("node %d: got %+v", i+1, f)
		}
	}
}
