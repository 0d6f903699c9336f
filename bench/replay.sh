#!/usr/bin/env bash
# Replay speed against reading the same rows from the store (issue 16), in one run.
#
# An embedded store is filled with DEVICES devices of 10 channels (the catalogue's quantities) at
# 100 Hz for SECONDS seconds: DEVICES × SECONDS × 100 readings of 10 values each, written
# straight into its raw table (the historian creates the file, Python's sqlite3 fills it, so
# the fill costs seconds, not an MQTT run). Then, on the same file:
#   baseline  `garonne export --format csv -o - > /dev/null`: every row read from the store page
#             by page (the reader replay uses), written as CSV: the store's read rate (an upper
#             bound on its cost: the CSV formatting is included);
#   parquet   `garonne export --format parquet` to a file, for comparison;
#   replay    `garonne replay --speed max --times original` into a local mosquitto, QoS 1, every
#             message acknowledged: the same rows grouped into readings and SenML packs, published.
# Figures: values/s and readings/s of each, and replay / baseline.
#
# Usage: bench/replay.sh [DEVICES [SECONDS]]   (default 20 devices, 60 s: 1.2 million values)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

devices=${1:-20}
secs=${2:-60}
dir=$(mktemp -d)
temp_dirs+=("$dir")

cargo build --release --quiet --bin garonne
bin=./target/release/garonne
start_mosquitto

# The historian creates the store's file and schema; it is stopped once they are there.
store="$dir/history.sqlite"
$bin historian --data-dir "$dir" --store embedded --store-path "$store" \
  --broker "mqtt://127.0.0.1:$port" --client-id bench-replay-historian >"$dir/historian.log" 2>&1 &
historian=$!
pids+=("$historian")
wait_for 30 "the historian's store" "$dir/historian.log" \
  python3 -c "import sqlite3,sys; sqlite3.connect('file:$store?mode=ro', uri=True).execute('select 1 from reading limit 1')"
stop_pid "$historian"

# Times in the last hour (inside the raw retention); whole seconds.
t0=$(( ($(date +%s) - 3600) * 1000000000 ))
python3 - "$store" "$devices" "$secs" "$t0" <<'EOF'
import sqlite3, sys
path, devices, secs, t0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
# The catalogue's quantities, each with a value inside its range.
channels = [("temperature", 20.0), ("relativeHumidity", 0.5), ("atmosphericPressure", 1000.0),
            ("precipitation", 0.0), ("windSpeed", 5.0), ("gustSpeed", 8.0),
            ("windDirection", 180.0), ("illuminance", 500.0), ("streamGauge", 1.0), ("motion", 1.0)]
db = sqlite3.connect(path)
db.execute("PRAGMA synchronous = OFF")
for q, (name, _) in enumerate(channels):
    db.execute("INSERT INTO quantity (id, name) VALUES (?, ?)", (q + 1, name))
for d in range(devices):
    db.execute("INSERT INTO sensor (id, name, kind, source, lat, lon) VALUES (?, ?, 'car', 'device', 43.6047, 1.4442)",
               (d + 1, f"bench-car-{d}"))
period = 10_000_000  # 100 Hz
hour = 3_600_000_000_000
rows = ((t // hour, d + 1, q + 1, t, v + (i % 7) * 0.01)
        for i in range(secs * 100) for t in [t0 + i * period]
        for d in range(devices) for q, (_, v) in enumerate(channels))
db.executemany("INSERT INTO reading (hour, sensor, quantity, time_ns, value) VALUES (?, ?, ?, ?, ?)", rows)
db.commit()
EOF
from=$(date -u -d "@$(( t0 / 1000000000 ))" +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d "@$(( t0 / 1000000000 + secs + 1 ))" +%Y-%m-%dT%H:%M:%SZ)
values=$(( devices * secs * 100 * 10 ))
readings=$(( devices * secs * 100 ))
store_flags=(--store embedded --store-path "$store")

# Baseline: the rows read back (and written as CSV to nowhere).
started=$EPOCHREALTIME
$bin export "${store_flags[@]}" --from "$from" --to "$to" --format csv -o - >/dev/null 2>"$dir/export.log" ||
  { cat "$dir/export.log" >&2; exit 1; }
export_secs=$(echo "${EPOCHREALTIME/,/.} - ${started/,/.}" | bc -l)
started=$EPOCHREALTIME
$bin export "${store_flags[@]}" --from "$from" --to "$to" --format parquet -o "$dir/all.parquet" 2>"$dir/export.log" ||
  { cat "$dir/export.log" >&2; exit 1; }
parquet_secs=$(echo "${EPOCHREALTIME/,/.} - ${started/,/.}" | bc -l)

# Replay at full speed, every message acknowledged (QoS 1).
started=$EPOCHREALTIME
$bin replay "${store_flags[@]}" --from "$from" --to "$to" --speed max --times original \
  --broker "mqtt://127.0.0.1:$port" --client-id bench-replay --state "$dir/state.json" \
  >"$dir/replay.out" 2>"$dir/replay.log" || { cat "$dir/replay.out" "$dir/replay.log" >&2; exit 1; }
replay_secs=$(echo "${EPOCHREALTIME/,/.} - ${started/,/.}" | bc -l)
grep -q "^replayed $readings readings ($values samples)" "$dir/replay.out" ||
  { echo "the replay did not publish every reading:" >&2; cat "$dir/replay.out" >&2; exit 1; }

printf 'store: %d devices × 10 channels × 100 Hz × %d s = %d values (%d readings)\n' \
  "$devices" "$secs" "$values" "$readings"
printf '%-34s %8s %14s %14s\n' run seconds values/s readings/s
for run in "baseline: export csv (store read)" "export parquet" "replay --speed max (QoS 1)"; do
  case $run in baseline*) s=$export_secs ;; export*) s=$parquet_secs ;; *) s=$replay_secs ;; esac
  printf '%-34s %8.2f %14.0f %14.0f\n' "$run" "$s" "$(echo "$values / $s" | bc -l)" "$(echo "$readings / $s" | bc -l)"
done
printf 'replay rate / store read rate: %.2f\n' "$(echo "$export_secs / $replay_secs" | bc -l)"
grep -h "messages in" "$dir/replay.out"
