// Package hub is a node's local registry of channel -> subscribers and its
// fan-out engine.
//
// A message from the bus is turned into one Message, shared by every local
// subscriber of its channel; each transport encodes it once per node in its
// wire format (Message.Bytes). Subscribers take messages without blocking
// (Subscriber.Deliver) into their own bounded queues.
//
// The registry is split into shards by channel name. Each shard has one
// RWMutex: Publish holds it for reading while it hands the message to the
// channel's subscribers, Subscribe and Unsubscribe hold it for writing.
// Interest.Watch and Interest.Unwatch are called with the shard lock held;
// Subscriber.Deliver is called with the read lock held and must not call
// back into the hub. No other lock is taken while a shard lock is held,
// except a history channel's line lock and the subscribers' own locks.
//
// Channels that keep history (History.Keeps) have a line: the node's
// position in the channel, a ring of recent messages, and subscribers that
// joined ahead of it. Its lock (channel.lineMu) is taken after the shard
// lock, by live delivery (shard read lock) and by joins (shard write
// lock), so a subscriber joining with a replay cannot miss or repeat a
// live message. JetStream is never called with a lock held: a join fetches
// first and checks again under the locks, and live delivery that finds a
// gap holds the channel's messages and fetches the missing range in a
// goroutine of its own (line.filling), then delivers everything in order.
package hub
