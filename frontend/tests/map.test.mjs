// Browser tests of the map page, in Debian's chromium: the polygons, a live update, the panel.
// Against GARONNE_URL when set (the real server), else against the fixture server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, openPage, screenshot, useTargetAndBrowser } from './harness.mjs';

const EXPECTED_NEIGHBOURHOODS = Number(process.env.GARONNE_EXPECT_NEIGHBOURHOODS ?? 20);
/** The server under test runs without a Grafana URL (the default of `garonne up`). */
const NO_GRAFANA = process.env.GARONNE_TEST_NO_GRAFANA === '1';

const session = useTargetAndBrowser();

/**
 * A point inside neighbourhood `id`'s polygon where it is on top (what a user can click), relative
 * to the polygon's bounding box, so that the click still lands on it if the map has moved since.
 */
async function pointInside(page, id) {
  return page.evaluate((nb) => {
    const path = document.querySelector(`path.g-nb[data-id="${nb}"]`);
    const box = path.getBoundingClientRect();
    for (let k = 0; k < 400; k++) {
      // A spiral from the box's centre outwards: the first point where the polygon is on top.
      const angle = k * 2.4;
      const r = Math.sqrt(k / 400) / 2;
      const x = box.width * (0.5 + r * Math.cos(angle));
      const y = box.height * (0.5 + r * Math.sin(angle));
      if (document.elementFromPoint(box.left + x, box.top + y) === path) return { x, y };
    }
    return null;
  }, id);
}

const fill = (page, id) => page.locator(`path.g-nb[data-id="${id}"]`).getAttribute('fill');

/** Whether /api/history holds a value for neighbourhood `id` over the panel's default range. */
async function hasHistory(id) {
  const config = await (await fetch(`${session.target.url}/api/config`)).json();
  const quantity = config.default_quantity ?? 'temperature';
  const to = new Date();
  const from = new Date(to.getTime() - 24 * 3600_000);
  const query = new URLSearchParams({ neighbourhood: id, quantity, from: from.toISOString(), to: to.toISOString(), every: '300' });
  const answer = await (await fetch(`${session.target.url}/api/history?${query}`)).json();
  return (answer.buckets ?? []).some((b) => Number.isFinite(b.mean));
}

/**
 * Clicks inside neighbourhood `id`'s polygon and waits for its panel's history chart. The chart
 * needs history: just after the stack starts the store may hold none yet for `id`, so wait for it.
 */
async function openNeighbourhood(page, id) {
  await eventually(() => hasHistory(id), { timeoutMs: 60_000, what: `history for neighbourhood ${id} in /api/history` });
  // Through the locator, Playwright waits for the polygon to stop moving (the map may still be
  // fitting its bounds) and checks that the point hits it, not a neighbour or a marker drawn
  // over it. A marker may appear on the chosen point meanwhile (a bike station's first count):
  // then choose again.
  for (let attempt = 1; ; attempt++) {
    const point = await pointInside(page, id);
    assert.ok(point, `a visible point inside neighbourhood ${id}`);
    try {
      await page.locator(`path.g-nb[data-id="${id}"]`).click({ position: point, timeout: 3000 });
      break;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
  const neighbourhoods = await (await fetch(`${session.target.url}/api/neighbourhoods`)).json();
  const feature = neighbourhoods.features.find((f) => String(f.id) === id);
  assert.ok(feature, `neighbourhood ${id} in /api/neighbourhoods`);
  assert.equal(await page.locator('.g-panel h2').textContent(), feature.properties.name, 'the panel names the clicked neighbourhood');
  await page.locator('.g-panel .g-chart canvas').waitFor({ timeout: 10_000 });
}

/** Clicks a sensor with a reading whose marker is on top, and waits for its panel's sparkline. */
async function openSensor(page) {
  const sensors = await (await fetch(`${session.target.url}/api/sensors`)).json();
  const withReading = new Set(sensors.features.filter((f) => f.properties.reading).map((f) => f.properties.sensor_id));
  assert.ok(withReading.size > 0, 'sensors with a reading in /api/sensors');
  // In a dense fleet markers overlap: click one that is on top at its centre, as a user would;
  // if another marker appears over it meanwhile, choose again.
  let hit;
  for (let attempt = 1; ; attempt++) {
    hit = await page.evaluate((ids) => {
      for (const marker of document.querySelectorAll('.leaflet-marker-icon[data-id]')) {
        if (!ids.includes(marker.dataset.id)) continue;
        const box = marker.getBoundingClientRect();
        const x = box.left + box.width / 2;
        const y = box.top + box.height / 2;
        if (marker.contains(document.elementFromPoint(x, y))) return marker.dataset.id;
      }
      return null;
    }, [...withReading]);
    assert.ok(hit, 'a sensor marker on top, to click');
    try {
      // Through the locator: Playwright waits for the marker to stop moving and checks the hit.
      await page.locator(`.leaflet-marker-icon[data-id="${hit}"]`).click({ timeout: 3000 });
      break;
    } catch (error) {
      if (attempt >= 5) throw error;
    }
  }
  assert.equal(await page.locator('.g-panel h2').textContent(), hit);
  await page.locator('.g-panel .g-stats').waitFor();
  await page.locator('.g-panel .g-sparkline:not([aria-busy])').waitFor({ timeout: 10_000 });
}

test('the map draws every neighbourhood polygon', async (t) => {
  const page = await openPage(session.browser, session.target, '/');
  t.diagnostic(`map ready (polygons, sensors, alerts) ${await page.locator('#garonne-app').getAttribute('data-ready-ms')} ms after navigation`);
  const api = await (await fetch(`${session.target.url}/api/neighbourhoods`)).json();
  assert.equal(api.features.length, EXPECTED_NEIGHBOURHOODS, 'neighbourhoods in /api/neighbourhoods');
  assert.equal(await page.locator('path.g-nb').count(), EXPECTED_NEIGHBOURHOODS, 'polygons drawn');
  // Each polygon is a real shape on screen, not an empty path.
  const sizes = await page.locator('path.g-nb').evaluateAll((paths) => paths.map((p) => p.getBBox().width * p.getBBox().height));
  assert.ok(sizes.every((area) => area > 20), `every polygon has an area on screen: ${sizes}`);
  assert.ok(await page.locator('.g-legend .g-legend-title').first().isVisible(), 'the legend is shown');
  await screenshot(page, 'map');
  assert.deepEqual(page.problems, [], 'no error in the page');
  await page.close();
});

test("a neighbourhood's colour changes when a live aggregate arrives", async (t) => {
  if (!session.target.push) return t.skip('no way to publish: set GARONNE_MQTT_URL or GARONNE_PUSH_URL');
  const page = await openPage(session.browser, session.target, '/');
  await eventually(async () => (await page.locator('.g-live').getAttribute('data-state')) === 'live', { what: 'the live stream' });
  const id = '1';
  const api = await (await fetch(`${session.target.url}/api/neighbourhoods`)).json();
  const original = api.features.find((f) => String(f.id ?? f.properties.id) === id)?.properties.aggregate;
  const before = await fill(page, id);
  // A value far below, then far above, every other: one of them changes the colour whatever
  // the neighbourhood's colour was.
  let after = before;
  for (const mean of [-30, 55]) {
    const now = Date.now();
    const windowStart = new Date(Math.floor(now / 900_000) * 900_000);
    await session.target.push('aggregate', {
      v: 1, neighbourhood_id: id, name: 'test', window_start: windowStart.toISOString(),
      window_end: new Date(windowStart.getTime() + 900_000).toISOString(), emitted_at: new Date(now).toISOString(),
      quantities: { temperature: { mean, min: mean - 1, max: mean + 1, readings: 3, sensors: 1 } },
    });
    after = await eventually(async () => {
      const colour = await fill(page, id);
      return colour !== before ? colour : undefined;
    }, { timeoutMs: 5000, what: `neighbourhood ${id} to change colour` }).catch(() => before);
    if (after !== before) break;
  }
  await screenshot(page, 'map-live-update');
  // Put the neighbourhood back as it was, for the tests (and people) that look at it next.
  if (original) await session.target.push('aggregate', original);
  assert.notEqual(after, before, `the fill of neighbourhood ${id} changed (was ${before})`);
  await page.close();
});

test('live readings, statuses and alerts reach the markers and the alert list', async (t) => {
  if (!session.target.push) return t.skip('no way to publish: set GARONNE_MQTT_URL or GARONNE_PUSH_URL');
  const page = await openPage(session.browser, session.target, '/');
  await eventually(async () => (await page.locator('.g-live').getAttribute('data-state')) === 'live', { what: 'the live stream' });
  const id = `browser-test-${process.pid}`;
  const location = { lon: 1.4442, lat: 43.6047 }; // Capitole
  const now = () => new Date().toISOString();
  const dot = page.locator(`.leaflet-marker-icon[data-id="${id}"] .g-dot`);

  await session.target.push('status', { v: 1, sensor_id: id, state: 'online', time: now(), kind: 'raspberry-pi', source: 'raspberry-pi', location });
  await eventually(async () => (await dot.count()) === 1 && (await dot.getAttribute('class')).includes('g-state-online'), { what: 'a marker for the new sensor' });
  assert.match(await dot.getAttribute('class'), /g-src-raspberry-pi/);

  await session.target.push('reading', {
    v: 1, sensor_id: id, kind: 'raspberry-pi', source: 'raspberry-pi', time: now(), seq: 0, location, quantities: { temperature: 19.5 },
  });
  await eventually(async () => (await dot.getAttribute('class')).includes('g-blink'), { what: 'the marker to blink' });

  await session.target.push('status', { v: 1, sensor_id: id, state: 'offline', time: now(), kind: 'raspberry-pi', source: 'raspberry-pi', location });
  await eventually(async () => (await dot.getAttribute('class')).includes('g-state-offline'), { what: 'the marker to show offline' });

  const alerts = page.locator('.g-alerts .g-alert');
  const count = await alerts.count();
  const alert = {
    v: 1, rule: 'browser-test', scope: { kind: 'neighbourhood', id: '1' }, state: 'raised', quantity: 'temperature',
    comparison: 'above', threshold: 30, value: 31.5, since: now(), time: now(),
  };
  await session.target.push('alert', alert);
  await eventually(async () => (await alerts.count()) === count + 1, { what: 'the alert to be listed' });
  await eventually(async () => /#c00000/i.test(await page.locator('path.g-nb[data-id="1"]').getAttribute('stroke')),
    { what: 'its neighbourhood to be outlined in red' });
  await screenshot(page, 'map-live-alert');
  await session.target.push('alert', { ...alert, state: 'cleared', value: 28, time: now() });
  await eventually(async () => (await alerts.count()) === count, { what: 'the cleared alert to go' });
  await page.close();
});

test('a click on a neighbourhood shows its statistics, a history chart and, when configured, a Grafana link', async () => {
  const page = await openPage(session.browser, session.target, '/');
  const id = '1';
  await openNeighbourhood(page, id);
  const config = await (await fetch(`${session.target.url}/api/config`)).json();
  const link = page.locator('.g-panel a.g-grafana');
  if (NO_GRAFANA) {
    assert.equal(config.grafana_url ?? null, null, 'the server under test has no Grafana URL');
    assert.equal(await link.count(), 0, 'no Grafana link without a Grafana URL');
  } else {
    assert.ok(config.grafana_url, 'the server under test is given a Grafana URL');
    const href = await link.getAttribute('href');
    assert.equal(href, `${config.grafana_url.replace(/\/$/, '')}/d/garonne-neighbourhood?var-neighbourhood=${id}`);
  }
  await screenshot(page, NO_GRAFANA ? 'map-neighbourhood-default' : 'map-neighbourhood');
  assert.deepEqual(page.problems, [], 'no error in the page');
  await page.close();
});

test('a click on a sensor shows its latest reading and a sparkline', async () => {
  const page = await openPage(session.browser, session.target, '/');
  await openSensor(page);
  await screenshot(page, 'map-sensor');
  await page.close();
});

// Regression: with no Grafana URL (the default of `garonne up`) both panels showed the word
// "null" where the link would be (a null child given to the DOM's replaceChildren).
test('the panels of a neighbourhood and of a sensor have a Grafana link exactly when one is configured, and no "null"', async () => {
  const config = await (await fetch(`${session.target.url}/api/config`)).json();
  if (NO_GRAFANA) assert.equal(config.grafana_url ?? null, null, 'the server under test has no Grafana URL');
  const links = config.grafana_url ? 1 : 0;
  const page = await openPage(session.browser, session.target, '/');
  const panel = page.locator('.g-panel');
  await openNeighbourhood(page, '1');
  assert.equal(await panel.locator('a.g-grafana').count(), links, 'Grafana links in the panel of a neighbourhood');
  assert.doesNotMatch(await panel.textContent(), /\b(null|undefined)\b/, 'the panel of a neighbourhood');
  if (!config.grafana_url) await screenshot(page, 'map-neighbourhood-no-grafana');
  await openSensor(page);
  assert.equal(await panel.locator('a.g-grafana').count(), links, 'Grafana links in the panel of a sensor');
  assert.doesNotMatch(await panel.textContent(), /\b(null|undefined)\b/, 'the panel of a sensor');
  if (!config.grafana_url) await screenshot(page, 'map-sensor-no-grafana');
  assert.deepEqual(page.problems, [], 'no error in the page');
  await page.close();
});

test('the language switches between French and English', async () => {
  const page = await openPage(session.browser, session.target, '/?lang=fr');
  assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
  assert.equal(await page.locator('label[for="g-quantity"]').textContent(), 'Grandeur');
  await page.locator('button.g-lang').click();
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  assert.equal(await page.locator('label[for="g-quantity"]').textContent(), 'Quantity');
  await page.close();
});

test('the replay slider paints the map from history', async () => {
  const page = await openPage(session.browser, session.target, '/');
  const slider = page.locator('.g-slider');
  await slider.fill('2');
  await eventually(async () => (await page.locator('.g-timeline').getAttribute('class')).includes('g-replaying')
    && !(await page.locator('.g-time').textContent()).includes('…'), { what: 'the replay to load' });
  await screenshot(page, 'map-replay');
  await slider.fill(await slider.getAttribute('max'));
  await eventually(async () => !(await page.locator('.g-timeline').getAttribute('class')).includes('g-replaying'), { what: 'back to live' });
  await page.close();
});

test('a dropped live stream shows "reconnecting", then live again', async (t) => {
  if (!session.target.drop) return t.skip('only the fixture server can drop its streams on demand');
  const page = await openPage(session.browser, session.target, '/');
  const state = () => page.locator('.g-live').getAttribute('data-state');
  await eventually(async () => (await state()) === 'live', { what: 'the live stream' });
  session.target.drop(1500);
  await eventually(async () => (await state()) === 'reconnecting', { what: 'the reconnecting indicator' });
  await screenshot(page, 'map-reconnecting');
  await eventually(async () => (await state()) === 'live', { timeoutMs: 15_000, what: 'the stream to come back' });
  await page.close();
});
