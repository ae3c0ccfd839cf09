// Package cli is Herald's command line: the herald command and its
// subcommands serve (run a node), demo (a three-node cluster with the web
// UI), publish (send a message through the HTTP API), sub (print a
// channel's messages from a WebSocket), bench (load-test nodes) and
// version.
//
// Run executes a command line against given streams and a context, so that
// tests drive it as a user would; Execute wires it to the process.
package cli
