package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// clearEnv unsets every HERALD_* variable for the test, so that the
// environment the tests run in cannot change their outcome.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) {
			t.Setenv(name, "") // restores the value after the test
			os.Unsetenv(name)
		}
	}
}

// flags returns a flag set with every option defined, parsed from args.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("herald", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parsing flags %q: %v", args, err)
	}
	return fs
}

// writeFile writes content to name in a temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDefaults(t *testing.T) {
	clearEnv(t)
	for _, fs := range []*pflag.FlagSet{nil, flags(t)} {
		got, err := Load(fs, "")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if want := Default(); !reflect.DeepEqual(got, want) {
			t.Errorf("Load = %+v, want the defaults %+v", got, want)
		}
	}
}

func TestLoadPrecedence(t *testing.T) {
	clearEnv(t)
	path := writeFile(t, "herald.yaml", `
listen: 127.0.0.1:9000
log-level: debug
max-subscriptions: 10
ping-interval: 5s
`)
	t.Setenv("HERALD_LOG_LEVEL", "warn")
	t.Setenv("HERALD_MAX_SUBSCRIPTIONS", "20")
	t.Setenv("HERALD_PING_INTERVAL", "6s")

	got, err := Load(flags(t, "--max-subscriptions=30"), path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Default()
	want.Listen = "127.0.0.1:9000" // file beats default
	want.LogLevel = "warn"         // env beats file
	want.PingInterval = 6 * time.Second
	want.MaxSubscriptions = 30 // flag beats env
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
	}
}

func TestLoadUnsetFlagKeepsEnv(t *testing.T) {
	clearEnv(t)
	t.Setenv("HERALD_LISTEN", "127.0.0.1:9001")
	// A flag left at its default must not override the environment.
	got, err := Load(flags(t, "--log-level=debug"), "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.Listen != "127.0.0.1:9001" || got.LogLevel != "debug" {
		t.Errorf("Listen, LogLevel = %q, %q; want 127.0.0.1:9001, debug", got.Listen, got.LogLevel)
	}
}

func TestLoadFileFormats(t *testing.T) {
	clearEnv(t)
	want := Default()
	want.Name = "node-1"
	want.Role = RoleGateway
	want.AllowedOrigins = []string{"https://a.example", "https://b.example"}
	want.ClientPublish = []string{"chat"}
	want.MaxMessageBytes = 1000
	want.PollMaxTimeout = 90 * time.Second
	want.DrainTimeout = 0

	files := []struct{ name, content string }{
		{"herald.yaml", `
name: node-1
role: gateway
allowed-origins: [https://a.example, https://b.example]
client-publish:
  - chat
max-message-bytes: 1000
poll-max-timeout: 1m30s
drain-timeout: 0
`},
		{"herald.yml", `{name: node-1, role: gateway, allowed-origins: "https://a.example,https://b.example", client-publish: chat,
max-message-bytes: "1000", poll-max-timeout: 90s, drain-timeout: 0s}`},
		{"herald.toml", `
name = "node-1"
role = "gateway"
allowed-origins = ["https://a.example", "https://b.example"]
client-publish = ["chat"]
max-message-bytes = 1000
poll-max-timeout = "1m30s"
drain-timeout = 0
`},
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			got, err := Load(nil, writeFile(t, f.name, f.content))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestLoadEmptyFile(t *testing.T) {
	clearEnv(t)
	for _, name := range []string{"empty.yaml", "empty.toml"} {
		got, err := Load(nil, writeFile(t, name, ""))
		if err != nil {
			t.Fatalf("Load(%s): %v", name, err)
		}
		if !reflect.DeepEqual(got, Default()) {
			t.Errorf("Load(%s) = %+v, want the defaults", name, got)
		}
	}
}

func TestLoadConfigFileFromEnv(t *testing.T) {
	clearEnv(t)
	t.Setenv(FileEnv, writeFile(t, "herald.toml", `listen = "127.0.0.1:9002"`))
	got, err := Load(nil, "")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got.Listen != "127.0.0.1:9002" {
		t.Errorf("Listen = %q, want the file's 127.0.0.1:9002", got.Listen)
	}
}

func TestLoadLists(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name  string
		env   *string
		flags []string
		file  string
		want  []string
	}{
		{name: "env", env: ptr("https://a.example, https://b.example,,"), want: []string{"https://a.example", "https://b.example"}},
		{name: "empty env clears file", env: ptr(""), file: "allowed-origins: [x]", want: []string{}},
		{name: "flag", flags: []string{"--allowed-origins=a,b"}, want: []string{"a", "b"}},
		{name: "repeated flag", flags: []string{"--allowed-origins=a", "--allowed-origins", "b, c"}, want: []string{"a", "b", "c"}},
		{name: "flag replaces env", env: ptr("x,y"), flags: []string{"--allowed-origins=*"}, want: []string{"*"}},
		{name: "file list", file: "allowed-origins:\n  - a\n  - b\n", want: []string{"a", "b"}},
		{name: "file string", file: "allowed-origins: a, b", want: []string{"a", "b"}},
		{name: "unset", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != nil {
				t.Setenv("HERALD_ALLOWED_ORIGINS", *tt.env)
			}
			path := ""
			if tt.file != "" {
				path = writeFile(t, "herald.yaml", tt.file)
			}
			got, err := Load(flags(t, tt.flags...), path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !slices.Equal(got.AllowedOrigins, tt.want) || (got.AllowedOrigins == nil) != (tt.want == nil) {
				t.Errorf("AllowedOrigins = %#v, want %#v", got.AllowedOrigins, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestLoadUnknownKey(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name, content string
		want          []string
	}{
		{"herald.yaml", "nats_url: nats://x:4222\nlisten: :9000\n", []string{`unknown option "nats_url"`, `did you mean "nats-url"?`}},
		{"herald.yaml", "lisen: :9000\n", []string{`unknown option "lisen"`, `did you mean "listen"?`}},
		{"herald.toml", "[nats]\nurl = \"nats://x:4222\"\n", []string{`unknown option "nats.url"`}},
		{"herald.yml", "bogus: 1\nalso-bogus: 2\n", []string{`unknown option "bogus"`, `unknown option "also-bogus"`}},
	}
	for _, tt := range tests {
		path := writeFile(t, tt.name, tt.content)
		_, err := Load(nil, path)
		if err == nil {
			t.Fatalf("Load(%q) succeeded, want an unknown option error", tt.content)
		}
		for _, w := range append(tt.want, path) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Load(%q) error %q does not contain %q", tt.content, err, w)
			}
		}
	}
}

func TestLoadFileErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name string
		path string
		want string
	}{
		{"json", writeFile(t, "herald.json", `{"listen": ":9000"}`), `unsupported extension ".json": use .yaml, .yml or .toml`},
		{"no extension", writeFile(t, "herald", `listen: ":9000"`), `unsupported extension ""`},
		{"missing", filepath.Join(t.TempDir(), "missing.yaml"), "missing.yaml"},
		{"bad yaml", writeFile(t, "bad.yaml", "listen: [\n"), "bad.yaml"},
		{"bad toml", writeFile(t, "bad.toml", "listen = \n"), "bad.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(nil, tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load(%s) error = %v, want one containing %q", tt.path, err, tt.want)
			}
		})
	}
}

func TestLoadInvalidValues(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		flags []string
		file  string
		want  []string
	}{
		{
			name: "env int",
			env:  map[string]string{"HERALD_MAX_MESSAGE_BYTES": "64k"},
			want: []string{`HERALD_MAX_MESSAGE_BYTES: "64k" is not a whole number`},
		},
		{
			name: "env duration without unit",
			env:  map[string]string{"HERALD_PING_INTERVAL": "25"},
			want: []string{`HERALD_PING_INTERVAL: "25" is not a duration`},
		},
		{
			name: "file duration as number",
			file: "ping-interval: 25\n",
			want: []string{"ping-interval: 25 is not a duration"},
		},
		{
			name: "file string as number",
			file: "api-key: 12345\n",
			want: []string{"api-key: 12345 is not a string (quote it)"},
		},
		{
			name: "file fraction",
			file: "queue-messages: 1.5\n",
			want: []string{"queue-messages: 1.5 is not a whole number"},
		},
		{
			name: "file int without value",
			file: "queue-messages:\n",
			want: []string{"queue-messages: no value given"},
		},
		{
			name: "file list of numbers",
			file: "client-publish: [1, 2]\n",
			want: []string{"client-publish: entry 1 is not a string"},
		},
		{
			name: "every problem at once",
			env:  map[string]string{"HERALD_QUEUE_BYTES": "x"},
			file: "queue-messages: y\n",
			want: []string{"HERALD_QUEUE_BYTES", "queue-messages"},
		},
		{
			name:  "validation",
			flags: []string{"--role=everything", "--log-format=xml"},
			want:  []string{`role: "everything" is not one of all, gateway, api`, `log-format: "xml" is not text or json`},
		},
		{
			name: "validation from env",
			env:  map[string]string{"HERALD_QUEUE_MESSAGES": "0"},
			want: []string{"queue-messages: must be greater than 0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			path := ""
			if tt.file != "" {
				path = writeFile(t, "herald.yaml", tt.file)
			}
			_, err := Load(flags(t, tt.flags...), path)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	fs := flags(t)
	def := reflect.ValueOf(Default())
	for _, o := range options {
		f := fs.Lookup(o.key)
		if o.key == "channels" {
			if f != nil {
				t.Error("channels is a list of maps: it has no flag")
			}
			continue
		}
		if f == nil {
			t.Errorf("no flag --%s", o.key)
			continue
		}
		want := fmt.Sprint(def.Field(o.index).Interface())
		if v, ok := def.Field(o.index).Interface().([]string); ok {
			want = "[" + strings.Join(v, ",") + "]"
		}
		if f.DefValue != want {
			t.Errorf("--%s default = %q, want %q", o.key, f.DefValue, want)
		}
		if len(f.Usage) < 10 {
			t.Errorf("--%s has usage %q, want a useful one", o.key, f.Usage)
		}
	}
	if fs.Lookup(FileFlag) == nil {
		t.Errorf("no flag --%s", FileFlag)
	}
	if len(usage) != len(options) {
		t.Errorf("usage has %d entries for %d options", len(usage), len(options))
	}
}

func TestEnvName(t *testing.T) {
	for _, o := range options {
		if got := envKey(EnvName(o.key)); got != o.key {
			t.Errorf("envKey(EnvName(%q)) = %q", o.key, got)
		}
	}
	if got := EnvName("nats-url"); got != "HERALD_NATS_URL" {
		t.Errorf("EnvName(nats-url) = %q, want HERALD_NATS_URL", got)
	}
}

func TestUnknownEnv(t *testing.T) {
	environ := []string{
		"HERALD_NATS_URL=nats://x", "HERALD_NATS_ULR=nats://x", "HERALD_CONFIG=x.yaml",
		"HOME=/root", "HERALD_URL=http://localhost:8080",
	}
	got := UnknownEnv(environ)
	if want := []string{"HERALD_NATS_ULR", "HERALD_URL"}; !slices.Equal(got, want) {
		t.Errorf("UnknownEnv = %q, want %q", got, want)
	}
}

func FuzzLoadFile(f *testing.F) {
	f.Add("listen: :9000\nallowed-origins: [a, b]\nping-interval: 5s\n", true)
	f.Add("max-message-bytes = 10\nclient-publish = \"a,b\"\n", false)
	f.Add("name: [1, {a: b}]\n", true)
	f.Fuzz(func(t *testing.T, content string, yaml bool) {
		name := "f.toml"
		if yaml {
			name = "f.yaml"
		}
		cfg, err := Load(nil, writeFile(t, name, content))
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("Load returned a config that does not validate: %v", err)
		}
	})
}
