// Tokens: the connection token on each transport, getToken and its
// refresh before expiry, subscription tokens, the server ending a
// subscription whose token expired, and the typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, settle, jwt } from '../testing/fakes.js';
import { UnauthorizedError, ForbiddenError, HeraldError } from '../herald.js';

const NOW = 1_800_000_000_000; // the tests' wall clock, in ms

test('a WebSocket with a token authenticates before it subscribes, and is connected once auth is answered', () => {
  const t = env('http://n1', { token: 'tok-1', transport: 'websocket' });
  t.client.subscribe('news', () => {});
  t.clock.next();
  const ws = t.sockets[0];
  assert.equal(ws.url, 'ws://n1/ws', 'the token is not put in the URL');
  ws.welcome();
  assert.deepEqual(ws.sent, [{ id: 1, op: 'auth', token: 'tok-1' }]);
  assert.equal(t.client.state, 'connecting');
  ws.reply(1);
  assert.deepEqual(ws.sent.slice(1), [{ id: 2, op: 'subscribe', channel: 'news' }]);
  assert.equal(t.client.state, 'connected');
});

test('a refused auth reports an UnauthorizedError with its reason, and the 3501 close stops the client', () => {
  const t = env('http://n1', { token: 'bad', transport: 'websocket' });
  t.clock.next();
  const ws = t.sockets[0];
  ws.welcome();
  ws.reply(1, { code: 'unauthorized', reason: 'expired', message: 'the token has expired' });
  ws.serverClose(3501, 'unauthorized: expired');
  assert.equal(t.errors.length, 1);
  assert.ok(t.errors[0] instanceof UnauthorizedError && t.errors[0] instanceof HeraldError);
  assert.equal(t.errors[0].reason, 'expired');
  assert.equal(t.client.state, 'closed');
});

test('getToken is called at connect, again before the token expires, and the WebSocket sends auth with the fresh one', async () => {
  let n = 0;
  const getToken = async () => jwt({ sub: 'alice', exp: (NOW + 100_000 * ++n) / 1000 });
  const t = env('http://n1', { getToken, now: () => NOW + t.clock.now, transport: 'websocket' });
  t.clock.next(); // start
  await settle();
  assert.equal(n, 1);
  const ws = t.sockets[0];
  ws.welcome();
  assert.equal(ws.sent[0].op, 'auth');
  ws.reply(1);
  // The first token lives 100 s: it is refreshed 20 s before it expires.
  assert.ok(t.clock.pending().includes(80_000), `pending ${t.clock.pending()}`);
  t.clock.advance(80_000);
  await settle();
  assert.equal(n, 2);
  const refresh = ws.lastSent('auth');
  assert.equal(refresh.id, 2);
  assert.match(refresh.token, /^[\w-]+\.[\w-]+\.signature$/);
  assert.notEqual(refresh.token, ws.sent[0].token);
  ws.reply(2);
  assert.equal(t.client.state, 'connected');
});

test('after a 3005 token-expired disconnect, the client reconnects with a fresh token from getToken', async () => {
  let n = 0;
  const t = env('http://n1', { getToken: async () => `tok-${++n}`, transport: 'websocket' });
  t.clock.next();
  await settle();
  t.sockets[0].welcome();
  t.sockets[0].reply(1);
  t.sockets[0].receive({ op: 'disconnect', code: 3005, reason: 'token expired', reconnect: true });
  t.clock.next(); // the backoff
  await settle();
  assert.equal(n, 2);
  t.sockets[1].welcome();
  assert.deepEqual(t.sockets[1].sent[0], { id: 2, op: 'auth', token: 'tok-2' });
});

test('SSE carries the tokens in its query; long polls send the token as a bearer header', async () => {
  const t = env('http://n1', { token: 'conn-tok', transport: 'sse' });
  t.client.subscribe('news', () => {});
  t.client.subscribe('private.room', () => {}, { token: 'room-tok' });
  t.clock.next();
  const url = new URL(t.streams[0].url);
  assert.deepEqual(url.searchParams.getAll('channel'), ['news', 'private.room']);
  assert.equal(url.searchParams.get('token'), 'conn-tok');
  assert.deepEqual(url.searchParams.getAll('sub_token'), ['room-tok']);

  const p = env('http://n1', { token: 'conn-tok', transport: 'longpoll' });
  p.client.subscribe('private.room', () => {}, { token: 'room-tok' });
  p.clock.next();
  await settle();
  const req = p.net.last;
  assert.equal(req.headers.Authorization, 'Bearer conn-tok');
  assert.equal(req.params.get('token'), null, 'the connection token is not put in the URL');
  assert.deepEqual(req.params.getAll('sub_token'), ['room-tok']);
});

test('a subscription token goes in the subscribe command; with getToken it is fetched first', async () => {
  const t = env('http://n1', { transport: 'websocket' });
  t.client.subscribe('private.a', () => {}, { token: 'a-tok' });
  const asked = [];
  t.client.subscribe('private.b', () => {}, { getToken: async (ch) => (asked.push(ch), `${ch}-tok`) });
  t.clock.next();
  await settle();
  t.sockets[0].welcome();
  await settle();
  assert.deepEqual(asked, ['private.b', 'private.b'], 'once at connect, once for the command');
  assert.deepEqual(t.sockets[0].sent, [
    { id: 1, op: 'subscribe', channel: 'private.a', token: 'a-tok' },
    { id: 2, op: 'subscribe', channel: 'private.b', token: 'private.b-tok' },
  ]);
});

test('a subscription the server ends for an expired token is renewed with getToken, or dropped and reported', async () => {
  const t = env('http://n1', { transport: 'websocket' });
  let n = 0;
  t.client.subscribe('private.renew', () => {}, { getToken: async () => `renew-${++n}` });
  const gone = [];
  t.client.on('unsubscribed', (e) => gone.push(e));
  t.client.subscribe('private.fixed', () => {}, { token: 'fixed' });
  t.clock.next();
  await settle();
  const ws = t.sockets[0];
  ws.welcome();
  await settle();
  ws.receive({ op: 'unsubscribed', channel: 'private.renew', reason: 'token_expired' });
  await settle();
  assert.deepEqual(ws.lastSent('subscribe', 'private.renew').token, `renew-${n}`);
  ws.receive({ op: 'unsubscribed', channel: 'private.fixed', reason: 'token_expired' });
  assert.deepEqual(gone, [{ channel: 'private.fixed', reason: 'token_expired' }]);
  ws.receive({ op: 'message', channel: 'private.fixed', data: 1 });
  assert.equal(t.events.filter(([e, m]) => e === 'message' && m.channel === 'private.fixed').length, 1, "no handler left, only the 'message' listener");
});

test('a forbidden subscribe reports a ForbiddenError naming the channel', () => {
  const t = env('http://n1', { transport: 'websocket' });
  t.client.subscribe('user.bob.inbox', () => {});
  t.clock.next();
  t.sockets[0].welcome();
  t.sockets[0].reply(1, { code: 'forbidden', message: 'you may not subscribe to user.bob.inbox: it is another user’s channel' });
  assert.ok(t.errors[0] instanceof ForbiddenError);
  assert.equal(t.errors[0].channel, 'user.bob.inbox');
});

test('a long poll refused with 401 and no getToken reports it and stops; with getToken it retries with a fresh token', async () => {
  const t = env('http://n1', { token: 'old', transport: 'longpoll' });
  t.client.subscribe('news', () => {});
  t.clock.next();
  await settle();
  t.net.last.respond(401, { error: { code: 'unauthorized', reason: 'expired', message: 'the token has expired' } });
  await settle();
  assert.ok(t.errors[0] instanceof UnauthorizedError);
  assert.equal(t.errors[0].reason, 'expired');
  assert.equal(t.client.state, 'closed');

  let n = 0;
  const r = env('http://n1', { getToken: async () => `tok-${++n}`, transport: 'longpoll' });
  r.client.subscribe('news', () => {});
  r.clock.next();
  await settle();
  r.net.last.respond(401, { error: { code: 'token_expired', message: 'expired' } });
  await settle();
  r.clock.next(); // the backoff
  await settle();
  assert.equal(n, 2);
  assert.equal(r.net.last.headers.Authorization, 'Bearer tok-2');
});

test('token and getToken options are checked', () => {
  assert.throws(() => env('http://n1', { token: 42 }), TypeError);
  assert.throws(() => env('http://n1', { getToken: 'x' }), TypeError);
  const t = env();
  assert.throws(() => t.client.subscribe('a', () => {}, { getToken: 1 }), TypeError);
});
