// The time slider: replays the last hours of the neighbourhood aggregates. Its right end is
// "live"; moving it back loads each neighbourhood's history of the chosen quantity
// (/api/history, one request per neighbourhood, one bucket per step) and paints the map as it
// was. Play steps forward until live.
import { h, select } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { history } from '../lib/api.js';
import { time } from '../lib/format.js';

const SPANS_HOURS = [3, 6, 12, 24];
const STEPS_SECS = [300, 900];
const PLAY_INTERVAL_MS = 700;

/**
 * `ctx`: `{config, quantity(), neighbourhoodIds(), onFrame(values, allValues)}`; `onFrame(null)`
 * means back to live. `values` maps neighbourhood id → mean at the frame; `allValues` holds
 * every value of the replay, so the colour scale stays the same while it plays.
 */
export function createTimeline(el, ctx) {
  let spanHours = 6;
  let stepSecs = 900;
  let frames = null; // [{time, values: Map}] once loaded, oldest first
  let loading = null;
  let playing = null;

  const slider = h('input', { type: 'range', min: 0, max: 1, value: 1, step: 1, class: 'g-slider', 'aria-label': t('timeline.label'), oninput: () => seek() });
  const label = h('output', { class: 'g-time' });
  const play = h('button', { type: 'button', class: 'g-play', onclick: () => (playing ? stop() : start()) });

  function isLive() {
    return Number(slider.value) >= Number(slider.max);
  }

  function render() {
    slider.setAttribute('aria-label', t('timeline.label'));
    play.textContent = playing ? `❚❚ ${t('timeline.pause')}` : `▶ ${t('timeline.play')}`;
    if (loading) label.textContent = t('timeline.loading');
    else if (isLive() || !frames) label.textContent = t('timeline.live');
    else label.textContent = time(frames[Number(slider.value)].time);
    el.classList.toggle('g-replaying', !isLive());
  }

  function reset() {
    stop();
    frames = null;
    slider.max = Math.round((spanHours * 3600) / stepSecs);
    slider.value = slider.max;
    ctx.onFrame(null);
    render();
  }

  async function load() {
    const q = ctx.quantity();
    const ids = ctx.neighbourhoodIds();
    const answers = await Promise.all(ids.map((id) => history(ctx.config.base, { neighbourhood: id }, q, spanHours, stepSecs)
      .catch(() => ({ buckets: [] }))));
    const byTime = new Map(); // ms → Map(id → mean)
    answers.forEach((answer, i) => {
      for (const bucket of answer.buckets) {
        if (!Number.isFinite(bucket.mean)) continue;
        const ms = Date.parse(bucket.start);
        if (!byTime.has(ms)) byTime.set(ms, new Map());
        byTime.get(ms).set(ids[i], bucket.mean);
      }
    });
    return [...byTime.keys()].sort((a, b) => a - b)
      .map((ms) => ({ time: new Date(ms).toISOString(), values: byTime.get(ms) }));
  }

  async function seek() {
    if (!frames) {
      if (!loading) {
        loading = load();
        render();
      }
      const loaded = await loading;
      loading = null;
      if (frames) return; // another seek finished first
      // Keep the slider where the user left it while loading, on the new scale.
      const fraction = Number(slider.value) / Number(slider.max);
      frames = loaded;
      slider.max = frames.length; // the last position, past every frame, is live
      slider.value = Math.round(fraction * frames.length);
    }
    if (isLive() || frames.length === 0) ctx.onFrame(null);
    else ctx.onFrame(frames[Number(slider.value)].values, frames.flatMap((frame) => [...frame.values.values()]));
    render();
  }

  async function start() {
    if (isLive()) slider.value = 0;
    playing = setInterval(() => {
      if (isLive()) return stop();
      slider.value = Number(slider.value) + 1;
      seek();
    }, PLAY_INTERVAL_MS);
    await seek();
  }

  function stop() {
    clearInterval(playing);
    playing = null;
    render();
  }

  el.replaceChildren(
    play,
    slider,
    label,
    h('label', {}, h('span', { 'data-i18n': 'timeline.span' }, t('timeline.span')), ' ',
      select(SPANS_HOURS.map((n) => [n, `${n} h`]), spanHours, (value) => { spanHours = Number(value); reset(); })),
    h('label', {}, h('span', { 'data-i18n': 'timeline.step' }, t('timeline.step')), ' ',
      select(STEPS_SECS.map((n) => [n, `${n / 60} min`]), stepSecs, (value) => { stepSecs = Number(value); reset(); })),
  );
  reset();

  return {
    render,
    /** The chosen quantity changed: a replay in progress reloads, else it loads when used. */
    quantityChanged() {
      const wasLive = isLive();
      const position = Number(slider.value) / Number(slider.max);
      reset();
      if (!wasLive) {
        slider.value = Math.round(position * Number(slider.max));
        seek();
      }
    },
    isLive,
  };
}
