// The demo: two clients, each with its own connection, subscribed to the
// channel "updates". "Call API" makes the serving node publish one message.
// When the channel keeps history, each message shows its position (offset
// and epoch), and a pane shows how its client's last resume went. Under
// herald demo, the serving node also mints tokens (POST /token): client A
// is Alice and client B is Bob, each with an inbox only they may read, and
// "Send to ..." asks the demo's backend to publish a note to the other's.
import { connect } from '/herald.js';
import {
  TRANSPORTS, clientURLs, clock, demoControls, errorText, hostOf, loadConfig, noGatewaysText,
  showNotice, showServedBy, transportLabel,
} from './common.js';

const CHANNEL = 'updates';
const MAX_ROWS = 100;
const DEFAULTS = { a: { node: 1, transport: 'websocket' }, b: { node: 2, transport: 'sse' } };
const EPOCH_SHOWN = 4; // characters of an epoch shown in a message row
const USERS = { a: 'alice', b: 'bob' };
const inboxOf = (user) => `user.${user}.inbox`;
const named = (user) => user[0].toUpperCase() + user.slice(1);

/**
 * fetchToken asks the serving node's demo backend for a user's token; it
 * resolves to null where there is none (a node that is not herald demo).
 */
async function fetchToken(user) {
  const res = await fetch('/token', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user }) });
  if (res.status === 404) return null;
  const body = await res.json().catch(() => null);
  if (!res.ok || typeof body?.token !== 'string') throw new Error(body?.error?.message ?? `token: HTTP ${res.status}`);
  return body.token;
}

/** A Pane is one client: its selectors, its connection and its messages. */
class Pane {
  /**
   * @param {HTMLElement} root the pane's section (#client-a, #client-b)
   * @param {'a'|'b'} key the pane's letter, as in the query (?a=1&ta=sse)
   * @param {string[]} urls the gateways' base URLs
   * @param {boolean} ping whether the serving node answers POST /ping
   * @param {boolean} tokens whether the serving node mints the demo users' tokens
   */
  constructor(root, key, urls, ping, tokens) {
    this.root = root;
    this.key = key;
    this.urls = urls;
    this.tokens = tokens;
    this.user = USERS[key];
    this.other = key === 'a' ? USERS.b : USERS.a;
    this.notes = 0;
    this.client = null;
    this.count = 0;
    this.nodeSelect = root.querySelector('select[name=node]');
    this.transportSelect = root.querySelector('select[name=transport]');
    this.stateEl = root.querySelector('.state');
    this.nodeEl = root.querySelector('.node');
    this.transportEl = root.querySelector('.transport');
    this.detailEl = root.querySelector('.detail');
    this.button = root.querySelector('button.call-api');
    this.result = root.querySelector('.api-result');
    this.list = root.querySelector('ul.messages');
    this.countEl = root.querySelector('.count');
    this.recoveryEl = root.querySelector('.recovery');
    this.recoveryResult = root.querySelector('.recovery-result');
    this.recoveryDetail = root.querySelector('.recovery-detail');
    this.last = null; // {epoch, offset}: the newest message shown, or where a recovered:false left the pane

    this.nodeSelect.replaceChildren(...urls.map((url, i) => {
      const label = url ? `node ${i + 1} · ${hostOf(url)}` : `this node · ${hostOf(url)}`;
      return new Option(label, String(i + 1));
    }));
    const q = new URLSearchParams(location.search);
    const d = DEFAULTS[key];
    const n = Number.parseInt(q.get(key) ?? '', 10);
    this.nodeSelect.value = String(n >= 1 && n <= urls.length ? n : Math.min(d.node, urls.length));
    const t = q.get(`t${key}`);
    this.transportSelect.value = TRANSPORTS.some((x) => x.value === t) ? t : d.transport;

    this.nodeSelect.addEventListener('change', () => this.changed());
    this.transportSelect.addEventListener('change', () => this.changed());
    if (ping) {
      this.button.addEventListener('click', () => this.callAPI());
    } else {
      this.button.disabled = true;
      this.result.textContent = 'this node does not answer POST /ping';
    }
    if (tokens) {
      root.querySelector('h2').textContent += ` · ${named(this.user)}`;
      root.querySelector('.inbox-box').hidden = false;
      root.querySelector('.inbox-channel').textContent = inboxOf(this.user);
      this.inbox = root.querySelector('ul.inbox');
      this.inboxCount = root.querySelector('.inbox-count');
      this.sendButton = root.querySelector('button.send-note');
      this.sendResult = root.querySelector('.send-result');
      this.sendButton.addEventListener('click', () => this.sendNote());
    }
  }

  /** index is the chosen gateway's position in urls. */
  get index() {
    return Number(this.nodeSelect.value) - 1;
  }

  /** changed reconnects with the new choice and records it in the address. */
  changed() {
    const q = new URLSearchParams(location.search);
    q.set(this.key, this.nodeSelect.value);
    q.set(`t${this.key}`, this.transportSelect.value);
    history.replaceState(null, '', `${location.pathname}?${q}`);
    this.connect();
  }

  /**
   * connect closes the pane's client, if any, and starts a new one. The new
   * client resumes from where the old one was, so that changing node or
   * transport loses no message either.
   */
  connect() {
    const since = this.client?.position(CHANNEL) ?? this.last ?? undefined;
    this.client?.close();
    const chosen = this.urls[this.index];
    const urls = [chosen, ...this.urls.filter((_, i) => i !== this.index)];
    const transport = this.transportSelect.value;
    const options = { transport };
    if (this.tokens) options.getToken = () => fetchToken(this.user);
    const client = connect(urls, options);
    this.client = client;
    this.detailEl.textContent = '';
    const mine = (fn) => (...args) => {
      if (this.client === client) fn(...args);
    };
    client.on('state', mine((ev) => this.showState(ev)));
    client.on('disconnect', mine(({ code, reason, reconnect }) => {
      this.detailEl.textContent = `disconnected: ${code ?? ''} ${reason ?? ''}${reconnect === false ? ' (will not reconnect)' : ''}`.trim();
    }));
    client.on('error', mine((err) => {
      this.detailEl.textContent = errorText(err);
    }));
    client.on('recovery', mine((ev) => {
      if (ev.channel === CHANNEL) this.showRecovery(ev);
    }));
    client.subscribe(CHANNEL, mine((data, meta) => this.add(data, meta)), since ? { since } : {});
    if (this.tokens) client.subscribe(inboxOf(this.user), mine((data, meta) => this.addNote(data, meta)));
    // The client starts on the next tick; until its first event, it is
    // about to connect.
    this.showState({ state: 'connecting', node: null, transport: client.transport, url: client.url });
  }

  /** showState shows the client's connection state. */
  showState({ state, node, transport, url }) {
    this.stateEl.textContent = state;
    this.root.dataset.state = state;
    const connected = state === 'connected';
    this.nodeEl.textContent = connected ? (node ?? this.client?.node ?? '') : '';
    const t = transport ?? this.client?.transport;
    this.transportEl.textContent = connected && t ? `over ${transportLabel(t)}` : '';
    if (connected) {
      const where = this.urls.indexOf(url ?? this.client?.url);
      this.detailEl.textContent = where >= 0 && where !== this.index
        ? `node ${this.index + 1} is unreachable; failed over to node ${where + 1} (${hostOf(this.urls[where])})`
        : '';
    }
  }

  /**
   * showRecovery shows the client's report on a resume: recovered, or not
   * and why. The report's position is the client's once the missed
   * messages that follow it are in, so it tells how many there are.
   */
  showRecovery({ recovered, epoch, offset, reason }) {
    const el = this.recoveryEl;
    const stated = typeof epoch === 'string' && Number.isInteger(offset);
    el.hidden = false;
    el.dataset.recovered = String(recovered);
    el.dataset.reason = recovered ? '' : String(reason ?? '');
    el.dataset.epoch = stated ? epoch : '';
    el.dataset.offset = stated ? String(offset) : '';
    this.recoveryResult.textContent = recovered ? 'recovered ✓' : `not recovered: ${reason ?? 'unknown'}`;
    let detail;
    if (!recovered) {
      detail = stated ? `goes on from ${position({ epoch, offset })}` : 'no history';
    } else if (this.last && stated && this.last.epoch === epoch) {
      const missed = offset - this.last.offset;
      detail = `after ${position(this.last)}: ${missed === 0 ? 'nothing missed' : `${missed} missed ${missed === 1 ? 'message' : 'messages'} replayed`}`;
    } else {
      detail = stated ? `up to ${position({ epoch, offset })}` : '';
    }
    this.recoveryDetail.textContent = `${detail ? `${detail} · ` : ''}${clock(Date.now())}`;
    el.title = recovered
      ? 'The client resumed and got every message it had missed.'
      : `Messages were lost to the client (${reason}); it goes on live from here.`;
    if (!recovered && stated) this.last = { epoch, offset };
  }

  /** add shows a received message at the top of the list. */
  add(data, meta) {
    const received = Date.now();
    const obj = data !== null && typeof data === 'object' ? data : {};
    const sendTime = typeof obj.sendTime === 'string' ? obj.sendTime : '';
    const node = meta?.node ?? this.client?.node ?? '';
    const li = document.createElement('li');
    li.dataset.node = node;
    li.dataset.sendTime = sendTime;
    const positioned = typeof meta?.epoch === 'string' && Number.isInteger(meta?.offset);
    if (positioned) {
      li.dataset.epoch = meta.epoch;
      li.dataset.offset = String(meta.offset);
      this.last = { epoch: meta.epoch, offset: meta.offset };
    }
    const sentAt = typeof obj.sentAtMs === 'number' ? obj.sentAtMs : null;
    const latency = sentAt !== null ? `${Math.round(received - sentAt)} ms` : '–';
    li.append(
      offsetField(positioned ? meta : null),
      // The send time at the precision of the receive time, when the
      // message says it to the millisecond.
      field('sent', sentAt !== null ? clock(sentAt) : sendTime || JSON.stringify(data), 'send-time'),
      field('received', clock(received), 'receive-time'),
      field('latency', latency, 'latency'),
      field('via', node || '?', 'delivered-by'),
    );
    this.list.prepend(li);
    while (this.list.children.length > MAX_ROWS) this.list.lastElementChild.remove();
    this.count++;
    this.countEl.textContent = String(this.count);
  }

  /** addNote shows a note received on the user's inbox at the top of its list. */
  addNote(data, meta) {
    const obj = data !== null && typeof data === 'object' ? data : {};
    const li = document.createElement('li');
    li.dataset.from = typeof obj.from === 'string' ? obj.from : '';
    li.dataset.channel = meta?.channel ?? '';
    li.dataset.node = meta?.node ?? '';
    li.append(
      field('note', typeof obj.text === 'string' ? obj.text : JSON.stringify(data), 'note'),
      field('received', clock(Date.now()), 'receive-time'),
      field('via', meta?.node ?? '?', 'delivered-by'),
    );
    this.inbox.prepend(li);
    while (this.inbox.children.length > MAX_ROWS) this.inbox.lastElementChild.remove();
    this.notes++;
    this.inboxCount.textContent = String(this.notes);
  }

  /** sendNote asks the demo's backend to publish a note to the other user's inbox. */
  async sendNote() {
    this.sendButton.disabled = true;
    this.sendResult.textContent = 'sending…';
    this.sendResult.classList.remove('error');
    try {
      const res = await fetch('/demo/send', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ from: this.user, to: this.other }),
      });
      const body = await res.json().catch(() => null);
      if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
      this.sendResult.textContent = `published to ${body?.channel ?? inboxOf(this.other)} at ${clock(Date.now())}`;
    } catch (err) {
      this.sendResult.textContent = `failed: ${errorText(err)}`;
      this.sendResult.classList.add('error');
    } finally {
      this.sendButton.disabled = false;
    }
  }

  /** callAPI asks the serving node to publish one message to "updates". */
  async callAPI() {
    this.button.disabled = true;
    this.result.textContent = 'calling…';
    this.result.classList.remove('error');
    try {
      const res = await fetch('/ping', { method: 'POST' });
      const body = await res.json().catch(() => null);
      if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
      this.result.textContent = `answered “${body?.message ?? 'ok'}” at ${clock(Date.now())}`;
    } catch (err) {
      this.result.textContent = `failed: ${errorText(err)}`;
      this.result.classList.add('error');
    } finally {
      this.button.disabled = false;
    }
  }

  close() {
    this.client?.close();
    this.client = null;
  }
}

/** position formats {epoch, offset} for people: #offset (epoch). */
function position({ epoch, offset }) {
  return epoch ? `#${offset} (epoch ${epoch.slice(0, EPOCH_SHOWN)})` : `#${offset}`;
}

/**
 * offsetField is a message row's position: the offset, and the start of
 * the epoch (all of it in the tooltip); a dash without history.
 */
function offsetField(pos) {
  const span = field('offset', pos ? `#${pos.offset}` : '–', 'offset');
  if (pos) {
    const e = document.createElement('span');
    e.className = 'epoch';
    e.textContent = pos.epoch.slice(0, EPOCH_SHOWN);
    e.title = `epoch ${pos.epoch}`;
    span.lastElementChild.append(' ', e);
  }
  return span;
}

/** field is one labelled value of a message row. */
function field(label, value, cls) {
  const span = document.createElement('span');
  span.className = `field ${cls}-field`;
  const l = document.createElement('span');
  l.className = 'label';
  l.textContent = label;
  const v = document.createElement('span');
  v.className = cls;
  v.textContent = value;
  span.append(l, ' ', v);
  return span;
}

async function main() {
  let cfg;
  try {
    cfg = await loadConfig();
  } catch (err) {
    showNotice(errorText(err), 'error');
    return;
  }
  showServedBy(cfg);
  const urls = clientURLs(cfg);
  const roots = ['a', 'b'].map((k) => document.getElementById(`client-${k}`));
  if (urls.length === 0) {
    showNotice(noGatewaysText, 'error');
    for (const root of roots) {
      for (const el of root.querySelectorAll('select, button')) el.disabled = true;
      root.querySelector('.state').textContent = 'closed';
      root.dataset.state = 'closed';
    }
    return;
  }
  if (urls.length === 1) {
    showNotice('Only one node takes client connections here, so both clients connect to it.');
  }
  let tokens = false;
  try {
    tokens = (await fetchToken(USERS.a)) !== null;
  } catch (err) {
    showNotice(`cannot get the demo users' tokens: ${errorText(err)}`, 'error');
  }
  const panes = roots.map((root, i) => new Pane(root, i === 0 ? 'a' : 'b', urls, cfg.ping, tokens));
  for (const p of panes) p.connect();
  demoControls(document.getElementById('demo-controls'));
  // Close the connections when the page goes away; reopen them when it
  // comes back from the back/forward cache.
  addEventListener('pagehide', () => {
    for (const p of panes) p.close();
  });
  addEventListener('pageshow', (ev) => {
    if (ev.persisted) for (const p of panes) p.connect();
  });
}

main();
