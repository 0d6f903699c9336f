// Browser tests of the open-data fleets on the map (issue 15), in Debian's chromium, against the
// real stack (its simulator runs every fleet whose files are in the data folder: the weather,
// the VélôToulouse bikes and the Garonne river): the quantity menu offers available bikes and the
// river level; with bikes chosen, each quartier is coloured by its total (the aggregate's
// `value`, its stations' counts summed), which this test recomputes from /api with the page's own
// colour scale; the legend names the quantity and its unit, in French and in English.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, openPage, screenshot, useTargetAndBrowser } from './harness.mjs';
import { scaleFor } from '../src/lib/colour.js';

const BIKES = 'availableBikeNumber';
const RIVER = 'streamGauge';

/** The fixture server runs no fleet: these tests need the real stack or a real server. */
const REAL = process.env.GARONNE_STACK === '1' || Boolean(process.env.GARONNE_URL);

const session = useTargetAndBrowser();

async function api(path) {
  const response = await fetch(`${session.target.url}${path}`);
  assert.ok(response.ok, `${path}: HTTP ${response.status}`);
  return response.json();
}

/** The catalogue entry of `quantity` in /api/config. */
async function spec(quantity) {
  const config = await api('/api/config');
  const entry = (config.catalogue ?? config.quantities).find((q) => q.name === quantity);
  assert.ok(entry, `${quantity} in the catalogue of /api/config`);
  return entry;
}

/** Each quartier's live value of `quantity` in /api/neighbourhoods (id → the aggregate's value). */
async function liveValues(quantity) {
  const body = await api('/api/neighbourhoods');
  const values = new Map();
  for (const f of body.features) {
    const value = f.properties.aggregate?.quantities?.[quantity]?.value;
    if (Number.isFinite(value)) values.set(String(f.id ?? f.properties.id), value);
  }
  return values;
}

const fill = (page, id) => page.locator(`path.g-nb[data-id="${id}"]`).getAttribute('fill');
const legendTitle = (page) => page.locator('.g-legend > .g-legend-title').textContent();

/**
 * Waits until the page paints the quartier with the most of `quantity` in the colour /api's
 * values give it on the page's scale (the page and /api agree once no aggregate is in flight);
 * returns that quartier, its value and its fill.
 */
async function paintedFromApi(page, quantity) {
  const entry = await spec(quantity);
  let last = 'nothing compared yet';
  return eventually(async () => {
    const values = await liveValues(quantity);
    if (values.size === 0) return undefined;
    const [id, value] = [...values].sort((a, b) => b[1] - a[1])[0];
    const scale = scaleFor(quantity, [...values.values()], entry);
    const want = scale.colour(value);
    const got = await fill(page, id);
    last = `quartier ${id}: ${value}, fill ${got}, the scale gives ${want}`;
    return got === want ? { id, value, fill: got, scale } : undefined;
  }, { timeoutMs: 30_000, what: `the map coloured by ${quantity} as /api says (${last})` });
}

test('the map colours each quartier by its available bikes, legend and menu in French and English', async (t) => {
  if (!REAL) return t.skip('the fixture server runs no fleet: run with GARONNE_STACK=1 (scripts/browser-tests.sh)');
  // The bike stations announce themselves, then count: wait for the quartiers' totals.
  await eventually(async () => (await liveValues(BIKES)).size > 0, { timeoutMs: 60_000, what: 'bike totals per quartier in /api' });
  const bikes = await spec(BIKES);
  // A count: the catalogue gives no unit, and the menu and legend print none.
  assert.equal(bikes.unit, '', 'the unit of a count');

  const page = await openPage(session.browser, session.target, '/?lang=fr');
  const menu = page.locator('#g-quantity');
  await eventually(async () => (await menu.locator(`option[value="${BIKES}"]`).count()) === 1, { what: 'available bikes in the menu' });
  assert.equal(await menu.locator(`option[value="${BIKES}"]`).textContent(), bikes.label.fr);
  await menu.selectOption(BIKES);

  const painted = await paintedFromApi(page, BIKES);
  t.diagnostic(`quartier ${painted.id}: ${painted.value} bikes, fill ${painted.fill}`);
  // The total is a sum of whole counts, and a quartier with stations is not painted "no data".
  assert.ok(Number.isInteger(painted.value) && painted.value > 0, `a total of bikes: ${painted.value}`);
  assert.equal(await legendTitle(page), 'Vélos disponibles');
  const ticks = await page.locator('.g-legend-ticks span').allTextContents();
  const digits = (text) => Number(text.replace(/\D/g, ''));
  assert.deepEqual([digits(ticks[0]), digits(ticks.at(-1))], [painted.scale.min, painted.scale.max],
    `the legend's ends are the scale's: ${ticks}`);
  await screenshot(page, 'map-bikes-fr');

  // In English: the same colours, the labels translated.
  await page.locator('button.g-lang').click();
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  assert.equal(await menu.locator(`option[value="${BIKES}"]`).textContent(), bikes.label.en);
  await eventually(async () => (await legendTitle(page)) === 'Available bikes', { what: 'the legend in English' });
  await paintedFromApi(page, BIKES);
  await screenshot(page, 'map-bikes-en');
  assert.deepEqual(page.problems, [], 'no error in the page');
  await page.close();
});

test('the river level is in the menu and colours the quartier of its gauges', async (t) => {
  if (!REAL) return t.skip('the fixture server runs no fleet: run with GARONNE_STACK=1 (scripts/browser-tests.sh)');
  await eventually(async () => (await liveValues(RIVER)).size > 0, { timeoutMs: 60_000, what: 'river levels per quartier in /api' });
  const river = await spec(RIVER);
  const page = await openPage(session.browser, session.target, '/?lang=fr');
  const menu = page.locator('#g-quantity');
  await eventually(async () => (await menu.locator(`option[value="${RIVER}"]`).count()) === 1, { what: 'the river level in the menu' });
  assert.equal(await menu.locator(`option[value="${RIVER}"]`).textContent(), `${river.label.fr} (m)`);
  await menu.selectOption(RIVER);
  const painted = await paintedFromApi(page, RIVER);
  t.diagnostic(`quartier ${painted.id}: ${painted.value} m, fill ${painted.fill}`);
  assert.equal(await legendTitle(page), "Hauteur d'eau (m)");
  await page.locator('button.g-lang').click();
  await eventually(async () => (await legendTitle(page)) === 'River level (m)', { what: 'the legend in English' });
  await screenshot(page, 'map-river-en');
  assert.deepEqual(page.problems, [], 'no error in the page');
  await page.close();
});
