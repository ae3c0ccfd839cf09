// Reconnect timing: exponential backoff with equal jitter, capped, reset
// after a successful connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env as fakeEnv } from '../testing/fakes.js';

// A forced transport, so that failures never fall back to SSE.
const env = (urls, options) => fakeEnv(urls, { transport: 'websocket', ...options });

// failures runs n connection attempts that fail and returns the delay
// before each next attempt.
function failures(t, n) {
  const delays = [];
  for (let i = 0; i < n; i++) {
    t.clock.next(); // the attempt
    t.sockets.at(-1).fail();
    delays.push(...t.clock.pending());
  }
  return delays;
}

test('backoff doubles from minDelay and is capped at maxDelay (low end of the jitter)', () => {
  const t = env('http://n1', { random: () => 0 });
  assert.deepEqual(failures(t, 8), [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
});

test('backoff doubles from minDelay and is capped at maxDelay (high end of the jitter)', () => {
  const t = env('http://n1', { random: () => 0.999999 });
  assert.deepEqual(failures(t, 8), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test('backoff honours minDelay and maxDelay options', () => {
  const t = env('http://n1', { random: () => 0, minDelay: 100, maxDelay: 1000 });
  assert.deepEqual(failures(t, 6), [100, 200, 400, 500, 500, 500]);
});

test('every delay lies in [c/2, c] with c = min(maxDelay, minDelay*2^(n+1)), and within [minDelay, maxDelay]', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const t = env('http://n1', { random });
  failures(t, 40).forEach((d, n) => {
    const c = Math.min(30000, 500 * 2 ** (n + 1));
    assert.ok(d >= c / 2 && d <= c, `attempt ${n}: ${d} not in [${c / 2}, ${c}]`);
    assert.ok(d >= 500 && d <= 30000);
  });
});

test('the backoff starts again from minDelay after a successful connection', () => {
  const t = env('http://n1', { random: () => 0 });
  assert.deepEqual(failures(t, 4), [500, 1000, 2000, 4000]);
  t.clock.next();
  const ws = t.sockets.at(-1);
  ws.welcome();
  assert.equal(t.client.state, 'connected');
  ws.fail();
  assert.deepEqual(t.clock.pending(), [500]);
});

test('the first attempt is made at once, without a delay', () => {
  const t = env('http://n1');
  assert.deepEqual(t.clock.pending(), [0]);
  assert.equal(t.sockets.length, 0, 'connect() waits a tick for on() and subscribe() calls');
  t.clock.next();
  assert.equal(t.sockets.length, 1);
  assert.equal(t.sockets[0].url, 'ws://n1/ws');
});
