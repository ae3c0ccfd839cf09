package bus

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startEmbedded runs a NATS server inside the process. It listens for NATS
// clients only when opts.Listen is set, and for cluster routes only when
// opts.ClusterListen is set.
func startEmbedded(opts Options, log *slog.Logger) (*server.Server, error) {
	so := &server.Options{
		ServerName: serverName(opts.Name, opts.ID),
		NoSigs:     true,
		DontListen: opts.Listen == "",
	}
	if opts.StoreDir != "" {
		// JetStream knows its peers by server name, so a node keeps the
		// same name across restarts: its id is kept with its data.
		id, err := storedID(opts.StoreDir, opts.ID)
		if err != nil {
			return nil, err
		}
		so.ServerName = serverName(opts.Name, id)
		so.JetStream = true
		so.StoreDir = opts.StoreDir
	}
	if opts.Listen != "" {
		host, port, err := splitHostPort(opts.Listen)
		if err != nil {
			return nil, fmt.Errorf("bus: nats-listen: %w", err)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		so.Host, so.Port = host, port
	}
	if opts.ClusterListen != "" {
		if opts.Listen == "" {
			// The NATS server forms routes only once its client listener
			// is up, so a clustered node listens on a random loopback port.
			so.DontListen, so.Host, so.Port = false, "127.0.0.1", server.RANDOM_PORT
		}
		host, port, err := splitHostPort(opts.ClusterListen)
		if err != nil {
			return nil, fmt.Errorf("bus: cluster-listen: %w", err)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		so.Cluster = server.ClusterOpts{Name: opts.ClusterName, Host: host, Port: port}
		if len(opts.ClusterRoutes) > 0 {
			so.Routes = server.RoutesFromStr(strings.Join(opts.ClusterRoutes, ","))
		}
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded NATS: %w", err)
	}
	ns.SetLoggerV2(&natsLogger{log: log.With("component", "nats-server")}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("bus: embedded NATS did not start within 10s (is %s free?)", listening(opts))
	}
	return ns, nil
}

// storedID returns the node id kept in dir, storing id there first if
// there is none.
func storedID(dir, id string) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("bus: data-dir: %w", err)
	}
	file := filepath.Join(dir, "node-id")
	if b, err := os.ReadFile(file); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err := os.WriteFile(file, []byte(id+"\n"), 0o640); err != nil {
		return "", fmt.Errorf("bus: data-dir: %w", err)
	}
	return id, nil
}

func listening(o Options) string {
	var addrs []string
	if o.Listen != "" {
		addrs = append(addrs, o.Listen)
	}
	if o.ClusterListen != "" {
		addrs = append(addrs, o.ClusterListen)
	}
	if len(addrs) == 0 {
		return "memory"
	}
	return strings.Join(addrs, " and ")
}

// serverName makes a NATS server name from a node name and id: no white
// space, and unique even if two nodes of a cluster share a name (NATS
// refuses routes between servers of one name).
func serverName(name, id string) string {
	name = strings.Join(strings.Fields(name), "_")
	if len(id) > 8 {
		id = id[len(id)-8:]
	}
	if id == "" {
		return name
	}
	return name + "-" + id
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// natsLogger sends the embedded server's log lines to slog.
type natsLogger struct{ log *slog.Logger }

func (l *natsLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *natsLogger) Tracef(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
