// Package api is the HTTP publish API: POST /api/publish and
// POST /api/broadcast. A backend publishes once; the message goes to NATS
// and from there to every node with subscribers of the channel.
//
// Callers authenticate with a bearer key (--api-key). A node without a key
// answers loopback callers only. Every error is a JSON body with a stable
// code (package protocol maps codes to HTTP statuses).
package api
