package node

import (
	"net/http"
	"strings"

	"github.com/heraldrt/herald/internal/protocol"
)

// notFound answers every path no handler serves with a JSON 404 that says
// what this node is and where to go instead: a publish sent to a gateway,
// a client sent to an api node and the UI asked of a node without --ui are
// common mistakes, and a bare "404 page not found" explains none of them.
func (n *Node) notFound(w http.ResponseWriter, r *http.Request) {
	role := n.cfg.Role
	p := r.URL.Path
	var msg string
	switch {
	case strings.HasPrefix(p, "/api/") && !n.cfg.ServesAPI():
		msg = "this node's role is " + role + ": it serves clients (/ws, /sse, /poll), not the publish API; send " + p + " to a node of role api or all"
	case (p == "/ws" || p == "/sse" || p == "/poll") && !n.cfg.ServesClients():
		msg = "this node's role is " + role + ": it serves the publish API (/api/), not clients; connect to a node of role gateway or all"
	case p == "/ping" && n.cfg.ServesAPI():
		msg = "POST /ping is the demo backend's endpoint; this node serves it with --ping"
	case p == "/ping":
		msg = "this node's role is " + role + ": POST /ping is served by a node of role api or all started with --ping"
	case !n.cfg.UI && (p == "/" || p == "/demo" || p == "/ui/config.json" || strings.HasPrefix(p, "/static/")):
		msg = "the web UI is off on this node: start it with --ui to serve the dashboard at / and the demo at /demo"
	default:
		msg = "no such path on this node (role " + role + "): it serves " + n.serves()
	}
	protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeNotFound, msg))
}

// serves lists the paths this node answers, for a 404's message.
func (n *Node) serves() string {
	var paths []string
	if n.cfg.ServesClients() {
		paths = append(paths, "/ws", "/sse", "/poll")
	}
	if n.cfg.ServesAPI() {
		paths = append(paths, "/api/publish", "/api/broadcast", "/api/history")
	}
	if n.cfg.UI {
		paths = append(paths, "/ (dashboard)", "/demo")
	}
	paths = append(paths, "/herald.js", "/healthz", "/readyz", "/metrics")
	return strings.Join(paths, ", ")
}
