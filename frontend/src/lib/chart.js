// Charts, drawn with uPlot (about 20 KB gzipped, fast on thousands of points, canvas-based): a
// history chart (mean line inside its min–max band) and a sparkline.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { clock, number, time } from './format.js';

const LINE = '#1f6feb';
const BAND = 'rgba(31, 111, 235, 0.15)';

/**
 * The columns uPlot draws from a /api/history answer: seconds since the epoch, mean, min, max.
 * A missing bucket becomes a gap in the line, not a straight line over it.
 */
function columns(answer) {
  const rows = [];
  const every = answer.every_secs || 300;
  for (const b of answer.buckets) {
    if (!Number.isFinite(b.mean)) continue;
    const seconds = Date.parse(b.start) / 1000;
    const previous = rows.at(-1);
    if (previous && seconds - previous[0] > every * 1.5) rows.push([previous[0] + every, null, null, null]);
    rows.push([seconds, b.mean, b.min ?? null, b.max ?? null]);
  }
  return [0, 1, 2, 3].map((k) => rows.map((row) => row[k]));
}

/** The x range: the period asked for, even when data covers only part of it. */
function period(answer) {
  return [Date.parse(answer.from) / 1000, Date.parse(answer.to) / 1000];
}

/**
 * Draws a /api/history `answer` into `el`: the mean as a line, min and max as a shaded band.
 * `words` names the legend's `time`, `min` and `max` in the page's language. Returns the uPlot
 * instance (call `.destroy()` before dropping `el`).
 */
export function historyChart(el, answer, { label, unit, digits, words }) {
  const format = (value) => (value == null ? '–' : `${number(value, digits)} ${unit}`.trim());
  const [from, to] = period(answer);
  const tick = (seconds) => (to - from > 2 * 86400 ? time(seconds * 1000).split(/[ ,]+/)[0] : clock(seconds * 1000));
  const options = {
    width: Math.max(el.clientWidth, 240),
    height: 180,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true, range: [from, to] } },
    series: [
      { label: words.time, value: (_, seconds) => (seconds == null ? '–' : time(seconds * 1000)) },
      { label, stroke: LINE, width: 2, value: (_, v) => format(v), spanGaps: false },
      { label: words.min, stroke: 'transparent', value: (_, v) => format(v) },
      { label: words.max, stroke: 'transparent', value: (_, v) => format(v) },
    ],
    bands: [{ series: [3, 2], fill: BAND }],
    axes: [
      { values: (_, ticks) => ticks.map(tick) },
      { size: 50, values: (_, ticks) => ticks.map((v) => number(v, digits)) },
    ],
  };
  return new uPlot(options, columns(answer), el);
}

/** A small chart of the means of a /api/history `answer`, without axes. */
export function sparkline(el, answer) {
  const [times, means] = columns(answer);
  const options = {
    width: Math.max(el.clientWidth, 200),
    height: 48,
    legend: { show: false },
    cursor: { show: false },
    axes: [{ show: false }, { show: false }],
    scales: { x: { time: true, range: period(answer) } },
    series: [{}, { stroke: LINE, width: 1.5, fill: BAND }],
  };
  return new uPlot(options, [times, means], el);
}
