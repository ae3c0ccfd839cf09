// The long-poll transport: a session started with ?channel=, then polled
// with ?session= in a loop; 410 starts a new session; a change of channels
// starts a new session; network errors back off and resume the session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, settle } from '../testing/fakes.js';

const lp = (urls = 'http://n1', options = {}) => env(urls, { transport: 'longpoll', ...options });

// answer responds to the last request and lets the client act on it.
async function answer(t, status, body) {
  t.net.last.respond(status, body);
  await settle();
}

const gone = (code) => ({ error: { code, message: `${code}: start a new session` } });

// started returns a client whose session s1 on node1 is started and polling.
async function started(channels = ['news'], urls, options) {
  const t = lp(urls, options);
  const got = [];
  for (const c of channels) t.client.subscribe(c, (data, meta) => got.push([c, data, meta.node]));
  t.clock.advance(0);
  await answer(t, 200, { messages: [], session: 's1', node: 'node1' });
  t.got = got;
  return t;
}

test('starts a session at once, then polls it in a loop with the poll timeout', async () => {
  const t = lp('http://n1/', { pollTimeout: 25000 });
  const got = [];
  t.client.subscribe('news', (d, meta) => got.push([d, meta]));
  t.client.subscribe('chat.a+b', () => {});
  t.clock.advance(0);
  assert.equal(t.net.last.url, 'http://n1/poll?channel=news&channel=chat.a%2Bb&timeout=0s');
  assert.equal(t.client.state, 'connecting');
  await answer(t, 200, { messages: [], session: 'N1.abc', node: 'node1' });
  assert.equal(t.client.state, 'connected');
  assert.equal(t.client.node, 'node1');
  assert.equal(t.net.last.url, 'http://n1/poll?session=N1.abc&timeout=25s');
  await answer(t, 200, { messages: [{ channel: 'news', data: { n: 1 } }, { channel: 'news', data: 2 }], session: 'N1.abc', node: 'node1' });
  assert.deepEqual(got, [
    [{ n: 1 }, { channel: 'news', node: 'node1' }],
    [2, { channel: 'news', node: 'node1' }],
  ]);
  assert.equal(t.net.requests.length, 3);
  assert.equal(t.net.last.url, 'http://n1/poll?session=N1.abc&timeout=25s');
  assert.deepEqual(t.states, ['connecting', 'connected']);
});

test('a response without node leaves node null', async () => {
  const t = lp();
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  await answer(t, 200, { messages: [], session: 's1' });
  assert.equal(t.client.state, 'connected');
  assert.equal(t.client.node, null);
});

test('pollTimeout is sent as a Go duration', async () => {
  const t = lp('http://n1', { pollTimeout: 1500 });
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  await answer(t, 200, { messages: [], session: 's1' });
  assert.equal(t.net.last.params.get('timeout'), '1500ms');
});

test('410 emits the error code and starts a new session at once', async () => {
  const t = await started();
  await answer(t, 200, { messages: [{ channel: 'news', data: 1 }], session: 's1', node: 'node1' });
  await answer(t, 410, gone('session_expired'));
  assert.equal(t.errors.at(-1).code, 'session_expired');
  assert.equal(t.errors.at(-1).status, 410);
  assert.equal(t.net.last.url, 'http://n1/poll?channel=news&timeout=0s');
  assert.equal(t.client.state, 'connecting');
  await answer(t, 200, { messages: [], session: 's2', node: 'node2' });
  assert.equal(t.client.state, 'connected');
  assert.equal(t.client.node, 'node2');
  assert.equal(t.net.last.params.get('session'), 's2');
  await answer(t, 200, { messages: [], session: 's2', node: 'node2' });
  await answer(t, 410, gone('session_overflow'));
  assert.equal(t.errors.at(-1).code, 'session_overflow');
  assert.ok(t.net.last.params.has('channel'));
  assert.deepEqual(t.states, ['connecting', 'connected', 'connecting', 'connected', 'connecting']);
});

test('a session that is gone again at once backs off instead of looping', async () => {
  const t = await started();
  await answer(t, 410, gone('session_expired')); // no poll of s1 succeeded
  await answer(t, 200, { messages: [], session: 's2' });
  const before = t.net.requests.length;
  await answer(t, 410, gone('session_expired'));
  assert.equal(t.net.requests.length, before, 'no new request before the backoff');
  assert.equal(t.client.state, 'disconnected');
  assert.equal(t.clock.pending().length, 1);
});

test('a change of channels aborts the poll and starts a new session', async () => {
  const t = await started(['a']);
  const waiting = t.net.last;
  t.client.subscribe('b', () => {});
  t.client.subscribe('c', () => {});
  t.clock.advance(0);
  await settle();
  assert.equal(waiting.aborted, true);
  assert.equal(t.net.requests.length, 3);
  assert.deepEqual(t.net.last.params.getAll('channel'), ['a', 'b', 'c']);
  assert.equal(t.net.last.params.get('session'), null);
  assert.equal(t.errors.length, 0, 'an abort of ours is not an error');
  await answer(t, 200, { messages: [], session: 's2' });
  assert.equal(t.net.last.params.get('session'), 's2');
});

test('dropping every channel ends polling', async () => {
  const t = await started(['a']);
  t.client.unsubscribe('a');
  t.clock.advance(0);
  await settle();
  assert.equal(t.net.last.aborted, true);
  assert.equal(t.client.state, 'disconnected');
  assert.equal(t.net.requests.length, 2);
});

test('a network error backs off, then resumes the same session on the next URL', async () => {
  const t = await started(['a'], ['http://n1', 'http://n2']);
  t.net.last.fail();
  await settle();
  assert.equal(t.client.state, 'disconnected');
  assert.equal(t.errors.length, 1);
  assert.deepEqual(t.clock.pending(), [750]);
  t.clock.next();
  assert.equal(t.net.last.url, 'http://n2/poll?session=s1&timeout=0s');
  await answer(t, 200, { messages: [{ channel: 'a', data: 'kept' }], session: 's1', node: 'node1' });
  assert.equal(t.client.state, 'connected');
  assert.deepEqual(t.got, [['a', 'kept', 'node1']]);
  assert.equal(t.net.last.url, 'http://n2/poll?session=s1&timeout=25s');
});

test('503 backs off and polls the session again', async () => {
  const t = await started();
  await answer(t, 503, { error: { code: 'unavailable', message: 'poll again' } });
  assert.equal(t.errors.at(-1).code, 'unavailable');
  t.clock.next();
  assert.equal(t.net.last.params.get('session'), 's1');
});

test('a refused session start (HTTP error, body not JSON) backs off', async () => {
  const t = lp();
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  t.net.last.respond(404, 'not json');
  await settle();
  assert.equal(t.errors[0].status, 404);
  assert.equal(t.errors[0].code, undefined);
  assert.equal(t.client.state, 'disconnected');
  assert.equal(t.clock.pending().length, 1);
});

test('a poll with no answer in pollTimeout + 10s is given up and retried', async () => {
  const t = await started(['a'], 'http://n1', { pollTimeout: 25000 });
  const waiting = t.net.last;
  t.clock.advance(34999);
  await settle();
  assert.equal(waiting.aborted, false);
  t.clock.advance(1);
  await settle();
  assert.equal(waiting.aborted, true);
  assert.equal(t.client.state, 'disconnected');
  assert.match(t.errors.at(-1).message, /no answer in 35s/);
  t.clock.next();
  assert.equal(t.net.last.params.get('session'), 's1');
});

test('a disconnect field: messages first, then reconnect with a new session, or stop', async () => {
  const t = await started();
  await answer(t, 200, {
    messages: [{ channel: 'news', data: 'last' }],
    session: 's1',
    disconnect: { code: 3001, reason: 'shutdown', reconnect: true },
  });
  assert.deepEqual(t.got.map(([, d]) => d), ['last']);
  assert.deepEqual(t.events.find(([e]) => e === 'disconnect')[1], { code: 3001, reason: 'shutdown', reconnect: true });
  assert.equal(t.client.state, 'disconnected');
  t.clock.next();
  assert.ok(t.net.last.params.has('channel'), 'the session is over: a new one');
  await answer(t, 200, { messages: [], session: 's2', disconnect: { code: 3500, reason: 'bad request', reconnect: false } });
  assert.equal(t.client.state, 'closed');
  assert.deepEqual(t.clock.pending(), []);
});

test('close aborts the waiting poll', async () => {
  const t = await started();
  t.client.close();
  await settle();
  assert.equal(t.net.last.aborted, true);
  assert.equal(t.client.state, 'closed');
  assert.equal(t.net.requests.length, 2);
  assert.deepEqual(t.clock.pending(), []);
});
