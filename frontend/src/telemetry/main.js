// The telemetry page (/telemetry, dist/telemetry.js): one device's channels live, for a racing
// team watching its car. Pick a device and channels, a window and a rate; the server decimates
// once per device and rate (min/max per bucket) and sends this page only its channels, never
// more points than its charts are wide (/api/telemetry/stream, server/src/telemetry.rs).
//
// Smooth at 100 Hz: points are appended into ring buffers as they arrive, and the charts (uPlot)
// are redrawn at most once per animation frame. Thresholds are the viewer's (per channel, on the
// page) and realtime's raised alerts for the device (/api/alerts and the `alert` events); a
// channel is in alert when a bucket's max is above its upper threshold or its min below its
// lower one. Pause freezes the charts; dragging over a paused chart zooms into that range, from
// the store when it is older than the points in memory. A stored session (/api/sessions when
// the server has it, or any time range) overlays the live run as a "ghost", aligned on its start.
// Stored values come from /api/readings at full rate when the range is small enough, else from
// /api/history's buckets.
import './telemetry.css';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { loadConfig } from '../lib/config.js';
import { getJson } from '../lib/api.js';
import { connectLive } from '../lib/live.js';
import { h, replace } from '../lib/dom.js';
import { lang, onLanguageChange, switchLanguage } from '../lib/i18n.js';
import { Ring, RATES, WINDOWS, alignGhost, crosses } from './ring.js';
import { tt } from './texts.js';

const COLOURS = ['#1f6feb', '#c2410c', '#15803d', '#7c3aed', '#be185d', '#0e7490', '#a16207'];
const CHART_HEIGHT = 170;

const state = {
  config: null,
  devices: [],
  device: null,
  channels: new Set(),
  windowSecs: 10,
  rate: 'raw',
  paused: false,
  source: null,
  bucketMs: null,
  latestMs: -Infinity,
  firstMs: null,
  rings: new Map(),
  charts: new Map(),
  ghost: null,
  alerts: new Map(),
  /** The viewer's thresholds by channel, kept when the charts are made again. */
  thresholds: new Map(),
  dirty: false,
  frames: 0,
  points: 0,
  api: new Set(),
};

/** Elements with `data-tt` take their text from the dictionary; placeholders too. */
function relabel(root = document) {
  for (const el of root.querySelectorAll('[data-tt]')) el.textContent = tt(el.dataset.tt);
  for (const el of root.querySelectorAll('[data-tt-placeholder]')) el.placeholder = tt(el.dataset.ttPlaceholder);
  document.title = tt('title');
}

async function main() {
  const root = document.getElementById('garonne-app') ?? document.body.appendChild(h('div', { id: 'garonne-app' }));
  root.classList.add('t-page');
  state.config = await loadConfig();
  const base = state.config.base;
  // Which optional APIs this server has (sessions, raw readings, export: other parts of issue 16).
  try {
    const openapi = await getJson(base, '/api/openapi.json');
    for (const path of Object.keys(openapi.paths ?? {})) state.api.add(path);
  } catch {
    // Without the document, the page uses /api/history only.
  }

  const mapLink = h('a', { class: 'g-nav', 'data-tt': 'map', href: `${base}/?lang=${lang()}` });
  const langButton = h('button', { type: 'button', class: 'g-lang', onclick: switchLanguage });
  const deviceSelect = h('select', { id: 't-device', onchange: (e) => chooseDevice(e.target.value) });
  const search = h('input', { id: 't-search', type: 'search', 'data-tt-placeholder': 'search', oninput: () => listChannels() });
  const channelList = h('div', { id: 't-channels', class: 't-channels' });
  const windowSelect = h('select', { id: 't-window', onchange: (e) => { state.windowSecs = Number(e.target.value); subscribe(); } });
  const rateSelect = h('select', { id: 't-rate', onchange: (e) => { state.rate = e.target.value; subscribe(); } });
  const pauseButton = h('button', { type: 'button', id: 't-pause', onclick: () => setPaused(!state.paused) });
  const ghostSelect = h('select', { id: 't-ghost-session' });
  const ghostFrom = h('input', { id: 't-ghost-from', type: 'text', size: 22, placeholder: '2026-05-01T14:00:00Z' });
  const ghostButton = h('button', { type: 'button', id: 't-ghost', 'data-tt': 'ghostShow', onclick: () => loadGhost() });
  // The window that ends now, as CSV (/api/export): the link is made when clicked.
  const exportLink = h('a', { id: 't-export', class: 'g-nav', 'data-tt': 'export', hidden: !state.api.has('/api/export'), onclick: () => updateExport() });
  const status = h('p', { id: 't-status', class: 'g-muted' });
  const charts = h('div', { id: 't-charts' });
  root.append(
    h('header', { class: 'g-bar' }, h('h1', {}, 'Garonne'), mapLink, h('span', { class: 'g-spacer' }), langButton),
    h('section', { class: 't-controls' },
      h('label', {}, h('span', { 'data-tt': 'device' }), deviceSelect),
      h('label', {}, h('span', { 'data-tt': 'window' }), windowSelect),
      h('label', {}, h('span', { 'data-tt': 'rate' }), rateSelect),
      pauseButton,
      h('span', { class: 't-ghost' }, h('span', { 'data-tt': 'ghost' }), ghostSelect, ghostFrom, ghostButton),
      exportLink),
    h('section', { class: 't-body' },
      h('aside', { class: 't-side' }, h('h2', { 'data-tt': 'channels' }), search, channelList),
      h('main', { class: 't-main' }, status, charts)),
  );
  Object.assign(state, { deviceSelect, search, channelList, windowSelect, rateSelect, pauseButton, ghostSelect, ghostFrom, status, chartsEl: charts, exportLink, mapLink, langButton, root });

  const options = () => {
    replace(windowSelect, WINDOWS.map((s) => h('option', { value: s }, s === 0 ? tt('session') : duration(s))));
    windowSelect.value = String(state.windowSecs);
    replace(rateSelect, RATES.map((r) => h('option', { value: r }, r === 'raw' ? tt('raw') : `${r} Hz`)));
    rateSelect.value = state.rate;
  };
  options();
  const relabelAll = () => {
    options();
    relabel(root);
    langButton.textContent = tt('lang.switch');
    mapLink.href = `${base}/?lang=${lang()}`;
    pauseButton.textContent = tt(state.paused ? 'resume' : 'pause');
    updateStatus();
    fillSessions();
    for (const chart of state.charts.values()) chart.redrawLabels();
  };
  onLanguageChange(relabelAll);
  relabelAll();

  await loadDevices();
  const params = new URLSearchParams(window.location.search);
  const wanted = params.get('sensor');
  await chooseDevice(wanted && state.devices.some((d) => d.id === wanted) ? wanted : state.devices[0]?.id ?? null);
  for (const name of (params.get('channels') ?? '').split(',').filter(Boolean)) state.channels.add(name);
  if (state.channels.size) { listChannels(); subscribe(); }
  watchAlerts();
  requestAnimationFrame(frame);
  window.garonneTelemetry = state;
  root.dataset.ready = 'true';
}

function duration(secs) {
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) return `${secs / 60} min`;
  return `${secs / 3600} h`;
}

async function loadDevices() {
  const answer = await getJson(state.config.base, '/api/telemetry/devices');
  state.devices = answer.devices;
  const current = state.deviceSelect.value;
  replace(state.deviceSelect, state.devices.map((d) => h('option', { value: d.id }, `${d.id} (${d.channels.length}, ${d.rate_hz} Hz)`)));
  if (current) state.deviceSelect.value = current;
}

async function chooseDevice(id) {
  state.device = id;
  state.channels.clear();
  state.ghost = null;
  state.firstMs = null;
  if (!id) {
    replace(state.status, tt('noDevice'));
    return;
  }
  state.deviceSelect.value = id;
  listChannels();
  subscribe();
  state.sessions = [];
  if (state.api.has('/api/sessions')) {
    try {
      const answer = await getJson(state.config.base, '/api/sessions', { sensor: id });
      const list = Array.isArray(answer) ? answer : answer.sessions ?? answer.devices?.flatMap((d) => d.sessions ?? []) ?? [];
      state.sessions = list.filter((s) => s.start && s.end);
    } catch {
      state.sessions = [];
    }
  }
  // The live run: a session that ended less than 2 minutes ago is still going on.
  const open = state.sessions.find((s) => Date.now() - parseTime(s.end) < 120_000);
  state.liveSessionStart = open ? parseTime(open.start) : null;
  fillSessions();
}

function fillSessions() {
  if (!state.ghostSelect) return;
  const current = state.ghostSelect.value;
  replace(state.ghostSelect,
    h('option', { value: '' }, tt('ghostNone')),
    (state.sessions ?? []).map((s) => h('option', { value: s.start, dataset: { end: s.until ?? s.end } },
      tt('session_item', { start: new Date(parseTime(s.start)).toLocaleString(lang()), minutes: Math.max(1, Math.round((parseTime(s.end) - parseTime(s.start)) / 60_000)) }))));
  state.ghostSelect.value = current;
}

/** Milliseconds of an RFC 3339 time, whatever its fraction's digits (the store's are ns). */
function parseTime(text) {
  return Date.parse(String(text).replace(/(\.\d{3})\d+/, '$1'));
}

function device() {
  return state.devices.find((d) => d.id === state.device);
}

/** The channel checkboxes, filtered by the search box (name or label, either language). */
function listChannels() {
  const query = state.search.value.trim().toLowerCase();
  const channels = device()?.channels ?? [];
  const shown = channels.filter((c) => !query || [c.name, c.label?.en, c.label?.fr].some((s) => s?.toLowerCase().includes(query)));
  replace(state.channelList, shown.map((c) => h('label', { class: 't-channel' },
    h('input', { type: 'checkbox', value: c.name, checked: state.channels.has(c.name), onchange: (e) => toggle(c.name, e.target.checked) }),
    ` ${c.label?.[lang()] ?? c.name}`, h('span', { class: 'g-muted' }, ` ${c.name}${c.unit_display ? ` (${c.unit_display})` : ''}`))));
}

function toggle(name, on) {
  if (on) state.channels.add(name);
  else state.channels.delete(name);
  subscribe();
}

/** The window in seconds the stream is asked for: the chosen one, or the session so far. */
function windowSecs() {
  if (state.windowSecs) return state.windowSecs;
  const start = liveStartMs();
  const span = start ? (Date.now() - start) / 1000 : 3600;
  return [60, 300, 900, 3600, 14_400, 86_400].find((w) => w >= span) ?? 86_400;
}

/** The live run's start: the open session's (from /api/sessions), else the first point seen. */
function liveStartMs() {
  return state.liveSessionStart ?? state.firstMs;
}

function plotWidth() {
  return Math.max(200, Math.floor(state.chartsEl.clientWidth || 800) - 20);
}

/** Most raw samples the page reads from /api/readings at once; past it, /api/history buckets. */
const MAX_RAW_SAMPLES = 50_000;

/**
 * The stored values of `channels` over [fromMs, toMs): `name → {t: ms[], min, max, v}`. At full
 * rate from /api/readings when the server has it and the range is small enough (the device's
 * rate × span × channels), else /api/history's buckets (one per pixel, at least 1 s; v the mean).
 */
async function stored(channels, fromMs, toMs) {
  const out = new Map(channels.map((name) => [name, { t: [], min: [], max: [], v: [] }]));
  const rate = device()?.rate_hz || 100;
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  if (state.api.has('/api/readings') && ((toMs - fromMs) / 1000) * rate * channels.length <= MAX_RAW_SAMPLES) {
    const url = new URL(`${state.config.base}/api/readings`, window.location.href);
    url.searchParams.set('sensor', state.device);
    for (const name of channels) url.searchParams.append('quantity', name);
    url.searchParams.set('from', from);
    url.searchParams.set('to', to);
    url.searchParams.set('limit', '100000');
    const answer = await getJson('', url.pathname + url.search);
    for (const series of answer.series ?? []) {
      const into = out.get(series.quantity);
      if (!into) continue;
      into.t = series.t.map((seconds) => seconds * 1000);
      into.min = series.v;
      into.max = series.v;
      into.v = series.v;
    }
    return out;
  }
  const every = Math.max(1, Math.ceil((toMs - fromMs) / 1000 / plotWidth()));
  await Promise.all(channels.map(async (name) => {
    const answer = await getJson(state.config.base, '/api/history', { sensor: state.device, quantity: name, from, to, every });
    const rows = answer.buckets.filter((b) => Number.isFinite(b.min));
    out.set(name, { t: rows.map((b) => Date.parse(b.start)), min: rows.map((b) => b.min), max: rows.map((b) => b.max), v: rows.map((b) => b.mean) });
  }));
  return out;
}

/**
 * Fills the rings with the window's history before the live points (windows of a minute or
 * more: a shorter one fills from the stream in seconds), one bucket per pixel, at least 1 s.
 */
async function backfill(channels, generation) {
  const span = windowSecs();
  if (span < 60) return;
  const to = Date.now();
  let series;
  try {
    series = await stored(channels, to - span * 1000, to);
  } catch {
    return; // No history (the store not there yet): the live points fill the window.
  }
  if (generation !== state.generation) return;
  for (const [name, s] of series) {
    const ring = state.rings.get(name);
    for (let i = 0; i < s.t.length; i += 1) {
      if (ring?.push(s.t[i], s.min[i], s.max[i])) state.latestMs = Math.max(state.latestMs, s.t[i]);
    }
  }
  state.dirty = true;
}

/** (Re)opens the stream for the device, channels, rate and window chosen. */
async function subscribe() {
  state.generation = (state.generation ?? 0) + 1;
  const generation = state.generation;
  state.source?.close();
  state.source = null;
  for (const chart of state.charts.values()) chart.destroy();
  state.charts.clear();
  state.rings.clear();
  state.latestMs = -Infinity;
  replace(state.chartsEl);
  const channels = [...state.channels];
  state.exportLink.hidden = !state.api.has('/api/export') || !channels.length;
  if (!state.device || !channels.length) {
    state.bucketMs = null;
    replace(state.status, tt('pick'));
    return;
  }
  channels.forEach((name, i) => {
    state.rings.set(name, new Ring());
    state.charts.set(name, makeChart(name, COLOURS[i % COLOURS.length]));
  });
  await backfill(channels, generation);
  if (generation !== state.generation) return;
  const url = new URL(`${state.config.base}/api/telemetry/stream`, window.location.href);
  url.search = new URLSearchParams({
    sensor: state.device, channels: channels.join(','), rate: state.rate, window: windowSecs(), width: plotWidth(),
  }).toString();
  state.connection = 'connecting';
  const source = new EventSource(url);
  state.source = source;
  source.addEventListener('hello', (event) => {
    const hello = JSON.parse(event.data);
    state.bucketMs = hello.bucket_ms;
    state.capped = hello.capped;
    state.connection = 'live';
    updateStatus();
  });
  source.addEventListener('points', (event) => receive(JSON.parse(event.data)));
  source.onerror = () => { state.connection = 'connecting'; updateStatus(); };
  updateStatus();
  updateExport();
}

function updateExport() {
  if (state.exportLink.hidden) return;
  const to = new Date();
  const from = new Date(to.getTime() - windowSecs() * 1000);
  const url = new URL(`${state.config.base}/api/export`, window.location.href);
  url.searchParams.set('sensor', state.device);
  for (const name of state.channels) url.searchParams.append('quantity', name);
  url.searchParams.set('from', from.toISOString());
  url.searchParams.set('to', to.toISOString());
  url.searchParams.set('format', 'csv');
  state.exportLink.href = url.toString();
}

function updateStatus() {
  if (!state.status || !state.device || !state.channels.size) return;
  const words = [];
  words.push(tt(state.paused ? 'paused' : state.connection === 'live' ? 'live' : 'connecting'));
  if (state.bucketMs != null) {
    words.push(state.bucketMs === 0 ? tt('rawBucket') : tt(state.capped ? 'capped' : 'bucket', { ms: state.bucketMs }));
  }
  replace(state.status, words.join(' · '));
  state.root.dataset.state = state.paused ? 'paused' : state.connection;
  state.root.dataset.bucketMs = state.bucketMs ?? '';
}

/** Appends a `points` event into the rings; checks thresholds on every bucket. */
function receive(data) {
  for (const [name, p] of Object.entries(data.ch)) {
    const ring = state.rings.get(name);
    const chart = state.charts.get(name);
    if (!ring || !chart) continue;
    for (let i = 0; i < p.t.length; i += 1) {
      if (!ring.push(p.t[i], p.min[i], p.max[i])) continue;
      state.points += 1;
      chart.check(p.min[i], p.max[i]);
      if (p.t[i] > state.latestMs) state.latestMs = p.t[i];
    }
  }
  if (state.firstMs == null && Number.isFinite(state.latestMs)) state.firstMs = state.latestMs;
  state.dirty = true;
}

/** One redraw per animation frame, only when something arrived, never while paused. */
function frame() {
  if (state.dirty && !state.paused && Number.isFinite(state.latestMs)) {
    state.dirty = false;
    const span = windowSecs() * 1000;
    const from = state.latestMs - span;
    for (const [name, chart] of state.charts) chart.draw(state.rings.get(name).since(from), from / 1000, state.latestMs / 1000);
    state.frames += 1;
    state.root.dataset.frames = String(state.frames);
  }
  requestAnimationFrame(frame);
}

function setPaused(paused) {
  state.paused = paused;
  state.pauseButton.textContent = tt(paused ? 'resume' : 'pause');
  if (!paused) {
    for (const chart of state.charts.values()) chart.history = false;
    state.dirty = true;
  }
  updateStatus();
}

/** A chart of one channel: min and max (the band between), its thresholds, the ghost. */
function makeChart(name, colour) {
  const channel = device()?.channels.find((c) => c.name === name) ?? { name };
  const above = h('input', { type: 'number', step: 'any', class: 't-above', 'data-tt-placeholder': 'above', oninput: () => chart.setThresholds() });
  const below = h('input', { type: 'number', step: 'any', class: 't-below', 'data-tt-placeholder': 'below', oninput: () => chart.setThresholds() });
  const badge = h('span', { class: 't-state' });
  const crossings = h('span', { class: 't-crossings g-muted' });
  const realtime = h('span', { class: 't-realtime' });
  const title = h('strong', {});
  const plotEl = h('div', { class: 't-plot' });
  const el = h('article', { class: 't-chart', dataset: { channel: name, state: 'ok', crossings: '0', points: '0' } },
    h('div', { class: 't-chart-head' }, title, badge, crossings, realtime, h('span', { class: 'g-spacer' }), above, below),
    plotEl);
  state.chartsEl.append(el);
  relabel(el);
  const chart = {
    el,
    thresholds: { above: null, below: null },
    alert: false,
    count: 0,
    history: false,
    ghostValues: 0,
    u: null,
    check(min, max) {
      const now = crosses(min, max, chart.thresholds);
      if (now && !chart.alert) chart.count += 1;
      if (now !== chart.alert) {
        chart.alert = now;
        chart.redrawLabels();
      }
    },
    setThresholds() {
      const read = (input) => (input.value.trim() === '' || !Number.isFinite(Number(input.value)) ? null : Number(input.value));
      chart.thresholds = { above: read(above), below: read(below) };
      state.thresholds.set(name, { above: above.value, below: below.value });
      el.dataset.above = chart.thresholds.above ?? '';
      el.dataset.below = chart.thresholds.below ?? '';
      if (chart.u?.data[0]?.length) chart.u.redraw(false);
    },
    redrawLabels() {
      title.textContent = `${channel.label?.[lang()] ?? name}${channel.unit_display ? ` (${channel.unit_display})` : ''}`;
      badge.textContent = tt(chart.alert ? 'alert' : 'ok');
      badge.className = `t-state ${chart.alert ? 't-alert' : 't-ok'}`;
      el.dataset.state = chart.alert ? 'alert' : 'ok';
      el.dataset.crossings = String(chart.count);
      crossings.textContent = chart.count ? tt('crossings', { n: chart.count }) : '';
      const rt = state.alerts.get(name);
      realtime.textContent = rt ? tt('realtime', { comparison: rt.comparison === 'below' ? '<' : '>', threshold: rt.threshold }) : '';
      el.dataset.realtime = rt ? 'alert' : '';
      relabel(el);
    },
    draw([xs, mins, maxs], fromS, toS) {
      // No point in the window yet: uPlot cannot place a y axis on nothing.
      if (chart.history || !xs.length) return;
      const ghost = state.ghost?.series.get(name);
      const ghostColumn = ghost ? alignGhost(xs, ghost, state.ghost.startMs, liveStartMs() ?? state.firstMs) : new Array(xs.length).fill(null);
      chart.ghostValues = ghostColumn.filter((v) => v != null).length;
      el.dataset.points = String(xs.length);
      el.dataset.ghost = String(chart.ghostValues);
      chart.range = [fromS, toS];
      chart.u.setData([xs, mins, maxs, ghostColumn], false);
      chart.u.setScale('x', { min: fromS, max: toS });
    },
    destroy() {
      chart.u.destroy();
      el.remove();
    },
  };
  chart.u = new uPlot({
    width: plotWidth(),
    height: CHART_HEIGHT,
    legend: { show: false },
    cursor: { drag: { x: true, y: false, setScale: false } },
    scales: { x: { time: true } },
    series: [{}, { stroke: colour, width: 1, points: { show: false } }, { stroke: colour, width: 1, points: { show: false } },
      { stroke: '#8b949e', width: 1.5, dash: [5, 4], points: { show: false } }],
    bands: [{ series: [2, 1], fill: `${colour}33` }],
    axes: [{}, { size: 60 }],
    hooks: {
      draw: [(u) => drawThresholds(u, chart)],
      setSelect: [(u) => { if (state.paused && u.select.width > 4) zoom(chart, name, u); }],
    },
  }, [[], [], [], []], plotEl);
  const kept = state.thresholds.get(name);
  if (kept) {
    above.value = kept.above;
    below.value = kept.below;
    chart.setThresholds();
  }
  chart.redrawLabels();
  return chart;
}

/** The viewer's thresholds (solid red) and realtime's (dashed orange) as horizontal lines. */
function drawThresholds(u, chart) {
  const lines = [[chart.thresholds.above, '#c00000', []], [chart.thresholds.below, '#c00000', []]];
  const rt = state.alerts.get(chart.el.dataset.channel);
  if (rt) lines.push([rt.threshold, '#d97706', [6, 4]]);
  const { ctx } = u;
  for (const [value, colour, dash] of lines) {
    if (value == null) continue;
    const y = u.valToPos(value, 'y', true);
    if (!Number.isFinite(y) || y < u.bbox.top || y > u.bbox.top + u.bbox.height) continue;
    ctx.save();
    ctx.strokeStyle = colour;
    ctx.lineWidth = 1.5;
    ctx.setLineDash(dash);
    ctx.beginPath();
    ctx.moveTo(u.bbox.left, y);
    ctx.lineTo(u.bbox.left + u.bbox.width, y);
    ctx.stroke();
    ctx.restore();
  }
}

/** Zooms a paused chart into the dragged range, from /api/history when it is older than the ring. */
async function zoom(chart, name, u) {
  const fromS = u.posToVal(u.select.left, 'x');
  const toS = u.posToVal(u.select.left + u.select.width, 'x');
  u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
  const ring = state.rings.get(name);
  if (fromS * 1000 >= ring.first()) {
    u.setScale('x', { min: fromS, max: toS });
    return;
  }
  const s = (await stored([name], fromS * 1000, toS * 1000)).get(name);
  chart.history = true;
  u.setData([s.t.map((ms) => ms / 1000), s.min, s.max, s.t.map(() => null)], false);
  u.setScale('x', { min: fromS, max: toS });
}

/** Loads the stored run chosen (a session, or the time range from its start) as the ghost. */
async function loadGhost() {
  const option = state.ghostSelect.selectedOptions[0];
  let startMs;
  let endMs;
  if (option?.value) {
    startMs = parseTime(option.value);
    endMs = parseTime(option.dataset.end);
  } else {
    startMs = Date.parse(state.ghostFrom.value.trim());
    endMs = startMs + windowSecs() * 1000;
  }
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs <= startMs) {
    state.ghost = null;
    state.root.dataset.ghost = '';
    return;
  }
  const series = await stored([...state.channels], startMs, endMs);
  state.ghost = { startMs, endMs, series };
  state.root.dataset.ghost = String(startMs);
  state.dirty = true;
}

/** Realtime's raised alerts for this device: a dashed line and a note on the channel's chart. */
function watchAlerts() {
  const apply = (alert) => {
    if (alert.scope?.kind !== 'sensor' || alert.scope.id !== state.device) return;
    if (alert.state === 'cleared') state.alerts.delete(alert.quantity);
    else state.alerts.set(alert.quantity, alert);
    state.charts.get(alert.quantity)?.redrawLabels();
  };
  const load = async () => {
    try {
      state.alerts.clear();
      for (const alert of await getJson(state.config.base, '/api/alerts')) apply(alert);
    } catch {
      // No alerts shown is no failure of the charts.
    }
  };
  load();
  connectLive(`${state.config.base}/events?kinds=alert`, { alert: apply }, { onState: () => {}, onResync: load });
}

main().catch((error) => {
  const root = document.getElementById('garonne-app') ?? document.body;
  root.append(h('p', { class: 'g-error' }, String(error.message ?? error)));
  root.dataset.ready = 'true';
});
