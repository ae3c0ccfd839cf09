// The WebSocket transport: welcome, subscribe commands and replies, message
// dispatch, server disconnects, publish, and going round the URLs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, settle } from '../testing/fakes.js';

// connected returns a client connected over WebSocket to its first URL.
function connected(urls = 'http://n1', options = {}) {
  const t = env(urls, options);
  t.clock.next();
  t.ws = t.sockets[0];
  t.ws.welcome('node1');
  return t;
}

const ops = (ws) => ws.sent.map((c) => `${c.op} ${c.channel ?? ''}`.trim());

test('connects to <url>/ws, waits for the welcome, then subscribes every channel with handlers', () => {
  const t = env('https://herald.example/base/');
  t.client.subscribe('news', () => {});
  t.client.subscribe('alerts', () => {});
  t.client.subscribe('news', () => {}); // a second handler: no second command
  t.clock.next();
  const ws = t.sockets[0];
  assert.equal(ws.url, 'wss://herald.example/base/ws');
  assert.equal(t.client.state, 'connecting');
  assert.deepEqual(ws.sent, []);
  ws.welcome('node7');
  assert.deepEqual(ws.sent, [
    { id: 1, op: 'subscribe', channel: 'news' },
    { id: 2, op: 'subscribe', channel: 'alerts' },
  ]);
  assert.equal(t.client.state, 'connected');
  assert.equal(t.client.node, 'node7');
  assert.equal(t.client.transport, 'websocket');
  assert.equal(t.client.url, 'https://herald.example/base/');
  assert.deepEqual(t.states, ['connecting', 'connected']);
  const last = t.events.filter(([e]) => e === 'state').at(-1)[1];
  assert.deepEqual(last, { state: 'connected', url: 'https://herald.example/base/', node: 'node7', transport: 'websocket' });
});

test('subscribe and unsubscribe while connected send commands at once', () => {
  const t = connected();
  const sub = t.client.subscribe('a', () => {});
  t.client.subscribe('b', () => {});
  sub.unsubscribe();
  sub.unsubscribe(); // twice is harmless
  t.client.unsubscribe('b');
  t.client.unsubscribe('never');
  assert.deepEqual(ops(t.ws), ['subscribe a', 'subscribe b', 'unsubscribe a', 'unsubscribe b']);
  assert.deepEqual(t.ws.sent.map((c) => c.id), [1, 2, 3, 4]);
});

test('re-subscribes everything after every reconnect', () => {
  const t = connected('http://n1', { transport: 'websocket' });
  t.client.subscribe('a', () => {});
  t.client.subscribe('b', () => {});
  t.client.subscribe('c', () => {}).unsubscribe();
  t.ws.fail();
  assert.equal(t.client.state, 'disconnected');
  t.clock.next();
  const ws2 = t.sockets[1];
  ws2.welcome('node2');
  assert.deepEqual(ops(ws2), ['subscribe a', 'subscribe b']);
  ws2.serverClose(1006);
  t.clock.next();
  t.sockets[2].welcome('node1');
  assert.deepEqual(ops(t.sockets[2]), ['subscribe a', 'subscribe b']);
  assert.equal(t.client.node, 'node1');
});

test('error replies to subscribe emit error with the code; already_subscribed is harmless', () => {
  const t = env();
  t.client.subscribe('a', () => {});
  t.client.subscribe('b', () => {});
  t.clock.next();
  t.sockets[0].welcome();
  t.sockets[0].reply(1, { code: 'already_subscribed', message: 'already subscribed to a' });
  t.sockets[0].reply(2, { code: 'too_many_subscriptions', message: 'too many' });
  assert.equal(t.errors.length, 1);
  assert.equal(t.errors[0].code, 'too_many_subscriptions');
  assert.equal(t.errors[0].channel, 'b');
  assert.ok(t.errors[0] instanceof Error);
});

test('messages go to the message listeners, then to every handler of their channel', () => {
  const t = connected();
  const got = [];
  t.client.on('message', (m) => got.push(['message', m]));
  t.client.subscribe('news', (data, meta) => got.push(['h1', data, meta]));
  t.client.subscribe('news', (data, meta) => got.push(['h2', data, meta]));
  t.client.subscribe('other', () => got.push(['other']));
  t.ws.receive({ op: 'message', channel: 'news', data: { n: 1 } });
  assert.deepEqual(got, [
    ['message', { channel: 'news', data: { n: 1 }, node: 'node1' }],
    ['h1', { n: 1 }, { channel: 'news', node: 'node1' }],
    ['h2', { n: 1 }, { channel: 'news', node: 'node1' }],
  ]);
});

test('unsubscribe drops one handler; client.unsubscribe drops them all', () => {
  const t = connected();
  const got = [];
  const s1 = t.client.subscribe('news', (d) => got.push(`h1:${d}`));
  t.client.subscribe('news', (d) => got.push(`h2:${d}`));
  s1.unsubscribe();
  t.ws.receive({ op: 'message', channel: 'news', data: 1 });
  assert.deepEqual(ops(t.ws), ['subscribe news'], 'one handler left: no unsubscribe command');
  t.client.unsubscribe('news');
  t.ws.receive({ op: 'message', channel: 'news', data: 2 });
  assert.deepEqual(got, ['h2:1']);
  assert.deepEqual(ops(t.ws), ['subscribe news', 'unsubscribe news']);
});

test('the same function subscribed twice is called twice, and unsubscribed once per subscription', () => {
  const t = connected();
  let n = 0;
  const f = () => n++;
  const s1 = t.client.subscribe('a', f);
  t.client.subscribe('a', f);
  t.ws.receive({ op: 'message', channel: 'a', data: null });
  s1.unsubscribe();
  t.ws.receive({ op: 'message', channel: 'a', data: null });
  assert.equal(n, 3);
});

test('a handler that throws does not stop the other handlers nor the client', () => {
  const t = connected();
  const got = [];
  const boom = new Error('boom');
  t.client.subscribe('a', () => {
    throw boom;
  });
  t.client.subscribe('a', (d) => got.push(d));
  t.client.on('message', () => {
    throw new Error('listener');
  });
  t.client.on('state', () => {
    throw new Error('state listener');
  });
  t.ws.receive({ op: 'message', channel: 'a', data: 1 });
  t.ws.receive({ op: 'message', channel: 'a', data: 2 });
  assert.deepEqual(got, [1, 2]);
  assert.deepEqual(t.errors.map((e) => e.message), ['listener', 'boom', 'listener', 'boom']);
  assert.equal(t.errors[1], boom);
  t.ws.fail(); // state listener throws: the client still schedules its reconnect
  assert.equal(t.client.state, 'disconnected');
  assert.equal(t.clock.pending().length, 1);
});

test('a throwing error listener does not loop', () => {
  const t = connected();
  const logged = [];
  const original = console.error;
  console.error = (...args) => logged.push(args);
  try {
    t.client.on('error', () => {
      throw new Error('error listener');
    });
    t.client.subscribe('a', () => {
      throw new Error('handler');
    });
    t.ws.receive({ op: 'message', channel: 'a', data: 1 });
  } finally {
    console.error = original;
  }
  assert.deepEqual(t.errors.map((e) => e.message), ['handler']);
  assert.equal(logged.length, 1);
});

test('a malformed frame is reported and ignored', () => {
  const t = connected();
  t.ws.receive('not json');
  assert.equal(t.errors.length, 1);
  assert.equal(t.client.state, 'connected');
});

test('disconnect with reconnect:true emits disconnect and reconnects to the next URL after a backoff', () => {
  const t = connected(['http://n1', 'http://n2']);
  t.ws.receive({ op: 'disconnect', code: 3001, reason: 'shutdown', reconnect: true });
  assert.deepEqual(t.events.find(([e]) => e === 'disconnect')[1], { code: 3001, reason: 'shutdown', reconnect: true });
  assert.equal(t.ws.closedWith, 1000);
  assert.equal(t.client.state, 'disconnected');
  assert.deepEqual(t.clock.pending(), [750]);
  t.clock.next();
  assert.equal(t.sockets[1].url, 'ws://n2/ws');
});

test('disconnect with reconnect:false stops for good', () => {
  const t = connected(['http://n1', 'http://n2']);
  t.ws.receive({ op: 'disconnect', code: 3502, reason: 'message too big', reconnect: false });
  assert.deepEqual(t.events.find(([e]) => e === 'disconnect')[1], { code: 3502, reason: 'message too big', reconnect: false });
  assert.equal(t.client.state, 'closed');
  assert.deepEqual(t.states, ['connecting', 'connected', 'closed']);
  assert.deepEqual(t.clock.pending(), []);
  t.ws.serverClose(3502, 'message too big');
  t.client.subscribe('a', () => {});
  t.clock.advance(60000);
  assert.equal(t.sockets.length, 1);
});

test('a close code of 3500 and above without a disconnect frame also stops', () => {
  const t = connected();
  t.ws.serverClose(3500, 'bad request');
  assert.equal(t.client.state, 'closed');
  assert.deepEqual(t.events.find(([e]) => e === 'disconnect')[1], { code: 3500, reason: 'bad request', reconnect: false });
});

test('a full node (3504) is left for another, after a backoff', () => {
  const t = connected(['http://n1', 'http://n2']);
  t.ws.receive({ op: 'disconnect', code: 3504, reason: 'node full', reconnect: true });
  t.ws.serverClose(3504, 'node full');
  assert.equal(t.client.state, 'disconnected');
  assert.equal(t.clock.pending().length, 1);
  t.clock.next();
  assert.equal(t.sockets[1].url, 'ws://n2/ws');
});

test('a 3504 close without its disconnect frame still reconnects', () => {
  const t = connected(['http://n1', 'http://n2']);
  t.ws.serverClose(3504, 'node full');
  assert.equal(t.client.state, 'disconnected');
  t.clock.next();
  assert.equal(t.sockets[1].url, 'ws://n2/ws');
});

test('publish sends a command and resolves on its reply', async () => {
  const t = connected();
  const p = t.client.publish('chat.room1', { text: 'hi' });
  assert.deepEqual(t.ws.sent.at(-1), { id: 1, op: 'publish', channel: 'chat.room1', data: { text: 'hi' } });
  t.ws.reply(1);
  assert.equal(await p, undefined);
});

test('publish rejects with the code of an error reply, matched by id', async () => {
  const t = connected();
  const p1 = t.client.publish('news', 1);
  const p2 = t.client.publish('chat.a', 2);
  t.ws.reply(2);
  t.ws.reply(1, { code: 'forbidden', message: 'clients may not publish to news' });
  await assert.rejects(p1, (e) => e.code === 'forbidden' && e.channel === 'news' && /may not publish/.test(e.message));
  await p2;
  assert.equal(t.errors.length, 0, 'a rejected publish is not also an error event');
});

test('publish rejects when not connected, when the connection is lost, and on other transports', async () => {
  const t = env('http://n1');
  await assert.rejects(t.client.publish('a', 1), { code: 'unavailable' });
  t.clock.next();
  t.sockets[0].welcome();
  const p = t.client.publish('a', 1);
  t.sockets[0].fail();
  await assert.rejects(p, { code: 'unavailable' });

  const s = env('http://n1', { transport: 'sse' });
  await assert.rejects(s.client.publish('a', 1), { code: 'unsupported' });
});

test('each attempt goes to the next URL, so a client lands on a node that is up', () => {
  const t = env(['http://n1', 'http://n2', 'http://n3'], { transport: 'websocket' });
  t.clock.next();
  t.sockets[0].fail(); // n1 is down
  t.clock.next();
  assert.equal(t.sockets[1].url, 'ws://n2/ws');
  assert.equal(t.client.url, 'http://n2');
  t.sockets[1].welcome('node2');
  assert.equal(t.client.node, 'node2');
  t.sockets[1].fail(); // n2 goes away
  t.clock.next();
  assert.equal(t.sockets[2].url, 'ws://n3/ws');
  t.sockets[2].fail();
  t.clock.next();
  assert.equal(t.sockets[3].url, 'ws://n1/ws', 'round-robin wraps around');
});

test('the state event tells which URL is being tried', () => {
  const t = env(['http://n1', 'http://n2'], { transport: 'websocket' });
  t.clock.next();
  t.sockets[0].fail();
  t.clock.next();
  const tried = t.events.filter(([e, s]) => e === 'state' && s.state === 'connecting').map(([, s]) => s.url);
  assert.deepEqual(tried, ['http://n1', 'http://n2']);
});

test('relative and empty URLs resolve against the page location', async (ctx) => {
  globalThis.location = { href: 'https://app.example/page/index.html' };
  ctx.after(() => delete globalThis.location);
  const t = env('');
  t.clock.next();
  assert.equal(t.sockets[0].url, 'wss://app.example/ws');
  const r = env('/herald');
  r.clock.next();
  assert.equal(r.sockets[0].url, 'wss://app.example/herald/ws');
  const ws = env('ws://other:8080/');
  ws.clock.next();
  assert.equal(ws.sockets[0].url, 'ws://other:8080/ws');
  await settle();
});

test('close stops for good: socket closed, state closed, no timers left', () => {
  const t = connected();
  t.client.close();
  assert.equal(t.ws.closedWith, 1000);
  assert.equal(t.client.state, 'closed');
  assert.deepEqual(t.clock.pending(), []);
  t.client.close();
  assert.deepEqual(t.states, ['connecting', 'connected', 'closed']);
  t.ws.receive({ op: 'message', channel: 'a', data: 1 });
  assert.equal(t.events.filter(([e]) => e === 'message').length, 0);
});

test('close from a state listener during connecting stops the attempt', () => {
  const t = env();
  t.client.on('state', (s) => s.state === 'connecting' && t.client.close());
  t.clock.next();
  assert.equal(t.client.state, 'closed');
  assert.deepEqual(t.clock.pending(), []);
});
