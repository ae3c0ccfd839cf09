// History and resume over WebSocket: positions from subscribe replies and
// messages, duplicates dropped, subscribe with since after every reconnect,
// recovery reports, subscribe options, position() and history().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env } from '../testing/fakes.js';

// connected returns a client connected over WebSocket to its first URL.
function connected(urls = 'http://n1', options = {}) {
  const t = env(urls, { transport: 'websocket', ...options });
  t.clock.next();
  t.ws = t.sockets[0];
  t.ws.welcome('node1');
  return t;
}

const msg = (channel, epoch, offset, data) => ({ op: 'message', channel, epoch, offset, data });
const recoveries = (t) => t.events.filter(([e]) => e === 'recovery').map(([, v]) => v);

test('positions come from subscribe replies and messages; handlers and listeners get epoch and offset', () => {
  const t = connected();
  const got = [];
  t.client.subscribe('news', (data, meta) => got.push([data, meta]));
  t.client.subscribe('plain', (data, meta) => got.push([data, meta]));
  assert.equal(t.client.position('news'), undefined, 'no position before the reply');
  t.ws.replyWith(1, { epoch: 'E1', offset: 4 });
  t.ws.reply(2); // a channel without history
  assert.deepEqual(t.client.position('news'), { epoch: 'E1', offset: 4 });
  assert.equal(t.client.position('plain'), undefined);

  t.ws.receive(msg('news', 'E1', 5, { n: 5 }));
  t.ws.receive({ op: 'message', channel: 'plain', data: 'p' });
  assert.deepEqual(got, [
    [{ n: 5 }, { channel: 'news', node: 'node1', epoch: 'E1', offset: 5 }],
    ['p', { channel: 'plain', node: 'node1' }],
  ]);
  const messages = t.events.filter(([e]) => e === 'message').map(([, m]) => m);
  assert.deepEqual(messages, [
    { channel: 'news', data: { n: 5 }, node: 'node1', epoch: 'E1', offset: 5 },
    { channel: 'plain', data: 'p', node: 'node1' },
  ]);
  assert.deepEqual(t.client.position('news'), { epoch: 'E1', offset: 5 });
  assert.equal(t.client.position('unknown'), undefined);

  // position() returns a copy.
  t.client.position('news').offset = 99;
  assert.equal(t.client.position('news').offset, 5);
});

test('a message at or before the position in the same epoch is a duplicate and is dropped', () => {
  const t = connected();
  const got = [];
  t.client.subscribe('news', (d, meta) => got.push(`${meta.epoch}:${meta.offset}`));
  t.ws.replyWith(1, { epoch: 'E1', offset: 2 });
  t.ws.receive(msg('news', 'E1', 2, 'old'));
  t.ws.receive(msg('news', 'E1', 3, 'new'));
  t.ws.receive(msg('news', 'E1', 3, 'again'));
  t.ws.receive(msg('news', 'E1', 1, 'older'));
  t.ws.receive(msg('news', 'E1', 4, 'next'));
  t.ws.receive(msg('news', 'E2', 1, 'another epoch')); // a reset: offsets restart at 1
  t.ws.receive(msg('news', 'E2', 1, 'dup in the new epoch'));
  assert.deepEqual(got, ['E1:3', 'E1:4', 'E2:1']);
  assert.equal(t.events.filter(([e]) => e === 'message').length, 3, 'a duplicate reaches no listener either');
  assert.deepEqual(t.client.position('news'), { epoch: 'E2', offset: 1 });
});

test('after a reconnect to another node, subscribes resume with since; replayed messages are delivered', () => {
  const t = connected(['http://n1', 'http://n2']);
  const got = [];
  t.client.subscribe('news', (d) => got.push(d));
  t.client.subscribe('empty', () => {});
  t.client.subscribe('plain', () => {});
  t.ws.replyWith(1, { epoch: 'E1', offset: 5 });
  t.ws.replyWith(2, { epoch: '', offset: 0 }); // history, but no message yet
  t.ws.reply(3);
  t.ws.receive(msg('news', 'E1', 6, 6));
  t.ws.fail();
  t.clock.next();
  const ws2 = t.sockets[1];
  assert.equal(ws2.url, 'ws://n2/ws');
  ws2.welcome('node2');
  assert.deepEqual(ws2.sent, [
    { id: 4, op: 'subscribe', channel: 'news', since: { epoch: 'E1', offset: 6 } },
    { id: 5, op: 'subscribe', channel: 'empty', since: { epoch: '', offset: 0 } },
    { id: 6, op: 'subscribe', channel: 'plain' },
  ]);

  // The reply states the position after the replay; the replay follows it.
  ws2.replyWith(4, { recovered: true, epoch: 'E1', offset: 8 });
  assert.deepEqual(t.client.position('news'), { epoch: 'E1', offset: 6 }, 'the replay is still to come');
  ws2.receive(msg('news', 'E1', 7, 7));
  ws2.receive(msg('news', 'E1', 8, 8));
  ws2.receive(msg('news', 'E1', 8, 8)); // a duplicate
  ws2.replyWith(5, { recovered: true, epoch: 'E9', offset: 1 });
  assert.deepEqual(t.client.position('empty'), { epoch: 'E9', offset: 0 });
  ws2.receive(msg('empty', 'E9', 1, 'first'));
  ws2.reply(6);
  ws2.receive(msg('news', 'E1', 9, 9));
  assert.deepEqual(got, [6, 7, 8, 9]);
  assert.deepEqual(t.client.position('news'), { epoch: 'E1', offset: 9 });
  assert.deepEqual(t.client.position('empty'), { epoch: 'E9', offset: 1 });
  assert.deepEqual(recoveries(t), [
    { channel: 'news', recovered: true, epoch: 'E1', offset: 8 },
    { channel: 'empty', recovered: true, epoch: 'E9', offset: 1 },
  ]);

  // And again on the next reconnect, from where the client is now.
  ws2.serverClose(1001);
  t.clock.next();
  t.sockets[2].welcome();
  assert.deepEqual(t.sockets[2].lastSent('subscribe', 'news').since, { epoch: 'E1', offset: 9 });
  assert.deepEqual(t.sockets[2].lastSent('subscribe', 'empty').since, { epoch: 'E9', offset: 1 });
  assert.equal(t.sockets[2].lastSent('subscribe', 'plain').since, undefined);
});

test('a channel whose reply never came is subscribed again without since', () => {
  const t = connected();
  t.client.subscribe('news', () => {});
  t.ws.fail();
  t.clock.next();
  t.sockets[1].welcome();
  assert.deepEqual(t.sockets[1].sent, [{ id: 2, op: 'subscribe', channel: 'news' }]);
});

test('a reply with recovered:false emits recovery with the reason and moves the position', () => {
  const t = connected();
  t.client.subscribe('news', () => {});
  t.ws.replyWith(1, { epoch: 'E1', offset: 3 });
  t.ws.fail();
  t.clock.next();
  const ws2 = t.sockets[1];
  const seen = [];
  t.client.on('recovery', (r) => seen.push([r, t.client.position('news')]));
  ws2.welcome();
  ws2.replyWith(2, { recovered: false, reason: 'epoch_changed', epoch: 'E2', offset: 40 });
  assert.deepEqual(seen, [
    [{ channel: 'news', recovered: false, epoch: 'E2', offset: 40, reason: 'epoch_changed' }, { epoch: 'E2', offset: 40 }],
  ]);
  ws2.receive(msg('news', 'E2', 40, 'dup'));
  ws2.receive(msg('news', 'E2', 41, 'live'));
  assert.deepEqual(t.events.filter(([e]) => e === 'message').map(([, m]) => m.data), ['live']);
});

test('since on a channel without history: recovery no_history, and the position is forgotten', () => {
  const t = connected();
  t.client.subscribe('plain', () => {}, { since: { epoch: 'E1', offset: 3 } });
  assert.deepEqual(t.ws.sent, [{ id: 1, op: 'subscribe', channel: 'plain', since: { epoch: 'E1', offset: 3 } }]);
  t.ws.replyWith(1, { recovered: false, reason: 'no_history' });
  assert.deepEqual(recoveries(t), [{ channel: 'plain', recovered: false, epoch: undefined, offset: undefined, reason: 'no_history' }]);
  assert.equal(t.client.position('plain'), undefined);
  t.ws.fail();
  t.clock.next();
  t.sockets[1].welcome();
  assert.deepEqual(t.sockets[1].sent, [{ id: 2, op: 'subscribe', channel: 'plain' }]);
});

test('an in-band recovery frame emits recovery and sets the position', () => {
  const t = connected();
  const got = [];
  t.client.subscribe('news', (d) => got.push(d));
  t.ws.replyWith(1, { epoch: 'E1', offset: 1 });
  t.ws.receive(msg('news', 'E1', 2, 2));
  t.ws.receive({ op: 'recovery', channel: 'news', recovered: false, epoch: 'E1', offset: 9, reason: 'gap' });
  t.ws.receive(msg('news', 'E1', 10, 10));
  t.ws.receive({ op: 'recovery', channel: 'other', recovered: false, epoch: 'X', offset: 1, reason: 'gap' }); // not subscribed
  assert.deepEqual(recoveries(t), [{ channel: 'news', recovered: false, epoch: 'E1', offset: 9, reason: 'gap' }]);
  assert.deepEqual(got, [2, 10]);
  assert.deepEqual(t.client.position('news'), { epoch: 'E1', offset: 10 });
});

test('subscribe with since sends it on the first subscribe, connected or not', () => {
  const t = env('http://n1', { transport: 'websocket' });
  const got = [];
  t.client.subscribe('news', (d) => got.push(d), { since: { epoch: 'E1', offset: 5 } });
  assert.deepEqual(t.client.position('news'), { epoch: 'E1', offset: 5 });
  t.clock.next();
  t.sockets[0].welcome();
  assert.deepEqual(t.sockets[0].sent, [{ id: 1, op: 'subscribe', channel: 'news', since: { epoch: 'E1', offset: 5 } }]);
  t.sockets[0].replyWith(1, { recovered: true, epoch: 'E1', offset: 7 });
  t.sockets[0].receive(msg('news', 'E1', 6, 6));
  t.sockets[0].receive(msg('news', 'E1', 7, 7));
  assert.deepEqual(got, [6, 7]);

  // While connected: sent at once. A later handler's options are ignored.
  t.client.subscribe('b', () => {}, { since: { epoch: '', offset: 0 } });
  t.client.subscribe('b', () => {}, { since: { epoch: 'Z', offset: 100 } });
  assert.deepEqual(t.sockets[0].sent.at(-1), { id: 2, op: 'subscribe', channel: 'b', since: { epoch: '', offset: 0 } });
  assert.equal(t.sockets[0].sent.length, 2);
  assert.deepEqual(t.client.position('b'), { epoch: '', offset: 0 });
});

test('subscribe with rewind replays the last n, and asks again until answered', () => {
  const t = connected();
  const got = [];
  t.client.subscribe('news', (d) => got.push(d), { rewind: 3 });
  assert.deepEqual(t.ws.sent, [{ id: 1, op: 'subscribe', channel: 'news', since: { rewind: 3 } }]);
  assert.equal(t.client.position('news'), undefined);
  t.ws.fail(); // lost before the reply
  t.clock.next();
  const ws2 = t.sockets[1];
  ws2.welcome();
  assert.deepEqual(ws2.sent, [{ id: 2, op: 'subscribe', channel: 'news', since: { rewind: 3 } }]);
  ws2.replyWith(2, { recovered: true, epoch: 'E1', offset: 10 });
  assert.deepEqual(t.client.position('news'), { epoch: 'E1', offset: 7 });
  for (const o of [8, 9, 10, 11]) ws2.receive(msg('news', 'E1', o, o));
  assert.deepEqual(got, [8, 9, 10, 11]);
  ws2.fail();
  t.clock.next();
  t.sockets[2].welcome();
  assert.deepEqual(t.sockets[2].sent, [{ id: 3, op: 'subscribe', channel: 'news', since: { epoch: 'E1', offset: 11 } }]);
});

test('subscribe refuses bad options synchronously', () => {
  const t = env();
  const h = () => {};
  for (const options of [
    { since: { epoch: 'E1' } },
    { since: { epoch: 1, offset: 1 } },
    { since: { epoch: 'E:1', offset: 1 } },
    { since: { epoch: 'E1', offset: -1 } },
    { since: { epoch: 'E1', offset: 1.5 } },
    { rewind: 0 },
    { rewind: '5' },
    { since: { epoch: 'E1', offset: 1 }, rewind: 2 },
  ]) {
    assert.throws(() => t.client.subscribe('a', h, options), TypeError, JSON.stringify(options));
  }
  t.client.subscribe('a', h, {});
  t.client.subscribe('b', h, null);
});

test('unsubscribing forgets the position: subscribing again starts from now', () => {
  const t = connected();
  t.client.subscribe('news', () => {});
  t.ws.replyWith(1, { epoch: 'E1', offset: 5 });
  t.client.unsubscribe('news');
  assert.equal(t.client.position('news'), undefined);
  t.ws.replyWith(1, { epoch: 'E1', offset: 5 }); // a late reply changes nothing
  assert.equal(t.client.position('news'), undefined);
  t.client.subscribe('news', () => {});
  assert.deepEqual(t.ws.sent.at(-1), { id: 3, op: 'subscribe', channel: 'news' });
});

test('history sends a command and resolves with the reply', async () => {
  const t = connected();
  const p = t.client.history('news', { limit: 2, since: 10 });
  assert.deepEqual(t.ws.sent.at(-1), { id: 1, op: 'history', channel: 'news', limit: 2, since: 10 });
  const messages = [
    { channel: 'news', epoch: 'E1', offset: 11, data: 'a' },
    { channel: 'news', epoch: 'E1', offset: 12, data: 'b' },
  ];
  t.ws.replyWith(1, { epoch: 'E1', offset: 12, messages });
  assert.deepEqual(await p, { epoch: 'E1', offset: 12, messages });
  assert.equal(t.events.filter(([e]) => e === 'message').length, 0, 'history is not delivered to the handlers');

  const q = t.client.history('news');
  assert.deepEqual(t.ws.sent.at(-1), { id: 2, op: 'history', channel: 'news' });
  t.ws.replyWith(2, { epoch: '', offset: 0, messages: [] });
  assert.deepEqual(await q, { epoch: '', offset: 0, messages: [] });
});

test('history rejects with the code of an error reply, when not connected, and on other transports', async () => {
  const t = connected();
  const p1 = t.client.history('plain');
  const p2 = t.client.history('secret');
  t.ws.reply(2, { code: 'forbidden', message: 'not subscribed to secret' });
  t.ws.reply(1, { code: 'no_history', message: 'plain keeps no history' });
  await assert.rejects(p1, (e) => e.code === 'no_history' && e.channel === 'plain' && e instanceof Error);
  await assert.rejects(p2, { code: 'forbidden', channel: 'secret' });
  assert.equal(t.errors.length, 0, 'a rejected history is not also an error event');
  const p3 = t.client.history('news');
  t.ws.fail();
  await assert.rejects(p3, { code: 'unavailable' });
  await assert.rejects(t.client.history('news'), { code: 'unavailable' });

  const s = env('http://n1', { transport: 'sse' });
  await assert.rejects(s.client.history('news'), { code: 'unsupported' });
  const l = env('http://n1', { transport: 'longpoll' });
  await assert.rejects(l.client.history('news'), { code: 'unsupported' });
});

test('publish still resolves with nothing', async () => {
  const t = connected();
  const p = t.client.publish('news', 1);
  t.ws.replyWith(1, { epoch: 'E1', offset: 3 });
  assert.equal(await p, undefined);
});
