package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/heraldrt/herald/internal/config"
	"github.com/heraldrt/herald/internal/node"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Herald node",
		Long: `Run a Herald node: serve clients and the publish API until interrupted (SIGINT
or SIGTERM), then drain connections and stop.

Every option below can also be set by an environment variable named HERALD_
followed by the option in upper case with '_' for '-' (HERALD_NATS_URL sets
--nats-url), or in a YAML (.yaml, .yml) or TOML (.toml) config file named by
--config or HERALD_CONFIG, with the option names as keys. A flag beats the
environment, which beats the file, which beats the default. List options take
comma-separated values in flags and the environment, and lists in files;
--history is the exception, since a rule holds a comma: repeat the flag, and
separate rules with spaces in HERALD_HISTORY. Durations take a number and a
unit: 500ms, 25s, 1m30s.

Channel rules (who may subscribe, publish and read history, per channel) go in
the config file under channels:; see docs/auth.md.

Prefer the environment or the file for secrets (--api-key, --api-keys,
--token-secret, --nats-password, --nats-token): command lines are visible to
other users of the machine.`,
		Example: `  # One node with an embedded NATS server, on port 8080:
  herald serve

  # Allow a web app's origin and require a key for the publish API:
  HERALD_API_KEY=secret herald serve --allowed-origins https://app.example.com

  # Keep the last 1000 messages (up to a day old) of every chat channel, so
  # clients resume without loss (see docs/history.md):
  HERALD_DATA_DIR=/var/lib/herald herald serve --history 'chat.>=1000,24h'

  # Require client tokens signed by your backend (HS256), with channel rules
  # from a file (see docs/auth.md):
  HERALD_TOKEN_SECRET=$(cat /etc/herald/token-secret) herald serve --config /etc/herald/herald.yaml

  # Use an external NATS cluster and a config file:
  herald serve --config /etc/herald/herald.yaml --nats-url nats://nats-1:4222,nats://nats-2:4222`,
		Args: cobra.NoArgs,
		RunE: runServe,
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

// clientEnv lists HERALD_* variables read by the client commands rather than
// by serve, so that serve does not warn about them.
var clientEnv = []string{envURL, envToken}

func runServe(cmd *cobra.Command, _ []string) error {
	path, err := cmd.Flags().GetString(config.FileFlag)
	if err != nil {
		return err
	}
	cfg, err := config.Load(cmd.Flags(), path)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	log := newLogger(cmd.ErrOrStderr(), cfg.LogFormat, cfg.LogLevel)
	for _, name := range config.UnknownEnv(os.Environ()) {
		if !slices.Contains(clientEnv, name) {
			log.Warn("ignoring environment variable that names no option", "name", name)
		}
	}
	n, err := node.New(cfg, log)
	if err != nil {
		return fmt.Errorf("starting node: %w", err)
	}
	return n.Run(cmd.Context())
}

// newLogger returns a logger writing to w in format (text or json) at level
// (debug, info, warn or error, as validated by config).
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
