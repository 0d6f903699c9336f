#!/usr/bin/env bash
# Resident memory and CPU of `garonne up` (one process: embedded broker, simulator, realtime,
# historian into the embedded store, web server), at rest and under the simulator at about
# 1,000 readings/s (117 sensors at 8.55 Hz). Baseline, in the same run and under the same load:
# the same pipeline as separate processes around mosquitto (`garonne simulate`, `realtime`,
# `historian`, `serve`), summed over the five processes.
#
# CPU is the processes' own user + system time over the measurement (from /proc), as a share of
# one core; memory is their resident set at the end of it. The rate reached is realtime's
# `garonne_realtime_messages_received_total` over the same time.
#
# Usage: bench/up.sh [SECONDS]   (default 30 s per measurement, after 10 s of warm-up)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh
secs=${1:-30}
warmup=10
rate=8.55 # Hz per sensor: 117 sensors (20 quartiers × 2 virtual + 77 stations) → ~1,000/s
PATH=$PATH:/usr/sbin
for tool in mosquitto curl python3; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install mosquitto curl python3" >&2; exit 1; }
done
cargo build --release --quiet --bin garonne
bin=$PWD/target/release/garonne
hz=$(getconf CLK_TCK)

work=$(mktemp -d)
temp_dirs+=("$work")
received() { curl -fs "http://$1/metrics" | awk '$1 == "garonne_realtime_messages_received_total" {print $2}'; }

# measure KEY NAME METRICS_ADDR PID... : one table row; KEY names its figures for the ratios.
measure() {
  local key=$1 name=$2 metrics=$3; shift 3
  sleep "$warmup"
  local t0 m0 t1 m1
  t0=$(cpu_ticks "$@") m0=$(received "$metrics")
  sleep "$secs"
  t1=$(cpu_ticks "$@") m1=$(received "$metrics")
  local cpu rss rate_seen
  cpu=$(python3 -c "print(f'{100 * ($t1 - $t0) / $hz / $secs:.1f}')")
  rss=$(($(rss_kib "$@") / 1024))
  rate_seen=$(python3 -c "print(f'{($m1 - $m0) / $secs:.0f}')")
  printf '| %s | %s | %s %% | %s MiB |\n' "$name" "$rate_seen" "$cpu" "$rss"
  echo "$cpu $rss" >"$work/$key"
}

# up LOAD_FLAGS...: garonne up on free ports, its state in a fresh folder.
up() {
  local state=$work/state-$RANDOM metrics=127.0.0.1:$(free_port)
  GARONNE_LOG=warn "$bin" up --data-dir "$DATA" --state-dir "$state" \
    --mqtt "127.0.0.1:$(free_port)" --http "127.0.0.1:$(free_port)" \
    --realtime-metrics "$metrics" --historian-metrics "127.0.0.1:$(free_port)" "$@" \
    >"$work/up.log" 2>&1 &
  UP_PID=$! UP_METRICS=$metrics
  pids+=("$UP_PID")
}

echo "# garonne up: $(date -u +%FT%TZ), $(nproc) cores, ${secs} s per measurement after ${warmup} s"
echo
echo "| configuration | readings/s reached | CPU (share of one core) | resident memory |"
echo "|---|---|---|---|"

up --no-simulator
measure up-rest "up, at rest (no simulator)" "$UP_METRICS" "$UP_PID"
stop_pid "$UP_PID"

up --density 2 --rate "$rate"
measure up-load "up, simulator at ~1,000/s" "$UP_METRICS" "$UP_PID"
stop_pid "$UP_PID"

# The baseline: the same services as separate processes around mosquitto.
mqtt=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 1000\nmax_queued_messages 100000\n' "$mqtt" >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 & mosq=$!; pids+=($mosq)
sleep 0.5
broker=mqtt://127.0.0.1:$mqtt
polygons=$DATA/quartiers-de-democratie-locale.geojson
state=$work/separate
mkdir -p "$state"
metrics=127.0.0.1:$(free_port)
export GARONNE_LOG=warn
"$bin" realtime --broker "$broker" --neighbourhoods "$polygons" --snapshot "$state/snapshot.json" \
  --metrics-addr "$metrics" >"$work/realtime.log" 2>&1 & rt=$!; pids+=($rt)
"$bin" historian --broker "$broker" --data-dir "$state" --store embedded \
  --metrics-addr "127.0.0.1:$(free_port)" >"$work/historian.log" 2>&1 & hi=$!; pids+=($hi)
"$bin" serve --broker "$broker" --http "127.0.0.1:$(free_port)" --neighbourhoods "$polygons" \
  --store embedded --store-path "$state/history.sqlite" >"$work/serve.log" 2>&1 & se=$!; pids+=($se)
measure sep-rest "separate processes + mosquitto, at rest" "$metrics" "$mosq" "$rt" "$hi" "$se"
"$bin" simulate --broker "$broker" --data-dir "$DATA" --density 2 --rate "$rate" \
  >"$work/simulate.log" 2>&1 & si=$!; pids+=($si)
measure sep-load "separate processes + mosquitto, ~1,000/s" "$metrics" "$mosq" "$rt" "$hi" "$se" "$si"
echo
python3 - "$work" <<'EOF'
import sys
w = sys.argv[1]
def row(name):
    cpu, rss = open(f"{w}/{name}").read().split()
    return float(cpu), float(rss)
for load, up, sep in [("at rest", "up-rest", "sep-rest"), ("~1,000/s", "up-load", "sep-load")]:
    (uc, ur), (sc, sr) = row(up), row(sep)
    print(f"{load}: up / separate = CPU {uc / sc:.2f}x, memory {ur / sr:.2f}x" if sc > 0 else f"{load}: memory {ur / sr:.2f}x")
EOF
