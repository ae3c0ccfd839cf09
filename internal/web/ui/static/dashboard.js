// The cluster dashboard: one card per node, from the statistics every node
// publishes each second on NATS, which the serving node streams at
// /ui/stats, and a chart of messages delivered per second.
import {
  clock, demoControls, errorText, loadConfig, showNotice, showServedBy,
} from './common.js';
import { Nodes } from './stats.js';
import { drawChart } from './chart.js';

const SLOTS = 60; // seconds shown in the chart

const nodes = new Nodes();
const series = []; // delivered/s, one per second, oldest first
let peak = 0;
let connected = false;
let stopped = new Set(); // demo gateways stopped from the controls or the terminal

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
  const state = stopped.has(n.name) ? 'stopped' : n.gone ? 'gone' : 'live';
  el.dataset.state = state;
  el.classList.toggle('gone', state !== 'live');
  set('.live', state);
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

/** showConnection shows the state of the dashboard's stats stream. */
function showConnection(state, detail = '') {
  document.body.dataset.connection = state;
  $('conn-state').textContent = state;
  const was = connected;
  connected = state === 'connected';
  $('conn-detail').textContent = detail;
  $('nodes').classList.toggle('stale', !connected);
  if (connected && !was) nodes.refresh(Date.now());
}

/** How long to wait before opening the stats stream again once it closed. */
const RETRY_MS = 2000;

/**
 * watch opens the stats stream of the serving node. The browser reopens it
 * by itself after a network error; a refusal closes it, and it is tried
 * again a little later.
 */
function watch(cfg) {
  const es = new EventSource('/ui/stats');
  es.addEventListener('open', () => showConnection('connected', ` to ${cfg.node || 'this node'}`));
  es.addEventListener('stats', (ev) => {
    let sample;
    try {
      sample = JSON.parse(ev.data);
    } catch {
      return;
    }
    const n = nodes.add(sample, Date.now());
    if (n !== null) render(n, Date.now());
  });
  es.addEventListener('error', () => {
    if (es.readyState === EventSource.CLOSED) {
      showConnection('disconnected', ' (the node refused the stats stream; trying again)');
      setTimeout(() => watch(cfg), RETRY_MS);
    } else {
      showConnection('connecting', ' (lost the node; reconnecting)');
    }
  });
  return es;
}

async function main() {
  let cfg;
  try {
    cfg = await loadConfig();
  } catch (err) {
    showNotice(errorText(err), 'error');
    showConnection('closed');
    return;
  }
  showServedBy(cfg);
  tick();
  setInterval(tick, 1000);
  showConnection('connecting');
  let es = watch(cfg);
  demoControls($('demo-controls'), (list) => {
    stopped = new Set(list.filter((g) => !g.running).map((g) => g.name));
    for (const g of list) {
      const n = nodes.byName.get(g.name);
      if (n || !g.running) render(n ?? placeholder(g.name), Date.now());
    }
  });
  // Close the stream when the page goes away; reopen it when the page
  // comes back from the back/forward cache.
  addEventListener('pagehide', () => es.close());
  addEventListener('pageshow', (ev) => {
    if (ev.persisted) es = watch(cfg);
  });
}

/** placeholder is the card state of a node not heard from yet. */
function placeholder(name) {
  return { name, id: '', sample: {}, interval: 1, seen: Date.now(), rates: null, gone: true };
}

main();
