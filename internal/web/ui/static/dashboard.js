// The cluster dashboard: one card per node, from the statistics every node
// publishes each second, and a chart of messages delivered per second.
import { connect } from '/herald.js';
import {
  clientURLs, clock, errorText, loadConfig, noGatewaysText, showNotice, showServedBy, transportLabel,
} from './common.js';
import { Nodes } from './stats.js';
import { drawChart } from './chart.js';

const SLOTS = 60; // seconds shown in the chart

const nodes = new Nodes();
const series = []; // delivered/s, one per second, oldest first
let peak = 0;
let connected = false;
let problem = ''; // why the dashboard's connection was lost, if it was

const $ = (id) => document.getElementById(id);

/** rate formats a per-second rate. */
function rate(v) {
  if (v == null) return '–';
  if (v === 0) return '0';
  if (v < 10) return v.toFixed(1);
  return Math.round(v).toLocaleString();
}

const count = (v) => (typeof v === 'number' ? v.toLocaleString() : '–');

/** card returns the node's card, creating it in name order. */
function card(name) {
  const box = $('nodes');
  for (const el of box.querySelectorAll('[data-node]')) {
    if (el.dataset.node === name) return el;
  }
  $('nodes-empty')?.remove();
  const el = $('node-template').content.firstElementChild.cloneNode(true);
  el.dataset.node = name;
  el.querySelector('.name').textContent = name;
  el.setAttribute('aria-label', `node ${name}`);
  const after = [...box.querySelectorAll('[data-node]')].find((c) => c.dataset.node.localeCompare(name) > 0);
  box.insertBefore(el, after ?? null);
  return el;
}

/** render shows one node's latest state in its card. */
function render(n, now) {
  const el = card(n.name);
  const s = n.sample;
  const set = (sel, text) => {
    el.querySelector(sel).textContent = text;
  };
  set('.role', s.role ?? '');
  const conns = s.connections ?? {};
  set('.conn-websocket', count(conns.websocket ?? 0));
  set('.conn-sse', count(conns.sse ?? 0));
  set('.conn-longpoll', count(conns.longpoll ?? 0));
  set('.subs', count(s.subscriptions));
  set('.channels', count(s.channels));
  set('.dropped', count(s.dropped));
  el.querySelector('.dropped').classList.toggle('bad', s.dropped > 0);
  // A gone node's last rates are history, not its current rates.
  const r = n.gone ? null : n.rates;
  set('.published-rate', rate(r?.published));
  set('.received-rate', rate(r?.received));
  set('.delivered-rate', rate(r?.delivered));
  const nats = String(s.nats ?? 'unknown');
  set('.nats', nats);
  el.querySelector('.nats').dataset.state = nats;
  el.dataset.state = n.gone ? 'gone' : 'live';
  el.classList.toggle('gone', n.gone);
  set('.live', n.gone ? 'gone' : 'live');
  set('.seen', n.gone
    ? `silent for ${Math.round((now - n.seen) / 1000)} s`
    : `updated ${clock(n.seen).slice(0, 8)}`);
}

/** tick runs once a second: gone nodes, the chart. */
function tick() {
  const now = Date.now();
  if (connected) nodes.sweep(now);
  for (const n of nodes.list()) render(n, now);
  series.push(connected ? nodes.deliveredRate() : 0);
  if (series.length > SLOTS) series.shift();
  const current = series[series.length - 1];
  peak = Math.max(...series);
  const top = drawChart($('rate-chart'), series, SLOTS);
  $('rate-now').textContent = rate(current);
  $('rate-peak').textContent = rate(peak);
  $('rate-scale').textContent = `scale 0–${top.toLocaleString()} msg/s`;
}

/** showConnection shows the dashboard's own connection. */
function showConnection({ state, node, transport }) {
  document.body.dataset.connection = state;
  $('conn-state').textContent = state;
  const was = connected;
  connected = state === 'connected';
  if (connected) problem = '';
  if (connected && node) {
    $('conn-detail').textContent = ` to ${node}${transport ? ` over ${transportLabel(transport)}` : ''}`;
  } else {
    $('conn-detail').textContent = problem ? ` (${problem})` : '';
  }
  $('nodes').classList.toggle('stale', !connected);
  if (connected && !was) nodes.refresh(Date.now());
}

async function main() {
  let cfg;
  try {
    cfg = await loadConfig();
  } catch (err) {
    showNotice(errorText(err), 'error');
    showConnection({ state: 'closed' });
    return;
  }
  showServedBy(cfg);
  $('stats-channel').textContent = cfg.statsChannel;
  tick();
  setInterval(tick, 1000);

  const urls = clientURLs(cfg);
  if (urls.length === 0) {
    showNotice(noGatewaysText, 'error');
    showConnection({ state: 'closed' });
    $('nodes-empty').textContent = 'No gateways to connect to, so no statistics.';
    return;
  }
  let client = null;
  const start = () => {
    client = connect(urls, { transport: 'auto' });
    client.on('state', (ev) => showConnection(ev));
    const lost = (why) => {
      problem = why;
      if (!connected) $('conn-detail').textContent = ` (${why})`;
    };
    client.on('disconnect', ({ code, reason }) => lost(`disconnected: ${[code, reason].filter((v) => v != null && v !== '').join(' ')}`));
    client.on('error', (err) => lost(errorText(err)));
    client.subscribe(cfg.statsChannel, (data) => {
      const n = nodes.add(data, Date.now());
      if (n !== null) render(n, Date.now());
    });
    showConnection({ state: 'connecting', node: null, transport: client.transport });
  };
  start();
  // Close the connection when the page goes away; reopen it when the page
  // comes back from the back/forward cache.
  addEventListener('pagehide', () => client?.close());
  addEventListener('pageshow', (ev) => {
    if (ev.persisted) start();
  });
}

main();
