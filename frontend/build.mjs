// Builds the pages' bundles into dist/: app.js + app.css (the map), validate.js +
// validate.css (the payload validator), telemetry.js + telemetry.css (the telemetry page), and
// Leaflet's images. One command: `npm run build`
// (`npm run watch` rebuilds on every change). The server serves dist/ at /static/.
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const watch = process.argv.includes('--watch');

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist');
// leaflet.css points at images/*.png; the CSS keeps those relative URLs (see `external`) and
// the images sit beside it, so no file name depends on a hash.
cpSync('node_modules/leaflet/dist/images', 'dist/images', { recursive: true });

const options = {
  entryPoints: { app: 'src/app.js', validate: 'src/validate.js', telemetry: 'src/telemetry/main.js' },
  outdir: 'dist',
  bundle: true,
  minify: true,
  sourcemap: 'linked',
  format: 'iife',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  external: ['images/*'],
  logLevel: 'info',
};

if (watch) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
  printPageWeights();
}

/** Each page's weight, HTML shell + JS + CSS, raw and gzipped: keep it small. */
function printPageWeights() {
  for (const page of ['app', 'validate', 'telemetry']) {
    const files = ['pages/page.html', `dist/${page}.js`, `dist/${page}.css`].map((f) => readFileSync(f));
    const raw = files.reduce((sum, f) => sum + f.length, 0);
    const gzip = files.reduce((sum, f) => sum + gzipSync(f, { level: 9 }).length, 0);
    console.log(`page ${page}: ${(raw / 1024).toFixed(1)} KiB, ${(gzip / 1024).toFixed(1)} KiB gzipped (HTML + JS + CSS)`);
  }
}
