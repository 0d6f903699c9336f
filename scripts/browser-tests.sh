#!/usr/bin/env bash
# The browser tests of the web app (frontend/tests), in Debian's chromium driven by
# playwright-core, against the real stack: frontend/tests/stack.mjs starts mosquitto,
# `garonne serve` with the embedded history store, realtime, historian and the simulated fleet on
# free loopback ports, first with a Grafana URL (as in the docker compose deployment), then the
# map's tests again without one (the default of `garonne up`). Screenshots land in target/browser/.
#
# Needs node (>= 20) and npm, chromium (installed by scripts/install-test-deps.sh), the
# Toulouse open data in testkit/fixtures/toulouse (or GARONNE_DATA_DIR).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Like the tests that need a server: said and skipped when missing, a failure under CI=true.
missing() {
  echo "browser tests: $1" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  echo "browser tests skipped" >&2
  exit 0
}
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
  || missing "node and npm are missing: install Node.js 20 or later (apt-get install nodejs npm)"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] \
  || missing "chromium is missing: apt-get install chromium (or set CHROMIUM to its path)"

cargo build --bin garonne
export GARONNE_BIN=$PWD/target/debug/garonne

cd frontend
npm ci --no-audit --no-fund --loglevel=error
npm run build
GARONNE_STACK=1 npm test
echo "browser tests: the map again, without a Grafana URL"
GARONNE_STACK=1 GARONNE_TEST_NO_GRAFANA=1 node --test tests/map.test.mjs
