package demo

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldrt/herald/internal/protocol"
)

// stopTimeout bounds a gateway's graceful stop asked for by a page.
const stopTimeout = 15 * time.Second

// controls serves the demo's gateway controls on the api node:
//
//	GET  /demo/nodes             {"nodes":[{"name","url","addr","running"}, ...]}
//	POST /demo/nodes/{n}/stop    stop gateway n (1, 2, or its name), gracefully
//	POST /demo/nodes/{n}/start   start it again
//
// A POST answers with the gateways' state once done. Only the demo's own
// pages may ask (their Origin, or none, as curl sends).
func (d *Demo) controls() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/demo/nodes"), "/")
		switch {
		case rest == "" && r.Method == http.MethodGet:
			d.answer(w)
			return
		case rest == "":
			w.Header().Set("Allow", http.MethodGet)
			protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeMethodNotAllowed, r.Method+" is not allowed here; use GET"))
			return
		}
		name, action, ok := strings.Cut(rest, "/")
		n := d.gatewayNumber(name)
		if !ok || n == 0 || (action != "stop" && action != "start") {
			protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeNotFound, "use POST /demo/nodes/{1|2|node1|node2}/{stop|start}"))
			return
		}
		if !ownPagePOST(w, r) {
			return
		}
		var err error
		if action == "stop" {
			ctx, cancel := context.WithTimeout(r.Context(), stopTimeout)
			err = d.StopGateway(ctx, n)
			cancel()
		} else {
			err = d.StartGateway(n)
		}
		if err != nil {
			protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeUnavailable, err.Error()))
			return
		}
		d.answer(w)
	})
}

// gatewayNumber reads a gateway's number (1, 2) or name (node1); 0 if it
// names none.
func (d *Demo) gatewayNumber(s string) int {
	for i, g := range d.Gateways() {
		if s == g.Name || s == strconv.Itoa(i+1) {
			return i + 1
		}
	}
	return 0
}

// answer writes the gateways' state.
func (d *Demo) answer(w http.ResponseWriter) {
	b, _ := json.Marshal(struct {
		Nodes []GatewayState `json:"nodes"`
	}{d.Gateways()})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(b, '\n'))
}

// Command runs one line typed at the demo's terminal: "stop 1", "start
// node2", "status". It returns what to print.
func (d *Demo) Command(ctx context.Context, line string) string {
	f := strings.Fields(line)
	if len(f) == 0 {
		return ""
	}
	switch {
	case f[0] == "status" && len(f) == 1:
	case (f[0] == "stop" || f[0] == "start") && len(f) == 2:
		n := d.gatewayNumber(f[1])
		if n == 0 {
			return "no gateway " + strconv.Quote(f[1]) + ": give 1, 2, node1 or node2"
		}
		var err error
		if f[0] == "stop" {
			sctx, cancel := context.WithTimeout(ctx, stopTimeout)
			err = d.StopGateway(sctx, n)
			cancel()
		} else {
			err = d.StartGateway(n)
		}
		if err != nil {
			return f[0] + " failed: " + err.Error()
		}
	default:
		return "commands: stop <1|2>, start <1|2>, status"
	}
	var b strings.Builder
	for _, g := range d.Gateways() {
		state := "stopped"
		if g.Running {
			state = "running"
		}
		b.WriteString(g.Name + " on " + g.Addr + ": " + state + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// ownPagePOST lets through a POST from the demo's own pages (their Origin,
// or none, as curl sends); anything else is answered with an error.
func ownPagePOST(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeMethodNotAllowed, r.Method+" is not allowed here; use POST"))
		return false
	}
	if !protocol.OriginAllowed(r, nil) {
		protocol.WriteHTTPError(w, protocol.NewError(protocol.CodeForbidden, "only the demo's own pages may ask this"))
		return false
	}
	return true
}
