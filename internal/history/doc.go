// Package history keeps channel history in NATS JetStream and hands it
// back to resuming clients. It reaches JetStream through bus.Streams,
// which speaks of positions and sequences, not of NATS messages.
//
// Each --history rule has one stream, <PREFIX>_HISTORY_<hash>, storing the
// subjects <prefix>.hist.<hash>.<channel>, with the rule's SIZE as its
// per-subject limit and its TTL as its maximum age. A publish to a channel
// with history (Store.Publish) is stored with the channel's next offset
// and its epoch in headers (Herald-Offset, Herald-Epoch), and with
// Nats-Expected-Last-Subject-Sequence so that JetStream takes it only if
// no other message of the channel was stored meanwhile: offsets are given
// out once each, by any number of publishers. The stream republishes every
// stored message to the channel's live subject <prefix>.ch.<channel>, so
// nodes receive history messages the way they receive any other, with
// their position.
//
// A channel's epoch begins when it has no message left in history (first
// publish, purge, stream deleted, everything expired), so every message a
// channel keeps belongs to its current epoch; Read relies on it.
//
// Router sends each publish to the store or straight to the bus, by
// channel. Locks: publishes to one channel are serialized by one of 256
// striped mutexes; each rule's mutex guards its stream handle; the cache
// of last positions has its own. None is held while another is taken,
// except a stripe, held across a whole publish.
package history
