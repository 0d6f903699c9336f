// The real Garonne stack for the browser tests, started here on free loopback ports in a temp
// folder: mosquitto, `garonne serve` with the embedded history store, `garonne realtime`,
// `garonne historian` and `garonne simulate` on the Toulouse open data. Nothing is faked: the
// page sees what the real services make of the simulated fleet.
//
// GARONNE_BIN is the garonne binary (default: the workspace's target/debug/garonne, then
// target/release/garonne); GARONNE_DATA_DIR the Toulouse open-data folder (default:
// testkit/fixtures/toulouse, the committed fixture); MOSQUITTO the broker (default: mosquitto on
// PATH, then /usr/sbin/mosquitto). `garonne serve` gets a Grafana URL (http://grafana.example:3000)
// unless GARONNE_TEST_NO_GRAFANA=1, which runs it as `garonne up` does by default: without one.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const FRONTEND = resolve(fileURLToPath(import.meta.url), '../..');
const REPO = resolve(FRONTEND, '..');

/** The quartiers the map is tested on (20 polygons). */
const POLYGONS = 'quartiers-de-democratie-locale.geojson';

function firstExisting(candidates, what, fix) {
  const found = candidates.find((path) => path && existsSync(path));
  if (!found) throw new Error(`${what} not found (looked at ${candidates.filter(Boolean).join(', ')}): ${fix}`);
  return found;
}

/** A free TCP port on loopback (bound, then released for the server to take). */
function freePort() {
  return new Promise((done, failed) => {
    const server = createServer();
    server.on('error', failed);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

async function waitFor(what, probe, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((wake) => setTimeout(wake, 200));
  }
}

/**
 * Starts the stack; resolves once the map has polygons with live aggregates and history exists.
 * Returns `{url, mqttUrl, restartServer(downMs), close()}`; `restartServer` stops `garonne serve`,
 * waits `downMs`, and starts it again on the same address (its clients see their streams cut).
 */
export async function startStack() {
  const bin = firstExisting(
    [process.env.GARONNE_BIN, join(REPO, 'target/debug/garonne'), join(REPO, 'target/release/garonne')],
    'the garonne binary', 'build it with `cargo build --bin garonne` or set GARONNE_BIN');
  const data = firstExisting([process.env.GARONNE_DATA_DIR, resolve(REPO, 'testkit/fixtures/toulouse')],
    'the Toulouse open-data folder', 'set GARONNE_DATA_DIR (`garonne data fetch` downloads it)');
  const mosquitto = firstExisting([process.env.MOSQUITTO, '/usr/sbin/mosquitto', '/usr/bin/mosquitto'],
    'mosquitto', 'install it (apt-get install mosquitto) or set MOSQUITTO');
  if (!existsSync(join(FRONTEND, 'dist/app.js'))) throw new Error('frontend/dist is not built: run `npm run build` first');

  const dir = mkdtempSync(join(tmpdir(), 'garonne-browser-'));
  const log = openSync(join(dir, 'stack.log'), 'a');
  const children = [];
  const start = (name, command, args) => {
    // Only the flags configure the stack: a GARONNE_GRAFANA_URL of the caller's would not.
    const env = { ...process.env, RUST_LOG: 'warn' };
    delete env.GARONNE_GRAFANA_URL;
    const child = spawn(command, args, { stdio: ['ignore', log, log], env });
    child.name = name;
    child.exited = new Promise((done) => child.on('exit', (code, signal) => done({ code, signal })));
    children.push(child);
    return child;
  };

  const mqttPort = await freePort();
  writeFileSync(join(dir, 'mosquitto.conf'),
    `listener ${mqttPort} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\nmax_queued_messages 100000\n`);
  start('mosquitto', mosquitto, ['-c', join(dir, 'mosquitto.conf')]);
  const broker = `mqtt://127.0.0.1:${mqttPort}`;
  await waitFor('mosquitto', () => new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(true)); // taken: mosquitto is listening
    probe.listen(mqttPort, '127.0.0.1', () => probe.close(() => done(false)));
  }));

  const httpPort = await freePort();
  const url = `http://127.0.0.1:${httpPort}`;
  const store = join(dir, 'history.sqlite');
  const polygons = join(data, POLYGONS);
  const grafana = process.env.GARONNE_TEST_NO_GRAFANA === '1' ? [] : ['--grafana-url', 'http://grafana.example:3000'];
  let server;
  const startServer = () => {
    server = start('serve', bin, ['serve', '--broker', broker, '--http', `127.0.0.1:${httpPort}`,
      '--neighbourhoods', polygons, ...grafana,
      '--store', 'embedded', '--store-path', store, '--static-dir', join(FRONTEND, 'dist')]);
  };
  startServer();
  start('realtime', bin, ['realtime', '--broker', broker, '--neighbourhoods', polygons,
    '--window', '60s', '--emit-every', '1s', '--no-snapshot', '--metrics-addr', '127.0.0.1:0']);
  start('historian', bin, ['historian', '--broker', broker, '--data-dir', dir,
    '--store', 'embedded', '--store-path', store, '--flush-interval', '200ms', '--metrics-addr', '127.0.0.1:0']);
  start('simulate', bin, ['simulate', '--broker', broker, '--data-dir', data, '--density', '2']);

  const close = async () => {
    for (const child of children.reverse()) {
      child.stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const ended = await Promise.race([child.exited, new Promise((wake) => setTimeout(() => wake(null), 10_000))]);
      if (ended === null) {
        child.kill('SIGKILL');
        throw new Error(`${child.name} did not stop within 10 s of SIGTERM (log: ${join(dir, 'stack.log')})`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (const child of children) {
      child.exited.then(({ code, signal }) => {
        if (!child.stopping && code !== 0 && signal !== 'SIGTERM') {
          console.error(`# ${child.name} exited early (code ${code}, signal ${signal}); see ${join(dir, 'stack.log')}`);
        }
      });
    }
    await waitFor('garonne serve to be ready', async () => (await fetch(`${url}/readyz`)).ok);
    await waitFor('live aggregates on the map', async () => {
      const body = await (await fetch(`${url}/api/neighbourhoods`)).json();
      return body.features.some((f) => f.properties.aggregate);
    }, 60_000);
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }

  const restartServer = async (downMs) => {
    server.stopping = true;
    server.kill('SIGTERM');
    await server.exited;
    await new Promise((wake) => setTimeout(wake, downMs));
    startServer();
    await waitFor('garonne serve to be back', async () => (await fetch(`${url}/readyz`)).ok);
  };
  return { url, mqttUrl: broker, restartServer, close };
}
