// The sensor markers. A marker's shape and colour tell the source (simulated, open-data replay
// or estimate, Raspberry Pi, other device, stored readings replayed by `garonne replay`), its
// fill the state (hollow grey when offline), and it blinks when its sensor reports. The styles are in app.css (`.g-dot`).
import L from 'leaflet';
import { h } from '../lib/dom.js';

export const SOURCES = ['virtual', 'opendata-replay', 'opendata-estimate', 'raspberry-pi', 'device', 'replay'];

/** Adds the sensor layer to `map`; `onSelect(id)` hears a click on a marker. */
export function createSensors(map, { onSelect }) {
  const sensors = new Map(); // id → {id, kind, source, state, reading, rolling, status, marker, dot}
  const layer = L.layerGroup().addTo(map);

  function ensure(id, location) {
    let sensor = sensors.get(id);
    if (sensor) return sensor;
    if (!location) return null;
    const dot = h('span', { class: 'g-dot' });
    dot.addEventListener('animationend', () => dot.classList.remove('g-blink'));
    const icon = L.divIcon({ className: 'g-sensor', html: dot, iconSize: [14, 14] });
    const marker = L.marker([location.lat, location.lon], { icon, keyboard: false, title: id });
    marker.on('click', (event) => {
      L.DomEvent.stopPropagation(event);
      onSelect(id);
    });
    marker.addTo(layer);
    marker.getElement()?.setAttribute('data-id', id);
    sensor = { id, kind: null, source: 'device', state: 'unknown', reading: null, rolling: null, status: null, marker, dot };
    sensors.set(id, sensor);
    return sensor;
  }

  function style(sensor) {
    const source = SOURCES.includes(sensor.source) ? sensor.source : 'device';
    sensor.dot.className = `g-dot g-src-${source} g-state-${sensor.state}`
      + (sensor.dot.classList.contains('g-blink') ? ' g-blink' : '');
  }

  function move(sensor, location) {
    if (location) sensor.marker.setLatLng([location.lat, location.lon]);
  }

  /** Loads the /api/sensors collection (first load and after a reconnection). */
  function load(collection) {
    for (const feature of collection.features) {
      const p = feature.properties;
      const [lon, lat] = feature.geometry.coordinates;
      const sensor = ensure(p.sensor_id, { lon, lat });
      Object.assign(sensor, {
        kind: p.kind, source: p.source, state: p.state ?? 'unknown',
        reading: p.reading, rolling: p.rolling, status: p.status,
      });
      move(sensor, { lon, lat });
      style(sensor);
    }
  }

  /** A status message: online or offline. */
  function onStatus(status) {
    const sensor = ensure(status.sensor_id, status.location);
    if (!sensor) return null;
    Object.assign(sensor, { status, state: status.state, kind: status.kind, source: status.source });
    move(sensor, status.location);
    style(sensor);
    return sensor;
  }

  /** A reading: the marker blinks, and the latest reading is kept for the panel. */
  function onReading(reading) {
    const sensor = ensure(reading.sensor_id, reading.location);
    if (!sensor) return null;
    if (sensor.reading && Date.parse(sensor.reading.time) > Date.parse(reading.time)) return sensor; // a late one
    Object.assign(sensor, { reading, kind: reading.kind, source: reading.source });
    move(sensor, reading.location);
    style(sensor);
    // One blink at a time: a sensor reporting 100 times a second blinks steadily.
    if (!sensor.dot.classList.contains('g-blink')) sensor.dot.classList.add('g-blink');
    return sensor;
  }

  return { load, onStatus, onReading, get: (id) => sensors.get(id) };
}
