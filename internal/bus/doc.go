// Package bus is a node's side of NATS: the embedded server (by default,
// with no listener unless asked), the connection with reconnect and
// backoff, one subscription per channel that has local subscribers, and
// publishing.
//
// Channels map to subjects "<prefix>.ch.<channel>"; package protocol's
// channel rules keep every channel on exactly one subject with no
// wildcard. Node-to-node requests use "<prefix>.node.<node id>.<what>":
// Serve, Request and Tell carry them (a long poll forwarded to the node
// that holds its session is one), so that no other package needs a NATS
// connection. A message of a channel with history carries its position
// in the headers Herald-Epoch and Herald-Offset (SetPosition,
// ParsePosition). Streams wraps JetStream for package history: streams,
// conditional publishes and reads, in terms of positions and sequences.
// No package but bus holds a NATS connection or a JetStream client.
//
// Incoming messages are handed to a fixed set of workers, chosen by a hash
// of the channel, so that one channel's messages stay in order while
// channels are delivered in parallel, with no goroutine per channel.
package bus
