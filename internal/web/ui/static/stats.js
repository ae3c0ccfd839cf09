// Node statistics from the stats channel: per-second rates from successive
// samples, and which nodes have gone silent.

/** Counters of a sample that are turned into per-second rates. */
export const RATE_COUNTERS = ['published', 'received', 'delivered'];

/** A node is gone when no sample came for this many of its intervals. */
export const GONE_INTERVALS = 5;

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/**
 * @typedef {object} NodeState
 * @property {string} name
 * @property {string} id
 * @property {object} sample the latest sample, as published
 * @property {number} interval seconds between samples
 * @property {number} seen when the latest sample arrived (ms, local clock)
 * @property {{published: number, received: number, delivered: number} | null} rates
 *   per second between the last two samples; null until there are two
 * @property {boolean} gone
 */

/** Nodes tracks the nodes heard on the stats channel, by name. */
export class Nodes {
  constructor() {
    /** @type {Map<string, NodeState>} */
    this.byName = new Map();
  }

  /**
   * add records a sample received at now (ms). It returns the node's state,
   * or null when the sample is not one (no node name).
   */
  add(sample, now) {
    if (sample === null || typeof sample !== 'object' || typeof sample.node !== 'string' || sample.node === '') {
      return null;
    }
    const id = String(sample.id ?? '');
    const interval = num(sample.interval) > 0 ? sample.interval : 1;
    let n = this.byName.get(sample.node);
    if (n === undefined || n.id !== id) {
      // New, or restarted under the same name: its counters start over.
      n = { name: sample.node, id, sample: null, interval, seen: now, rates: null, gone: false };
      this.byName.set(sample.node, n);
    }
    const prev = n.sample;
    if (prev !== null) {
      n.rates = rates(prev, sample, (now - n.seen) / 1000, interval);
    }
    n.sample = sample;
    n.interval = interval;
    n.seen = now;
    n.gone = false;
    return n;
  }

  /** sweep marks as gone the nodes silent for GONE_INTERVALS intervals. */
  sweep(now) {
    for (const n of this.byName.values()) {
      n.gone = now - n.seen > GONE_INTERVALS * n.interval * 1000;
    }
  }

  /**
   * refresh treats every node as heard from at now: after the page's own
   * connection was down, nodes get their full grace period again.
   */
  refresh(now) {
    for (const n of this.byName.values()) n.seen = now;
  }

  /** deliveredRate is the sum of delivered/s over the live nodes. */
  deliveredRate() {
    let sum = 0;
    for (const n of this.byName.values()) {
      if (!n.gone && n.rates !== null) sum += n.rates.delivered;
    }
    return sum;
  }

  /** list returns the nodes sorted by name. */
  list() {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}

/**
 * rates computes the per-second rates between two samples of one node.
 * Samples come once per interval; the time between them, taken from their
 * timestamps (or, failing those, from when they arrived), is rounded to a
 * whole number of intervals, so that jitter does not distort the rate and a
 * lost sample does not double it. A counter that went down (reset) gives
 * no rate.
 */
export function rates(prev, cur, arrivedApart, interval) {
  let dt = (Date.parse(cur.time) - Date.parse(prev.time)) / 1000;
  if (!(dt > 0)) dt = arrivedApart;
  dt = Math.max(1, Math.round(dt / interval)) * interval;
  const out = {};
  for (const k of RATE_COUNTERS) {
    const d = num(cur[k]) - num(prev[k]);
    if (d < 0) return null;
    out[k] = d / dt;
  }
  return out;
}
