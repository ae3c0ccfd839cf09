package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/heraldrt/herald/internal/auth"
	"github.com/heraldrt/herald/internal/spell"
)

// Names of the config file flag and the variables Herald reads.
const (
	// FileFlag is the flag naming the config file.
	FileFlag = "config"
	// FileEnv names the config file when FileFlag is not given.
	FileEnv = "HERALD_CONFIG"
	// EnvPrefix starts every option's environment variable: HERALD_NATS_URL
	// sets nats-url.
	EnvPrefix = "HERALD_"
)

// option is one Config field, known by its koanf tag.
type option struct {
	key   string
	index int
}

// options lists every Config field in declaration order.
var options = func() []option {
	t := reflect.TypeFor[Config]()
	opts := make([]option, 0, t.NumField())
	for i := range t.NumField() {
		if key := t.Field(i).Tag.Get("koanf"); key != "" {
			opts = append(opts, option{key: key, index: i})
		}
	}
	return opts
}()

func lookup(key string) (option, bool) {
	i := slices.IndexFunc(options, func(o option) bool { return o.key == key })
	if i < 0 {
		return option{}, false
	}
	return options[i], true
}

// EnvName returns the environment variable that sets the option key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// envKey returns the option key an environment variable name maps to, or ""
// if it names none.
func envKey(name string) string {
	rest, ok := strings.CutPrefix(name, EnvPrefix)
	if !ok {
		return ""
	}
	key := strings.ReplaceAll(strings.ToLower(rest), "_", "-")
	if _, ok := lookup(key); !ok {
		return ""
	}
	return key
}

// Load builds a Config from, highest precedence first: flags set on fs,
// HERALD_* environment variables, the config file, and Default. fs may be
// nil; flags that name no option (such as FileFlag) are ignored. configFile
// is a YAML (.yaml, .yml) or TOML (.toml) file; when it is empty, the file
// named by HERALD_CONFIG is read, and when that is empty too, none.
//
// List options take comma-separated values in flags and environment
// variables, and lists in files; durations take Go durations such as "25s".
// An unknown key in the file is an error, as is any invalid value. Load
// reports every problem it finds at once, each naming its option, and
// returns the result of Config.Validate.
func Load(fs *pflag.FlagSet, configFile string) (Config, error) {
	cfg := Default()
	if configFile == "" {
		configFile = os.Getenv(FileEnv)
	}
	var errs []error
	if configFile != "" {
		k, err := readFile(configFile)
		if err != nil {
			return Config{}, err
		}
		errs = append(errs, apply(&cfg, k.All(), func(key string) string {
			return fmt.Sprintf("config file %s: %s", configFile, key)
		})...)
	}

	k := koanf.New(".")
	transform := func(name, val string) (string, any) { return envKey(name), val }
	if err := k.Load(env.Provider("", env.Opt{Prefix: EnvPrefix, TransformFunc: transform}), nil); err != nil {
		return Config{}, fmt.Errorf("config: reading environment: %w", err)
	}
	errs = append(errs, apply(&cfg, k.All(), EnvName)...)

	if fs != nil {
		k := koanf.New(".")
		known := func(f *pflag.Flag) (string, any) {
			if _, ok := lookup(f.Name); !ok {
				return "", nil
			}
			return f.Name, posflag.FlagVal(fs, f)
		}
		// With no koanf instance given, only flags set explicitly are read.
		if err := k.Load(posflag.ProviderWithFlag(fs, ".", nil, known), nil); err != nil {
			return Config{}, fmt.Errorf("config: reading flags: %w", err)
		}
		errs = append(errs, apply(&cfg, k.All(), func(key string) string { return "--" + key })...)
	}

	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// readFile parses the config file at path, rejecting keys that name no option.
func readFile(path string) (*koanf.Koanf, error) {
	var parser koanf.Parser
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		parser = yaml.Parser()
	case ".toml":
		parser = toml.Parser()
	default:
		return nil, fmt.Errorf("config file %s: unsupported extension %q: use .yaml, .yml or .toml", path, ext)
	}
	k := koanf.New(".")
	if err := k.Load(file.Provider(path), parser); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var errs []error
	for _, key := range k.Keys() {
		if _, ok := lookup(key); ok {
			continue
		}
		msg := fmt.Sprintf("config file %s: unknown option %q", path, key)
		if s := suggest(key); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		errs = append(errs, errors.New(msg))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return k, nil
}

// apply sets the options in vals on cfg. name says where a key came from, for
// errors.
func apply(cfg *Config, vals map[string]any, name func(key string) string) []error {
	var errs []error
	v := reflect.ValueOf(cfg).Elem()
	for _, o := range options {
		raw, ok := vals[o.key]
		if !ok {
			continue
		}
		if s, ok := raw.(string); ok && o.key == "history" {
			raw = strings.Fields(s) // a rule holds a comma: rules are separated by spaces
		}
		if err := set(v.Field(o.index), raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name(o.key), err))
		}
	}
	return errs
}

// set stores raw, as read from a file, the environment or a flag, in field.
func set(field reflect.Value, raw any) error {
	if raw == nil { // a key with no value in a file
		if k := field.Kind(); k != reflect.String && k != reflect.Slice {
			return errors.New("no value given")
		}
		field.SetZero()
		return nil
	}
	switch p := field.Addr().Interface().(type) {
	case *string:
		s, ok := raw.(string)
		if !ok {
			return fmt.Errorf("%v is not a string (quote it)", raw)
		}
		*p = s
	case *[]string:
		l, err := toList(raw)
		if err != nil {
			return err
		}
		*p = l
	case *int:
		n, err := toInt(raw)
		if err != nil {
			return err
		}
		*p = n
	case *bool:
		switch b := raw.(type) {
		case bool:
			*p = b
		case string:
			v, err := strconv.ParseBool(strings.TrimSpace(b))
			if err != nil {
				return fmt.Errorf("%q is not true or false", b)
			}
			*p = v
		default:
			return fmt.Errorf("%v is not true or false", raw)
		}
	case *[]auth.RuleSpec:
		specs, err := auth.DecodeRules(raw)
		if err != nil {
			return err
		}
		*p = specs
	case *time.Duration:
		d, err := toDuration(raw)
		if err != nil {
			return err
		}
		*p = d
	default:
		panic("config: no loader for field type " + field.Type().String())
	}
	return nil
}

func toList(raw any) ([]string, error) {
	switch l := raw.(type) {
	case string:
		return splitList(strings.Split(l, ",")), nil
	case []string: // from a flag, already split at commas
		return splitList(l), nil
	case []any:
		out := make([]string, len(l))
		for i, e := range l {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("entry %v is not a string (quote it)", e)
			}
			out[i] = s
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%v is not a list", raw)
	}
}

// splitList trims the entries of a comma-separated list and drops empty ones.
func splitList(l []string) []string {
	out := make([]string, 0, len(l))
	for _, s := range l {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func toInt(raw any) (int, error) {
	switch n := raw.(type) {
	case int:
		return n, nil
	case int64:
		if n < math.MinInt || n > math.MaxInt {
			return 0, fmt.Errorf("%d is out of range", n)
		}
		return int(n), nil
	case uint64:
		if n > math.MaxInt {
			return 0, fmt.Errorf("%d is out of range", n)
		}
		return int(n), nil
	case float64:
		if n != math.Trunc(n) || n < math.MinInt || n > math.MaxInt {
			return 0, fmt.Errorf("%v is not a whole number", n)
		}
		return int(n), nil
	case string:
		v, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", n)
		}
		return v, nil
	default:
		return 0, fmt.Errorf("%v is not a whole number", raw)
	}
}

func toDuration(raw any) (time.Duration, error) {
	switch d := raw.(type) {
	case time.Duration:
		return d, nil
	case string:
		v, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration such as \"25s\" or \"1m30s\"", d)
		}
		return v, nil
	case int, int64, uint64:
		if reflect.ValueOf(d).IsZero() {
			return 0, nil
		}
	}
	return 0, fmt.Errorf("%v is not a duration such as \"25s\" or \"1m30s\" (give the unit, and quote it)", raw)
}

// suggest returns the option closest to an unknown key, or "".
func suggest(key string) string {
	keys := make([]string, len(options))
	for i, o := range options {
		keys[i] = o.key
	}
	return spell.Nearest(strings.ReplaceAll(strings.ToLower(key), "_", "-"), keys, 3)
}

// UnknownEnv returns the names in environ (as from os.Environ) that start
// with EnvPrefix but name no option, so that a caller can warn about typos.
// FileEnv is not reported.
func UnknownEnv(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && name != FileEnv && envKey(name) == "" {
			out = append(out, name)
		}
	}
	return out
}

// usage is the help for each option's flag. A word in backquotes names the
// flag's value in help output.
var usage = map[string]string{
	"name":       "node name, shown to clients and in logs; default: <host name>:<port of --listen>",
	"listen":     "`host:port` to serve clients and the API on",
	"role":       "what this node serves: all, gateway (client connections only) or api (publish API only)",
	"log-format": "log format: text or json",
	"log-level":  "least severe level logged: debug, info, warn or error",

	"nats-url":       "`URLs` of an external NATS server or cluster, comma-separated (nats://host:4222); empty: run an embedded NATS server",
	"nats-creds":     "NATS credentials (.creds) `file`; only with --nats-url",
	"nats-nkey":      "NATS NKey seed `file`; only with --nats-url",
	"nats-user":      "NATS user name; only with --nats-url",
	"nats-password":  "NATS password; only with --nats-url (prefer HERALD_NATS_PASSWORD: flags show in ps)",
	"nats-token":     "NATS token; only with --nats-url (prefer HERALD_NATS_TOKEN: flags show in ps)",
	"nats-tls-ca":    "CA certificate `file` (PEM) that signed the NATS server's certificate; only with --nats-url",
	"nats-tls-cert":  "client certificate `file` (PEM) for NATS mutual TLS, with --nats-tls-key; only with --nats-url",
	"nats-tls-key":   "client key `file` (PEM) for NATS mutual TLS, with --nats-tls-cert; only with --nats-url",
	"nats-listen":    "`host:port` on which the embedded NATS server accepts NATS clients; empty: none, in-process only",
	"cluster-name":   "embedded NATS cluster name; the same on every node of a cluster",
	"cluster-listen": "`host:port` on which the embedded NATS server accepts routes from other nodes; empty: no cluster",
	"cluster-routes": "other nodes' cluster `URLs`, comma-separated (nats://node2:6222); needs --cluster-listen",
	"subject-prefix": "first token(s) of every NATS subject Herald uses; the same on nodes that share messages",

	"allowed-origins":        "`origins` whose pages may open client connections, comma-separated, as scheme://host with globs (https://*.example.com); '*' allows any; default: the request's own host only. Clients sending no Origin (non-browser) are always allowed",
	"client-publish":         "channel `patterns` clients may publish to themselves, comma-separated; '*' matches one dot-separated token, '>' all the rest (chat.>); default: none, only the publish API publishes",
	"client-publish-rate":    "publishes per second one WebSocket connection may make (on top of client-command-rate); 0: no limit",
	"client-publish-burst":   "publishes a WebSocket connection may make at once before client-publish-rate applies",
	"client-command-rate":    "commands per second one WebSocket connection may send (subscribe, unsubscribe, publish, history, ping); beyond, they are refused with rate_limited, and a connection that keeps on is closed (3009); 0: no limit",
	"client-command-burst":   "commands a WebSocket connection may send at once before client-command-rate applies (keep it above max-subscriptions, for a page that subscribes to all its channels on connect)",
	"max-connections":        "most WebSocket connections and SSE streams this node holds; beyond, new ones are refused (503, or WebSocket close 3504); 0: the open-files limit less a reserve for NATS, JetStream and requests",
	"max-connections-per-ip": "most WebSocket connections and SSE streams one client address holds (an IPv6 address counts by its /64); beyond, 429 or close 3504; 0: no limit (behind a proxy, every client has the proxy's address)",
	"max-message-bytes":      "largest message payload accepted, in `bytes`",
	"max-channel-length":     "longest channel name accepted, in `bytes` (at most 1024)",
	"max-subscriptions":      "most channels one client may subscribe to",
	"queue-messages":         "messages queued per client; a client that falls further behind is disconnected",
	"queue-bytes":            "`bytes` queued per client; a client that falls further behind is disconnected",
	"ping-interval":          "time between WebSocket pings to each client",
	"pong-timeout":           "how long to wait for a WebSocket client's pong before disconnecting it",
	"write-timeout":          "how long one write to a client may take before the client is disconnected",

	"sse-heartbeat":    "time between heartbeats on idle SSE streams, to keep proxies from closing them",
	"poll-timeout":     "how long a long-poll request waits for messages when the client does not say",
	"poll-max-timeout": "longest wait a long-poll client may ask for",
	"poll-session-ttl": "how long a long-poll session lives with no request from its client",
	"poll-buffer":      "messages held for a long-poll session between its requests",

	"max-poll-sessions":        "most long-poll sessions this node holds; more are refused with 503",
	"max-poll-sessions-per-ip": "most long-poll sessions one client address holds (an IPv6 address counts by its /64); more are refused with 429; 0: no limit (behind a proxy, every client has the proxy's address)",

	"api-key":  "`key` the publish API requires as 'Authorization: Bearer <key>', with every scope (admin); empty, with no --api-keys: the API answers loopback clients only (prefer HERALD_API_KEY: flags show in ps)",
	"api-keys": "more API keys, each `SCOPE:KEY`, comma-separated: publish (publish and read history) or admin (every endpoint); prefer HERALD_API_KEYS",

	"token-secret":       "HMAC `secret` (HS256/384/512, at least 32 bytes) that verifies client tokens; setting it turns tokens on (prefer HERALD_TOKEN_SECRET: flags show in ps)",
	"token-public-key":   "PEM public key `file` (RSA, ECDSA or Ed25519) that verifies client tokens; repeat, or comma-separate, to rotate keys; turns tokens on",
	"token-jwks-url":     "`URL` of a JWKS whose keys verify client tokens, fetched and cached; turns tokens on",
	"token-jwks-refresh": "how often the JWKS is fetched again; a token with an unknown kid refetches it at most this often",
	"token-issuer":       "required iss claim of client tokens; empty: any",
	"token-audience":     "required aud claim of client tokens; empty: any",
	"token-leeway":       "clock skew allowed when checking exp, nbf and iat",
	"allow-anonymous":    "with tokens on, accept clients without one, as anonymous clients that may use only channels whose rule says anyone",
	"auth-timeout":       "how long a WebSocket that connected without a token has to send auth before it is closed (3501)",
	"channels":           "channel rules (config file, or HERALD_CHANNELS as JSON): a list of {pattern, subscribe, publish, history, history_read, presence, join_leave}; the first whose pattern matches applies; see docs/auth.md",

	"history":            "keep history for channels matching `PATTERN=SIZE[,TTL[,MAXBYTES]]`: SIZE messages per channel, each kept for TTL (default: no age limit), at most MAXBYTES for all the rule's channels together (default 1GiB; 512MiB, 4GiB...); repeat for more rules, the first match wins (--history 'news.*=100,10m'); see docs/history.md",
	"data-dir":           "`directory` where the embedded NATS keeps history (in a subdirectory per node name)",
	"history-max-replay": "most messages replayed to one resuming client per channel; further behind, it is told recovered:false",
	"history-replicas":   "copies of each history stream; 0: automatic, 3 when three or more NATS servers run JetStream, else 1",
	"idempotency-window": "how long a publish's idempotency_key is remembered: a retry inside it is stored and delivered once",
	"client-history":     "channel `patterns` whose past clients may read: resume from a position, rewind, and the history command; comma-separated; '>' (the default): every channel; empty: none",

	"ui":             "serve the web UI: the cluster dashboard at / and the demo page at /demo (/herald.js is always served)",
	"ui-gateways":    "base URLs of the gateway nodes the demo page's clients connect to, comma-separated (http://gw1:8080); default: the UI node itself",
	"ping":           "serve POST /ping on the publish API: publishes {\"sendTime\":...} to the channel updates, as a demo backend would",
	"stats-interval": "how often the node publishes its stats on NATS, for the dashboard of --ui nodes (no client can read them); 0: never",
	"pprof-listen":   "host:port for Go's profiler (/debug/pprof/), on a listener of its own; keep it on loopback; empty: off",
	"drain-timeout":  "on shutdown, the time within which clients are told to reconnect elsewhere (over its first four fifths) and gone; 0: all told at once",
	"shutdown-delay": "on shutdown, how long to answer /readyz with 503 while still serving, before closing the listener (lets load balancers move new clients first)",
}

// RegisterFlags defines on fs one flag per Config option, named by its key,
// with its default from Default, and FileFlag.
func RegisterFlags(fs *pflag.FlagSet) {
	def := reflect.ValueOf(Default())
	for _, o := range options {
		help, ok := usage[o.key]
		if !ok {
			panic("config: no usage for option " + o.key)
		}
		switch v := def.Field(o.index).Interface().(type) {
		case string:
			fs.String(o.key, v, help)
		case []string:
			if o.key == "history" { // a rule holds a comma: one rule per flag
				fs.StringArray(o.key, v, help)
			} else {
				fs.StringSlice(o.key, v, help)
			}
		case int:
			fs.Int(o.key, v, help)
		case bool:
			fs.Bool(o.key, v, help)
		case time.Duration:
			fs.Duration(o.key, v, help)
		case []auth.RuleSpec: // a list of maps: the config file (or HERALD_CHANNELS as JSON) only
		default:
			panic(fmt.Sprintf("config: no flag for option %s of type %T", o.key, v))
		}
	}
	fs.String(FileFlag, "", "config `file`, YAML (.yaml, .yml) or TOML (.toml); default: $"+FileEnv+", else none")
}
