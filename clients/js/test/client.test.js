// The client's surface: arguments, listeners, read-only properties.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '../herald.js';
import { env } from '../testing/fakes.js';

test('subscribe refuses an invalid channel name or a missing handler, synchronously', () => {
  const { client } = env();
  for (const bad of ['', 'a..b', '.a', 'a.', 'a*', 'news.>', 'a b', '$SYS', 'é', 'x'.repeat(1025), 42, null]) {
    assert.throws(() => client.subscribe(bad, () => {}), { code: 'invalid_channel' }, String(bad));
  }
  assert.throws(() => client.subscribe('news'), TypeError);
  for (const good of ['news', 'user.42', 'chat.room-1', 'A-Z_a:z=0@9/,~+#!', 'x'.repeat(1024)]) {
    client.subscribe(good, () => {}).unsubscribe();
  }
});

test('connect refuses an unknown transport and an empty URL list', () => {
  assert.throws(() => connect('http://n1', { transport: 'carrier-pigeon' }), TypeError);
  assert.throws(() => connect([]), TypeError);
});

test('on returns a function that removes the listener', () => {
  const t = env('http://n1', { transport: 'websocket' });
  const seen = [];
  const off = t.client.on('state', (s) => seen.push(s.state));
  t.clock.next();
  off();
  off();
  t.sockets[0].welcome();
  assert.deepEqual(seen, ['connecting']);
  assert.throws(() => t.client.on('state'), TypeError);
});

test('state, node, transport and url are read-only', () => {
  const { client } = env('http://n1', { transport: 'sse' });
  assert.equal(client.state, 'disconnected');
  assert.equal(client.node, null);
  assert.equal(client.transport, 'sse');
  assert.equal(client.url, 'http://n1');
  assert.throws(() => {
    client.state = 'connected';
  }, TypeError);
});

test('listeners added right after connect see the first connecting state', () => {
  const { client, clock } = env();
  const seen = [];
  client.on('state', (s) => seen.push(s));
  clock.next();
  assert.deepEqual(seen, [{ state: 'connecting', url: 'http://n1', node: null, transport: 'websocket' }]);
});
