package config

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldrt/herald/internal/protocol"
)

func TestParseHistoryRule(t *testing.T) {
	t.Parallel()
	valid := []struct {
		in   string
		want HistoryRule
	}{
		{"news.*=100,10m", HistoryRule{Pattern: "news.*", Size: 100, TTL: 10 * time.Minute}},
		{"chat.>=1000", HistoryRule{Pattern: "chat.>", Size: 1000}},
		{"a=1", HistoryRule{Pattern: "a", Size: 1}},
		{"a=1000000", HistoryRule{Pattern: "a", Size: 1_000_000}},
		{"a=5,1s", HistoryRule{Pattern: "a", Size: 5, TTL: time.Second}},
		{"a=5,1h30m", HistoryRule{Pattern: "a", Size: 5, TTL: 90 * time.Minute}},
		{">=3", HistoryRule{Pattern: ">", Size: 3}},
		{"*.x.>=3,24h", HistoryRule{Pattern: "*.x.>", Size: 3, TTL: 24 * time.Hour}},
		{"  news.*=100,10m\t", HistoryRule{Pattern: "news.*", Size: 100, TTL: 10 * time.Minute}},
		{"a,b=7", HistoryRule{Pattern: "a,b", Size: 7}}, // ',' is a channel byte
		{"chat.>=1000,24h,512MiB", HistoryRule{Pattern: "chat.>", Size: 1000, TTL: 24 * time.Hour, MaxBytes: 512 << 20}},
		{"chat.>=1000,,2GiB", HistoryRule{Pattern: "chat.>", Size: 1000, MaxBytes: 2 << 30}},
		{"a=5,1m,1048576", HistoryRule{Pattern: "a", Size: 5, TTL: time.Minute, MaxBytes: 1 << 20}},
		{"a=5,1m,1TiB", HistoryRule{Pattern: "a", Size: 5, TTL: time.Minute, MaxBytes: 1 << 40}},
		{"a=5,1m,2048KiB", HistoryRule{Pattern: "a", Size: 5, TTL: time.Minute, MaxBytes: 2 << 20}},
	}
	for _, tt := range valid {
		got, err := ParseHistoryRule(tt.in)
		if err != nil {
			t.Errorf("ParseHistoryRule(%q): %v", tt.in, err)
			continue
		}
		if tt.want.MaxBytes == 0 {
			tt.want.MaxBytes = DefaultHistoryMaxBytes
		}
		if got != tt.want {
			t.Errorf("ParseHistoryRule(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	invalid := []string{
		"", " ", "news", "news.*", "=10", "=10,1m",
		"news.*=", "news.*=0", "news.*=-1", "news.*=1000001", "news.*=x", "news.*=1.5", "news.*=1e3", "news.*= 10", "news.*=1 0",
		"news.*=10,", "news.*=10,0s", "news.*=10,999ms", "news.*=10,-1m", "news.*=10,10", "news.*=10,1m,2m", "news.*=10,forever",
		"news.*=,1m", "news.*=10,1m,", "news.*=10,,", "news.*=10,1m,1023KiB", "news.*=10,1m,1MB", "news.*=10,1m,1.5GiB",
		"news.*=10,1m,-1GiB", "news.*=10,1m,9999999TiB", "news.*=10,1m,1GiB,2", "news.*=10,,1KiB", "a..b=10", ".a=10", "a.=10", "a.>.b=10", "a*=10", "$SYS.>=10", "a b=10", "news.* =10", "é=10",
	}
	for _, in := range invalid {
		r, err := ParseHistoryRule(in)
		if err == nil {
			t.Errorf("ParseHistoryRule(%q) = %+v, want an error", in, r)
			continue
		}
		if r != (HistoryRule{}) {
			t.Errorf("ParseHistoryRule(%q) returned %+v with its error", in, r)
		}
		if err.Error() == "" {
			t.Errorf("ParseHistoryRule(%q): an error without a message", in)
		}
	}
}

// TestParseHistoryRulePatternWithEquals: '=' is a channel byte, so a
// pattern may hold one; SIZE and TTL never do, so the rule is still
// unambiguous.
func TestParseHistoryRulePatternWithEquals(t *testing.T) {
	t.Parallel()
	if err := protocol.ValidatePattern("user=1.*"); err != nil {
		t.Fatalf("ValidatePattern(user=1.*): %v", err)
	}
	got, err := ParseHistoryRule("user=1.*=10,1m")
	if want := (HistoryRule{Pattern: "user=1.*", Size: 10, TTL: time.Minute, MaxBytes: DefaultHistoryMaxBytes}); err != nil || got != want {
		t.Errorf("ParseHistoryRule(%q) = %+v, %v; want %+v", "user=1.*=10,1m", got, err, want)
	}
}

func TestHistoryRulesInOrder(t *testing.T) {
	t.Parallel()
	c := Default()
	c.History = []string{"news.*=100,10m", "chat.>=1000", "news.>=5"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := []HistoryRule{
		{Pattern: "news.*", Size: 100, TTL: 10 * time.Minute, MaxBytes: DefaultHistoryMaxBytes},
		{Pattern: "chat.>", Size: 1000, MaxBytes: DefaultHistoryMaxBytes},
		{Pattern: "news.>", Size: 5, MaxBytes: DefaultHistoryMaxBytes},
	}
	if got := c.HistoryRules(); !slices.Equal(got, want) {
		t.Errorf("HistoryRules = %+v, want %+v", got, want)
	}
	c.History = nil
	if got := c.HistoryRules(); len(got) != 0 {
		t.Errorf("HistoryRules without --history = %+v", got)
	}
}

func TestValidateHistory(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(c *Config)
		want   string // "" when valid; else text the error must hold
	}{
		{"defaults", func(c *Config) {}, ""},
		{"rules", func(c *Config) { c.History = []string{"a.*=10,1m", "b=5"} }, ""},
		{"overlapping patterns", func(c *Config) { c.History = []string{"a.*=10", "a.>=5"} }, ""},
		{"limits", func(c *Config) {
			c.HistoryMaxReplay, c.HistoryReplicas, c.IdempotencyWindow = 100_000, 5, time.Second
		}, ""},
		{"client-history patterns", func(c *Config) { c.ClientHistory = []string{"news.*", "chat.>", "x"} }, ""},
		{"external NATS needs no data-dir", func(c *Config) {
			c.NATSURL, c.DataDir, c.History = "nats://127.0.0.1:4222", "", []string{"a=1"}
		}, ""},
		{"no history needs no data-dir", func(c *Config) { c.DataDir = "" }, ""},

		{"bad rule", func(c *Config) { c.History = []string{"news"} }, "history"},
		{"bad size", func(c *Config) { c.History = []string{"news=0"} }, "history"},
		{"bad ttl", func(c *Config) { c.History = []string{"news=1,1ms"} }, "history"},
		{"bad pattern", func(c *Config) { c.History = []string{"a..b=1"} }, "history"},
		{"duplicate pattern", func(c *Config) { c.History = []string{"a.*=10", "b=1", "a.*=20,1m"} }, `"a.*"`},
		{"duplicate after trimming", func(c *Config) { c.History = []string{"a=10", " a=10 "} }, "twice"},
		{"history-max-replay 0", func(c *Config) { c.HistoryMaxReplay = 0 }, "history-max-replay"},
		{"history-max-replay too big", func(c *Config) { c.HistoryMaxReplay = 100_001 }, "history-max-replay"},
		{"history-replicas negative", func(c *Config) { c.HistoryReplicas = -1 }, "history-replicas"},
		{"history-replicas 6", func(c *Config) { c.HistoryReplicas = 6 }, "history-replicas"},
		{"idempotency-window 0", func(c *Config) { c.IdempotencyWindow = 0 }, "idempotency-window"},
		{"idempotency-window under 1s", func(c *Config) { c.IdempotencyWindow = 999 * time.Millisecond }, "idempotency-window"},
		{"bad client-history", func(c *Config) { c.ClientHistory = []string{"news.*", "a..b"} }, "client-history"},
		{"client-history '>' not last", func(c *Config) { c.ClientHistory = []string{">.a"} }, "client-history"},
		{"empty data-dir with history", func(c *Config) { c.History, c.DataDir = []string{"a=1"}, " " }, "data-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate accepted it; want an error about %s", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate: %v; want it to name %s", err, tt.want)
			}
		})
	}
}

func TestLoadHistory(t *testing.T) {
	two := []string{"a.*=10,1m", "b=5"}
	twoRules := []HistoryRule{{Pattern: "a.*", Size: 10, TTL: time.Minute, MaxBytes: DefaultHistoryMaxBytes}, {Pattern: "b", Size: 5, MaxBytes: DefaultHistoryMaxBytes}}
	tests := []struct {
		name  string
		env   *string
		flags []string
		file  string // YAML
		want  []string
	}{
		{name: "repeated flag", flags: []string{"--history", "a.*=10,1m", "--history", "b=5"}, want: two},
		{name: "flag with =", flags: []string{"--history=a.*=10,1m", "--history=b=5"}, want: two},
		{name: "one flag keeps its commas", flags: []string{"--history", "a.*=10,1m"}, want: two[:1]},
		{name: "env", env: ptr("a.*=10,1m b=5"), want: two},
		{name: "env with extra space", env: ptr("  a.*=10,1m \t\n b=5  "), want: two},
		{name: "empty env", env: ptr(""), want: []string{}},
		{name: "yaml list", file: "history: [\"a.*=10,1m\", \"b=5\"]\n", want: two},
		{name: "yaml block list", file: "history:\n  - a.*=10,1m\n  - b=5\n", want: two},
		{name: "yaml string", file: "history: a.*=10,1m b=5\n", want: two},
		{name: "flag replaces env", env: ptr("x=1"), flags: []string{"--history", "a.*=10,1m", "--history", "b=5"}, want: two},
		{name: "env replaces file", env: ptr("a.*=10,1m b=5"), file: "history: [x=1]\n", want: two},
		{name: "unset", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			if tt.env != nil {
				t.Setenv("HERALD_HISTORY", *tt.env)
			}
			path := ""
			if tt.file != "" {
				path = writeFile(t, "herald.yaml", tt.file)
			}
			cfg, err := Load(flags(t, tt.flags...), path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !slices.Equal(cfg.History, tt.want) || (cfg.History == nil) != (tt.want == nil) {
				t.Errorf("History = %#v, want %#v", cfg.History, tt.want)
			}
			if slices.Equal(tt.want, two) && !slices.Equal(cfg.HistoryRules(), twoRules) {
				t.Errorf("HistoryRules = %+v, want %+v", cfg.HistoryRules(), twoRules)
			}
		})
	}
}

func TestLoadHistoryOptions(t *testing.T) {
	clearEnv(t)
	t.Setenv("HERALD_DATA_DIR", "/var/lib/herald")
	t.Setenv("HERALD_HISTORY_MAX_REPLAY", "50")
	t.Setenv("HERALD_CLIENT_HISTORY", "news.*, chat.>")
	path := writeFile(t, "herald.toml", "history = [\"chat.>=1000\", \"news.*=100,10m\"]\nhistory-replicas = 3\nidempotency-window = \"5m\"\n")
	cfg, err := Load(flags(t, "--idempotency-window=30s"), path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Default()
	want.History = []string{"chat.>=1000", "news.*=100,10m"}
	want.DataDir = "/var/lib/herald"
	want.HistoryMaxReplay = 50
	want.HistoryReplicas = 3
	want.IdempotencyWindow = 30 * time.Second
	want.ClientHistory = []string{"news.*", "chat.>"}
	if !slices.Equal(cfg.History, want.History) || cfg.DataDir != want.DataDir || cfg.HistoryMaxReplay != want.HistoryMaxReplay ||
		cfg.HistoryReplicas != want.HistoryReplicas || cfg.IdempotencyWindow != want.IdempotencyWindow || !slices.Equal(cfg.ClientHistory, want.ClientHistory) {
		t.Errorf("Load = %+v", cfg)
	}
}

func TestLoadHistoryErrors(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		flags []string
		want  string
	}{
		{name: "bad flag rule", flags: []string{"--history", "news"}, want: "history"},
		// Without the space a rule's comma would not split rules: this is
		// one rule with a bad TTL.
		{name: "env rules joined by comma", env: map[string]string{"HERALD_HISTORY": "a=1,b=2"}, want: "history"},
		{name: "duplicate in env", env: map[string]string{"HERALD_HISTORY": "a=1 a=2"}, want: "twice"},
		{name: "max replay 0", env: map[string]string{"HERALD_HISTORY_MAX_REPLAY": "0"}, want: "history-max-replay"},
		{name: "window 0", flags: []string{"--idempotency-window=0s"}, want: "idempotency-window"},
		{name: "bad client-history", flags: []string{"--client-history=a..b"}, want: "client-history"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := Load(flags(t, tt.flags...), "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load: %v; want an error naming %s", err, tt.want)
			}
		})
	}
}

func FuzzParseHistoryRule(f *testing.F) {
	for _, s := range []string{
		"news.*=100,10m", "chat.>=1000", "a=1", "a=1000000", "a=1000001", "a=0", "a=-1", "a=5,1s", "a=5,999ms",
		"a=5,", "=5", "a", "", "a..b=1", "a.>.b=1", "user=1.*=10", "a=+5", "a=5,1m,1m", " a=5 ", "a=99999999999999999999",
		"a=5,1m,1GiB", "a=5,,512MiB", "a=5,,1048576", "a=5,1m,1KiB", "a=5,1m,8TiB,", "a=5,,", "a=5,1m,+1MiB",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseHistoryRule(s)
		if err != nil {
			if r != (HistoryRule{}) || err.Error() == "" {
				t.Fatalf("ParseHistoryRule(%q) = %+v, %v", s, r, err)
			}
			return
		}
		if r.Size < 1 || r.Size > maxHistorySize {
			t.Fatalf("ParseHistoryRule(%q) accepted size %d", s, r.Size)
		}
		if r.TTL != 0 && r.TTL < time.Second {
			t.Fatalf("ParseHistoryRule(%q) accepted TTL %s", s, r.TTL)
		}
		if r.MaxBytes < minHistoryMaxBytes {
			t.Fatalf("ParseHistoryRule(%q) accepted MAXBYTES %d", s, r.MaxBytes)
		}
		if err := protocol.ValidatePattern(r.Pattern); err != nil {
			t.Fatalf("ParseHistoryRule(%q) accepted pattern %q: %v", s, r.Pattern, err)
		}
		// The rule written back in its canonical form reads the same.
		text := r.Pattern + "=" + strconv.Itoa(r.Size) + ","
		if r.TTL > 0 {
			text += r.TTL.String()
		}
		text += "," + strconv.FormatInt(r.MaxBytes, 10)
		if back, err := ParseHistoryRule(text); err != nil || back != r {
			t.Fatalf("ParseHistoryRule(%q) = %+v; its form %q reads back as %+v, %v", s, r, text, back, err)
		}
		// A config holding it validates, and yields it.
		c := Default()
		c.History = []string{s}
		if err := c.Validate(); err != nil {
			t.Fatalf("a config with rule %q does not validate: %v", s, err)
		}
		if got := c.HistoryRules(); len(got) != 1 || got[0] != r {
			t.Fatalf("HistoryRules for %q = %+v, want [%+v]", s, got, r)
		}
	})
}
