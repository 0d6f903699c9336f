// A profile published live reaches the map and the validator without a restart (issue 14):
// the test publishes a new profile's TOML retained on {prefix}/v1/profiles/NAME, as
// `garonne profile publish` does, then aggregates of one of its quantities for a few
// neighbourhoods; the map's quantity menu offers the quantity (its label in the page's language,
// its unit), choosing it colours those neighbourhoods by it, and the legend shows its unit. Needs
// a real broker: the stack (CI) or GARONNE_MQTT_URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TOPIC_PREFIX, eventually, openPage, screenshot, useTargetAndBrowser } from './harness.mjs';

const session = useTargetAndBrowser();

/** The fill of a neighbourhood without data (lib/colour.js). */
const NO_DATA = '#cfcfcf';

// Unique per run: a profile name and a quantity name no other test or earlier run has used.
const PROFILE = `browser-noise-${process.pid}`;
const QUANTITY = `browserNoise${process.pid}`;
const TOML = `name = "${PROFILE}"
version = 1
title = { en = "Schoolyard noise (browser test)", fr = "Bruit de la cour (test du navigateur)" }

[[quantity]]
name = "${QUANTITY}"
unit = "dBA"
label = { en = "Schoolyard noise", fr = "Bruit de la cour" }
min = 0
max = 140
time = "max"
space = "max"
`;

/** Neighbourhood id → [mean, value] of the quantity in its aggregate: colour by value. */
const VALUES = { 1: [10, 20], 2: [35, 70], 3: [60, 120] };

/** A number the legend prints (French or English format) as a JavaScript number. */
const parse = (text) => Number(text.replace(/[\s\u202f\u00a0]/g, '').replace(',', '.'));

test('a profile published live: the menu offers its quantity, which colours the map, with its unit in the legend', async (t) => {
  if (!session.target.publish) {
    if (process.env.CI === 'true') assert.fail('CI=true: this test needs a real broker (GARONNE_STACK=1 or GARONNE_MQTT_URL)');
    return t.skip('no broker to publish a profile on: run with GARONNE_STACK=1 or GARONNE_MQTT_URL');
  }
  const url = session.target.url;
  await session.target.publish(`${TOPIC_PREFIX}/v1/profiles/${PROFILE}`, TOML, { retain: true });
  const listed = await eventually(async () => {
    const response = await fetch(`${url}/api/profiles/${PROFILE}`);
    return response.ok ? response.json() : undefined;
  }, { timeoutMs: 20_000, what: `the server to list the published profile at /api/profiles/${PROFILE}` });
  assert.equal(listed.quantities[0].name, QUANTITY);
  assert.equal(listed.quantities[0].unit_display, 'dB(A)');

  const page = await openPage(session.browser, session.target, '/?lang=fr');
  await eventually(async () => (await page.locator('.g-live').getAttribute('data-state')) === 'live', { what: 'the live stream' });
  const option = page.locator(`#g-quantity option[value="${QUANTITY}"]`);
  assert.equal(await option.count(), 0, 'no live data yet: the menu does not offer the quantity');

  // Aggregates of the new quantity, in the next minute's window so that the page keeps them
  // over realtime's aggregates of the same neighbourhoods (it shows each one's newest window).
  const start = Math.floor(Date.now() / 60_000) * 60_000 + 60_000;
  for (const [id, [mean, value]] of Object.entries(VALUES)) {
    await session.target.push('aggregate', {
      v: 1, neighbourhood_id: id, name: `test ${id}`, window_start: new Date(start).toISOString(),
      window_end: new Date(start + 60_000).toISOString(), emitted_at: new Date().toISOString(),
      quantities: { [QUANTITY]: { mean, value, min: mean - 5, max: value, readings: 4, sensors: 2 } },
    });
  }
  await eventually(async () => (await option.count()) === 1, { what: 'the menu to offer the new quantity, without a reload' });
  assert.equal(await option.textContent(), 'Bruit de la cour (dB(A))', 'its French label and its unit');
  assert.equal(await option.evaluate((o) => o.parentElement.label), 'Bruit de la cour (test du navigateur)',
    'under its profile\'s title');

  await page.selectOption('#g-quantity', QUANTITY);
  const fills = () => page.locator('path.g-nb').evaluateAll((paths) => Object.fromEntries(paths.map((p) => [p.dataset.id, p.getAttribute('fill')])));
  const painted = await eventually(async () => {
    const now = await fills();
    return Object.keys(VALUES).every((id) => now[id] && now[id] !== NO_DATA) ? now : undefined;
  }, { what: 'the neighbourhoods with the quantity to be coloured by it' });
  assert.equal(new Set(Object.keys(VALUES).map((id) => painted[id])).size, 3, `three values, three colours: ${JSON.stringify(painted)}`);
  const others = Object.entries(painted).filter(([id]) => !(id in VALUES));
  assert.ok(others.length > 0 && others.every(([, fill]) => fill === NO_DATA), `the other neighbourhoods have no data: ${JSON.stringify(others)}`);

  const legend = page.locator('.g-legend .g-legend-title').first();
  assert.equal(await legend.textContent(), 'Bruit de la cour (dB(A))', 'the legend names the quantity and its unit');
  const ticks = (await page.locator('.g-legend-ticks span').allTextContents()).map(parse);
  assert.ok(ticks[0] <= 20 && ticks.at(-1) >= 120, `the scale spans the values (20 to 120), not the means: ${ticks}`);
  await screenshot(page, 'map-live-profile');

  await page.locator('button.g-lang').click();
  // The legend is painted on the next animation frame.
  await eventually(async () => (await legend.textContent()) === 'Schoolyard noise (dB(A))', { what: 'the legend in English' });
  assert.equal(await option.textContent(), 'Schoolyard noise (dB(A))', 'its English label after the switch');
  assert.deepEqual(page.problems, [], 'no error in the page');
  await page.close();

  // The validator offers the new profile too.
  const validator = await openPage(session.browser, session.target, '/validate?lang=en');
  assert.equal(await validator.locator(`#g-profile option[value="${PROFILE}"]`).textContent(),
    `Schoolyard noise (browser test) (${PROFILE})`);
  await validator.close();
});

test('the validator checks a payload under the profile chosen in its menu', async (t) => {
  const profiles = await (await fetch(`${session.target.url}/api/profiles`)).json();
  if (!profiles.some((p) => p.name === 'air-quality')) {
    if (process.env.CI === 'true') assert.fail('CI=true: the server under test has no air-quality profile');
    return t.skip('the server under test has only the weather profile (the fixture server)');
  }
  const page = await openPage(session.browser, session.target, '/validate?lang=en');
  const reading = {
    v: 1, sensor_id: 'browser-test', kind: 'bme280', source: 'device', time: new Date(Date.now() - 60_000).toISOString(),
    seq: 1, location: { lon: 1.4442, lat: 43.6047 }, quantities: { temperature: 19.5 },
  };
  await page.fill('#g-payload', JSON.stringify(reading, null, 2));
  await page.click('#g-validate');
  await page.locator('.g-result [data-state="valid"]').waitFor();
  // Under air-quality the weather reading breaks the profile: choosing it validates again.
  await page.selectOption('#g-profile', 'air-quality');
  await page.locator('.g-result [data-state="invalid"]').waitFor();
  assert.ok(await page.locator('.g-err[data-rule="quantity-not-in-profile"]').count() > 0, 'temperature is not an air-quality quantity');
  assert.ok(await page.locator('.g-err[data-rule="missing-required-quantity"]').count() > 0, "the profile's required quantities are missing");
  await screenshot(page, 'validate-profile');
  await page.selectOption('#g-profile', '');
  await page.locator('.g-result [data-state="valid"]').waitFor();
  assert.deepEqual(page.problems, [], 'no error in the page');
  await page.close();
});
