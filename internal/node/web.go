package node

import (
	"net/http"

	"github.com/heraldrt/herald/internal/web"
)

// registerWeb serves the browser client on every node and, with --ui, the
// dashboard (fed with every node's stats) and the demo pages.
func (n *Node) registerWeb(mux *http.ServeMux) {
	if !n.cfg.UI {
		web.RegisterClient(mux)
		return
	}
	n.web = web.New(web.Options{
		NodeName: n.cfg.Name, Role: n.cfg.Role, Gateways: n.cfg.UIGateways,
		Ping: n.cfg.Ping && n.cfg.ServesAPI(), Stats: n.bus,
	})
	n.web.Register(mux)
}
