// History and resume over long polling: positions from envelopes and
// response cursors, ?cursor= on every new session, recovery items,
// duplicates dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, settle } from '../testing/fakes.js';

const lp = (urls = 'http://n1', options = {}) => env(urls, { transport: 'longpoll', ...options });

async function answer(t, status, body) {
  t.net.last.respond(status, body);
  await settle();
}

const gone = (code) => ({ error: { code, message: `${code}: start a new session` } });
const env1 = (channel, epoch, offset, data) => ({ channel, epoch, offset, data });
const recoveries = (t) => t.events.filter(([e]) => e === 'recovery').map(([, v]) => v);

test('after session_expired, the new session starts with the cursor of the known positions', async () => {
  const t = lp();
  const got = [];
  t.client.subscribe('news', (d, meta) => got.push([d, meta]));
  t.client.subscribe('empty', () => {});
  t.client.subscribe('plain', () => {});
  t.clock.advance(0);
  assert.equal(t.net.last.params.get('cursor'), null, 'nothing to resume on a first session');
  await answer(t, 200, { messages: [], session: 's1', node: 'node1', cursor: 'E1:4,:0,-' });
  assert.deepEqual(t.client.position('news'), { epoch: 'E1', offset: 4 });
  assert.deepEqual(t.client.position('empty'), { epoch: '', offset: 0 });
  assert.equal(t.client.position('plain'), undefined);
  await answer(t, 200, {
    messages: [env1('news', 'E1', 5, 'five'), { channel: 'plain', data: 'p' }],
    session: 's1',
    node: 'node1',
    cursor: 'E1:5,:0,-',
  });
  assert.deepEqual(got, [['five', { channel: 'news', node: 'node1', epoch: 'E1', offset: 5 }]]);
  await answer(t, 410, gone('session_expired'));
  assert.equal(t.errors.at(-1).code, 'session_expired');
  const req = t.net.last;
  assert.equal(req.params.get('session'), null);
  assert.deepEqual(req.params.getAll('channel'), ['news', 'empty', 'plain']);
  assert.equal(req.params.get('cursor'), 'E1:5,:0,-');
  assert.equal(req.url, 'http://n1/poll?channel=news&channel=empty&channel=plain&cursor=E1%3A5%2C%3A0%2C-&timeout=0s');

  // The first response of the new session: recovery items, then the missed messages.
  await answer(t, 200, {
    messages: [
      { channel: 'news', recovered: true, epoch: 'E1', offset: 5 },
      { channel: 'empty', recovered: false, epoch: 'X1', offset: 30, reason: 'too_far_behind' },
      env1('news', 'E1', 5, 'dup'),
      env1('news', 'E1', 6, 'six'),
      env1('empty', 'X1', 31, 'x31'),
    ],
    session: 's2',
    node: 'node2',
    cursor: 'E1:6,X1:31,-',
  });
  assert.deepEqual(got.map(([d]) => d), ['five', 'six']);
  assert.deepEqual(recoveries(t), [
    { channel: 'news', recovered: true, epoch: 'E1', offset: 5 },
    { channel: 'empty', recovered: false, epoch: 'X1', offset: 30, reason: 'too_far_behind' },
  ]);
  assert.deepEqual(t.client.position('empty'), { epoch: 'X1', offset: 31 });
  assert.equal(t.net.last.params.get('session'), 's2');
  assert.equal(t.client.state, 'connected');
});

test('a network error resumes the same session; a disconnect starts a new one with the cursor on the next URL', async () => {
  const t = lp(['http://n1', 'http://n2', 'http://n3']);
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  await answer(t, 200, { messages: [env1('a', 'E1', 1, 1)], session: 's1', cursor: 'E1:1' });
  t.net.last.fail();
  await settle();
  t.clock.next();
  assert.equal(t.net.last.url, 'http://n2/poll?session=s1&timeout=0s');
  await answer(t, 200, {
    messages: [env1('a', 'E1', 2, 2)],
    session: 's1',
    cursor: 'E1:2',
    disconnect: { code: 3001, reason: 'shutdown', reconnect: true },
  });
  t.clock.next();
  assert.equal(t.net.last.url, 'http://n3/poll?channel=a&cursor=E1%3A2&timeout=0s');
});

test('a resumed session keeps the channel order of its cursor', async () => {
  const t = lp();
  t.client.subscribe('a', () => {});
  t.client.subscribe('b', () => {});
  t.clock.advance(0);
  await answer(t, 200, { messages: [], session: 's1', cursor: 'E1:1,-' });
  // Same channels, another order, in one tick: the session is kept...
  t.client.unsubscribe('a');
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  await settle();
  assert.equal(t.net.requests.length, 2, 'the same channels: the poll goes on');
  t.net.last.fail();
  await settle();
  t.clock.next();
  assert.equal(t.net.last.params.get('session'), 's1');
  // ... and its cursor is still read in the session's order.
  await answer(t, 200, { messages: [], session: 's1', cursor: 'F1:9,:0' });
  assert.deepEqual(t.client.position('a'), { epoch: 'F1', offset: 9 });
  assert.deepEqual(t.client.position('b'), { epoch: '', offset: 0 });
});

test('subscribe with since starts the first session with a cursor', async () => {
  const t = lp();
  t.client.subscribe('a', () => {});
  t.client.subscribe('b', () => {}, { since: { epoch: 'E1', offset: 3 } });
  t.clock.advance(0);
  assert.equal(t.net.last.params.get('cursor'), '-,E1:3');
});

test('offsets that skip ahead mean a response was lost: a new session resumes from the known position', async () => {
  const t = lp();
  const got = [];
  t.client.subscribe('news', (d) => got.push(d));
  t.clock.advance(0);
  await answer(t, 200, { messages: [env1('news', 'E1', 3, 'three')], session: 's1', node: 'node1', cursor: 'E1:3' });
  // The response holding 4 and 5 never arrived; the session goes on at 6.
  await answer(t, 200, { messages: [env1('news', 'E1', 6, 'six'), env1('news', 'E1', 7, 'seven')], session: 's1', node: 'node1', cursor: 'E1:7' });
  assert.deepEqual(got, ['three'], 'nothing past the gap is delivered');
  const req = t.net.last;
  assert.equal(req.params.get('session'), null);
  assert.equal(req.params.get('cursor'), 'E1:3');
  assert.equal(req.params.get('timeout'), '0s');
  await answer(t, 200, {
    messages: [{ channel: 'news', recovered: true, epoch: 'E1', offset: 7 }, env1('news', 'E1', 4, 'four'), env1('news', 'E1', 5, 'five'), env1('news', 'E1', 6, 'six'), env1('news', 'E1', 7, 'seven')],
    session: 's2',
    node: 'node1',
    cursor: 'E1:7',
  });
  assert.deepEqual(got, ['three', 'four', 'five', 'six', 'seven']);
  assert.deepEqual(t.client.position('news'), { epoch: 'E1', offset: 7 });
});
