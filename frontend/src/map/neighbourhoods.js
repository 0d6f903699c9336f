// The neighbourhood polygons: one Leaflet path per neighbourhood (a MultiPolygon is one path),
// filled with the colour of its value of the chosen quantity. Each path carries the class
// `g-nb` and `data-id` (the neighbourhood id) so the browser tests can find it.
import L from 'leaflet';
import { NO_DATA } from '../lib/colour.js';
import { measure, quantityLabel } from '../lib/format.js';
import { h } from '../lib/dom.js';
import { t } from '../lib/i18n.js';

/**
 * Adds the neighbourhood layer to `map`. `onSelect(id)` hears a click on a neighbourhood.
 * Returns the functions the page uses to feed and paint it.
 */
export function createNeighbourhoods(map, config, { onSelect }) {
  const layers = new Map(); // id → Leaflet path
  const names = new Map(); // id → name
  const aggregates = new Map(); // id → latest aggregate message (or absent)
  let shown = new Map(); // id → the value painted, for the tooltips
  let alerted = new Set();
  let selected = null;
  let quantity = config.default_quantity;

  const group = L.geoJSON(null, {
    style: { className: 'g-nb', color: '#3d3d3d', weight: 1, fillColor: NO_DATA, fillOpacity: 0.72 },
    onEachFeature(feature, layer) {
      const id = String(feature.id ?? feature.properties.id);
      layers.set(id, layer);
      names.set(id, feature.properties.name ?? id);
      layer.on('click', (event) => {
        L.DomEvent.stopPropagation(event);
        onSelect(id);
      });
      layer.bindTooltip(() => tooltip(id), { sticky: true, direction: 'top', offset: [0, -8] });
    },
  }).addTo(map);

  function tooltip(id) {
    return h('div', {}, h('strong', {}, names.get(id)), h('br'),
      t('map.tooltip', { quantity: quantityLabel(config, quantity), value: measure(config, quantity, shown.get(id)) }));
  }

  /** Loads the /api/neighbourhoods collection: the polygons the first time, the aggregates always. */
  function load(collection) {
    if (layers.size === 0) {
      group.addData(collection);
      for (const [id, layer] of layers) layer.getElement()?.setAttribute('data-id', id);
      const bounds = group.getBounds();
      if (bounds.isValid()) map.fitBounds(bounds, { padding: [8, 8] });
    }
    for (const feature of collection.features) {
      const aggregate = feature.properties.aggregate;
      if (aggregate) update({ ...aggregate, neighbourhood_id: String(feature.id ?? feature.properties.id) });
    }
  }

  /** Keeps an aggregate; returns whether it belongs to a known neighbourhood. */
  function update(aggregate) {
    const id = String(aggregate.neighbourhood_id);
    const previous = aggregates.get(id);
    // Design: realtime may publish an older window after a newer one (while both are open);
    // the map shows the newest window.
    if (previous && Date.parse(previous.window_start) > Date.parse(aggregate.window_start)) return false;
    aggregates.set(id, aggregate);
    return layers.has(id);
  }

  /**
   * The live value of `q` in each neighbourhood that has one: the aggregate's `value` (the
   * quantity's own rule: a neighbourhood's bikes are the sum of its stations'), else its mean.
   */
  function liveValues(q) {
    const values = new Map();
    for (const [id, aggregate] of aggregates) {
      const stats = aggregate.quantities?.[q];
      const value = stats?.value ?? stats?.mean;
      if (Number.isFinite(value)) values.set(id, value);
    }
    return values;
  }

  /** Paints every neighbourhood with `scale` from `values` (id → number). */
  function paint(q, values, scale) {
    quantity = q;
    shown = values;
    for (const [id, layer] of layers) {
      const value = values.get(id);
      const isAlerted = alerted.has(id);
      layer.setStyle({
        fillColor: scale && Number.isFinite(value) ? scale.colour(value) : NO_DATA,
        color: isAlerted ? '#c00000' : id === selected ? '#000' : '#3d3d3d',
        weight: isAlerted || id === selected ? 3 : 1,
      });
    }
    // Thick outlines on top, or the neighbours' edges hide them.
    for (const id of alerted) layers.get(id)?.bringToFront();
    layers.get(selected)?.bringToFront();
  }

  return {
    load,
    update,
    liveValues,
    paint,
    ids: () => [...layers.keys()],
    name: (id) => names.get(id) ?? id,
    aggregate: (id) => aggregates.get(id),
    select(id) { selected = id; },
    setAlerted(ids) { alerted = ids; },
    focus(id) {
      const layer = layers.get(id);
      if (layer) map.fitBounds(layer.getBounds(), { maxZoom: map.getZoom() });
    },
  };
}
