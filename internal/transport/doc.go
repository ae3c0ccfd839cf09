// Package transport turns client connections into hub subscriptions:
// WebSocket (/ws), Server-Sent Events (/sse) and HTTP long-polling (/poll).
//
// Every client has a bounded outbox (messages and bytes). The hub pushes
// shared, pre-encoded frames into it without blocking; one writer drains
// it in batches, a WebSocket batch in a single writev. A client whose
// outbox overflows is disconnected (3008) and its subscriptions freed at
// once. An idle WebSocket connection holds no goroutine: on Linux one
// epoll set (poller) watches every idle connection, and a goroutine is
// started to read a message only when one arrives (elsewhere, each
// connection keeps a reader goroutine). Its writer goroutine exists only
// while frames are queued.
//
// Long-poll sessions live on the node that created them; a poll reaching
// another node is forwarded to the owner over NATS. A session's id is a
// random route of its node and 128 random bits; the session answers only
// polls from the Origin that made it.
//
// Limits: WebSocket connections and SSE streams count against
// --max-connections and --max-connections-per-ip (connections.go),
// long-poll sessions against --max-poll-sessions and its per-address twin,
// and each WebSocket's commands and publishes against token buckets
// (rate.go). Every refusal is counted by the limit's option name.
//
// Channels with history: WebSocket subscribes may resume (since, rewind)
// and read history; SSE streams and long-poll sessions keep a cursor, the
// position of each of their channels after the last event queued, which
// every SSE event carries as its id and every poll response as "cursor".
// A cursor given back (Last-Event-ID, ?last_event_id=, ?cursor=) resumes
// on any node.
//
// Locks: a client's mutex (wsConn.mu, session.mu) and its outbox mutex are
// never held together with each other or across a call into the hub.
// wsConn.mu may be held while the poller's mutex is taken (registering),
// never the other way round: the poller only looks connections up. The
// hub calls Deliver with a shard lock held, so Deliver only takes the
// outbox lock and starts goroutines for anything that needs the hub. A
// stream's cursor lock (sseConn.mu, session.curMu) is taken in Deliver
// and held while the event is queued, so cursor and queue stay in step;
// the outbox lock is taken inside it, never the other way round. The
// per-address counters' mutex (perIP.mu) is a leaf, and so is polls.mu
// but for the per-address count of sessions, taken inside it.
package transport
