// Unit tests of the pure helpers, in node (no browser): where an error is in the text, and the
// colour scale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { locate, scan } from '../src/validate/locate.js';
import { colourAt, scaleFor } from '../src/lib/colour.js';
import { digitsFor } from '../src/lib/format.js';

const READING = `{
  "v": 1,
  "sensor_id": "capteur salle B12",
  "location": { "lat": 43.6047, "lng": 1.4442 },
  "quantities": { "temp": 21.5, "a/b": 1 },
  "list": [10, {"x": true}]
}`;

test('locate: each pointer finds its line', () => {
  const cases = [
    // [error, expected line or null, what it pins]
    [{ pointer: '/sensor_id', rule: 'sensor-id' }, 3, 'a member: the line of its key'],
    [{ pointer: '/location/lng', rule: 'unknown-field' }, 4, 'a nested member'],
    [{ pointer: '/location/lon', rule: 'required' }, 4, 'a missing member: its parent object'],
    [{ pointer: '/time', rule: 'required' }, 1, 'a missing top-level member: the root object'],
    [{ pointer: '/quantities/a~1b', rule: 'range' }, 5, 'an escaped segment (~1 is /)'],
    [{ pointer: '/list/1/x', rule: 'type' }, 6, 'an array index'],
    [{ pointer: '', rule: 'required', message: 'the pack has no "seq" record' }, null, 'the root: the whole payload'],
    [{ pointer: '(root)', rule: 'senml-empty' }, null, 'the CLI spelling of the root'],
    [{ pointer: '', rule: 'duplicate-key', message: 'duplicate field `seq` at line 5 column 7' }, 5, "a duplicate key: the message's line"],
  ];
  const spans = scan(READING);
  for (const [error, line, what] of cases) {
    assert.equal(locate(READING, error, spans)?.line ?? null, line, what);
  }
});

test('locate: a syntax error is placed by its message, and the text before it still scans', () => {
  const text = '{\n  "v": 1,\n  "quantities": { "temperature": NaN }\n}';
  const place = locate(text, { pointer: '', rule: 'json-syntax', message: 'not valid JSON: expected value at line 3 column 34' });
  assert.equal(place.line, 3);
  assert.equal(text.slice(place.start, place.start + 3), 'NaN');
  assert.ok(scan(text).has('/v'), 'members before the error are known');
});

test('locate: a member selects from its key to the end of its value', () => {
  const place = locate(READING, { pointer: '/sensor_id', rule: 'sensor-id' });
  assert.equal(READING.slice(place.start, place.end), '"sensor_id": "capteur salle B12"');
});

test('scaleFor: round bounds around the data, with a minimum span', () => {
  const cases = [
    // [quantity, values, min, max, what it pins]
    ['temperature', [8.2, 9.7, 11.4], 8, 12, 'round numbers around the values'],
    ['temperature', [10.01, 10.02], 9, 11.5, 'two close values still span at least 2 °C'],
    ['relativeHumidity', [0.71, 0.72], 0.65, 0.8, 'a fraction gets fractional bounds'],
    ['atmosphericPressure', [1012], 1010, 1014, 'one value: centred'],
  ];
  for (const [quantity, values, min, max, what] of cases) {
    const scale = scaleFor(quantity, values);
    assert.ok(Math.abs(scale.min - min) < 1e-9 && Math.abs(scale.max - max) < 1e-9, `${what}: got ${scale.min}..${scale.max}`);
  }
  assert.equal(scaleFor('temperature', []), null, 'no value, no scale');
  assert.equal(scaleFor('temperature', [NaN, null]), null, 'only non-numbers, no scale');
});

test("scaleFor: a quantity of another profile gets a fiftieth of its catalogue range as minimum span", () => {
  const bikes = { min: 0, max: 500, integer: true };
  const pm25 = { min: 0, max: 1000, integer: false };
  const cases = [
    // [quantity, values, catalogue entry, min, max, what it pins]
    ['availableBikeNumber', [40, 41], bikes, 35, 50, 'a count: at least 10 of 500 bikes'],
    ['pm25', [12, 12.5], pm25, 0, 25, '20 µg/m³ of 1000'],
    ['availableBikeNumber', [40, 41], undefined, 40, 41, 'no catalogue entry: a span of 1'],
    ['temperature', [10.01, 10.02], { min: -40, max: 60 }, 9, 11.5, 'the weather keeps its tuned spans'],
  ];
  for (const [quantity, values, spec, min, max, what] of cases) {
    const scale = scaleFor(quantity, values, spec);
    assert.ok(Math.abs(scale.min - min) < 1e-9 && Math.abs(scale.max - max) < 1e-9, `${what}: got ${scale.min}..${scale.max}`);
  }
});

test('digitsFor: decimals from the catalogue entry', () => {
  const config = {
    catalogue: [
      { name: 'temperature', min: -40, max: 60, integer: false },
      { name: 'relativeHumidity', min: 0, max: 1, integer: false },
      { name: 'illuminance', min: 0, max: 200_000, integer: false },
      { name: 'availableBikeNumber', min: 0, max: 500, integer: true },
    ],
    quantities: [{ name: 'motion', unit: '', label: { fr: 'Mouvement', en: 'Motion' } }],
  };
  const cases = [['temperature', 1], ['relativeHumidity', 2], ['illuminance', 0], ['availableBikeNumber', 0], ['motion', 1], ['unknown', 1]];
  for (const [quantity, digits] of cases) assert.equal(digitsFor(config, quantity), digits, quantity);
});

test('colourAt: ends, middle and clamping', () => {
  const stops = ['#000000', '#ffffff'];
  assert.equal(colourAt(stops, 0), '#000000');
  assert.equal(colourAt(stops, 1), '#ffffff');
  assert.equal(colourAt(stops, 0.5), '#808080');
  assert.equal(colourAt(stops, -3), '#000000', 'below the scale: its first colour');
  assert.equal(colourAt(stops, 7), '#ffffff', 'above the scale: its last colour');
});
