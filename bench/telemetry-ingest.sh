#!/usr/bin/env bash
# Telemetry ingest (issue 16): a car of CHANNELS channels at 100 Hz (200: 20,000 values/s) for
# MINUTES, from a candump log through `garonne pi` (its [can] section: the log replayed at its
# own pace, decoded through the DBC, SenML packs through the agent's fsynced disk queue, QoS 1)
# and mosquitto, into two historians at once: one into InfluxDB 1.x, one into the embedded store.
#
# Checks zero loss: the values each store holds for the car (InfluxQL count per field; SQL count
# in the embedded store) against the values the DBC decodes from the log (CHANNELS × 100 × s).
# Measures each historian's CPU time (/proc/PID/stat) over the run, per second of load and per
# 10,000 values, and its peak resident memory; the agent's too.
#
# Baseline in the same run, into the same two historians: the weather fleet (`garonne simulate
# --fleet weather --density 0`, plain JSON readings of a few values each, QoS 1) for the same
# time at BASELINE_RATE readings per second per station, its values counted the same way.
#
# Usage: bench/telemetry-ingest.sh [MINUTES]      (default 10; fractions allowed: 1.5)
# Environment: CHANNELS (default 200, a multiple of 4, at most 256), PACK_VALUES (values per
# pack, default 1000: 20 packs a second at 20,000 values/s), BASELINE_RATE (default 40),
# GARONNE_DATA_DIR (the open data of the baseline; default ../shared/data/toulouse), NO_BUILD=1
# (run target/release/garonne as it is).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

minutes=${1:-10}
CHANNELS=${CHANNELS:-200}
PACK_VALUES=${PACK_VALUES:-1000}
BASELINE_RATE=${BASELINE_RATE:-40}
secs=$(echo "$minutes * 60 / 1" | bc)
for tool in mosquitto mosquitto_sub curl jq bc sqlite3 influxd python3; do
  command -v $tool >/dev/null ||
    { echo "$tool is missing: apt-get install mosquitto mosquitto-clients curl jq bc sqlite3 influxdb python3" >&2; exit 1; }
done
[ -n "${NO_BUILD:-}" ] || cargo build --release --quiet --bin garonne # NO_BUILD=1: use target/release/garonne as it is
bin=./target/release/garonne
tck=$(getconf CLK_TCK)

dir=$(mktemp -d)
temp_dirs+=("$dir")
start_mosquitto "max_queued_messages 10000000" "sys_interval 1"
broker_bytes() { mosquitto_sub -h 127.0.0.1 -p "$port" -t '$SYS/broker/bytes/received' -C 1 -W 5; }

# InfluxDB 1.x in $dir/influxd, database garonne.
influx_port=$(free_port)
mkdir -p "$dir/influxd"
cat >"$dir/influxd/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$(free_port)"
[meta]
  dir = "$dir/influxd/meta"
[data]
  dir = "$dir/influxd/data"
  wal-dir = "$dir/influxd/wal"
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:$influx_port"
CONF
influxd -config "$dir/influxd/influxdb.conf" >"$dir/influxd.log" 2>&1 &
influxd_pid=$!
pids+=("$influxd_pid")
wait_for 30 influxd "$dir/influxd.log" curl -fs "http://127.0.0.1:$influx_port/ping"
curl -fs -XPOST "http://127.0.0.1:$influx_port/query" --data-urlencode 'q=CREATE DATABASE garonne' >/dev/null

# The car: a DBC of CHANNELS 16-bit signals, four per message, and a log of $secs seconds at
# 100 Hz starting now (each message 0.1 ms after the one before in each 10 ms cycle).
python3 - "$dir" "$CHANNELS" "$secs" <<'PY'
import sys, time
d, channels, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
messages = channels // 4
with open(f"{d}/bench-car.dbc", "w") as f:
    f.write('VERSION ""\n\nNS_ :\n\nBS_:\n\nBU_: ECU\n\n')
    for m in range(messages):
        f.write(f"BO_ {256 + m} Msg{m:03d}: 8 ECU\n")
        for s in range(4):
            f.write(f' SG_ Ch{4 * m + s:03d} : {16 * s}|16@1+ (0.1,0) [0|6553.5] "V" Vector__XXX\n')
        f.write("\n")
start = int(time.time() * 1e6) // 10_000 * 10_000
with open(f"{d}/run.log", "w") as f:
    for i in range(secs * 100):
        t = start + i * 10_000
        for m in range(messages):
            us = t + m * 100
            data = "".join(f"{((i * 7 + (4 * m + s) * 13) % 65536) & 0xFF:02X}{((i * 7 + (4 * m + s) * 13) % 65536) >> 8:02X}" for s in range(4))
            f.write(f"({us // 1_000_000}.{us % 1_000_000:06d}) can0 {256 + m:03X}#{data}\n")
PY
expected=$((CHANNELS * 100 * secs))
mkdir -p "$dir/profiles"
$bin profile from-dbc "$dir/bench-car.dbc" --name bench-car -o "$dir/profiles/bench-car.toml" >/dev/null

# Two historians, each with its own spool, client id and metrics port.
start_historian() { # name, store flags...
  local name=$1; shift
  local mport; mport=$(free_port)
  $bin --profiles "$dir/profiles" historian --broker "mqtt://127.0.0.1:$port" \
    --spool-dir "$dir/spool-$name" --metrics-addr "127.0.0.1:$mport" --client-id "bench-$name" \
    "$@" >"$dir/historian-$name.log" 2>&1 &
  pids+=("$!")
  eval "hist_${name}_pid=$! hist_${name}_port=$mport"
  wait_for 30 "garonne historian ($name)" "$dir/historian-$name.log" \
    sh -c "curl -fs http://127.0.0.1:$mport/metrics | grep -q '^garonne_historian_mqtt_connected 1'"
}
start_historian influx --store influx --influx-url "http://127.0.0.1:$influx_port" --influx-api v1 --db garonne
start_historian embedded --store embedded --store-path "$dir/history.sqlite"
spool_records() { curl -fs "http://127.0.0.1:$1/metrics" | awk '$1 == "garonne_historian_spool_records" {print $2}'; }

# Values stored: in InfluxDB the sum of the per-field counts of the car's (or every other
# sensor's) `reading` points, less the metadata fields; in the embedded store the rows of both
# reading tables.
count_influx() { # where clause
  curl -fsG "http://127.0.0.1:$influx_port/query" --data-urlencode db=garonne \
    --data-urlencode "q=SELECT count(*) FROM reading WHERE $1" |
    jq '[.results[0].series[0] // {columns: [], values: [[]]} | [.columns, .values[0]] | transpose[]
         | select(.[0] | test("^count_") and (test("^count_(lat|lon|alt|seq|kind)$") | not)) | .[1]] | add // 0'
}
count_embedded() { # sensor comparison, e.g. "= 'bench-car'"
  sqlite3 "$dir/history.sqlite" "SELECT (SELECT count(*) FROM reading_recent r JOIN sensor s ON r.sensor = s.id WHERE s.name $1)
    + (SELECT count(*) FROM reading r JOIN sensor s ON r.sensor = s.id WHERE s.name $1)" 2>/dev/null || echo 0
}

# run LABEL WHERE SQL_MATCH WANT COMMAND...: runs the load, waits until both spools are empty
# and the stores hold WANT values (or no more come for 30 s; WANT 0: the spools alone), then
# prints a row.
run() {
  local label=$1 where=$2 match=$3 want=$4; shift 4
  local t0=$EPOCHREALTIME b0; b0=$(broker_bytes)
  local c0; c0=$(cpu_ticks "$hist_influx_pid"); local e0; e0=$(cpu_ticks "$hist_embedded_pid")
  "$@" >"$dir/$label.out" 2>"$dir/$label.log" &
  local load=$!
  pids+=("$load")
  local load_ticks=0 publisher ticks
  while kill -0 "$load" 2>/dev/null; do
    publisher=$load
    if [ -f "$dir/$label.pid" ]; then publisher=$(cat "$dir/$label.pid"); fi
    ticks=$(cpu_ticks "$publisher")
    if [ "$ticks" -gt 0 ]; then load_ticks=$ticks; fi
    sleep 1
  done
  wait "$load" || { echo "$label failed:" >&2; tail -20 "$dir/$label.log" >&2; exit 1; }
  local load_secs; load_secs=$(whole_secs_since "$t0")
  local last=-1 same=0 in_influx in_embedded
  while :; do
    in_influx=$(count_influx "$where"); in_embedded=$(count_embedded "$match")
    if [ "$(spool_records "$hist_influx_port")" = 0 ] && [ "$(spool_records "$hist_embedded_port")" = 0 ]; then
      if [ "$want" -gt 0 ] && [ "$in_influx" -ge "$want" ] && [ "$in_embedded" -ge "$want" ]; then break; fi
      if [ "$((in_influx + in_embedded))" = "$last" ]; then same=$((same + 1)); else same=0; fi
      [ $same -lt 15 ] || break
    fi
    last=$((in_influx + in_embedded))
    sleep 2
  done
  local secs_all; secs_all=$(whole_secs_since "$t0")
  sleep 2; local bytes=$(( $(broker_bytes) - b0 ))
  local ci=$(( $(cpu_ticks "$hist_influx_pid") - c0 )) ce=$(( $(cpu_ticks "$hist_embedded_pid") - e0 ))
  # CPU: % of one core over the load's duration, and ms per 10,000 values stored.
  printf '| %s | %d s | %d | %d | %d | %.1f %% | %.1f | %.1f %% | %.1f | %.1f %% | %d | %d |\n' \
    "$label" "$load_secs" "${want:-0}" "$in_influx" "$in_embedded" \
    "$(echo "100 * $ci / $tck / $load_secs" | bc -l)" "$(echo "1000 * $ci / $tck / ($in_influx + 1) * 10000" | bc -l)" \
    "$(echo "100 * $ce / $tck / $load_secs" | bc -l)" "$(echo "1000 * $ce / $tck / ($in_embedded + 1) * 10000" | bc -l)" \
    "$(echo "100 * $load_ticks / $tck / $load_secs" | bc -l)" \
    "$(( $(kib VmHWM "$hist_influx_pid") / 1024 ))" "$(( $(kib VmHWM "$hist_embedded_pid") / 1024 ))"
  echo "$label: $secs_all s from the start to the last value stored; the broker received $bytes bytes ($((bytes / load_secs)) B/s, $(echo "$bytes / ($in_embedded + 1)" | bc -l | xargs printf '%.1f') B per value)" >&2
}

cat >"$dir/pi.toml" <<TOML
sensor_id = "bench-car"
broker = "mqtt://127.0.0.1:$port"
location = { lon = 1.4442, lat = 43.6047 }
queue_dir = "$dir/queue"
queue_max_bytes = 1073741824
[can]
log_file = "$dir/run.log"
dbc = "$dir/bench-car.dbc"
profile = "bench-car"
pack_max_values = $PACK_VALUES
TOML
# The agent, stopped (Ctrl-C) once its CAN source has ended (the log replayed, the last pack
# handed on) and its queue has stayed empty for a second.
agent() {
  $bin --profiles "$dir/profiles" pi --config "$dir/pi.toml" &
  local pid=$! empty=0
  echo $pid >"$dir/car.pid"
  while ! grep -q "CAN source ended" "$dir/car.log" 2>/dev/null; do sleep 1; done
  while [ $empty -lt 5 ]; do
    if find "$dir/queue" -name '*.senml' | grep -q .; then empty=0; else empty=$((empty + 1)); fi
    sleep 0.2
  done
  kill -INT $pid; wait $pid
}
DATA=${GARONNE_DATA_DIR:-../shared/data/toulouse}
echo "$CHANNELS channels at 100 Hz for $secs s ($((CHANNELS * 100)) values/s, packs of $PACK_VALUES values) through garonne pi, mosquitto, two historians; $(nproc) cores"
echo "| load | load time | values sent | in InfluxDB | in the embedded store | historian→InfluxDB CPU | ms CPU / 10k values | historian→embedded CPU | ms CPU / 10k values | publisher CPU | peak RSS InfluxDB historian (MiB) | peak RSS embedded historian (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
run car "sensor = 'bench-car'" "= 'bench-car'" "$expected" agent
run "weather x$BASELINE_RATE Hz" "sensor != 'bench-car'" "!= 'bench-car'" 0 \
  $bin simulate --broker "mqtt://127.0.0.1:$port" --data-dir "$DATA" --fleet weather --density 0 \
  --rate "$BASELINE_RATE" --qos 1 --duration "${secs}s" --client-id bench-weather
grep -h "published" "$dir"/weather*.out >&2 || true
