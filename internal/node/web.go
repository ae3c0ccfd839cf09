package node

import (
	"net/http"

	"github.com/heraldrt/herald/internal/web"
)

// registerWeb serves the browser client on every node and, with --ui, the
// dashboard and demo pages.
func (n *Node) registerWeb(mux *http.ServeMux) {
	if !n.cfg.UI {
		web.RegisterClient(mux)
		return
	}
	web.New(web.Options{
		NodeName: n.cfg.Name, Role: n.cfg.Role, Gateways: n.cfg.UIGateways,
		Ping: n.cfg.Ping && n.cfg.ServesAPI(), StatsChannel: StatsChannel,
	}).Register(mux)
}
