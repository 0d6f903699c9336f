// A channel's live points in a fixed-size ring (typed arrays: no garbage at 100 Hz), and the
// helpers the telemetry page needs that touch no DOM (unit-tested in tests/units.test.mjs).

/** Points of one channel: time (ms), min and max, oldest overwritten past `capacity`. */
export class Ring {
  constructor(capacity = 16384) {
    this.capacity = capacity;
    this.t = new Float64Array(capacity);
    this.min = new Float64Array(capacity);
    this.max = new Float64Array(capacity);
    this.start = 0;
    this.length = 0;
  }

  /** Appends one point; a point older than the newest is left out (times only grow). */
  push(t, min, max) {
    if (this.length && t < this.last()) return false;
    const at = (this.start + this.length) % this.capacity;
    this.t[at] = t;
    this.min[at] = min;
    this.max[at] = max;
    if (this.length < this.capacity) this.length += 1;
    else this.start = (this.start + 1) % this.capacity;
    return true;
  }

  /** The newest time, or -Infinity when empty. */
  last() {
    return this.length ? this.t[(this.start + this.length - 1) % this.capacity] : -Infinity;
  }

  /** The oldest time, or Infinity when empty. */
  first() {
    return this.length ? this.t[this.start] : Infinity;
  }

  clear() {
    this.start = 0;
    this.length = 0;
  }

  /** Columns [t (s), min, max] of the points at or after `fromMs`, for uPlot. */
  since(fromMs) {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.t[(this.start + mid) % this.capacity] < fromMs) lo = mid + 1;
      else hi = mid;
    }
    const n = this.length - lo;
    const xs = new Array(n);
    const mins = new Array(n);
    const maxs = new Array(n);
    for (let i = 0; i < n; i += 1) {
      const at = (this.start + lo + i) % this.capacity;
      xs[i] = this.t[at] / 1000;
      mins[i] = this.min[at];
      maxs[i] = this.max[at];
    }
    return [xs, mins, maxs];
  }
}

/**
 * A channel's alert state against the viewer's thresholds: `alert` when a bucket's max is above
 * `above` or its min below `below` (min and max, so a spike between two pixels still counts).
 */
export function crosses(min, max, { above = null, below = null } = {}) {
  return (above != null && max > above) || (below != null && min < below);
}

/**
 * The ghost's value at each live time `xs` (s): the stored series `ghost` ({t: ms[], v: []},
 * in time order) shifted so that its start `ghostStartMs` meets the live run's `liveStartMs`;
 * the last stored value at or before the shifted time, null outside it.
 */
export function alignGhost(xs, ghost, ghostStartMs, liveStartMs) {
  const out = new Array(xs.length).fill(null);
  if (!ghost || !ghost.t.length) return out;
  const shift = ghostStartMs - liveStartMs;
  const end = ghost.t[ghost.t.length - 1];
  let j = 0;
  for (let i = 0; i < xs.length; i += 1) {
    const at = xs[i] * 1000 + shift;
    if (at < ghost.t[0] || at > end + 1000) continue;
    while (j + 1 < ghost.t.length && ghost.t[j + 1] <= at) j += 1;
    while (j > 0 && ghost.t[j] > at) j -= 1;
    out[i] = ghost.v[j];
  }
  return out;
}

/** The window choices, seconds (0: the whole session). */
export const WINDOWS = [10, 30, 60, 300, 900, 3600, 0];
/** The rate choices, as the stream's `rate=` names them. */
export const RATES = ['raw', '50', '10', '1'];
