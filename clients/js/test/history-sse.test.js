// History and resume over Server-Sent Events: positions from events and
// their ids, ?last_event_id= on every stream the client opens, recovery
// events, duplicates dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env } from '../testing/fakes.js';

const sse = (urls = 'http://n1', options = {}) => env(urls, { transport: 'sse', ...options });
const ev = (channel, epoch, offset, data) => ({ channel, epoch, offset, data });
const recoveries = (t) => t.events.filter(([e]) => e === 'recovery').map(([, v]) => v);

test('a first stream has no cursor; a reconnect to the next URL resumes with last_event_id', () => {
  const t = sse(['http://n1', 'http://n2']);
  const got = [];
  t.client.subscribe('news', (d, meta) => got.push([d, meta]));
  t.client.subscribe('empty', () => {});
  t.client.subscribe('plain', () => {});
  t.clock.advance(0);
  const s1 = t.streams[0];
  assert.equal(s1.cursor, null);
  assert.ok(!s1.url.includes('last_event_id'));
  s1.welcome('node1', 20, 'E1:4,:0,-');
  assert.deepEqual(t.client.position('news'), { epoch: 'E1', offset: 4 });
  assert.deepEqual(t.client.position('empty'), { epoch: '', offset: 0 });
  assert.equal(t.client.position('plain'), undefined);
  s1.emit('message', ev('news', 'E1', 5, 'five'), 'E1:5,:0,-');
  s1.emit('message', { channel: 'plain', data: 'p' }, 'E1:5,:0,-');
  assert.deepEqual(got, [['five', { channel: 'news', node: 'node1', epoch: 'E1', offset: 5 }]]);
  s1.fail();
  t.clock.next();
  const s2 = t.streams[1];
  assert.ok(s2.url.startsWith('http://n2/sse?channel=news&channel=empty&channel=plain&last_event_id='));
  assert.equal(s2.cursor, 'E1:5,:0,-');
});

test('after a resume: recovery events, then the missed messages; duplicates are dropped', () => {
  const t = sse(['http://n1', 'http://n2']);
  const got = [];
  t.client.subscribe('a', (d) => got.push(d));
  t.client.subscribe('b', (d) => got.push(d));
  t.clock.advance(0);
  t.streams[0].welcome('node1', 20, 'E1:2,F1:7');
  t.streams[0].fail();
  t.clock.next();
  const s2 = t.streams[1];
  assert.equal(s2.cursor, 'E1:2,F1:7');
  const seen = [];
  t.client.on('recovery', (r) => seen.push(t.client.position(r.channel)));
  s2.welcome('node2', 20, 'E1:4,F2:3');
  assert.deepEqual(t.client.position('a'), { epoch: 'E1', offset: 2 }, 'the welcome does not move a known position');
  s2.emit('recovery', { channel: 'a', recovered: true, epoch: 'E1', offset: 2 });
  s2.emit('recovery', { channel: 'b', recovered: false, epoch: 'F2', offset: 3, reason: 'epoch_changed' });
  s2.emit('message', ev('a', 'E1', 2, 'a2 again'), 'E1:2,F2:3');
  s2.emit('message', ev('a', 'E1', 3, 'a3'), 'E1:3,F2:3');
  s2.emit('message', ev('a', 'E1', 4, 'a4'), 'E1:4,F2:3');
  s2.emit('message', ev('b', 'F2', 3, 'b3 again'), 'E1:4,F2:3');
  s2.emit('message', ev('b', 'F2', 4, 'b4'), 'E1:4,F2:4');
  assert.deepEqual(got, ['a3', 'a4', 'b4']);
  assert.deepEqual(recoveries(t), [
    { channel: 'a', recovered: true, epoch: 'E1', offset: 2 },
    { channel: 'b', recovered: false, epoch: 'F2', offset: 3, reason: 'epoch_changed' },
  ]);
  assert.deepEqual(seen, [{ epoch: 'E1', offset: 2 }, { epoch: 'F2', offset: 3 }]);
  s2.fail();
  t.clock.next();
  assert.equal(t.streams[2].cursor, 'E1:4,F2:4');
});

test('a change of channels reopens with a cursor: "-" for a channel with no known position', () => {
  const t = sse();
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  t.streams[0].welcome('node1', 20, 'E1:3');
  t.client.subscribe('b', () => {});
  t.clock.advance(0);
  assert.deepEqual(t.streams[1].channels, ['a', 'b']);
  assert.equal(t.streams[1].cursor, 'E1:3,-');
  t.streams[1].welcome('node1', 20, 'E1:3,G1:8');
  assert.deepEqual(t.client.position('b'), { epoch: 'G1', offset: 8 });

  t.client.unsubscribe('a');
  t.clock.advance(0);
  assert.equal(t.streams[2].cursor, 'G1:8');
  assert.equal(t.client.position('a'), undefined);
});

test('an event id tells the position of a channel that had none', () => {
  const t = sse();
  t.client.subscribe('a', () => {});
  t.client.subscribe('b', () => {});
  t.clock.advance(0);
  t.streams[0].welcome('node1', 20); // no id
  t.streams[0].emit('message', ev('a', 'E1', 1, 1), 'E1:1,:0');
  assert.deepEqual(t.client.position('b'), { epoch: '', offset: 0 });
  t.streams[0].emit('message', ev('a', 'E1', 2, 2), 'garbage');
  t.streams[0].emit('message', ev('a', 'E1', 3, 3), 'E1:3'); // not one position per channel: ignored
  assert.deepEqual(t.client.position('a'), { epoch: 'E1', offset: 3 });
  assert.deepEqual(t.client.position('b'), { epoch: '', offset: 0 });
});

test('subscribe with since puts its position in the first stream\'s cursor; rewind is ignored', () => {
  const t = sse();
  t.client.subscribe('a', () => {}, { since: { epoch: 'E1', offset: 10 } });
  t.client.subscribe('b', () => {}, { rewind: 5 });
  t.clock.advance(0);
  assert.equal(t.streams[0].cursor, 'E1:10,-');
});

test('a recovery event of a channel that is not subscribed is ignored', () => {
  const t = sse();
  t.client.subscribe('a', () => {});
  t.clock.advance(0);
  t.streams[0].welcome();
  t.streams[0].emit('recovery', { channel: 'zzz', recovered: false, epoch: 'E', offset: 1, reason: 'gap' });
  t.streams[0].emit('recovery', 'not json');
  assert.deepEqual(recoveries(t), []);
  assert.equal(t.errors.length, 1);
});
