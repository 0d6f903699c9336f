#!/usr/bin/env bash
# The test command of README.md: installs the test servers when missing, runs every test of the
# workspace, then the web app's browser tests against the real stack. Tests that need a server
# skip with a message when it is absent, except under CI=true, where a missing server fails them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-test-deps.sh
cargo test --workspace
scripts/browser-tests.sh
