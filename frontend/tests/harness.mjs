// What the browser tests share: the server under test, Debian's chromium, screenshots, and a
// way to push a live message.
//
// The server under test, in this order:
// - GARONNE_STACK=1 (CI): the real stack, started by `stack.mjs` on free ports (mosquitto,
//   `garonne serve` with the embedded store, realtime, historian, the simulated fleet); a live
//   message is published on its broker, and a dropped stream is a restart of `garonne serve`;
//   `publish(topic, text, {retain})` publishes any text on any topic of that broker (a profile);
// - GARONNE_URL: a Garonne server already running; a live message is published on the MQTT
//   broker GARONNE_MQTT_URL (mqtt://HOST:PORT, via mosquitto_pub), under GARONNE_TOPIC_PREFIX
//   (default `garonne`), or POSTed to GARONNE_PUSH_URL as {kind, data}; with neither, the live
//   tests are skipped (and fail under CI=true);
// - otherwise the fixture server of this folder (a stand-in following server/CONTRACT.md), on a
//   free port, which pushes and drops streams itself.
// GARONNE_TEST_NO_GRAFANA=1 runs the stack or the fixture server without a Grafana URL (the
// default of `garonne up`), and the map tests then expect no Grafana link.
import { after, before } from 'node:test';
import { mkdirSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startFixtureServer } from './fixture-server.mjs';
import { startStack } from './stack.mjs';

const SCREENSHOTS = resolve(fileURLToPath(import.meta.url), '../../../target/browser');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * The server under test: `{url, push(kind, data) | null, publish(topic, text, {retain}) | null,
 * drop(downMs) | null, close()}`. `publish` needs a real broker (the stack, or GARONNE_MQTT_URL).
 */
export async function startTarget() {
  if (process.env.GARONNE_STACK === '1') {
    const stack = await startStack();
    return {
      url: stack.url, push: mqttPush(stack.mqttUrl), publish: mqttPublish(stack.mqttUrl), drop: stack.restartServer, close: stack.close,
    };
  }
  if (process.env.GARONNE_URL) {
    const push = externalPush();
    if (!push && process.env.CI === 'true') throw new Error('CI=true: set GARONNE_MQTT_URL or GARONNE_PUSH_URL, or the live tests would be skipped');
    const publish = process.env.GARONNE_MQTT_URL ? mqttPublish(process.env.GARONNE_MQTT_URL) : null;
    return { url: process.env.GARONNE_URL.replace(/\/$/, ''), push, publish, drop: null, close: async () => {} };
  }
  const server = await startFixtureServer();
  return { url: server.url, push: async (kind, data) => server.push(kind, data), publish: null, drop: server.drop, close: server.close };
}

function externalPush() {
  if (process.env.GARONNE_PUSH_URL) {
    return async (kind, data) => {
      const response = await fetch(process.env.GARONNE_PUSH_URL, { method: 'POST', body: JSON.stringify({ kind, data }) });
      if (!response.ok) throw new Error(`push failed: HTTP ${response.status}`);
    };
  }
  if (process.env.GARONNE_MQTT_URL) return mqttPush(process.env.GARONNE_MQTT_URL);
  return null;
}

/** The topic prefix of the deployment under test. */
export const TOPIC_PREFIX = process.env.GARONNE_TOPIC_PREFIX ?? 'garonne';

/** Publishes a live message on the broker at `url` (mqtt://HOST:PORT) with mosquitto_pub. */
function mqttPush(url) {
  const publish = mqttPublish(url);
  const prefix = TOPIC_PREFIX;
  const topics = {
    aggregate: (m) => `${prefix}/v1/neighbourhoods/${m.neighbourhood_id}/aggregate`,
    reading: (m) => `${prefix}/v1/sensors/${m.sensor_id}/reading`,
    status: (m) => `${prefix}/v1/sensors/${m.sensor_id}/status`,
    alert: (m) => `${prefix}/v1/alerts/${m.rule}/${m.scope.kind}-${m.scope.id}`,
  };
  return (kind, data) => publish(topics[kind](data), JSON.stringify(data));
}

/** Publishes `text` on `topic` of the broker at `url` (QoS 1, retained if asked) with mosquitto_pub. */
function mqttPublish(url) {
  const broker = new URL(url);
  return (topic, text, { retain = false } = {}) => new Promise((done, failed) => {
    execFile('mosquitto_pub', ['-h', broker.hostname, '-p', broker.port || '1883', '-q', '1',
      ...(retain ? ['-r'] : []), '-t', topic, '-m', text], { timeout: 10_000 }, (error) => (error ? failed(error) : done()));
  });
}

/** Debian's chromium, headless, through playwright-core (no browser download). */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // No GPU, no QUIC (the test machines have no internet). As root (CI, containers) chromium
    // refuses to start with its sandbox.
    args: ['--disable-gpu', '--disable-quic', ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])],
  });
}

/** Opens `path` of the target in a new page and waits for the page's script to be ready. */
export async function openPage(browser, target, path, { width = 1280, height = 800 } = {}) {
  const page = await browser.newPage({ viewport: { width, height } });
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
  await page.goto(target.url + path);
  await page.waitForSelector('#garonne-app[data-ready="true"]', { timeout: 15_000 });
  page.problems = problems;
  return page;
}

/** Saves a screenshot as target/browser/NAME.png, for people to look at. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: resolve(SCREENSHOTS, `${name}.png`) });
}

/** Polls `probe` (async, returns a value or undefined) until it returns something truthy. */
export async function eventually(probe, { timeoutMs = 10_000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((wake) => setTimeout(wake, 100));
  }
}

/**
 * What a browser test file runs against: registers the hooks that start the target (see
 * `startTarget`) and a browser before the file's tests, and close both after them. Returns an
 * object whose `target` and `browser` are set once the tests run.
 */
export function useTargetAndBrowser() {
  const session = { target: undefined, browser: undefined };
  before(async () => {
    session.target = await startTarget();
    session.browser = await launchBrowser();
  });
  after(async () => {
    await session.browser?.close();
    await session.target?.close();
  });
  return session;
}
