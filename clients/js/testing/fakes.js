// Test doubles for test/*.test.js: a virtual clock, and fake WebSocket,
// EventSource and fetch that record what the client does and let a test
// play the server's part. No network and no real timers: a test moves the
// clock itself. (They live outside test/ so that `node --test test/` does
// not run this file as a test.)

import { connect } from '../herald.js';

// Clock is a virtual clock with injectable setTimeout and clearTimeout.
export class Clock {
  now = 0;
  #next = 1;
  #timers = new Map(); // id -> {at, fn, ms}
  delays = []; // every delay asked for, in order

  setTimeout = (fn, ms = 0) => {
    const id = this.#next++;
    this.#timers.set(id, { at: this.now + ms, fn, ms });
    this.delays.push(ms);
    return id;
  };

  clearTimeout = (id) => {
    this.#timers.delete(id);
  };

  // pending lists the delays of the timers not yet run, soonest first.
  pending() {
    return [...this.#timers.values()].sort((a, b) => a.at - b.at).map((t) => t.ms);
  }

  // advance moves the clock by ms, running the timers that fall due, in order.
  advance(ms = 0) {
    const end = this.now + ms;
    for (;;) {
      let due = null;
      for (const [id, t] of this.#timers) {
        if (t.at <= end && (!due || t.at < due[1].at)) due = [id, t];
      }
      if (!due) break;
      this.#timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
    }
    this.now = end;
  }

  // next runs the soonest timer, whatever its delay, and returns its delay.
  next() {
    const [ms] = this.pending();
    if (ms === undefined) throw new Error('no timer pending');
    const at = Math.min(...[...this.#timers.values()].map((t) => t.at));
    this.advance(at - this.now);
    return ms;
  }
}

// FakeWebSocket records every socket the client opens in FakeWebSocket.all
// (set it to [] between tests: use env()).
export class FakeWebSocket {
  static all = [];
  readyState = 0;
  sent = [];
  closedWith = null;
  onmessage = null;
  onerror = null;
  onclose = null;

  constructor(url) {
    this.url = url;
    this.constructor.all.push(this);
  }

  send(text) {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(text));
  }

  close(code) {
    this.closedWith = code ?? 1005;
    this.readyState = 3;
  }

  // Server side.
  welcome(node = 'node1', ping = 25) {
    this.readyState = 1;
    this.receive({ op: 'welcome', client: 'c1', node, ping });
  }

  receive(frame) {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }

  reply(id, error) {
    this.receive(error ? { op: 'reply', id, error } : { op: 'reply', id });
  }

  // replyWith answers command id with a successful reply carrying fields
  // (epoch, offset, recovered, messages, ...).
  replyWith(id, fields) {
    this.receive({ op: 'reply', id, ...fields });
  }

  // lastSent returns the last command sent with op (and channel, if given).
  lastSent(op, channel) {
    return this.sent.findLast((c) => c.op === op && (channel === undefined || c.channel === channel));
  }

  // fail is a connection that breaks or cannot be made: error, then close 1006.
  fail() {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: '' });
  }

  serverClose(code, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

export class FakeEventSource {
  static all = [];
  closed = false;
  lastEventId = ''; // as in a browser: kept from event to event until an event sets another
  #listeners = new Map();

  constructor(url) {
    this.url = url;
    this.constructor.all.push(this);
  }

  addEventListener(type, fn) {
    if (!this.#listeners.has(type)) this.#listeners.set(type, []);
    this.#listeners.get(type).push(fn);
  }

  close() {
    this.closed = true;
  }

  // channels returns the channels of the stream's URL.
  get channels() {
    return new URL(this.url, 'http://x').searchParams.getAll('channel');
  }

  // cursor returns the stream URL's last_event_id, or null.
  get cursor() {
    return new URL(this.url, 'http://x').searchParams.get('last_event_id');
  }

  // Server side. id, when given, is the event's id (an SSE cursor).
  emit(type, data, id) {
    if (id !== undefined) this.lastEventId = id;
    const e = { type, data: typeof data === 'string' ? data : JSON.stringify(data), lastEventId: this.lastEventId };
    for (const fn of this.#listeners.get(type) ?? []) fn(e);
  }

  welcome(node = 'node1', ping = 20, id) {
    this.emit('welcome', { op: 'welcome', client: 'c1', node, ping }, id);
  }

  fail() {
    this.emit('error', {});
  }
}

// FakeFetch is a fetch whose requests wait until the test answers them.
export class FakeFetch {
  requests = [];

  fetch = (url, init = {}) =>
    new Promise((resolve, reject) => {
      const req = {
        url,
        signal: init.signal,
        headers: init.headers ?? {},
        aborted: false,
        params: new URL(url, 'http://x').searchParams,
        respond(status, body) {
          resolve({
            ok: status >= 200 && status < 300,
            status,
            json: async () => (typeof body === 'string' ? JSON.parse(body) : body),
          });
        },
        fail(message = 'network down') {
          reject(new TypeError(message));
        },
      };
      init.signal?.addEventListener('abort', () => {
        req.aborted = true;
        reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      });
      this.requests.push(req);
    });

  get last() {
    return this.requests[this.requests.length - 1];
  }
}

// settle lets pending promise callbacks (fetch answers, async loops) run.
export function settle() {
  return new Promise((resolve) => setImmediate(resolve));
}

// env makes a client with fakes for everything it touches, and a log of its
// events. Options override the defaults (random is 0.5 unless given).
export function env(urls = 'http://n1', options = {}) {
  FakeWebSocket.all = [];
  FakeEventSource.all = [];
  const clock = new Clock();
  const net = new FakeFetch();
  const client = connect(urls, {
    WebSocket: FakeWebSocket,
    EventSource: FakeEventSource,
    fetch: net.fetch,
    random: () => 0.5,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    ...options,
  });
  const events = [];
  const states = [];
  const errors = [];
  for (const name of ['state', 'message', 'recovery', 'disconnect', 'error']) {
    client.on(name, (v) => events.push([name, v]));
  }
  client.on('state', (s) => states.push(s.state));
  client.on('error', (e) => errors.push(e));
  return { client, clock, net, events, states, errors, sockets: FakeWebSocket.all, streams: FakeEventSource.all };
}

// jwt makes an unsigned token whose payload is claims, as the client
// reads it (it never checks signatures: the server does).
export function jwt(claims) {
  const enc = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(claims)}.signature`;
}
