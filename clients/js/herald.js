// herald.js: the browser client of Herald, a real-time messaging gateway.
//
// connect(urls, options) returns a client that keeps one connection to one of
// the Herald nodes in urls, over WebSocket, Server-Sent Events or long
// polling; subscribes to the channels that have handlers; hands every message
// to its channel's handlers; and, when the connection is lost, reconnects to
// the next node after an exponential backoff with jitter. For the channels
// that keep history on the server, it keeps each channel's position (epoch,
// offset), drops duplicates, and resumes from its positions after every
// reconnect, so that no message is lost or delivered twice as long as the
// server can replay what was missed. One ES module, no dependencies. The
// wire protocol is docs/protocol.md in the Herald repository; README.md
// next to this file documents the client.
//
// Sections: helpers; the client (state and events, channels, positions,
// publish and history); connection lifecycle (attempt, backoff, fallback);
// WebSocket; Server-Sent Events; long polling.

// ---- Helpers --------------------------------------------------------------

const TRANSPORTS = ['websocket', 'sse', 'longpoll'];

// A channel is tokens of these bytes joined by '.' (protocol.md, Channels).
const CHANNEL = /^[\w\-:=@/,~+#!]+(\.[\w\-:=@/,~+#!]+)*$/;
const MAX_CHANNEL = 1024; // the most a node accepts; its default limit is 255

// A long poll may take this much longer than its timeout before it is
// given up for lost (the protocol advises the poll's timeout + 10s).
const POLL_GRACE = 10000;

// backoff returns the delay in ms before reconnect attempt n (0, 1, ...):
// exponential with equal jitter, a random value in [c/2, c] where
// c = min(maxDelay, minDelay * 2^(n+1)), and never below minDelay. With the
// defaults: 0.5-1s, 1-2s, 2-4s, ... up to 15-30s.
function backoff(n, minDelay, maxDelay, random) {
  const cap = Math.min(maxDelay, minDelay * 2 ** (n + 1));
  return Math.max(minDelay, Math.round(cap / 2 + (random() * cap) / 2));
}

// endpoint joins a node's base URL and a path. WebSocket URLs are made
// absolute (against the page's location) with the ws: or wss: scheme.
function endpoint(base, path, websocket = false) {
  const href = base.replace(/\/+$/, '') + path;
  if (!websocket) return href.replace(/^ws(s?):/i, 'http$1:');
  return new URL(href, globalThis.location?.href).href.replace(/^http(s?):/i, 'ws$1:');
}

function channelQuery(channels) {
  return channels.map((c) => 'channel=' + encodeURIComponent(c)).join('&');
}

// goDuration formats ms as a Go duration, as ?timeout= wants it.
function goDuration(ms) {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

// HeraldError is every error the client reports: code is the server's
// error code (or the client's own, see README.md); reason, for
// unauthorized, says why the token was refused.
export class HeraldError extends Error {
  name = 'HeraldError';
}

/** UnauthorizedError: a token was missing or refused (code 'unauthorized' or 'token_expired'). */
export class UnauthorizedError extends HeraldError {
  name = 'UnauthorizedError';
}

/** ForbiddenError: the channel rules refused a subscribe, publish or history read. */
export class ForbiddenError extends HeraldError {
  name = 'ForbiddenError';
}

// heraldError makes an error of the class its code calls for, with the
// code and any other fields given.
function heraldError(message, code, fields = {}) {
  const Class = code === 'unauthorized' || code === 'token_expired' ? UnauthorizedError : code === 'forbidden' ? ForbiddenError : HeraldError;
  return Object.assign(new Class(message), code ? { code } : {}, fields);
}

// httpError turns a refused HTTP request into an error carrying the code
// and reason of the body {"error":{"code","reason","message"}}, if any, and
// the status.
function httpError(status, body, url) {
  const e = body && typeof body === 'object' ? body.error : null;
  const fields = typeof e?.reason === 'string' ? { status, reason: e.reason } : { status };
  return heraldError(`herald: ${url}: ${e?.message ?? `HTTP ${status}`}`, e?.code, fields);
}

// tokenExpiry returns when a JWT expires (ms since the epoch), read from
// its exp claim without checking it (the server does), or null.
function tokenExpiry(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const exp = JSON.parse(globalThis.atob(part + '='.repeat((4 - (part.length % 4)) % 4))).exp;
    return Number.isFinite(exp) ? exp * 1000 : null;
  } catch {
    return null;
  }
}

// A token from getToken is asked for again this long before it expires:
// a fifth of its life, at most REFRESH_AHEAD and at least a second.
const REFRESH_AHEAD = 30000;

// isPosition tells whether p is a position: {epoch, offset}, an epoch of
// letters and digits ("" before any message) and a non-negative integer.
const EPOCH = /^[A-Za-z0-9]*$/;
function isPosition(p) {
  return typeof p?.epoch === 'string' && EPOCH.test(p.epoch) && Number.isInteger(p.offset) && p.offset >= 0;
}

// formatCursor makes the SSE and long-poll cursor of channels: each
// channel's position as "epoch:offset", or "-" where there is none. It
// returns null when no channel has a position (nothing to resume).
function formatCursor(channels, positions) {
  let any = false;
  const parts = channels.map((c) => {
    const p = positions.get(c);
    if (!p) return '-';
    any = true;
    return `${p.epoch}:${p.offset}`;
  });
  return any ? parts.join(',') : null;
}

// parseCursor reads a cursor of channels: an array with a position or null
// ("-") per channel, or null if the cursor does not fit the channels.
function parseCursor(text, channels) {
  if (typeof text !== 'string' || text === '') return null;
  const parts = text.split(',');
  if (parts.length !== channels.length) return null;
  const out = [];
  for (const part of parts) {
    if (part === '-') {
      out.push(null);
      continue;
    }
    const i = part.lastIndexOf(':');
    const offset = i < 0 ? NaN : Number(part.slice(i + 1));
    const p = { epoch: part.slice(0, i), offset };
    if (!/^\d+$/.test(part.slice(i + 1)) || !isPosition(p)) return null;
    out.push(p);
  }
  return out;
}

function checkChannel(channel) {
  if (typeof channel !== 'string' || channel.length > MAX_CHANNEL || !CHANNEL.test(channel)) {
    throw heraldError(`herald: invalid channel ${JSON.stringify(channel)}`, 'invalid_channel');
  }
}

// connect starts a client. urls is a node's base URL, or a list of them to
// go round; '' or a relative URL means the page's own origin. The options
// are described in README.md and herald.d.ts.
export function connect(urls = '', options = {}) {
  return new HeraldClient(urls, options);
}

// ---- The client -----------------------------------------------------------

class HeraldClient {
  #urls;
  #opts;
  #forced; // the transport option is not 'auto'
  #listeners = new Map(); // event -> Set of functions
  #handlers = new Map(); // channel -> array of {handler}
  #state = 'disconnected';
  #node = null;
  #urlIndex = 0;
  #transportIndex = 0;
  #locked = false; // a transport has worked: keep it
  #attempts = 0; // reconnect attempts since the last connection, for backoff
  #failures = 0; // failed connects with this transport, for fallback
  #conn = null; // the current connection or attempt
  #timer = null; // the pending reconnect
  #reopenTimer = null; // the pending (re)start after a change of channels
  #closed = false;
  #nextId = 1;
  #pending = new Map(); // WebSocket command id -> {op, channel, resolve, reject}
  #pollSession = null; // {id, key, channels}: the long-poll session to resume
  #positions = new Map(); // channel -> {epoch, offset}: the last message the client has
  #rewind = new Map(); // channel -> n: a rewind asked for and not yet answered (WebSocket)
  #token = null; // the connection token in use
  #refresh = null; // the pending token refresh
  #grants = new Map(); // channel -> {token, getToken}: its subscription token

  constructor(urls, options) {
    this.#urls = (Array.isArray(urls) ? [...urls] : [urls]).map(String);
    if (this.#urls.length === 0) throw new TypeError('herald: connect needs at least one URL');
    const o = { transport: 'auto', minDelay: 500, maxDelay: 30000, pollTimeout: 25000, ...options };
    if (o.transport !== 'auto' && !TRANSPORTS.includes(o.transport)) {
      throw new TypeError(`herald: unknown transport ${JSON.stringify(o.transport)}`);
    }
    const g = globalThis;
    const own = (name) => (o[name] === undefined ? g[name] : o[name]); // null: there is none
    if (o.token !== undefined && typeof o.token !== 'string') throw new TypeError('herald: token must be a string');
    if (o.getToken !== undefined && typeof o.getToken !== 'function') throw new TypeError('herald: getToken must be a function');
    this.#opts = {
      token: o.token ?? null,
      getToken: o.getToken ?? null,
      now: o.now ?? (() => Date.now()),
      minDelay: o.minDelay,
      maxDelay: Math.max(o.minDelay, o.maxDelay),
      pollTimeout: o.pollTimeout,
      WebSocket: own('WebSocket'),
      EventSource: own('EventSource'),
      fetch: o.fetch === undefined && g.fetch ? (...args) => g.fetch(...args) : o.fetch,
      random: o.random ?? Math.random,
      setTimeout: o.setTimeout ?? ((fn, ms) => g.setTimeout(fn, ms)),
      clearTimeout: o.clearTimeout ?? ((id) => g.clearTimeout(id)),
    };
    this.#forced = o.transport !== 'auto';
    this.#transportIndex = this.#forced ? TRANSPORTS.indexOf(o.transport) : 0;
    // Start on the next tick, so that on() and subscribe() calls made
    // right after connect() are in place for the first connection.
    this.#scheduleReopen();
  }

  get state() { return this.#state; }
  get node() { return this.#node; }
  get transport() { return TRANSPORTS[this.#transportIndex]; }
  get url() { return this.#urls[this.#urlIndex]; }

  /**
   * on adds a listener of 'state', 'message', 'recovery', 'disconnect',
   * 'unsubscribed' or 'error'; it returns a function that removes it.
   */
  on(event, fn) {
    if (typeof fn !== 'function') throw new TypeError('herald: on needs a function');
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    const entry = (value) => fn(value); // the same fn added twice is called twice
    set.add(entry);
    return () => void set.delete(entry);
  }

  // #emit calls the listeners of event. A listener that throws does not stop
  // the others nor the client: its error goes to the 'error' listeners.
  #emit(event, value) {
    const set = this.#listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(value);
      } catch (err) {
        this.#handlerError(err, event === 'error');
      }
    }
  }

  #report(err) {
    this.#emit('error', err);
  }

  // An exception thrown by the application's own code goes to 'error'; if
  // nobody listens there (or the 'error' listener threw), to the console.
  #handlerError(err, fromErrorListener = false) {
    if (!fromErrorListener && this.#listeners.get('error')?.size) this.#report(err);
    else globalThis.console?.error?.('herald: a handler threw:', err);
  }

  #setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    this.#emit('state', { state, url: this.url, node: this.#node, transport: this.transport });
  }

  // #deliver takes a message {channel, data[, epoch, offset]} from any
  // transport. A message of a history channel moves the channel's position,
  // unless it is at or before the position in the same epoch: then it is a
  // duplicate, and dropped. With stopOnGap, a message further on than the
  // next offset is not delivered either, and #deliver returns 'gap'.
  #deliver(m, stopOnGap = false) {
    const channel = m?.channel;
    if (typeof channel !== 'string') return;
    let pos = null;
    if (isPosition(m)) {
      pos = { epoch: m.epoch, offset: m.offset };
      if (this.#handlers.has(channel)) {
        const known = this.#positions.get(channel);
        if (known && known.epoch === pos.epoch && pos.offset <= known.offset) return;
        if (stopOnGap && known && known.epoch === pos.epoch && pos.offset > known.offset + 1) return 'gap';
        this.#positions.set(channel, pos);
        this.#rewind.delete(channel);
      }
    }
    this.#dispatch(channel, m.data, pos);
  }

  // #dispatch hands a message to the 'message' listeners, then to the
  // handlers of its channel.
  #dispatch(channel, data, pos) {
    const node = this.#node;
    const where = pos ? { epoch: pos.epoch, offset: pos.offset } : {};
    this.#emit('message', { channel, data, node, ...where });
    for (const { handler } of [...(this.#handlers.get(channel) ?? [])]) {
      try {
        handler(data, { channel, node, ...where });
      } catch (err) {
        this.#handlerError(err);
      }
    }
  }

  // #recovery handles the server's report n = {channel, recovered, epoch,
  // offset[, reason]} on how a resume went, then emits 'recovery'. After
  // recovered:false the channel is at the stated position (or, without one,
  // keeps no history). After recovered:true the missed messages follow, so
  // the position stays where it was (in the stated epoch), and they move it.
  #recovery(n) {
    const channel = n?.channel;
    if (typeof n?.recovered !== 'boolean' || !this.#handlers.has(channel)) return;
    const stated = isPosition(n) ? { epoch: n.epoch, offset: n.offset } : null;
    if (!n.recovered) {
      if (stated) this.#positions.set(channel, stated);
      else this.#positions.delete(channel);
    } else if (stated) {
      const known = this.#positions.get(channel);
      if (!known) this.#positions.set(channel, stated);
      else if (known.epoch !== stated.epoch) this.#positions.set(channel, { epoch: stated.epoch, offset: 0 });
      else this.#positions.set(channel, { epoch: stated.epoch, offset: Math.min(known.offset, stated.offset) });
    }
    this.#rewind.delete(channel);
    const event = { channel, recovered: n.recovered, epoch: n.epoch, offset: n.offset };
    if (typeof n.reason === 'string') event.reason = n.reason;
    this.#emit('recovery', event);
  }

  // #learn takes the positions of a cursor (an SSE event id, a poll
  // response's cursor) for the channels that have none yet. The client sent
  // no position for those, so the server replays nothing for them, and the
  // cursor's position is where their live messages start. Known positions
  // are left alone: a cursor may be ahead of messages still to come.
  #learn(channels, cursor) {
    const parsed = parseCursor(cursor, channels);
    if (!parsed) return;
    channels.forEach((channel, i) => {
      if (parsed[i] && this.#handlers.has(channel) && !this.#positions.has(channel)) {
        this.#positions.set(channel, parsed[i]);
      }
    });
  }

  /** position returns channel's position {epoch, offset}, or undefined when it has none. */
  position(channel) {
    const p = this.#positions.get(channel);
    return p ? { epoch: p.epoch, offset: p.offset } : undefined;
  }

  /**
   * subscribe adds a handler of channel's messages; several per channel are
   * allowed. options ({since} or {rewind}) apply to the channel's first
   * handler only.
   */
  subscribe(channel, handler, options = {}) {
    checkChannel(channel);
    if (typeof handler !== 'function') throw new TypeError('herald: subscribe needs a handler function');
    const { since, rewind, token, getToken } = options ?? {};
    if (token !== undefined && typeof token !== 'string') throw new TypeError('herald: token must be a string');
    if (getToken !== undefined && typeof getToken !== 'function') throw new TypeError('herald: getToken must be a function');
    if (since !== undefined && rewind !== undefined) {
      throw new TypeError('herald: subscribe takes since or rewind, not both');
    }
    if (since !== undefined && !isPosition(since)) {
      throw new TypeError('herald: since must be {epoch: letters and digits, offset: a non-negative integer}');
    }
    if (rewind !== undefined && !(Number.isInteger(rewind) && rewind > 0)) {
      throw new TypeError('herald: rewind must be a positive integer');
    }
    const entry = { handler };
    const list = this.#handlers.get(channel);
    if (list) list.push(entry);
    else {
      this.#handlers.set(channel, [entry]);
      if (token !== undefined || getToken) this.#grants.set(channel, { token: token ?? null, getToken: getToken ?? null });
      this.#positions.delete(channel);
      this.#rewind.delete(channel);
      if (since !== undefined) this.#positions.set(channel, { epoch: since.epoch, offset: since.offset });
      if (rewind !== undefined) this.#rewind.set(channel, rewind);
      this.#channelsChanged('subscribe', channel);
    }
    return {
      unsubscribe: () => {
        const l = this.#handlers.get(channel);
        const i = l ? l.indexOf(entry) : -1;
        if (i < 0) return;
        l.splice(i, 1);
        if (l.length === 0) this.unsubscribe(channel);
      },
    };
  }

  /** unsubscribe drops every handler of channel. */
  unsubscribe(channel) {
    if (!this.#handlers.delete(channel)) return;
    this.#grants.delete(channel);
    this.#positions.delete(channel);
    this.#rewind.delete(channel);
    this.#channelsChanged('unsubscribe', channel);
  }

  // A channel got its first handler or lost its last one. A WebSocket sends
  // the command; SSE and long polling reopen with the new set of channels,
  // once for all the changes made in one tick.
  #channelsChanged(op, channel) {
    if (this.#closed) return;
    if (this.transport !== 'websocket') this.#scheduleReopen();
    else if (!this.#conn?.welcomed) return;
    else if (op === 'subscribe') this.#subscribeCommand(channel);
    else this.#send({ op, channel }, { op, channel });
  }

  // #subscribeCommand sends a WebSocket subscribe, resuming from the
  // channel's position if it has one, or with the rewind asked for.
  #subscribeCommand(channel) {
    const grant = this.#grants.get(channel);
    if (grant?.getToken) {
      const conn = this.#conn;
      this.#grantToken(channel, grant).then(
        () => this.#conn === conn && this.#handlers.has(channel) && this.#sendSubscribe(channel),
        (err) => this.#report(err),
      );
      return;
    }
    this.#sendSubscribe(channel);
  }

  #sendSubscribe(channel) {
    const p = this.#positions.get(channel);
    const n = this.#rewind.get(channel);
    const since = p ? { epoch: p.epoch, offset: p.offset } : n ? { rewind: n } : undefined;
    const command = { op: 'subscribe', channel };
    if (since) command.since = since;
    const token = this.#grants.get(channel)?.token;
    if (token) command.token = token;
    this.#send(command, { op: 'subscribe', channel, since });
  }

  // #grantToken asks getToken of a channel's subscription for a token.
  async #grantToken(channel, grant) {
    const token = await grant.getToken(channel);
    if (typeof token !== 'string' || token === '') {
      throw heraldError(`herald: getToken of ${channel} gave no token`, 'unauthorized', { channel });
    }
    grant.token = token;
    return token;
  }

  // #credentials gets the tokens a connection needs: the connection token
  // (from getToken, when given) and the subscription tokens of the
  // channels whose getToken was given. It arms the next refresh.
  async #credentials() {
    const o = this.#opts;
    if (o.getToken) {
      const token = await o.getToken();
      if (typeof token !== 'string' || token === '') throw heraldError('herald: getToken gave no token', 'unauthorized');
      this.#token = token;
      this.#scheduleRefresh();
    } else {
      this.#token = o.token;
    }
    for (const [channel, grant] of this.#grants) {
      if (grant.getToken && this.#handlers.has(channel)) await this.#grantToken(channel, grant);
    }
  }

  // #scheduleRefresh arms the refresh of a token from getToken, shortly
  // before it expires.
  #scheduleRefresh() {
    const o = this.#opts;
    if (this.#refresh !== null) o.clearTimeout(this.#refresh);
    this.#refresh = null;
    const exp = tokenExpiry(this.#token);
    if (exp === null || this.#closed) return;
    const left = exp - o.now();
    const delay = Math.max(1000, left - Math.min(REFRESH_AHEAD, left / 5));
    this.#refresh = o.setTimeout(() => this.#refreshToken(), delay);
  }

  // #refreshToken gets a fresh token and hands it to the connection: a
  // WebSocket sends auth; an SSE stream reopens with it; long polls carry
  // it from their next request on.
  async #refreshToken() {
    this.#refresh = null;
    if (this.#closed) return;
    let token;
    try {
      token = await this.#opts.getToken();
    } catch (err) {
      this.#report(err instanceof Error ? err : heraldError(String(err), 'unauthorized'));
      this.#refresh = this.#opts.setTimeout(() => this.#refreshToken(), this.#opts.minDelay);
      return;
    }
    if (this.#closed || typeof token !== 'string' || token === '') return;
    this.#token = token;
    this.#scheduleRefresh();
    const conn = this.#conn;
    if (!conn?.established) return;
    if (conn.transport === 'websocket') this.#send({ op: 'auth', token }, { op: 'auth' });
    else if (conn.transport === 'sse' && this.#timer === null) {
      this.#drop(conn);
      this.#attempt();
    }
  }

  // #grantEnded handles the server ending a subscription whose token
  // expired: with a getToken, it subscribes again with a fresh token;
  // without, the channel's handlers are dropped and 'unsubscribed' emitted.
  #grantEnded(n) {
    const channel = n?.channel;
    if (typeof channel !== 'string' || !this.#handlers.has(channel)) return;
    const grant = this.#grants.get(channel);
    if (grant?.getToken) {
      grant.token = null;
      if (this.transport === 'websocket') this.#subscribeCommand(channel);
      else if (this.#timer === null) {
        const conn = this.#conn;
        if (conn) this.#drop(conn);
        this.#attempt();
      }
      return;
    }
    this.#handlers.delete(channel);
    this.#grants.delete(channel);
    this.#positions.delete(channel);
    this.#emit('unsubscribed', { channel, reason: n.reason ?? '' });
  }

  // #subscribed handles a subscribe's successful reply. Without since, the
  // reply's position (if the channel keeps history) is the client's. With
  // since, "recovered" says how the resume went; the replayed messages
  // follow the reply, and the position stays before them: at since, or for
  // a rewind of n, n before the reply's position.
  #subscribed(p, msg) {
    const { channel, since } = p;
    if (!this.#handlers.has(channel)) return;
    if (typeof msg.recovered !== 'boolean') {
      if (isPosition(msg)) {
        if (!since) this.#positions.set(channel, { epoch: msg.epoch, offset: msg.offset });
        this.#rewind.delete(channel);
      }
      return;
    }
    if (msg.recovered && since?.rewind && isPosition(msg)) {
      this.#positions.set(channel, { epoch: msg.epoch, offset: Math.max(0, msg.offset - since.rewind) });
    }
    this.#recovery({ ...msg, channel });
  }

  #channelKey() {
    return [...this.#handlers.keys()].sort().join(' ');
  }

  /** publish sends a message over the WebSocket; it resolves on the server's reply. */
  publish(channel, data) {
    if (this.transport !== 'websocket') {
      const why = `herald: publish needs the WebSocket transport, not ${this.transport}`;
      return Promise.reject(heraldError(why, 'unsupported', { channel }));
    }
    if (!this.#conn?.welcomed) {
      return Promise.reject(heraldError('herald: not connected', 'unavailable', { channel }));
    }
    return new Promise((resolve, reject) => {
      this.#send({ op: 'publish', channel, data }, { op: 'publish', channel, resolve: () => resolve(), reject });
    });
  }

  /**
   * history reads a history channel's last messages over the WebSocket; it
   * resolves with {epoch, offset, messages} from the server's reply.
   */
  history(channel, options = {}) {
    if (this.transport !== 'websocket') {
      const why = `herald: history needs the WebSocket transport, not ${this.transport}`;
      return Promise.reject(heraldError(why, 'unsupported', { channel }));
    }
    if (!this.#conn?.welcomed) {
      return Promise.reject(heraldError('herald: not connected', 'unavailable', { channel }));
    }
    const command = { op: 'history', channel };
    if (options?.limit !== undefined) command.limit = options.limit;
    if (options?.since !== undefined) command.since = options.since;
    return new Promise((resolve, reject) => {
      const done = (msg) =>
        resolve({ epoch: msg.epoch, offset: msg.offset, messages: Array.isArray(msg.messages) ? msg.messages : [] });
      this.#send(command, { op: 'history', channel, resolve: done, reject });
    });
  }

  /** close stops the client for good. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#cancelTimers();
    if (this.#refresh !== null) this.#opts.clearTimeout(this.#refresh);
    this.#refresh = null;
    if (this.#conn) this.#drop(this.#conn);
    this.#setState('closed');
  }

  // ---- Connection lifecycle -----------------------------------------------

  #scheduleReopen() {
    if (this.#reopenTimer === null) this.#reopenTimer = this.#opts.setTimeout(() => this.#reopen(), 0);
  }

  #cancelTimers() {
    if (this.#timer !== null) this.#opts.clearTimeout(this.#timer);
    if (this.#reopenTimer !== null) this.#opts.clearTimeout(this.#reopenTimer);
    this.#timer = this.#reopenTimer = null;
  }

  // #reopen starts a connection, or restarts an SSE stream or long-poll
  // session whose channels changed, at once and on the same node.
  #reopen() {
    this.#reopenTimer = null;
    if (this.#closed) return;
    const conn = this.#conn;
    if (conn) {
      if (conn.transport === 'websocket' || conn.key === this.#channelKey()) return;
      this.#drop(conn);
    } else if (this.#timer !== null) {
      return; // a reconnect is due; it will use the new channels
    }
    this.#attempt();
  }

  // #attempt opens a connection to the current URL with the current
  // transport. SSE and long polling with no channel have nothing to open:
  // the client stays 'disconnected' until a channel is subscribed to.
  #attempt() {
    this.#timer = null;
    if (this.#closed) return;
    while (!this.#available(this.transport)) {
      if (this.#forced || this.#transportIndex === TRANSPORTS.length - 1) {
        const why = `herald: no ${this.transport} in this environment (see the WebSocket, EventSource, fetch options)`;
        this.#report(heraldError(why, 'unsupported'));
        this.close();
        return;
      }
      this.#transportIndex++;
    }
    const transport = this.transport;
    this.#node = null;
    if (transport !== 'websocket' && this.#handlers.size === 0) {
      this.#setState('disconnected');
      return;
    }
    const conn = { transport, url: this.url, key: this.#channelKey(), established: false, welcomed: false, stop() {} };
    this.#conn = conn;
    this.#setState('connecting');
    if (this.#conn !== conn) return; // a 'state' listener closed the client
    const open = () => {
      if (this.#conn !== conn) return;
      try {
        if (transport === 'websocket') this.#openWebSocket(conn);
        else if (transport === 'sse') this.#openSSE(conn);
        else this.#openLongPoll(conn);
      } catch (err) {
        this.#lost(conn, err);
      }
    };
    const asks = this.#opts.getToken || [...this.#grants.values()].some((g) => g.getToken);
    if (!asks) {
      this.#token = this.#opts.token;
      open();
      return;
    }
    this.#credentials().then(open, (err) =>
      this.#lost(conn, err instanceof Error ? err : heraldError(`herald: getToken failed: ${err}`, 'unauthorized')),
    );
  }

  #available(transport) {
    const o = this.#opts;
    if (transport === 'websocket') return typeof o.WebSocket === 'function';
    if (transport === 'sse') return typeof o.EventSource === 'function';
    return typeof o.fetch === 'function' && typeof AbortController === 'function';
  }

  // #established marks conn connected: the backoff starts again from the
  // beginning and, with transport 'auto', this transport is kept.
  #established(conn, node) {
    conn.established = true;
    this.#attempts = 0;
    this.#failures = 0;
    this.#locked = true;
    this.#node = typeof node === 'string' ? node : null;
    this.#setState('connected');
  }

  // #drop stops conn and fails the commands waiting for its replies.
  #drop(conn) {
    conn.stop();
    if (this.#conn === conn) this.#conn = null;
    for (const p of this.#pending.values()) {
      p.reject?.(heraldError('herald: connection lost before the reply', 'unavailable', { channel: p.channel }));
    }
    this.#pending.clear();
  }

  // #lost ends conn, which failed or broke, and schedules a reconnect to the
  // next URL after a backoff. With transport 'auto', a transport that has
  // never worked and failed on every URL in a row gives way to the next one.
  #lost(conn, err) {
    if (conn !== this.#conn) return;
    this.#drop(conn);
    if (err) this.#report(err);
    if (this.#closed) return;
    this.#setState('disconnected');
    if (!conn.established && !this.#forced && !this.#locked && ++this.#failures >= this.#urls.length) {
      if (this.#transportIndex < TRANSPORTS.length - 1) this.#transportIndex++;
      this.#failures = 0;
    }
    if (this.#closed || this.#conn || this.#timer !== null) return;
    const o = this.#opts;
    const delay = backoff(this.#attempts++, o.minDelay, o.maxDelay, o.random);
    this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length;
    this.#timer = o.setTimeout(() => this.#attempt(), delay);
  }

  // #serverDisconnect handles the server's disconnect frame, event or field:
  // reconnect, or with reconnect:false stop for good.
  #serverDisconnect(conn, d) {
    const info = {
      code: d?.code,
      reason: d?.reason ?? '',
      reconnect: typeof d?.reconnect === 'boolean' ? d.reconnect : !(d?.code >= 3500) || d?.code === 3504,
    };
    this.#emit('disconnect', info);
    if (conn !== this.#conn) return;
    if (info.reconnect) this.#lost(conn);
    else this.close();
  }

  #parse(text, what) {
    try {
      return JSON.parse(text);
    } catch {
      this.#report(heraldError(`herald: malformed ${what}: ${String(text).slice(0, 100)}`));
      return null;
    }
  }

  // ---- WebSocket: GET /ws ---------------------------------------------------
  //
  // No client-side watchdog: browsers answer the server's pings without
  // showing them to scripts, and report a broken connection with a close
  // event.

  #openWebSocket(conn) {
    const ws = new this.#opts.WebSocket(endpoint(conn.url, '/ws', true));
    conn.ws = ws;
    conn.stop = () => {
      ws.onmessage = ws.onerror = ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        // already closed
      }
    };
    ws.onmessage = (e) => this.#wsFrame(conn, e.data);
    ws.onerror = () => this.#lost(conn, heraldError(`herald: WebSocket error on ${conn.url}`));
    ws.onclose = (e) => {
      // 35xx: do not reconnect, but for 3504 (the node is full: try again
      // later, or another node).
      const terminal = e?.code >= 3500 && e.code < 4000 && e.code !== 3504;
      if (terminal) this.#serverDisconnect(conn, { code: e.code, reason: e.reason, reconnect: false });
      else this.#lost(conn);
    };
  }

  #wsFrame(conn, text) {
    if (conn !== this.#conn) return;
    const msg = this.#parse(text, 'frame');
    switch (msg?.op) {
      case 'welcome':
        if (this.#token) {
          // Authenticate first; the connection is ready once auth is answered.
          this.#send({ op: 'auth', token: this.#token }, { op: 'auth', resolve: () => this.#wsReady(conn, msg.node) });
        } else {
          this.#wsReady(conn, msg.node);
        }
        break;
      case 'unsubscribed':
        this.#grantEnded(msg);
        break;
      case 'message':
        this.#deliver(msg);
        break;
      case 'recovery':
        this.#recovery(msg);
        break;
      case 'reply':
        this.#reply(msg);
        break;
      case 'disconnect':
        this.#serverDisconnect(conn, msg);
        break;
    }
  }

  // #wsReady subscribes every channel of a welcomed (and, with a token,
  // authenticated) WebSocket, and marks it connected.
  #wsReady(conn, node) {
    if (conn !== this.#conn) return;
    conn.welcomed = true;
    for (const channel of this.#handlers.keys()) this.#subscribeCommand(channel);
    if (conn === this.#conn) this.#established(conn, node);
  }

  // #send sends a command with a new id; pending says what to do with the reply.
  #send(command, pending) {
    const id = this.#nextId++;
    try {
      const frame = JSON.stringify({ id, ...command });
      this.#pending.set(id, pending);
      this.#conn.ws.send(frame);
    } catch (err) {
      this.#pending.delete(id);
      if (pending.reject) pending.reject(err);
      else this.#report(err);
    }
  }

  // #reply settles the command a reply answers. A subscribe that finds the
  // channel already subscribed, or an unsubscribe that finds it not, did no
  // harm: the server is where the client wants it.
  #reply(msg) {
    const p = this.#pending.get(msg.id);
    this.#pending.delete(msg.id);
    if (!msg.error) {
      if (p?.op === 'subscribe') this.#subscribed(p, msg);
      return p?.resolve?.(msg);
    }
    const code = msg.error.code;
    const fields = p?.channel ? { channel: p.channel } : {};
    if (typeof msg.error.reason === 'string') fields.reason = msg.error.reason;
    const err = heraldError(`herald: ${msg.error.message ?? code}`, code, fields);
    const harmless =
      (p?.op === 'subscribe' && code === 'already_subscribed') || (p?.op === 'unsubscribe' && code === 'not_subscribed');
    if (p?.reject) p.reject(err);
    else if (!harmless) this.#report(err);
  }

  // ---- Server-Sent Events: GET /sse ----------------------------------------
  //
  // The library closes the EventSource on any error and reconnects with its
  // own backoff. Watchdog: the server's heartbeats are SSE comments, which
  // EventSource hides; if the server sends them as 'heartbeat' events
  // instead, the first one arms a watchdog that gives the stream up when no
  // event arrives for 2 heartbeat intervals + 5 seconds.
  //
  // Resume: every stream the client opens carries ?last_event_id= with the
  // cursor of its known positions, when it has any (the browser's own
  // Last-Event-ID is never used, since the client closes a failed
  // EventSource itself). Event ids tell the positions of the channels the
  // client had none for.

  #openSSE(conn) {
    const channels = [...this.#handlers.keys()];
    const cursor = formatCursor(channels, this.#positions);
    const resume = cursor === null ? '' : '&last_event_id=' + encodeURIComponent(cursor);
    // EventSource cannot send headers: the tokens go in the query.
    const es = new this.#opts.EventSource(endpoint(conn.url, '/sse?' + channelQuery(channels) + resume + this.#tokenQuery(channels, true)));
    let watchdog = null;
    let limit = 45000;
    let armed = false;
    const alive = () => {
      if (!armed) return;
      if (watchdog !== null) this.#opts.clearTimeout(watchdog);
      const silent = () => this.#lost(conn, heraldError(`herald: no event from ${conn.url} in ${limit / 1000}s`));
      watchdog = this.#opts.setTimeout(silent, limit);
    };
    conn.stop = () => {
      if (watchdog !== null) this.#opts.clearTimeout(watchdog);
      es.close();
    };
    const on = (type, fn) => es.addEventListener(type, (e) => conn === this.#conn && fn(e));
    on('welcome', (e) => {
      const w = this.#parse(e.data, 'welcome');
      if (w?.ping > 0) limit = (w.ping * 2 + 5) * 1000;
      this.#learn(channels, e.lastEventId);
      this.#established(conn, w?.node);
    });
    on('message', (e) => {
      alive();
      const m = this.#parse(e.data, 'message');
      if (m) this.#deliver(m);
      if (conn === this.#conn) this.#learn(channels, e.lastEventId);
    });
    on('recovery', (e) => {
      alive();
      const n = this.#parse(e.data, 'recovery event');
      if (n) this.#recovery(n);
    });
    on('heartbeat', () => {
      armed = true;
      alive();
    });
    on('unsubscribed', (e) => this.#grantEnded(this.#parse(e.data, 'unsubscribed event')));
    on('disconnect', (e) => this.#serverDisconnect(conn, this.#parse(e.data, 'disconnect event')));
    on('error', () => this.#lost(conn, heraldError(`herald: event stream error on ${conn.url}`)));
  }

  // #tokenQuery is the query of the subscription tokens of channels and,
  // with connection, of the connection token: '&sub_token=...&token=...'.
  #tokenQuery(channels, connection) {
    let q = '';
    for (const channel of channels) {
      const token = this.#grants.get(channel)?.token;
      if (token) q += '&sub_token=' + encodeURIComponent(token);
    }
    if (connection && this.#token) q += '&token=' + encodeURIComponent(this.#token);
    return q;
  }

  // ---- Long polling: GET /poll ----------------------------------------------
  //
  // A connection's first request answers at once (timeout=0s), so that the
  // client knows it is connected; the next ones wait up to pollTimeout. A
  // session survives network errors (the next poll resumes it, on any node)
  // but not a change of channels. A new session starts with ?cursor= made of
  // the known positions, when there are any, so that the server replays
  // what the client missed since.

  #openLongPoll(conn) {
    conn.stop = () => conn.abort?.();
    this.#pollLoop(conn).catch((err) => this.#lost(conn, err));
  }

  async #pollLoop(conn) {
    const channels = [...this.#handlers.keys()];
    const resume = this.#pollSession;
    let session = resume?.key === conn.key ? resume.id : null;
    let order = session ? resume.channels : channels; // the session's channels, in its cursor's order
    let wait = 0;
    let expired = 0; // 410s since the last successful poll of a session
    while (conn === this.#conn) {
      let query = 'session=' + encodeURIComponent(session);
      if (!session) {
        order = channels;
        const cursor = formatCursor(channels, this.#positions);
        query = channelQuery(channels) + (cursor === null ? '' : '&cursor=' + encodeURIComponent(cursor)) + this.#tokenQuery(channels, false);
      }
      const res = await this.#get(conn, `/poll?${query}&timeout=${goDuration(wait)}`, wait + POLL_GRACE);
      if (conn !== this.#conn) return;
      if (res.status === 410) {
        // The session is gone and messages may be lost: start another at
        // once, unless that just happened (then back off).
        this.#pollSession = null;
        if (++expired > 1) return this.#lost(conn, res.error);
        this.#report(res.error);
        if (conn !== this.#conn) return;
        session = null;
        wait = 0;
        this.#node = null;
        this.#setState('connecting');
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        // The token was refused or expired: with getToken, start again with
        // a fresh one (after a backoff); without, there is nothing to retry.
        this.#pollSession = null;
        if (this.#opts.getToken) return this.#lost(conn, res.error);
        this.#report(res.error);
        return this.close();
      }
      if (!res.body) return this.#lost(conn, res.error);
      const body = res.body;
      if (session) expired = 0;
      session = body.session;
      this.#pollSession = { id: session, key: conn.key, channels: order };
      wait = this.#opts.pollTimeout;
      if (typeof body.node === 'string') this.#node = body.node;
      if (this.#state !== 'connected') this.#established(conn, this.#node);
      let gap = false;
      for (const m of Array.isArray(body.messages) ? body.messages : []) {
        if (conn !== this.#conn) return;
        if (m && typeof m === 'object' && m.op === 'unsubscribed') this.#grantEnded(m);
        else if (m && typeof m === 'object' && !('data' in m) && 'recovered' in m) this.#recovery(m);
        else if (this.#deliver(m, true) === 'gap') {
          gap = true;
          break;
        }
      }
      if (conn !== this.#conn) return;
      if (gap) {
        // Offsets skipped: an earlier response of this session was lost on
        // the way, and its messages with it. A new session, from the known
        // positions, has the server replay them.
        session = null;
        this.#pollSession = null;
        wait = 0;
        continue;
      }
      this.#learn(order, body.cursor);
      if (body.disconnect && conn === this.#conn) {
        this.#pollSession = null;
        return this.#serverDisconnect(conn, body.disconnect);
      }
    }
  }

  // #get makes one poll request, given up after limit ms. It returns
  // {status, body} on success, {status, error} otherwise (status 0: no answer).
  async #get(conn, path, limit) {
    const o = this.#opts;
    const url = endpoint(conn.url, path);
    const ac = new AbortController();
    conn.abort = () => ac.abort();
    let timedOut = false;
    const timer = o.setTimeout(() => {
      timedOut = true;
      ac.abort();
    }, limit);
    try {
      const init = { signal: ac.signal };
      if (this.#token) init.headers = { Authorization: 'Bearer ' + this.#token };
      const res = await o.fetch(url, init);
      let body = null;
      try {
        body = await res.json();
      } catch {
        // not JSON: the status says enough
      }
      if (res.ok && typeof body?.session === 'string') return { status: res.status, body };
      return { status: res.status, error: httpError(res.status, body, conn.url) };
    } catch (err) {
      const why = timedOut ? `no answer in ${limit / 1000}s` : err?.message ?? String(err);
      return { status: 0, error: heraldError(`herald: long poll on ${conn.url} failed: ${why}`) };
    } finally {
      o.clearTimeout(timer);
    }
  }
}
