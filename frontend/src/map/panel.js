// The side panel: what a click on the map selects. For a neighbourhood, its current statistics,
// the history chart of the chosen quantity (last 24 h by default, step chosen) and its Grafana
// dashboard; for a sensor, its latest reading, a sparkline and its Grafana dashboard.
import { h, replace, select } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { history } from '../lib/api.js';
import { grafanaLink } from '../lib/config.js';
import { historyChart, sparkline } from '../lib/chart.js';
import { clock, digitsFor, measure, number, quantityLabel, quantitySpec, time } from '../lib/format.js';

const RANGES_HOURS = [6, 24, 24 * 7];
const STEPS_SECS = [300, 900, 3600];
const SPARKLINE_HOURS = 6;

/**
 * `ctx`: `{config, quantity(), setQuantity(q), neighbourhoods, sensors, onClose()}`.
 */
export function createPanel(el, ctx) {
  const { config } = ctx;
  let subject = null; // {kind: 'neighbourhood'|'sensor', id}
  let rangeHours = 24;
  let everySecs = 300;
  let charts = [];
  let statsEl = null;
  let request = 0; // the newest history request; older answers are dropped
  let refreshPending = false;

  function destroyCharts() {
    for (const chart of charts) chart.destroy();
    charts = [];
  }

  function empty() {
    destroyCharts();
    el.replaceChildren(h('p', { class: 'g-muted' }, t('panel.empty')));
  }

  function header(title, subtitle) {
    return h('div', { class: 'g-panel-head' },
      h('div', {}, h('h2', {}, title), subtitle ? h('div', { class: 'g-muted' }, subtitle) : null),
      h('button', { class: 'g-close', type: 'button', title: t('panel.close'), 'aria-label': t('panel.close'), onclick: ctx.onClose }, '×'));
  }

  function grafana(dashboard, variable, id) {
    const href = grafanaLink(config, dashboard, variable, id);
    return href ? h('p', {}, h('a', { class: 'g-grafana', href, target: '_blank', rel: 'noopener' }, `${t('panel.grafana')} ↗`)) : null;
  }

  function labelWithUnit(q) {
    const unit = quantitySpec(config, q)?.unit;
    return unit ? `${quantityLabel(config, q)} (${unit})` : quantityLabel(config, q);
  }

  // --- a neighbourhood ---------------------------------------------------------------------

  function neighbourhoodStats(id) {
    const aggregate = ctx.neighbourhoods.aggregate(id);
    if (!aggregate) return h('p', { class: 'g-muted' }, t('panel.noAggregate'));
    const chosen = ctx.quantity();
    // A quantity whose profile aggregates otherwise than by the mean (a neighbourhood's bikes:
    // the sum of its stations') has a `value` apart from its mean: then both are shown.
    const stats = Object.entries(aggregate.quantities);
    const byValue = stats.some(([, s]) => Number.isFinite(s.value) && s.value !== s.mean);
    const rows = stats.map(([q, s]) => h('tr', {
      class: q === chosen ? 'g-chosen' : null, onclick: () => ctx.setQuantity(q), title: quantityLabel(config, q),
    },
    h('th', { scope: 'row' }, labelWithUnit(q)),
    byValue ? h('td', {}, number(s.value ?? s.mean, digitsFor(config, q))) : null,
    h('td', {}, number(s.mean, digitsFor(config, q))),
    h('td', {}, number(s.min, digitsFor(config, q))),
    h('td', {}, number(s.max, digitsFor(config, q))),
    h('td', { title: `${s.readings} ${t('panel.readings')}` }, String(s.sensors))));
    return h('div', {},
      h('p', { class: 'g-muted' }, t('panel.window', { start: time(aggregate.window_start), end: clock(aggregate.window_end) })),
      h('table', { class: 'g-stats' },
        h('thead', {}, h('tr', {}, h('th', {}), [...(byValue ? ['value'] : []), 'mean', 'min', 'max', 'sensors'].map((k) => h('th', {}, t(`panel.${k}`))))),
        h('tbody', {}, rows)));
  }

  function showNeighbourhood(id) {
    destroyCharts();
    const q = ctx.quantity();
    statsEl = h('div', { class: 'g-stats-wrap' }, neighbourhoodStats(id));
    const chartEl = h('div', { class: 'g-chart', 'aria-busy': 'true' }, t('app.loading'));
    const controls = h('div', { class: 'g-controls' },
      h('label', {}, t('panel.range'), ' ', select(
        RANGES_HOURS.map((hours) => [hours, hours < 48 ? t('unit.hours', { n: hours }) : t('unit.days', { n: hours / 24 })]),
        rangeHours, (value) => { rangeHours = Number(value); showNeighbourhood(id); })),
      h('label', {}, t('panel.every'), ' ', select(
        STEPS_SECS.map((secs) => [secs, secs < 3600 ? t('unit.minutes', { n: secs / 60 }) : t('unit.hours', { n: secs / 3600 })]),
        everySecs, (value) => { everySecs = Number(value); showNeighbourhood(id); })));
    replace(el,
      header(ctx.neighbourhoods.name(id)),
      statsEl,
      h('h3', {}, t('panel.history', { quantity: quantityLabel(config, q) })),
      controls,
      chartEl,
      grafana('garonne-neighbourhood', 'neighbourhood', id));
    drawHistory(chartEl, { neighbourhood: id }, q, rangeHours, everySecs, (answer) => historyChart(chartEl, answer, {
      label: quantityLabel(config, q), unit: quantitySpec(config, q)?.unit ?? '', digits: digitsFor(config, q),
      words: { time: t('panel.time'), min: t('panel.min'), max: t('panel.max') },
    }));
  }

  // --- a sensor ----------------------------------------------------------------------------

  function sensorStats(sensor) {
    const reading = sensor.reading;
    const facts = h('dl', { class: 'g-facts' },
      h('dt', {}, t('panel.kind')), h('dd', {}, sensor.kind ?? '–'),
      h('dt', {}, t('panel.source')), h('dd', {}, h('span', { class: `g-dot g-src-${sensor.source} g-state-online` }), ' ', t(`source.${sensor.source}`)),
      h('dt', {}, t('panel.state')), h('dd', {}, t(`state.${sensor.state}`)));
    if (!reading) return h('div', {}, facts, h('p', { class: 'g-muted' }, t('panel.noReading')));
    const rolling = sensor.rolling?.quantities ?? {};
    const minutes = sensor.rolling ? Math.round(sensor.rolling.window_secs / 60) : null;
    return h('div', {}, facts,
      h('p', { class: 'g-muted' }, t('panel.lastReading', { time: time(reading.time) })),
      h('table', { class: 'g-stats' },
        h('thead', {}, h('tr', {}, h('th', {}), h('th', {}, t('panel.value')),
          minutes ? h('th', {}, `${t('panel.mean')} ${t('panel.rolling', { minutes })}`) : null)),
        h('tbody', {}, Object.entries(reading.quantities).map(([q, value]) => h('tr', {
          class: q === ctx.quantity() ? 'g-chosen' : null,
        },
        h('th', { scope: 'row' }, quantityLabel(config, q)),
        h('td', {}, measure(config, q, value)),
        minutes ? h('td', {}, measure(config, q, rolling[q]?.mean)) : null)))));
  }

  function showSensor(id) {
    destroyCharts();
    const sensor = ctx.sensors.get(id);
    if (!sensor) return empty();
    const quantities = Object.keys(sensor.reading?.quantities ?? {});
    const q = quantities.includes(ctx.quantity()) || quantities.length === 0 ? ctx.quantity() : quantities[0];
    statsEl = h('div', { class: 'g-stats-wrap' }, sensorStats(sensor));
    const chartEl = h('div', { class: 'g-sparkline', 'aria-busy': 'true' });
    replace(el,
      header(id, t(`source.${sensor.source}`)),
      statsEl,
      h('h3', {}, t('panel.sparkline', { quantity: quantityLabel(config, q) })),
      chartEl,
      grafana('garonne-sensor', 'sensor', id));
    drawHistory(chartEl, { sensor: id }, q, SPARKLINE_HOURS, 300, (answer) => sparkline(chartEl, answer));
  }

  // --- shared ------------------------------------------------------------------------------

  async function drawHistory(chartEl, who, q, hours, every, draw) {
    const mine = ++request;
    try {
      const answer = await history(config.base, who, q, hours, every);
      if (mine !== request) return;
      chartEl.removeAttribute('aria-busy');
      chartEl.replaceChildren();
      if (!answer.buckets.some((b) => Number.isFinite(b.mean))) chartEl.append(h('p', { class: 'g-muted' }, t('panel.noHistory')));
      else charts.push(draw(answer));
    } catch (error) {
      if (mine !== request) return;
      chartEl.removeAttribute('aria-busy');
      chartEl.replaceChildren(h('p', { class: 'g-error' }, t('app.error', { what: '/api/history', error: error.message })));
    }
  }

  function show(next) {
    subject = next;
    if (!subject) empty();
    else if (subject.kind === 'neighbourhood') showNeighbourhood(subject.id);
    else showSensor(subject.id);
  }

  empty();
  return {
    show,
    /** Redraws everything (after a language or quantity change). */
    redraw: () => show(subject),
    /**
     * Refreshes the statistics (not the chart) when `kind`/`id` is the subject shown, at most
     * once per animation frame (a sensor may report 100 times a second).
     */
    refresh(kind, id) {
      if (!subject || subject.kind !== kind || subject.id !== id || !statsEl || refreshPending) return;
      refreshPending = true;
      requestAnimationFrame(() => {
        refreshPending = false;
        if (!subject || subject.kind !== kind || subject.id !== id) return;
        statsEl.replaceChildren(kind === 'neighbourhood' ? neighbourhoodStats(id) : sensorStats(ctx.sensors.get(id)));
      });
    },
    subject: () => subject,
  };
}
