// A stand-in for the Garonne web server, for developing and checking the front-end alone: it
// serves dist/ under /static/, the two pages (pages/page.html with the config block), the JSON API
// of server/CONTRACT.md with fixed answers built from the real Toulouse quartiers (read from
// the testkit's fixture at start, never copied), and an SSE stream that tests push messages into.
//
// It is NOT Garonne's server: the CI browser tests run against the real one (GARONNE_URL).
//
//   node tests/fixture-server.mjs [PORT]      # then open http://127.0.0.1:PORT/
//   curl -X POST localhost:PORT/_test/push -d '{"kind":"aggregate","data":{...}}'
//
// /api/validate runs the real validator (`garonne payload validate -`) when the binary is built
// (GARONNE_BIN, or target/release|debug/garonne), else a few checks of its own.
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const FRONTEND = resolve(fileURLToPath(import.meta.url), '../..');
const REPO = resolve(FRONTEND, '..');
const QUARTIERS = process.env.GARONNE_NEIGHBOURHOODS
  ?? resolve(REPO, 'testkit/fixtures/toulouse/quartiers-de-democratie-locale.geojson');
// GARONNE_TEST_NO_GRAFANA=1: no Grafana URL in the config, as by default in `garonne up`.
const GRAFANA_URL = process.env.GARONNE_TEST_NO_GRAFANA === '1' ? null : 'http://grafana.example:3000';

const TYPES = {
  '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.map': 'application/json',
  '.html': 'text/html; charset=utf-8', '.json': 'application/json',
};

export const QUANTITIES = [
  ['temperature', '°C', 'Température', 'Temperature'],
  ['relativeHumidity', '', 'Humidité relative', 'Relative humidity'],
  ['atmosphericPressure', 'hPa', 'Pression atmosphérique', 'Atmospheric pressure'],
  ['precipitation', 'mm', 'Précipitations', 'Precipitation'],
  ['windSpeed', 'm/s', 'Vitesse du vent', 'Wind speed'],
  ['gustSpeed', 'm/s', 'Vitesse des rafales', 'Gust speed'],
  ['windDirection', '°', 'Direction du vent', 'Wind direction'],
  ['illuminance', 'lx', 'Éclairement', 'Illuminance'],
  ['streamGauge', 'm', 'Hauteur d’eau', 'Stream gauge'],
  ['motion', '', 'Mouvement', 'Motion'],
].map(([name, unit, fr, en]) => ({ name, unit, label: { fr, en } }));

const SOURCES = ['virtual', 'opendata-replay', 'raspberry-pi', 'opendata-estimate', 'device'];

// --- fixtures ------------------------------------------------------------------------------

/** A deterministic value of `quantity` for subject number `n` at time `ms`. */
function valueAt(quantity, n, ms) {
  const day = Math.sin((2 * Math.PI * (ms / 1000 - 4 * 3600)) / 86400); // warmest mid-afternoon
  const spread = ((n * 37) % 20) / 20; // 0–0.95, different per neighbourhood
  switch (quantity) {
    case 'temperature': return round(10 + 4 * day + 3 * spread, 2);
    case 'relativeHumidity': return round(0.7 - 0.15 * day + 0.1 * spread, 3);
    case 'atmosphericPressure': return round(1012 + 3 * spread, 1);
    case 'windSpeed': return round(2 + 3 * spread, 2);
    default: return null;
  }
}

const round = (x, digits) => Math.round(x * 10 ** digits) / 10 ** digits;

function stats(mean) {
  return { mean, ...minMax(mean), readings: 12, sensors: 3 };
}

function minMax(mean) {
  const spread = Math.abs(mean) * 0.04;
  return { min: round(mean - spread, 3), max: round(mean + spread, 3) };
}

function aggregateFor(id, name, now) {
  const windowStart = Math.floor(now / 900_000) * 900_000;
  const quantities = {};
  for (const q of ['temperature', 'relativeHumidity', 'atmosphericPressure', 'windSpeed']) {
    quantities[q] = stats(valueAt(q, Number(id), now));
  }
  return {
    v: 1, neighbourhood_id: id, name,
    window_start: iso(windowStart), window_end: iso(windowStart + 900_000), emitted_at: iso(now), quantities,
  };
}

const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

export function buildFixtures(now = Date.now()) {
  const geojson = JSON.parse(readFileSync(QUARTIERS, 'utf8'));
  const neighbourhoods = {
    type: 'FeatureCollection',
    features: geojson.features.map((feature) => {
      const id = String(feature.properties.quartier);
      const name = feature.properties.nom_quartier;
      // Quartier 20 has no sensor yet: the map must show it as "no data".
      const aggregate = id === '20' ? null : aggregateFor(id, name, now);
      return { type: 'Feature', id, geometry: feature.geometry, properties: { id, name, aggregate } };
    }),
  };
  const sensors = {
    type: 'FeatureCollection',
    features: geojson.features.map((feature, i) => {
      const source = SOURCES[i % SOURCES.length];
      const n = Number(feature.properties.quartier);
      const sensorId = `${source === 'raspberry-pi' ? 'pi' : source}-q${String(n).padStart(2, '0')}-001`;
      const { lon, lat } = feature.properties.geo_point_2d;
      const location = { lon: round(lon + 0.002, 6), lat: round(lat + 0.001, 6) };
      const kind = { virtual: 'virtual', 'raspberry-pi': 'raspberry-pi', device: 'dht22' }[source] ?? 'weather-station';
      const reading = {
        v: 1, sensor_id: sensorId, kind, source, time: iso(now - 60_000), seq: 42, location,
        quantities: { temperature: valueAt('temperature', n, now), relativeHumidity: valueAt('relativeHumidity', n, now) },
      };
      const rolling = {
        v: 1, sensor_id: sensorId, window_secs: 900, time: reading.time,
        quantities: { temperature: { ...stats(reading.quantities.temperature), readings: 15, sensors: 1 } },
      };
      const state = i % 6 === 5 ? 'offline' : 'online';
      const status = { v: 1, sensor_id: sensorId, state, time: iso(now - 3600_000), kind, source, location };
      return {
        type: 'Feature', id: sensorId, geometry: { type: 'Point', coordinates: [location.lon, location.lat] },
        properties: { sensor_id: sensorId, kind, source, state, reading, rolling, status },
      };
    }),
  };
  const alerts = [{
    v: 1, rule: 'heat', scope: { kind: 'neighbourhood', id: '5' }, state: 'raised', quantity: 'temperature',
    comparison: 'above', threshold: 12, value: 12.4, since: iso(now - 1800_000), time: iso(now - 600_000),
  }];
  return { neighbourhoods, sensors, alerts };
}

function history(params, fixtures) {
  const quantity = params.get('quantity') ?? 'temperature';
  if (!QUANTITIES.some((q) => q.name === quantity)) return [400, { error: `unknown quantity "${quantity}": use one of ${QUANTITIES.map((q) => q.name).join(', ')}` }];
  const nb = params.get('neighbourhood');
  const sensor = params.get('sensor');
  if (!nb === !sensor) return [400, { error: 'give either neighbourhood=ID or sensor=ID' }];
  let n;
  if (nb) {
    n = Number(nb);
    if (!fixtures.neighbourhoods.features.some((f) => f.id === nb)) return [404, { error: `no neighbourhood "${nb}"` }];
  } else {
    const feature = fixtures.sensors.features.find((f) => f.id === sensor);
    if (!feature) return [404, { error: `no sensor "${sensor}"` }];
    n = Number(/q(\d+)/.exec(sensor)[1]);
  }
  const to = Date.parse(params.get('to') ?? new Date().toISOString());
  const from = Date.parse(params.get('from') ?? new Date(to - 86400_000).toISOString());
  const every = Number(params.get('every') ?? 300);
  const buckets = [];
  for (let t = Math.ceil(from / (every * 1000)) * every * 1000; t < to; t += every * 1000) {
    const mean = valueAt(quantity, n, t);
    if (mean != null && !(nb === '20')) buckets.push({ start: iso(t), mean, ...minMax(mean), count: 3 });
  }
  return [200, {
    subject: { kind: nb ? 'neighbourhood' : 'sensor', id: nb ?? sensor }, quantity,
    from: iso(from), to: iso(to), every_secs: every, buckets,
  }];
}

// --- /api/validate -------------------------------------------------------------------------

function garonneBinary() {
  const candidates = [process.env.GARONNE_BIN, join(REPO, 'target/release/garonne'), join(REPO, 'target/debug/garonne')];
  return candidates.find((path) => path && existsSync(path));
}

/** Validates with `garonne payload validate -` and turns its lines into the API's answer. */
function validateWithGaronne(binary, body) {
  return new Promise((done, failed) => {
    const child = spawn(binary, ['payload', 'validate', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk) => { out += chunk; });
    child.stderr.on('data', (chunk) => { out += chunk; });
    child.on('error', failed);
    child.on('close', () => {
      const kind = body.trimStart().startsWith('[') ? 'senml' : 'reading';
      const valid = /^valid: (.*)$/m.exec(out);
      if (valid) {
        const readings = Number(/(\d+) readings?/.exec(valid[1])?.[1] ?? 1);
        return done({ valid: true, kind, readings, errors: [] });
      }
      const errors = out.split('\n').filter((line) => line.includes(': ')).map((line) => {
        const [pointer, rule] = line.split(': ', 2);
        const rest = line.slice(pointer.length + rule.length + 4);
        const hintAt = rest.indexOf('; hint: ');
        return {
          pointer: pointer === '(root)' ? '' : pointer, rule,
          message: hintAt < 0 ? rest : rest.slice(0, hintAt), hint: hintAt < 0 ? '' : rest.slice(hintAt + 8),
        };
      });
      done({ valid: false, kind, readings: 0, errors });
    });
    child.stdin.end(body);
  });
}

/** A few of the spec's checks, for when the garonne binary is not built. */
function validateInJs(body) {
  const kind = body.trimStart().startsWith('[') ? 'senml' : 'reading';
  let payload;
  try {
    payload = JSON.parse(body);
  } catch (error) {
    const at = /position (\d+)/.exec(error.message);
    const before = body.slice(0, at ? Number(at[1]) : body.length).split('\n');
    return {
      valid: false, kind, readings: 0, errors: [{
        pointer: '', rule: 'json-syntax',
        message: `not valid JSON: ${error.message} at line ${before.length} column ${before.at(-1).length + 1}`,
        hint: 'NaN, Infinity, undefined and unquoted words are not JSON',
      }],
    };
  }
  if (kind === 'senml') return { valid: true, kind, readings: 1, errors: [] };
  const errors = [];
  const fields = ['v', 'sensor_id', 'kind', 'source', 'time', 'seq', 'location', 'quantities'];
  for (const field of fields) {
    if (!(field in payload)) errors.push({ pointer: `/${field}`, rule: 'required', message: `missing field ${field}`, hint: `add "${field}"` });
  }
  for (const field of Object.keys(payload)) {
    if (!fields.includes(field)) errors.push({ pointer: `/${field}`, rule: 'unknown-field', message: `unknown field "${field}"`, hint: 'see the spec, §4' });
  }
  const t = payload.quantities?.temperature;
  if (typeof t === 'number' && (t < -40 || t > 60)) {
    errors.push({ pointer: '/quantities/temperature', rule: 'range', message: `temperature ${t} is outside -40 to 60 °C`, hint: 'leave the quantity out' });
  }
  return { valid: errors.length === 0, kind, readings: errors.length ? 0 : 1, errors };
}

// --- the server ----------------------------------------------------------------------------

/**
 * Starts the fixture server on `port` (0: a free one). Returns `{url, push(kind, data),
 * drop(downMs), close()}`: `push` sends an SSE event to every listening page, `drop` cuts
 * every stream and refuses new ones for `downMs`.
 */
export async function startFixtureServer({ port = 0, host = '127.0.0.1' } = {}) {
  const fixtures = buildFixtures();
  const clients = new Set(); // {response, kinds}
  let downUntil = 0;
  const binary = garonneBinary();

  function push(kind, data) {
    const text = `event: ${kind}\ndata: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
    for (const client of clients) if (client.kinds.includes(kind)) client.response.write(text);
    if (kind === 'aggregate') {
      const feature = fixtures.neighbourhoods.features.find((f) => f.id === String(data.neighbourhood_id));
      if (feature) feature.properties.aggregate = data;
    }
  }

  function drop(downMs = 0) {
    downUntil = Date.now() + downMs;
    for (const client of clients) client.response.destroy();
    clients.clear();
  }

  function page(name, url, response) {
    const lang = url.searchParams.get('lang') === 'en' ? 'en' : 'fr';
    const config = JSON.stringify({ base: '', grafana_url: GRAFANA_URL }).replaceAll('<', '\\u003c');
    const html = readFileSync(join(FRONTEND, 'pages', 'page.html'), 'utf8').replaceAll('{{page}}', name).replace('{{lang}}', lang).replace('{{config}}', config);
    response.writeHead(200, { 'content-type': TYPES['.html'] }).end(html);
  }

  async function handle(request, response) {
    const url = new URL(request.url, 'http://localhost');
    const json = (status, body) => response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const path = url.pathname;

    if (path === '/') return page('app', url, response);
    if (path === '/validate') return page('validate', url, response);
    if (path.startsWith('/static/')) {
      const file = normalize(join(FRONTEND, 'dist', path.slice('/static/'.length)));
      if (!file.startsWith(join(FRONTEND, 'dist'))) return json(404, { error: 'not found' });
      try {
        const body = await readFile(file);
        return response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
      } catch {
        return json(404, { error: `no ${path}: run npm run build` });
      }
    }
    if (path === '/api/config') {
      return json(200, { grafana_url: GRAFANA_URL, tiles_url: null, default_quantity: 'temperature', quantities: QUANTITIES });
    }
    if (path === '/api/profiles') {
      // The weather profile only, in the shape of /api/profiles (enough for the validator's menu).
      const weather = { name: 'weather', version: 1, title: { fr: 'Station météo', en: 'Weather station' }, description: null, source: 'built-in' };
      return json(200, [{ ...weather, quantities: QUANTITIES.map((q) => ({ ...q, unit_display: q.unit })) }]);
    }
    if (path === '/api/neighbourhoods') return json(200, fixtures.neighbourhoods);
    if (path === '/api/sensors') return json(200, fixtures.sensors);
    if (path === '/api/alerts') return json(200, fixtures.alerts);
    if (path === '/api/history') return json(...history(url.searchParams, fixtures));
    if (path === '/api/validate' && request.method === 'POST') {
      const chunks = [];
      for await (const chunk of request) chunks.push(chunk);
      const body = Buffer.concat(chunks).toString('utf8');
      return json(200, binary ? await validateWithGaronne(binary, body) : validateInJs(body));
    }
    if (path === '/events') {
      if (Date.now() < downUntil) return request.socket.destroy();
      const kinds = (url.searchParams.get('kinds') ?? 'aggregate,status,alert').split(',');
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      response.write('retry: 500\n: hello\n\n');
      const client = { response, kinds };
      clients.add(client);
      const ping = setInterval(() => response.write(': ping\n\n'), 15_000);
      request.on('close', () => {
        clearInterval(ping);
        clients.delete(client);
      });
      return undefined;
    }
    if (path === '/_test/push' && request.method === 'POST') {
      const chunks = [];
      for await (const chunk of request) chunks.push(chunk);
      const { kind, data } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      push(kind, data);
      return json(200, { clients: clients.size });
    }
    if (path === '/_test/drop' && request.method === 'POST') {
      drop(Number(url.searchParams.get('down_ms') ?? 0));
      return json(200, {});
    }
    return json(404, { error: `no route ${path}` });
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error) => {
      if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: error.message }));
    });
  });
  await new Promise((ready) => server.listen(port, host, ready));
  const url = `http://${host}:${server.address().port}`;
  return {
    url,
    push,
    drop,
    clientCount: () => clients.size,
    close: () => new Promise((done) => {
      drop();
      server.close(done);
    }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startFixtureServer({ port: Number(process.argv[2] ?? 8090) });
  console.log(`fixture server on ${server.url} (validator: ${garonneBinary() ?? 'built-in checks'})`);
}
