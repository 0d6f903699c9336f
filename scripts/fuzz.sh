#!/usr/bin/env bash
# Builds the payload parser's fuzz target and runs it for a while (default 20 s), seeded with
# the spec's examples. Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../payload/fuzz"
seconds=${1:-20}
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
# cargo fuzz passes nightly-only flags (sanitizers); this tells the stable compiler to accept them.
export RUSTC_BOOTSTRAP=1
mkdir -p corpus/parse
cp ../../docs/examples/*/*.json ../../docs/examples/*/*.ndjson corpus/parse/
cargo fuzz build parse
# libFuzzer reports every new input; keep that in a log and show the end of it.
log=$(mktemp)
if cargo fuzz run parse corpus/parse -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
  grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log" || tail -n 5 "$log"
  rm -f "$log"
else
  cat "$log"
  echo "the fuzzer found a failing input: see the artifact named above (payload/fuzz/artifacts/parse/)" >&2
  rm -f "$log"
  exit 1
fi
