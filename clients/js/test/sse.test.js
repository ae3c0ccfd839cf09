// The Server-Sent Events transport: one stream per set of channels,
// reopened (once per tick) when the set changes; the library's backoff, not
// EventSource's own retries; disconnect events; the heartbeat watchdog.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env } from '../testing/fakes.js';

const sse = (urls = 'http://n1', options = {}) => env(urls, { transport: 'sse', ...options });

test('with no channel there is nothing to open: the client waits, disconnected', () => {
  const t = sse();
  t.clock.advance(60000);
  assert.equal(t.streams.length, 0);
  assert.equal(t.client.state, 'disconnected');
  assert.deepEqual(t.clock.pending(), []);
});

test('several subscribe calls in one tick open one stream with every channel, URL-encoded', () => {
  const t = sse('http://n1/');
  t.client.subscribe('news', () => {});
  t.client.subscribe('chat.room+1', () => {});
  t.client.subscribe('a/b#c', () => {});
  t.clock.advance(0);
  assert.equal(t.streams.length, 1);
  assert.equal(t.streams[0].url, 'http://n1/sse?channel=news&channel=chat.room%2B1&channel=a%2Fb%23c');
  assert.deepEqual(t.streams[0].channels, ['news', 'chat.room+1', 'a/b#c']);
  assert.equal(t.client.state, 'connecting');
  t.streams[0].welcome('node3');
  assert.equal(t.client.state, 'connected');
  assert.equal(t.client.node, 'node3');
});

test('a change of channels reopens the stream, on the same node, once per tick', () => {
  const t = sse(['http://n1', 'http://n2']);
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  t.streams[0].welcome();
  t.client.subscribe('b', () => {});
  t.client.subscribe('c', () => {});
  assert.equal(t.streams.length, 1, 'nothing before the tick ends');
  t.clock.advance(0);
  assert.equal(t.streams.length, 2);
  assert.equal(t.streams[0].closed, true);
  assert.deepEqual(t.streams[1].channels, ['a', 'b', 'c']);
  assert.ok(t.streams[1].url.startsWith('http://n1/'));
  assert.deepEqual(t.states, ['connecting', 'connected', 'connecting']);

  // A second handler of a channel, or a change undone in the same tick, changes nothing.
  t.streams[1].welcome();
  t.client.subscribe('a', () => {});
  t.client.subscribe('d', () => {}).unsubscribe();
  t.clock.advance(0);
  assert.equal(t.streams.length, 2);

  t.client.unsubscribe('b');
  t.clock.advance(0);
  assert.deepEqual(t.streams[2].channels, ['a', 'c']);
});

test('dropping the last channel closes the stream and leaves the client disconnected', () => {
  const t = sse();
  const sub = t.client.subscribe('a', () => {});
  t.clock.advance(0);
  t.streams[0].welcome();
  sub.unsubscribe();
  t.clock.advance(0);
  assert.equal(t.streams[0].closed, true);
  assert.equal(t.client.state, 'disconnected');
  assert.deepEqual(t.clock.pending(), []);
  t.client.subscribe('b', () => {});
  t.clock.advance(0);
  assert.deepEqual(t.streams[1].channels, ['b']);
});

test('message events reach the handlers with the node of the welcome', () => {
  const t = sse();
  const got = [];
  t.client.subscribe('news', (data, meta) => got.push([data, meta]));
  t.clock.advance(0);
  t.streams[0].welcome('node9');
  t.streams[0].emit('message', { channel: 'news', data: { hello: 'world' } });
  t.streams[0].emit('message', '{"channel":"news","data":{ "a" : [1,\n 2] }}');
  assert.deepEqual(got, [
    [{ hello: 'world' }, { channel: 'news', node: 'node9' }],
    [{ a: [1, 2] }, { channel: 'news', node: 'node9' }],
  ]);
});

test('an error closes the EventSource and reconnects with the backoff, to the next URL', () => {
  const t = sse(['http://n1', 'http://n2']);
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  t.streams[0].welcome();
  t.streams[0].fail();
  assert.equal(t.streams[0].closed, true);
  assert.equal(t.client.state, 'disconnected');
  assert.deepEqual(t.clock.pending(), [750]);
  t.clock.next();
  assert.ok(t.streams[1].url.startsWith('http://n2/sse?'));
  t.streams[0].emit('message', { channel: 'a', data: 1 }); // the old stream is ignored
  assert.equal(t.events.filter(([e]) => e === 'message').length, 0);
});

test('a change of channels during the backoff waits for the reconnect', () => {
  const t = sse();
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  t.streams[0].fail();
  t.client.subscribe('b', () => {});
  t.clock.advance(0);
  assert.equal(t.streams.length, 1);
  t.clock.next();
  assert.deepEqual(t.streams[1].channels, ['a', 'b']);
});

test('disconnect event: reconnect:true reconnects, reconnect:false stops', () => {
  const t = sse();
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  t.streams[0].welcome();
  t.streams[0].emit('disconnect', { code: 3008, reason: 'slow consumer', reconnect: true });
  assert.equal(t.streams[0].closed, true);
  assert.equal(t.client.state, 'disconnected');
  t.clock.next();
  t.streams[1].welcome();
  t.streams[1].emit('disconnect', { code: 3500, reason: 'bad request', reconnect: false });
  assert.equal(t.streams[1].closed, true);
  assert.equal(t.client.state, 'closed');
  assert.deepEqual(t.clock.pending(), []);
  assert.deepEqual(t.events.filter(([e]) => e === 'disconnect').map(([, d]) => d.code), [3008, 3500]);
});

test('no watchdog while the server sends its heartbeats as comments', () => {
  const t = sse();
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  t.streams[0].welcome('node1', 20);
  t.clock.advance(10 * 60000);
  assert.equal(t.client.state, 'connected');
  assert.equal(t.streams.length, 1);
});

test('heartbeat events arm a watchdog: silence for 2 intervals + 5s reconnects', () => {
  const t = sse();
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  t.streams[0].welcome('node1', 20);
  t.streams[0].emit('heartbeat', '{}');
  t.clock.advance(40000);
  t.streams[0].emit('message', { channel: 'a', data: 1 }); // any event counts
  t.clock.advance(44999);
  assert.equal(t.client.state, 'connected');
  t.clock.advance(1);
  assert.equal(t.client.state, 'disconnected');
  assert.equal(t.streams[0].closed, true);
  assert.match(t.errors.at(-1).message, /no event .* in 45s/);
});
