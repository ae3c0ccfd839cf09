// Package node assembles one Herald node from its parts, top to bottom:
// the HTTP listener (transports, publish API, health and metrics), the hub
// of local subscribers, and the bus to NATS. It owns their start and their
// graceful shutdown: readiness off, listener closed, clients told to
// reconnect elsewhere (spread over the drain timeout), NATS drained.
package node
