// Helpers shared by the dashboard and the demo.

export const TRANSPORTS = [
  { value: 'websocket', label: 'WebSocket' },
  { value: 'sse', label: 'SSE' },
  { value: 'longpoll', label: 'long-poll' },
];

/** transportLabel names a transport for people. */
export function transportLabel(value) {
  return TRANSPORTS.find((t) => t.value === value)?.label ?? String(value ?? '');
}

/**
 * loadConfig fetches /ui/config.json, with defaults for anything missing.
 * @returns {Promise<{node: string, role: string, gateways: string[], ping: boolean}>}
 */
export async function loadConfig() {
  const res = await fetch('/ui/config.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`cannot load /ui/config.json: HTTP ${res.status}`);
  const c = await res.json();
  return {
    node: String(c.node ?? ''),
    role: String(c.role || 'all'),
    gateways: Array.isArray(c.gateways) ? c.gateways.map(String) : [],
    ping: c.ping === true,
  };
}

/**
 * clientURLs returns the base URLs the page's clients connect to: the
 * configured gateways or, when there are none, the page's own origin ("")
 * if the serving node takes client connections. Empty when there is
 * nowhere to connect.
 */
export function clientURLs(cfg) {
  if (cfg.gateways.length > 0) return cfg.gateways;
  return cfg.role === 'api' ? [] : [''];
}

/** noGatewaysText explains why a page has nowhere to connect. */
export const noGatewaysText =
  'This node has the api role, so it takes no client connections, and no gateways are configured ' +
  'for its pages (--ui-gateways). Start it with the gateway URLs, or open this page on a gateway node.';

/** hostOf returns the host:port of a base URL; "" is the page's own host. */
export function hostOf(url) {
  if (!url) return location.host;
  try {
    return new URL(url, location.href).host;
  } catch {
    return String(url);
  }
}

/** showServedBy fills the header's "served by" line: the node, and its role when its name does not say it. */
export function showServedBy(cfg) {
  const el = document.getElementById('this-node');
  if (!el) return;
  el.textContent = !cfg.node || cfg.node === cfg.role ? cfg.role : `${cfg.node} (role ${cfg.role})`;
}

/** How often the demo's gateway controls read the gateways' state again. */
const CONTROLS_REFRESH_MS = 2000;

/**
 * demoControls shows, in el, a Stop or Start button for each gateway of a
 * `herald demo` (whose api node answers GET /demo/nodes), and keeps them
 * in step with the gateways, which the terminal may stop and start too.
 * On other nodes it shows nothing. onChange gets the gateways' state,
 * [{name, url, addr, running}], each time it is read.
 */
export async function demoControls(el, onChange = () => {}) {
  let busy = false;
  const render = (list) => {
    el.replaceChildren(...list.map((g) => {
      const item = document.createElement('span');
      item.className = 'gateway-control';
      item.dataset.node = g.name;
      item.dataset.running = String(g.running);
      const name = document.createElement('strong');
      name.textContent = g.name;
      const state = document.createElement('span');
      state.className = 'gateway-state';
      state.textContent = `${g.running ? 'running' : 'stopped'} · ${g.addr}`;
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.action = g.running ? 'stop' : 'start';
      button.textContent = g.running ? 'Stop' : 'Start';
      button.disabled = busy;
      button.addEventListener('click', () => act(g.name, button.dataset.action, state));
      item.append(name, ' ', state, ' ', button);
      return item;
    }));
    onChange(list);
  };
  const read = async () => {
    const res = await fetch('/demo/nodes', { cache: 'no-store' }).catch(() => null);
    if (!res?.ok) return null;
    const body = await res.json().catch(() => null);
    return Array.isArray(body?.nodes) ? body.nodes : null;
  };
  const act = async (name, action, state) => {
    busy = true;
    for (const b of el.querySelectorAll('button')) b.disabled = true;
    state.textContent = action === 'stop' ? 'stopping…' : 'starting…';
    try {
      const res = await fetch(`/demo/nodes/${encodeURIComponent(name)}/${action}`, { method: 'POST' });
      const body = await res.json().catch(() => null);
      if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
      busy = false;
      render(body.nodes);
    } catch (err) {
      busy = false;
      showNotice(`${action} ${name} failed: ${errorText(err)}`, 'error');
      const list = await read();
      if (list) render(list);
    }
  };
  const first = await read();
  if (first === null) return;
  el.hidden = false;
  render(first);
  setInterval(async () => {
    if (busy) return;
    const list = await read();
    if (list && !busy) render(list);
  }, CONTROLS_REFRESH_MS);
}

/** showNotice shows text in the page's notice box; empty text hides it. */
export function showNotice(text, kind = 'info') {
  const el = document.getElementById('notice');
  if (!el) return;
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = !text;
}

/** errorText turns anything thrown or reported into one line of text. */
export function errorText(err) {
  if (err == null) return 'unknown error';
  if (typeof err === 'string') return err;
  if (err.message) return err.code ? `${err.code}: ${err.message}` : err.message;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** clock formats a time as HH:MM:SS.mmm, local time. */
export function clock(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
