// Package bench is Herald's load generator, behind 'herald bench': it
// opens many WebSocket or SSE client connections to gateway nodes and
// publishes through the API, and reports handshake rates, delivery
// latency and loss, and what the servers spent in memory and CPU.
//
// It is built to cost little itself, so that on a small machine it does
// not hide the server's limits. A connection has a goroutine only while it
// dials and subscribes; then its descriptor moves to one of a few epoll
// loops (one per CPU), which read every ready connection into one shared
// buffer: an idle connection costs a small struct and its socket. Frames
// are parsed by hand, and a message is only searched for its "t" send
// stamp. Past what one process's open-file limit allows, the connections
// are split over worker processes (the same binary, 'herald bench worker')
// whose counts and histograms are merged.
//
// The same runs can load Centrifugo v6 nodes, for a comparison on the same
// machine with the same generator: Options.Protocol Centrifugo speaks its
// JSON client protocol over WebSocket and publishes through its server
// API (centrifugo.go). testdata/centrifugo.json configures Centrifugo for
// that, and testdata/README.md explains each setting and how to start
// the nodes.
//
// It refuses to load anything but loopback addresses unless told
// otherwise, and every phase is bounded in time: a run stops by itself.
//
// Locks: fleet.mu guards a fleet's maps and is never held while dialing
// or reading; loop.mu guards a loop's descriptor map, held only to look a
// connection up or add or drop one. Neither is taken while holding the
// other. The counters are atomics.
package bench
