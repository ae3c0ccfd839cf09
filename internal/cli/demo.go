package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldrt/herald/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var o demo.Options
	var logLevel string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a three-node demo cluster with the web UI",
		Long: `Run the whole scenario on this machine: an embedded NATS server, two gateway
nodes and one api node that serves the web UI, the publish API and POST /ping.

Open the demo page it prints, with Client A on node 1 and Client B on node 2,
and press "Call API" in either pane: the api node publishes once to NATS, both
gateways receive the message and push it to their client, so both panes show
it although they are connected to different servers. The dashboard shows every
node live. Ctrl-C stops everything.

Stop a gateway and watch its client move to the other one: press Stop on the
pages, or type "stop 1" here (then "start 1" to bring it back; "status" lists
both). POST /demo/nodes/1/stop and /start do the same.

The channel updates keeps history (its last 1000 messages, for an hour), so
every message shows its offset, and a client that reconnects, to its node or
to the other one after its node stops, gets the messages it missed and shows
"recovered". The api node's embedded NATS keeps that history in --data-dir,
by default a temporary directory removed on exit.

The gateways check tokens, as an application would run them: the api node
mints them at POST /token for the demo's users (Client A is Alice, Client B is
Bob) with a secret made for this run. Each user has an inbox, user.alice.inbox
and user.bob.inbox, that only they may read; "Send to Bob" publishes a note to
Bob's through the API, and only Bob's pane shows it. Clients without a token
may still read updates (--allow-anonymous).`,
		Example: `  herald demo
  herald demo --api-port 9080 --gateway-ports 5001,5002
  herald demo --data-dir ./demo-data`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ports, err := cmd.Flags().GetIntSlice("gateway-ports")
			if err != nil {
				return err
			}
			if len(ports) != 2 {
				return usagef("--gateway-ports: give two ports, such as 4001,4002")
			}
			o.GatewayPorts = [2]int{ports[0], ports[1]}
			o.Logger = newLogger(cmd.ErrOrStderr(), "text", logLevel)
			d, err := demo.Start(o)
			if err != nil {
				return fmt.Errorf("starting the demo: %w", err)
			}
			out := cmd.OutOrStdout()
			gws := d.Gateways()
			fmt.Fprintf(out, "Herald demo is running.\n\n")
			fmt.Fprintf(out, "  Demo page:  %s/demo?a=1&b=2\n", d.URL)
			fmt.Fprintf(out, "  Dashboard:  %s/\n", d.URL)
			fmt.Fprintf(out, "  Gateways:   %s on %s, %s on %s\n", gws[0].Name, gws[0].Addr, gws[1].Name, gws[1].Addr)
			fmt.Fprintf(out, "  History:    %s, kept in %s\n", strings.Join(d.History, " "), d.DataDir)
			fmt.Fprintf(out, "  Publish:    curl -X POST %s/api/publish -H 'Content-Type: application/json' -d '{\"channel\":\"updates\",\"data\":{\"hello\":\"world\"}}'\n", d.URL)
			fmt.Fprintf(out, "  Users:      alice and bob; tokens at POST %s/token {\"user\":\"alice\"}, inboxes user.alice.inbox and user.bob.inbox\n\n", d.URL)
			fmt.Fprintf(out, "Type \"stop 1\" to stop gateway node1 and watch its client move, \"start 1\" to start it\nagain, \"status\" to list them. Press Ctrl-C to stop everything.\n")
			terminal(cmd.Context(), cmd.InOrStdin(), out, d)
			fmt.Fprintf(out, "Stopping...\n")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return d.Stop(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Host, "host", "127.0.0.1", "interface every demo node listens on")
	f.IntVar(&o.APIPort, "api-port", 8080, "port of the api node, which serves the web UI and POST /ping")
	f.IntSlice("gateway-ports", []int{4001, 4002}, "ports of the two gateway nodes")
	f.StringVar(&o.DataDir, "data-dir", "", "`directory` where the api node keeps the history of the channel updates; default: a temporary one, removed on exit")
	f.StringVar(&logLevel, "log-level", "warn", "least severe level logged: debug, info, warn or error")
	return cmd
}

// terminal runs the commands typed at the demo's terminal and prints
// their answers until ctx ends. Lines are read in a goroutine of their own,
// which ends with the input (or with the process: a read cannot be
// interrupted); everything is written from here.
func terminal(ctx context.Context, in io.Reader, out io.Writer, d *demo.Demo) {
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case line := <-lines:
			if answer := d.Command(ctx, line); answer != "" {
				fmt.Fprintln(out, answer)
			}
		}
	}
}
