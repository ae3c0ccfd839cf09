package cli

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/heraldrt/herald/internal/bench"
)

// benchFlags are the flags of the bench modes, stored into the options.
type benchFlags struct {
	o    bench.Options
	json bool
}

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test Herald nodes running on this machine",
		Long: `Load-test Herald nodes: open many client connections, publish through the API,
and report rates, latency, loss, and what the servers spent.

Modes:
  connect   ramp up connections; handshakes per second, latency, failures
  idle      hold connections; the servers' memory per connection
  fanout    subscribers over channels, a fixed publish rate; delivery latency,
            loss, and server CPU per delivery
  publish   the publish API's maximum throughput

Targets must be loopback addresses (127.0.0.0/8, ::1) unless --allow-remote is
given: load only machines you own. Connections leave from the source addresses
127.0.0.2, 127.0.0.3, ... (--sources), so that one machine can open more than
its ephemeral ports allow from one address. When there are more connections
than one process may hold open files, they are split over worker processes of
this same binary.

With --protocol centrifugo the same runs load Centrifugo v6 nodes instead, for a
side-by-side comparison: WebSocket clients at <url>/connection/websocket speaking
its JSON protocol (connect, subscribe, answer pings), publishes through its server
API with the key in X-API-Key. The nodes must allow anonymous clients to connect
and subscribe; internal/bench/testdata/centrifugo.json is such a configuration.

Progress goes to standard error; the result to standard output, as a table or
with --json as JSON.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("give a mode: herald bench connect|idle|fanout|publish")
		},
	}
	cmd.AddCommand(newBenchConnectCmd(), newBenchIdleCmd(), newBenchFanoutCmd(), newBenchPublishCmd(), newBenchWorkerCmd())
	return cmd
}

func newBenchConnectCmd() *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "Ramp up connections; report handshakes per second, latency and failures",
		Long: `Open --conns connections to the gateways named by --url, spread round-robin,
each subscribed to one of --channels channels (connection i to bench.<i % channels>),
at most --ramp-concurrency handshakes at a time and --ramp-rate a second. Report
the handshake rate, the time from dialing to the subscribe reply (WebSocket) or
the welcome event (SSE), and the failures by reason; then close them all.`,
		Example: `  herald bench connect --url http://127.0.0.1:8081,http://127.0.0.1:8082 -n 10000
  herald bench connect --transport sse -n 2000 --json
  herald bench connect --protocol centrifugo --url http://127.0.0.1:8001 -n 10000
  herald bench connect --token "$(herald token --sub bench --subscribe 'bench.>')" -n 10000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, f, bench.Connect) },
	}
	addTargetFlags(cmd, f)
	addConnFlags(cmd, f)
	cmd.Flags().DurationVar(&f.o.Hold, "hold", 0, "keep the connections open this long after the ramp")
	addPIDFlag(cmd, f, "server processes whose CPU time over the ramp to report per connection (repeat or comma-separate)")
	return cmd
}

func newBenchIdleCmd() *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "idle",
		Short: "Hold subscribed connections; report the servers' memory per connection",
		Long: `Open --conns subscribed connections as connect does, hold them for --hold, and
report the servers' resident memory before the ramp and after the hold, and the
difference per connection. The memory is VmRSS from /proc/<pid>/status of each
--pid, or without --pid the gateways' process_resident_memory_bytes from their
/metrics. Also reports each gateway's herald_connections (Centrifugo: its
centrifugo_node_num_clients, which it refreshes every 10s).`,
		Example: `  herald bench idle -n 5000 --pid $(pidof herald)
  herald bench idle --url http://127.0.0.1:8081 -n 20000 --hold 30s
  herald bench idle --protocol centrifugo --url http://127.0.0.1:8001 -n 5000 --pid 4242`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, f, bench.Idle) },
	}
	addTargetFlags(cmd, f)
	addConnFlags(cmd, f)
	addPIDFlag(cmd, f, "server processes whose VmRSS to read (repeat or comma-separate); default: the gateways' /metrics")
	cmd.Flags().DurationVar(&f.o.Hold, "hold", 10*time.Second, "keep the connections open this long before measuring")
	return cmd
}

func newBenchFanoutCmd() *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "fanout",
		Short: "Publish at a fixed rate to many subscribers; report latency, loss and CPU per delivery",
		Long: `Subscribe --conns connections over --channels channels on the gateways (--url),
then publish --rate messages a second for --duration through the API (--api),
round-robin over the channels. Each message's data is {"t":<send time, unix ns>,
"pad":"..."} of --size bytes. After the last publish, wait at most --wait for
late deliveries, then report the deliveries expected and received, the latency
from send to receipt (p50 to max), the servers' CPU time per delivery (from
/proc/<pid>/stat of each --pid, over the publish window), and the generator's own.`,
		Example: `  herald bench fanout --url http://127.0.0.1:4101,http://127.0.0.1:4102 --api http://127.0.0.1:4100 \
    -n 2000 --channels 20 --rate 200 --duration 10s --pid 1234,1235,1236
  herald bench fanout --protocol centrifugo --url http://127.0.0.1:8001,http://127.0.0.1:8002 \
    --api http://127.0.0.1:8001 --api-key bench-key -n 2000 --channels 20 --rate 200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, f, bench.Fanout) },
	}
	addTargetFlags(cmd, f)
	addConnFlags(cmd, f)
	addAPIFlags(cmd, f)
	addPIDFlag(cmd, f, "server processes whose CPU time to read (repeat or comma-separate)")
	fl := cmd.Flags()
	fl.Float64Var(&f.o.Rate, "rate", 100, "messages published per second")
	fl.DurationVar(&f.o.Duration, "duration", 10*time.Second, "how long to publish")
	fl.DurationVar(&f.o.Wait, "wait", 5*time.Second, "how long to wait for late deliveries after the last publish")
	fl.DurationVar(&f.o.Settle, "settle", 500*time.Millisecond, "pause between the ramp and the first publish")
	fl.IntVar(&f.o.Concurrency, "concurrency", 0, "publish requests in flight at most (default: enough for --rate)")
	return cmd
}

func newBenchPublishCmd() *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "publish",
		Short: "Measure the publish API's maximum throughput",
		Long: `Post to the publish API (--api) back to back from --concurrency workers for
--duration, each request to one of --channels channels, or with --broadcast K to
K channels at once through /api/broadcast. Report requests per second, errors
by reason and request latency. No subscriber is needed.`,
		Example: `  herald bench publish --api http://127.0.0.1:8080 --concurrency 32 --duration 10s
  herald bench publish --broadcast 10
  herald bench publish --protocol centrifugo --api http://127.0.0.1:8001 --api-key bench-key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, f, bench.Publish) },
	}
	addProtocolFlag(cmd, f)
	addAPIFlags(cmd, f)
	fl := cmd.Flags()
	fl.BoolVar(&f.o.AllowRemote, "allow-remote", false, "allow an API that is not on a loopback address")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON")
	fl.IntVar(&f.o.Channels, "channels", 100, "channels to rotate over (bench.0, bench.1, ...)")
	fl.DurationVar(&f.o.Duration, "duration", 10*time.Second, "how long to publish")
	fl.IntVar(&f.o.Concurrency, "concurrency", 16, "requests in flight")
	fl.IntVar(&f.o.Broadcast, "broadcast", 0, "send each request to this many channels through /api/broadcast")
	return cmd
}

func newBenchWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "worker",
		Short:  "Hold a share of a bench run's connections (started by bench itself)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return bench.Worker(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}

// addProtocolFlag defines --protocol.
func addProtocolFlag(cmd *cobra.Command, f *benchFlags) {
	cmd.Flags().StringVar(&f.o.Protocol, "protocol", bench.Herald,
		"what the servers speak: "+bench.Herald+" or "+bench.Centrifugo+" (Centrifugo v6: WebSocket JSON protocol, server API)")
}

// addTargetFlags defines the gateway flags, and --protocol.
func addTargetFlags(cmd *cobra.Command, f *benchFlags) {
	addProtocolFlag(cmd, f)
	fl := cmd.Flags()
	fl.StringSliceVar(&f.o.URLs, "url", nil, "base `URL`s of the gateway nodes (repeat or comma-separate) (default http://127.0.0.1:8080; with --protocol centrifugo http://127.0.0.1:8000)")
	fl.BoolVar(&f.o.AllowRemote, "allow-remote", false, "allow targets that are not on a loopback address")
	fl.BoolVar(&f.json, "json", false, "print the result as JSON")
}

// addConnFlags defines the flags of the modes that open connections.
func addConnFlags(cmd *cobra.Command, f *benchFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.o.Transport, "transport", bench.WebSocket, "ws (WebSocket) or sse (Server-Sent Events)")
	fl.IntVarP(&f.o.Conns, "conns", "n", 1000, "client connections")
	fl.IntVar(&f.o.Channels, "channels", 100, "channels; connection i subscribes to bench.<i % channels>")
	fl.IntVar(&f.o.Sources, "sources", 0, "loopback source addresses 127.0.0.2... to spread connections over (default: one per 20,000)")
	fl.IntVar(&f.o.RampConcurrency, "ramp-concurrency", 100, "handshakes in flight at most")
	fl.Float64Var(&f.o.RampRate, "ramp-rate", 0, "new connections per second at most (0: no limit)")
	fl.DurationVar(&f.o.HandshakeTimeout, "handshake-timeout", 10*time.Second, "time allowed for one connection to subscribe")
	fl.DurationVar(&f.o.RampTimeout, "ramp-timeout", 2*time.Minute, "time allowed for the whole ramp")
	fl.IntVar(&f.o.Workers, "workers", 0, "worker processes to hold the connections (default: none unless the open-file limit needs them)")
	fl.StringVar(&f.o.Token, "token", "", "client `token` every connection presents as 'Authorization: Bearer <token>', for nodes with tokens on (env "+envToken+"; mint one with herald token)")
}

// addAPIFlags defines the publish API flags.
func addAPIFlags(cmd *cobra.Command, f *benchFlags) {
	fl := cmd.Flags()
	def := "the first --url"
	if fl.Lookup("url") == nil {
		def = "http://127.0.0.1:8080; with --protocol centrifugo http://127.0.0.1:8000"
	}
	fl.StringVar(&f.o.API, "api", "", "base `URL` of the node taking publishes (default: "+def+")")
	fl.StringVar(&f.o.APIKey, "api-key", "", "API `key`, sent as 'Authorization: Bearer <key>', with --protocol centrifugo as 'X-API-Key: <key>' (env "+envAPIKey+")")
	fl.IntVar(&f.o.Size, "size", 100, "bytes of data in each message")
}

func addPIDFlag(cmd *cobra.Command, f *benchFlags, usage string) {
	cmd.Flags().IntSliceVar(&f.o.PIDs, "pid", nil, usage)
}

// runBench runs one mode and prints its report.
func runBench(cmd *cobra.Command, f *benchFlags, mode func(context.Context, bench.Options) (*bench.Report, error)) error {
	if cmd.Flags().Lookup("api-key") != nil {
		f.o.APIKey = fromEnv(cmd, "api-key", f.o.APIKey, envAPIKey)
	}
	if cmd.Flags().Lookup("token") != nil {
		f.o.Token = fromEnv(cmd, "token", f.o.Token, envToken)
	}
	f.o.Progress = cmd.ErrOrStderr()
	rep, err := mode(cmd.Context(), f.o)
	if errors.Is(err, bench.ErrRemote) || errors.Is(err, bench.ErrOptions) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	if f.json {
		return rep.WriteJSON(cmd.OutOrStdout())
	}
	return rep.WriteTable(cmd.OutOrStdout())
}
