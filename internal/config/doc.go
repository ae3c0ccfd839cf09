// Package config defines what a Herald node is told at start: one Config
// struct, its defaults and validation, and Load, which merges, highest
// precedence first, command-line flags, HERALD_* environment variables and a
// YAML or TOML config file over the defaults.
//
// Every option has one key, used unchanged as its flag name (--nats-url) and
// its config file key (nats-url), and in upper case with '_' for '-' as its
// environment variable (HERALD_NATS_URL).
package config
