package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/heraldrt/herald/internal/auth"
)

// Roles a node can take.
const (
	RoleAll     = "all"
	RoleGateway = "gateway"
	RoleAPI     = "api"
)

// Config is everything a node is told at start. Each field's koanf key is
// also its flag name, and HERALD_<KEY> (upper case, '-' as '_') its
// environment variable.
type Config struct {
	// Node.
	Name      string `koanf:"name"`
	Listen    string `koanf:"listen"`
	Role      string `koanf:"role"`
	LogFormat string `koanf:"log-format"`
	LogLevel  string `koanf:"log-level"`

	// NATS: an external server or cluster, or the embedded one.
	NATSURL       string   `koanf:"nats-url"`
	NATSCreds     string   `koanf:"nats-creds"`
	NATSNKey      string   `koanf:"nats-nkey"`
	NATSUser      string   `koanf:"nats-user"`
	NATSPassword  string   `koanf:"nats-password"`
	NATSToken     string   `koanf:"nats-token"`
	NATSTLSCA     string   `koanf:"nats-tls-ca"`
	NATSTLSCert   string   `koanf:"nats-tls-cert"`
	NATSTLSKey    string   `koanf:"nats-tls-key"`
	NATSListen    string   `koanf:"nats-listen"`
	ClusterName   string   `koanf:"cluster-name"`
	ClusterListen string   `koanf:"cluster-listen"`
	ClusterRoutes []string `koanf:"cluster-routes"`
	SubjectPrefix string   `koanf:"subject-prefix"`

	// Client-facing limits and protection.
	AllowedOrigins      []string      `koanf:"allowed-origins"`
	MaxConnections      int           `koanf:"max-connections"`
	MaxConnectionsPerIP int           `koanf:"max-connections-per-ip"`
	ClientCommandRate   int           `koanf:"client-command-rate"`
	ClientCommandBurst  int           `koanf:"client-command-burst"`
	ClientPublish       []string      `koanf:"client-publish"`
	ClientPublishRate   int           `koanf:"client-publish-rate"`
	ClientPublishBurst  int           `koanf:"client-publish-burst"`
	MaxMessageBytes     int           `koanf:"max-message-bytes"`
	MaxChannelLength    int           `koanf:"max-channel-length"`
	MaxSubscriptions    int           `koanf:"max-subscriptions"`
	QueueMessages       int           `koanf:"queue-messages"`
	QueueBytes          int           `koanf:"queue-bytes"`
	PingInterval        time.Duration `koanf:"ping-interval"`
	PongTimeout         time.Duration `koanf:"pong-timeout"`
	WriteTimeout        time.Duration `koanf:"write-timeout"`

	// SSE and long-poll.
	SSEHeartbeat         time.Duration `koanf:"sse-heartbeat"`
	PollTimeout          time.Duration `koanf:"poll-timeout"`
	PollMaxTimeout       time.Duration `koanf:"poll-max-timeout"`
	PollSessionTTL       time.Duration `koanf:"poll-session-ttl"`
	PollBuffer           int           `koanf:"poll-buffer"`
	MaxPollSessions      int           `koanf:"max-poll-sessions"`
	MaxPollSessionsPerIP int           `koanf:"max-poll-sessions-per-ip"`

	// Publish API.
	APIKey  string   `koanf:"api-key"`
	APIKeys []string `koanf:"api-keys"`

	// Identity: connection tokens and channel rules.
	TokenSecret      string          `koanf:"token-secret"`
	TokenPublicKey   []string        `koanf:"token-public-key"`
	TokenJWKSURL     string          `koanf:"token-jwks-url"`
	TokenJWKSRefresh time.Duration   `koanf:"token-jwks-refresh"`
	TokenIssuer      string          `koanf:"token-issuer"`
	TokenAudience    string          `koanf:"token-audience"`
	TokenLeeway      time.Duration   `koanf:"token-leeway"`
	AllowAnonymous   bool            `koanf:"allow-anonymous"`
	AuthTimeout      time.Duration   `koanf:"auth-timeout"`
	Channels         []auth.RuleSpec `koanf:"channels"`

	// History and resume.
	History           []string      `koanf:"history"`
	DataDir           string        `koanf:"data-dir"`
	HistoryMaxReplay  int           `koanf:"history-max-replay"`
	HistoryReplicas   int           `koanf:"history-replicas"`
	IdempotencyWindow time.Duration `koanf:"idempotency-window"`
	ClientHistory     []string      `koanf:"client-history"`

	// Web UI, demo endpoint and cluster stats.
	UI            bool          `koanf:"ui"`
	UIGateways    []string      `koanf:"ui-gateways"`
	Ping          bool          `koanf:"ping"`
	StatsInterval time.Duration `koanf:"stats-interval"`

	// Shutdown.
	DrainTimeout  time.Duration `koanf:"drain-timeout"`
	ShutdownDelay time.Duration `koanf:"shutdown-delay"`

	// Profiling.
	PprofListen string `koanf:"pprof-listen"`
}

// Default returns a Config holding every default.
func Default() Config {
	return Config{
		Listen:           ":8080",
		Role:             RoleAll,
		LogFormat:        "text",
		LogLevel:         "info",
		ClusterName:      "herald",
		SubjectPrefix:    "herald",
		MaxMessageBytes:  64 << 10,
		MaxChannelLength: 255,
		MaxSubscriptions: 128,
		QueueMessages:    1024,
		QueueBytes:       1 << 20,
		PingInterval:     25 * time.Second,
		PongTimeout:      10 * time.Second,
		WriteTimeout:     10 * time.Second,
		SSEHeartbeat:     20 * time.Second,
		PollTimeout:      25 * time.Second,
		PollMaxTimeout:   60 * time.Second,
		PollSessionTTL:   60 * time.Second,
		PollBuffer:       1000,

		MaxPollSessions: 10_000,

		ClientCommandRate:  50,
		ClientCommandBurst: 200,
		ClientPublishRate:  10,
		ClientPublishBurst: 20,
		DrainTimeout:       10 * time.Second,
		StatsInterval:      time.Second,

		DataDir:           "herald-data",
		ClientHistory:     []string{">"},
		HistoryMaxReplay:  1000,
		IdempotencyWindow: 2 * time.Minute,

		TokenJWKSRefresh: 5 * time.Minute,
		TokenLeeway:      5 * time.Second,
		AuthTimeout:      10 * time.Second,
	}
}

// DefaultName is the node name used when none is given: the host name and
// the port of listen, such as "web-3:8080".
func DefaultName(listen string) string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "herald"
	}
	if _, port, err := net.SplitHostPort(listen); err == nil {
		return h + ":" + port
	}
	return h
}

// ServesClients reports whether the node serves the client transports.
func (c *Config) ServesClients() bool { return c.Role == RoleAll || c.Role == RoleGateway }

// ServesAPI reports whether the node serves the publish API.
func (c *Config) ServesAPI() bool { return c.Role == RoleAll || c.Role == RoleAPI }

// Embedded reports whether the node runs its own NATS server.
func (c *Config) Embedded() bool { return c.NATSURL == "" }

// Validate reports every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if c.Name != "" && strings.TrimSpace(c.Name) == "" {
		bad("name: must not be blank")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen: %q is not host:port: %v", c.Listen, err)
	}
	switch c.Role {
	case RoleAll, RoleGateway, RoleAPI:
	default:
		bad("role: %q is not one of all, gateway, api", c.Role)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log-format: %q is not text or json", c.LogFormat)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("log-level: %q is not debug, info, warn or error", c.LogLevel)
	}
	if err := validSubjectPrefix(c.SubjectPrefix); err != nil {
		bad("subject-prefix: %v", err)
	}

	if c.Embedded() {
		for _, f := range []struct{ name, val string }{
			{"nats-creds", c.NATSCreds}, {"nats-nkey", c.NATSNKey}, {"nats-user", c.NATSUser},
			{"nats-password", c.NATSPassword}, {"nats-token", c.NATSToken}, {"nats-tls-ca", c.NATSTLSCA},
			{"nats-tls-cert", c.NATSTLSCert}, {"nats-tls-key", c.NATSTLSKey},
		} {
			if f.val != "" {
				bad("%s: only applies with --nats-url (the embedded server needs no credentials)", f.name)
			}
		}
		if c.NATSListen != "" {
			if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
				bad("nats-listen: %q is not host:port: %v", c.NATSListen, err)
			}
		}
		if c.ClusterListen != "" {
			if _, _, err := net.SplitHostPort(c.ClusterListen); err != nil {
				bad("cluster-listen: %q is not host:port: %v", c.ClusterListen, err)
			}
		}
		if len(c.ClusterRoutes) > 0 && c.ClusterListen == "" {
			bad("cluster-routes: needs --cluster-listen")
		}
	} else {
		for _, f := range []struct{ name, val string }{
			{"nats-listen", c.NATSListen}, {"cluster-listen", c.ClusterListen},
		} {
			if f.val != "" {
				bad("%s: only applies to the embedded NATS server, not with --nats-url", f.name)
			}
		}
		if len(c.ClusterRoutes) > 0 {
			bad("cluster-routes: only applies to the embedded NATS server, not with --nats-url")
		}
		if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
			bad("nats-tls-cert and nats-tls-key: give both or neither")
		}
		if c.NATSUser != "" && c.NATSToken != "" {
			bad("nats-user and nats-token: give one or the other")
		}
	}

	positive := []struct {
		name string
		val  int
	}{
		{"max-message-bytes", c.MaxMessageBytes}, {"max-channel-length", c.MaxChannelLength},
		{"max-subscriptions", c.MaxSubscriptions}, {"queue-messages", c.QueueMessages},
		{"queue-bytes", c.QueueBytes}, {"poll-buffer", c.PollBuffer},
		{"max-poll-sessions", c.MaxPollSessions},
	}
	for _, p := range positive {
		if p.val <= 0 {
			bad("%s: must be greater than 0, got %d", p.name, p.val)
		}
	}
	for _, z := range []struct {
		name string
		val  int
	}{
		{"max-connections", c.MaxConnections}, {"max-connections-per-ip", c.MaxConnectionsPerIP},
		{"max-poll-sessions-per-ip", c.MaxPollSessionsPerIP},
		{"client-command-rate", c.ClientCommandRate}, {"client-publish-rate", c.ClientPublishRate},
	} {
		if z.val < 0 {
			bad("%s: must not be negative (0: %s), got %d", z.name, zeroMeans(z.name), z.val)
		}
	}
	for _, b := range []struct {
		name, rate   string
		burst, limit int
	}{
		{"client-command-burst", "client-command-rate", c.ClientCommandBurst, c.ClientCommandRate},
		{"client-publish-burst", "client-publish-rate", c.ClientPublishBurst, c.ClientPublishRate},
	} {
		if b.limit > 0 && (b.burst < 1 || b.burst > 65535) {
			bad("%s: must be from 1 to 65535 while %s is set, got %d", b.name, b.rate, b.burst)
		}
	}
	if c.MaxChannelLength > 1024 {
		bad("max-channel-length: at most 1024, got %d", c.MaxChannelLength)
	}
	durations := []struct {
		name string
		val  time.Duration
	}{
		{"ping-interval", c.PingInterval}, {"pong-timeout", c.PongTimeout},
		{"write-timeout", c.WriteTimeout}, {"sse-heartbeat", c.SSEHeartbeat},
		{"poll-timeout", c.PollTimeout}, {"poll-max-timeout", c.PollMaxTimeout},
		{"poll-session-ttl", c.PollSessionTTL},
	}
	for _, d := range durations {
		if d.val <= 0 {
			bad("%s: must be greater than 0, got %s", d.name, d.val)
		}
	}
	if c.PprofListen != "" {
		if _, _, err := net.SplitHostPort(c.PprofListen); err != nil {
			bad("pprof-listen: %q is not host:port: %v", c.PprofListen, err)
		}
	}
	if c.StatsInterval < 0 {
		bad("stats-interval: must not be negative, got %s", c.StatsInterval)
	}
	for _, g := range c.UIGateways {
		if u, err := url.Parse(g); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("ui-gateways: %q is not an http(s)://host:port URL", g)
		}
	}
	if c.DrainTimeout < 0 {
		bad("drain-timeout: must not be negative, got %s", c.DrainTimeout)
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay > 10*time.Minute {
		bad("shutdown-delay: must be from 0 to 10m, got %s", c.ShutdownDelay)
	}
	if largest := c.MaxMessageBytes + c.MaxChannelLength + 64; c.QueueBytes > 0 && c.MaxMessageBytes > 0 && c.QueueBytes < largest {
		bad("queue-bytes: %d cannot hold one message of max-message-bytes %d (needs at least %d)", c.QueueBytes, c.MaxMessageBytes, largest)
	}
	if c.PollTimeout > c.PollMaxTimeout {
		bad("poll-timeout: %s is longer than poll-max-timeout %s", c.PollTimeout, c.PollMaxTimeout)
	}
	seen := make(map[string]bool, len(c.History))
	for _, r := range c.Channels {
		if r.History == "" {
			continue
		}
		if _, err := ParseHistoryRule(auth.HistoryPattern(r.Pattern) + "=" + r.History); err != nil {
			bad("channels (%s): history: %v", r.Pattern, strings.TrimPrefix(err.Error(), auth.HistoryPattern(r.Pattern)+"="+r.History+": "))
			continue
		}
		seen[auth.HistoryPattern(r.Pattern)] = true
	}
	for _, h := range c.History {
		r, err := ParseHistoryRule(h)
		if err != nil {
			bad("history: %v", err)
			continue
		}
		if seen[r.Pattern] {
			bad("history: pattern %q is given twice", r.Pattern)
		}
		seen[r.Pattern] = true
	}
	if len(c.HistoryRules()) > 0 && c.Embedded() && strings.TrimSpace(c.DataDir) == "" {
		bad("data-dir: must be set when --history keeps history in the embedded NATS")
	}
	if c.HistoryMaxReplay < 1 || c.HistoryMaxReplay > 100_000 {
		bad("history-max-replay: must be from 1 to 100000, got %d", c.HistoryMaxReplay)
	}
	if c.HistoryReplicas < 0 || c.HistoryReplicas > 5 {
		bad("history-replicas: must be from 0 (automatic) to 5, got %d", c.HistoryReplicas)
	}
	if c.IdempotencyWindow < time.Second {
		bad("idempotency-window: must be at least 1s, got %s", c.IdempotencyWindow)
	}
	errs = append(errs, c.validateAuth()...)
	for _, o := range c.AllowedOrigins {
		if strings.TrimSpace(o) == "" {
			bad("allowed-origins: empty entry")
		}
	}
	return errors.Join(errs...)
}

// zeroMeans says what 0 means for an option that may be 0.
func zeroMeans(name string) string {
	if name == "max-connections" {
		return "derived from the open-files limit"
	}
	return "no limit"
}

func validSubjectPrefix(p string) error {
	if p == "" {
		return errors.New("must not be empty")
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" {
			return fmt.Errorf("%q has an empty token", p)
		}
		for _, r := range tok {
			if r <= ' ' || r >= 0x7f || r == '*' || r == '>' || r == '$' {
				return fmt.Errorf("%q may hold only printable ASCII without spaces, '*', '>' or '$'", p)
			}
		}
	}
	return nil
}
