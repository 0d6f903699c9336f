#!/usr/bin/env bash
# The test command of README.md: installs the test servers when missing, then runs every test of
# the workspace. Tests that need a server skip with a message when it is absent, except under
# CI=true, where a missing server fails them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-test-deps.sh
cargo test --workspace
