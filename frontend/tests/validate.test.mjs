// Browser tests of the payload validator page: errors at their place, and the valid state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { openPage, screenshot, useTargetAndBrowser } from './harness.mjs';

const example = (path) => readFileSync(new URL(`../../docs/examples/${path}`, import.meta.url), 'utf8');

const session = useTargetAndBrowser();

async function validate(page, text) {
  await page.locator('#g-payload').fill(text);
  await page.locator('#g-validate').click();
  await page.locator('.g-result .g-banner').waitFor({ timeout: 10_000 });
}

test('the validator shows each error of a bad payload on its line, with rule and hint', async () => {
  const page = await openPage(session.browser, session.target, '/validate?lang=en');
  const text = example('invalid/sentinel-values.json');
  await validate(page, text);
  assert.equal(await page.locator('.g-result [data-state]').getAttribute('data-state'), 'invalid');
  const errors = page.locator('.g-listing .g-err');
  assert.equal(await errors.count(), 3);
  // Each error sits under the line of its pointer's value.
  const lines = text.split('\n');
  for (const quantity of ['temperature', 'relativeHumidity', 'atmosphericPressure']) {
    const box = page.locator(`.g-err[data-pointer="/quantities/${quantity}"]`);
    assert.equal(await box.locator('.g-rule').textContent(), 'range');
    assert.match(await box.textContent(), /no data/, 'the hint names the sentinel');
    const line = Number(await box.locator('xpath=..').getAttribute('data-line'));
    assert.match(lines[line - 1], new RegExp(`"${quantity}"`), `${quantity}'s error on its line`);
  }
  assert.ok(await page.locator('.g-line-bad').count() >= 1, 'the faulty line is highlighted');
  await screenshot(page, 'validate-errors');
  assert.deepEqual(page.problems, [], 'no error in the page');
  await page.close();
});

test('in French the hint is the French one, and the language switch shows the English one', async () => {
  const page = await openPage(session.browser, session.target, '/validate?lang=fr');
  await validate(page, example('invalid/sentinel-values.json'));
  const hint = page.locator('.g-err[data-pointer="/quantities/temperature"] .g-hint');
  assert.match(await hint.textContent(), /^Conseil : -50 °C est la valeur « pas de donnée » des stations de Toulouse/);
  assert.doesNotMatch(await hint.textContent(), /no data/);
  await page.locator('button.g-lang').click();
  assert.match(await hint.textContent(), /^Hint: -50 °C is the Toulouse stations' "no data" value/);
  assert.deepEqual(page.problems, [], 'no error in the page');
  await page.close();
});

test("a student's first try: every error is listed, missing fields on their object's line", async () => {
  const page = await openPage(session.browser, session.target, '/validate?lang=fr');
  await page.locator('button.g-example', { hasText: 'premier essai' }).click();
  await page.locator('.g-result .g-banner').waitFor();
  const rules = await page.locator('.g-err .g-rule').allTextContents();
  for (const rule of ['sensor-id', 'kind', 'source', 'required', 'unknown-field']) {
    assert.ok(rules.includes(rule), `rule ${rule} shown (got ${rules})`);
  }
  // `/location/lon` is missing: its error is on the line of `"location"`.
  const lon = page.locator('.g-err[data-pointer="/location/lon"]');
  assert.match(await lon.locator('xpath=..').locator('code').first().textContent(), /"location"/);
  await screenshot(page, 'validate-student');
  await page.close();
});

test('a JSON syntax error is shown on the line the parser names', async () => {
  const page = await openPage(session.browser, session.target, '/validate?lang=en');
  await validate(page, '{\n  "v": 1,\n  "quantities": { "temperature": NaN }\n}');
  const box = page.locator('.g-err[data-rule="json-syntax"]');
  assert.equal(await box.locator('xpath=..').getAttribute('data-line'), '3');
  await page.close();
});

test('a valid SenML pack shows the valid state with its number of readings', async () => {
  const page = await openPage(session.browser, session.target, '/validate?lang=en');
  await validate(page, example('valid/senml-pack.json'));
  const banner = page.locator('.g-result [data-state="valid"]');
  assert.match(await banner.textContent(), /SenML pack, 2 reading/);
  await screenshot(page, 'validate-valid');
  await page.close();
});
