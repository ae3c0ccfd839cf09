// Package node assembles one Herald node from its parts, top to bottom:
// the HTTP listener (transports, publish API, health and metrics), the hub
// of local subscribers, and the bus to NATS. It owns their start and their
// graceful shutdown: readiness off, listener closed, clients told to
// reconnect elsewhere (within the drain timeout), NATS drained.
//
// It also owns what keeps a node working under load: the split of its
// open-files limit between clients and what it cannot do without (NATS,
// JetStream, requests; budget.go), and, with history, a watchdog that
// checks every few seconds that history can be written, restarts an
// embedded JetStream that can no longer write its files, and makes the
// node ready only while history works (history.go).
package node
