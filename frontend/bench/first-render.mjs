// Time to a usable page in headless chromium (Debian's, through playwright-core): each run
// opens a fresh browser context (empty cache), loads PATH from URL and reads the page's own
// `data-ready-ms` (performance.now() when the page is complete: for the map, polygons, sensors
// and alerts drawn). Prints one JSON line with the median and the slowest run.
//
// Usage: node bench/first-render.mjs URL PATH [RUNS]   e.g. http://127.0.0.1:8080 / 10
import { chromium } from 'playwright-core';

const [url, path = '/', runs = '10'] = process.argv.slice(2);
if (!url) {
  console.error('usage: node bench/first-render.mjs URL PATH [RUNS]');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--disable-gpu', '--disable-quic', ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])],
});
const times = [];
for (let i = 0; i < Number(runs); i++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(url + path);
  await page.waitForSelector('#garonne-app[data-ready="true"]', { timeout: 30_000 });
  times.push(Number(await page.locator('#garonne-app').getAttribute('data-ready-ms')));
  await context.close();
}
await browser.close();
times.sort((a, b) => a - b);
console.log(JSON.stringify({ path, runs: times.length, median_ms: times[Math.floor(times.length / 2)], max_ms: times.at(-1) }));
