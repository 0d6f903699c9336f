// The legend, a map control: the colour scale of the quantity shown, with its unit, and the
// sensor markers' shapes.
import L from 'leaflet';
import { h } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { NO_DATA } from '../lib/colour.js';
import { number, digitsFor, quantityLabel, quantitySpec } from '../lib/format.js';
import { SOURCES } from './sensors.js';

export function createLegend(map, config) {
  const el = h('div', { class: 'g-legend' });
  const control = L.control({ position: 'bottomleft' });
  control.onAdd = () => {
    L.DomEvent.disableClickPropagation(el);
    return el;
  };
  control.addTo(map);

  /** Shows `scale` (or only "no data" when null) for `quantity`. */
  function show(quantity, scale) {
    const unit = quantitySpec(config, quantity)?.unit;
    const digits = digitsFor(config, quantity) + (scale && scale.max - scale.min < 1 ? 1 : 0);
    const title = h('div', { class: 'g-legend-title' }, quantityLabel(config, quantity), unit ? ` (${unit})` : '');
    const bar = scale
      ? h('div', { class: 'g-legend-scale' },
        h('div', { class: 'g-legend-bar', style: `background: linear-gradient(to right, ${scale.stops.join(', ')})` }),
        h('div', { class: 'g-legend-ticks' },
          [0, 0.5, 1].map((k) => h('span', {}, number(scale.min + k * (scale.max - scale.min), digits)))))
      : null;
    const noData = h('div', { class: 'g-legend-row' },
      h('span', { class: 'g-swatch', style: `background: ${NO_DATA}` }), t('legend.noData'));
    const sources = h('div', { class: 'g-legend-sources' },
      h('div', { class: 'g-legend-title' }, t('legend.sources')),
      SOURCES.map((source) => h('div', { class: 'g-legend-row' },
        h('span', { class: `g-dot g-src-${source} g-state-online` }), t(`source.${source}`))),
      h('div', { class: 'g-legend-row' },
        h('span', { class: 'g-dot g-src-virtual g-state-offline' }), t('legend.offline')));
    el.replaceChildren(title, bar ?? '', noData, sources);
  }

  return { show };
}
