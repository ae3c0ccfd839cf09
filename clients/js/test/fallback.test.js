// Transport choice: with 'auto', WebSocket, then SSE, then long polling,
// each after failing on every URL of a round; a transport that worked is
// kept; a forced transport is the only one tried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, settle } from '../testing/fakes.js';

// attempts lists what each connection attempt opened, as "transport url".
function opened(t) {
  return [
    ...t.sockets.map((s) => ['ws', s.url, s]),
    ...t.streams.map((s) => ['sse', s.url, s]),
    ...t.net.requests.map((r) => ['poll', r.url, r]),
  ];
}

test('auto falls back from WebSocket to SSE to long polling after failing on every URL', async () => {
  const t = env(['http://n1', 'http://n2']);
  t.client.subscribe('news', () => {});
  const seen = [];
  t.client.on('state', (s) => s.state === 'connecting' && seen.push(`${s.transport} ${s.url}`));

  t.clock.next();
  t.sockets[0].fail();
  t.clock.next();
  t.sockets[1].fail();
  t.clock.next();
  assert.equal(t.streams.length, 1);
  assert.equal(t.streams[0].url, 'http://n1/sse?channel=news');
  t.streams[0].fail();
  assert.equal(t.streams[0].closed, true, 'the library closes a failed EventSource');
  t.clock.next();
  t.streams[1].fail();
  t.clock.next();
  assert.equal(t.net.requests.length, 1);
  assert.equal(t.net.last.url, 'http://n1/poll?channel=news&timeout=0s');
  assert.deepEqual(seen, ['websocket http://n1', 'websocket http://n2', 'sse http://n1', 'sse http://n2', 'longpoll http://n1']);
  assert.equal(t.client.transport, 'longpoll');
  assert.equal(t.sockets.length, 2);

  // Long polling is the last: it keeps being tried.
  t.net.last.fail();
  await settle();
  t.clock.next();
  assert.equal(t.net.last.url, 'http://n2/poll?channel=news&timeout=0s');
  t.net.last.fail();
  await settle();
  t.clock.next();
  assert.equal(t.client.transport, 'longpoll');
  assert.equal(t.net.requests.length, 3);
});

test('a WebSocket that closes before its welcome counts as a failure to connect', () => {
  const t = env('http://n1');
  t.client.subscribe('a', () => {});
  t.clock.next();
  t.sockets[0].serverClose(1006);
  t.clock.next();
  assert.equal(t.client.transport, 'sse');
  assert.equal(t.streams.length, 1);
});

test('once a transport worked, auto keeps it', () => {
  const t = env(['http://n1', 'http://n2']);
  t.client.subscribe('a', () => {});
  t.clock.next();
  t.sockets[0].welcome();
  for (let i = 0; i < 6; i++) {
    t.sockets.at(-1).fail();
    t.clock.next();
  }
  assert.equal(t.sockets.length, 7);
  assert.equal(t.streams.length, 0);
  assert.equal(t.client.transport, 'websocket');
});

test('SSE that worked is kept too', () => {
  const t = env('http://n1');
  t.client.subscribe('a', () => {});
  t.clock.next();
  t.sockets[0].fail();
  t.clock.next();
  t.streams[0].welcome();
  for (let i = 0; i < 4; i++) {
    t.streams.at(-1).fail();
    t.clock.next();
  }
  assert.equal(t.streams.length, 5);
  assert.equal(t.net.requests.length, 0);
});

for (const [transport, kind] of [['websocket', 'ws'], ['sse', 'sse'], ['longpoll', 'poll']]) {
  test(`transport '${transport}' only ever tries ${transport}`, async () => {
    const t = env(['http://n1', 'http://n2'], { transport });
    t.client.subscribe('a', () => {});
    for (let i = 0; i < 5; i++) {
      t.clock.next();
      const [, , last] = opened(t).at(-1);
      last.fail();
      await settle();
    }
    assert.deepEqual(new Set(opened(t).map(([k]) => k)), new Set([kind]));
    assert.equal(opened(t).length, 5);
    assert.equal(t.client.transport, transport);
  });
}

test('auto skips a transport the environment lacks', () => {
  const t = env('http://n1', { WebSocket: null }); // null: there is none
  t.client.subscribe('a', () => {});
  t.clock.next();
  assert.equal(t.client.transport, 'sse');
  assert.equal(t.streams.length, 1);
});

test('a forced transport the environment lacks is an error, and the client closes', () => {
  const t = env('http://n1', { transport: 'sse', EventSource: null });
  t.client.subscribe('a', () => {});
  t.clock.next();
  assert.equal(t.client.state, 'closed');
  assert.equal(t.errors[0].code, 'unsupported');
});
