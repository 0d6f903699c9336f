#!/usr/bin/env bash
# The historian's sustained rate, from a backlog: how fast each consumer takes a backlog of
# readings from mosquitto into its store, every one of them. For each consumer: a fresh broker;
# the consumer subscribes (a persistent session) and stops; `garonne simulate` publishes flat
# out at QoS 1 (10,077 sensors) into its queue; then the consumer starts alone, and is timed
# from its start to the last point its store confirmed. The store is then counted (InfluxQL,
# VictoriaMetrics' export, sqlite3) to check that it holds every reading. Consumers:
#   bare      mosquitto_sub -q 1 on the historian's topics: what mosquitto's own client takes;
#   spool     garonne historian with a store that accepts nothing (a closed port): MQTT → fsynced
#             spool → acknowledged, the ingest alone;
#   tmpfs     the same with the spool in memory (/dev/shm), where fdatasync costs nothing;
#   influx    garonne historian → InfluxDB 1.x (v1 API);
#   victoria  garonne historian → VictoriaMetrics (v2 API);
#   embedded  garonne historian → the embedded store (SQLite);
#   python    bench/python_historian.py → InfluxDB 1.x: paho-mqtt + the `influxdb` client, one
#             write per message (the course's way), stopped after PYTHON_CAP seconds.
# Per run: readings/s from the consumer's start to its last point; its CPU time and the store
# server's (influxd, victoria-metrics; the embedded store runs inside the historian) per message;
# peak resident memory. For the historian, from its /metrics: spool groups (one fdatasync each),
# store batches, and how busy the store was kept.
# The historian acknowledges a message only once its group is synced, so the broker's in-flight
# window (mosquitto's max_inflight_messages, 20 by default) may bound how many messages one
# fsync covers: the spool-only historian is also run from a backlog with each window of WINDOWS
# (default 20), and live (subscribed while the load runs) with each of LIVE_WINDOWS (default:
# 20 and --inflight). (mosquitto 2.0.11 does not hold the window for a backlog queued while
# the client was away: after each acknowledgement it sends up to a window more.)
# Then, unless --no-store-bench, the store-only rates: `cargo bench -p garonne-historian --bench
# stores` (batches of 5,000 points through the Store trait, no MQTT, no spool).
#
# Usage: bench/historian.sh [--inflight N] [--no-store-bench] [SECONDS]
#          SECONDS of load per run (default 20); --inflight: the broker's max_inflight_messages
#          for the backlog runs (default 1000; 0 is unlimited)
#        CONSUMERS="spool influx" WINDOWS="" LIVE_WINDOWS="20" bench/historian.sh 5
#        (default CONSUMERS: bare spool tmpfs influx victoria embedded python; the window runs
#        need spool among them)
#        BASELINE_BIN=/path/to/older/garonne CONSUMERS="baseline-spool spool" bench/historian.sh
#        (baseline-spool, baseline-embedded: the same runs with another build of garonne, for a
#        before/after in one run)
# Environment: GARONNE_DATA_DIR (default ../shared/data/toulouse), DRAIN_CAP (longest wait for
# one backlog, default 120 s), PYTHON_CAP (default 60 s), KEEP_LOGS (a directory to keep the
# consumers', stores' and broker's logs and the historian's final metrics in),
# GARONNE_BENCH_POINTS (points per store-only run, default 1,000,000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh
STATUSES=$((2 * (SENSORS + 1))) # simulate: online then offline, retained, per sensor and itself
DRAIN_CAP=${DRAIN_CAP:-120}     # seconds a consumer is given for its backlog
PYTHON_CAP=${PYTHON_CAP:-60}
STALL=15               # seconds without progress after which a consumer is taken as stuck
CONSUMERS=${CONSUMERS:-bare spool tmpfs influx victoria embedded python}
rate=100 secs=20 inflight=1000 store_bench=1

while [ $# -gt 0 ]; do
  case $1 in
    --inflight) inflight=$2; shift 2 ;;
    --no-store-bench) store_bench=0; shift ;;
    -h|--help) sed -n '2,39p' "${BASH_SOURCE[0]}" | cut -c3-; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) secs=$1; shift ;;
  esac
done
for name in $CONSUMERS; do
  case $name in bare|spool|tmpfs|influx|victoria|embedded|python) ;;
    baseline-spool|baseline-embedded)
      [ -x "${BASELINE_BIN:-}" ] || { echo "consumer $name needs BASELINE_BIN, an older garonne binary" >&2; exit 2; } ;;
    *) echo "unknown consumer $name in CONSUMERS (bare spool tmpfs influx victoria embedded python baseline-spool baseline-embedded)" >&2; exit 2 ;;
  esac
done
if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS"; KEEP_LOGS=$(cd "$KEEP_LOGS" && pwd); fi
WINDOWS=${WINDOWS-20}
LIVE_WINDOWS=${LIVE_WINDOWS-20 $inflight}
[ -d "$DATA" ] || { echo "no open data at $DATA: set GARONNE_DATA_DIR (see garonne data fetch)" >&2; exit 1; }
for tool in mosquitto mosquitto_sub curl jq bc sqlite3 influxd victoria-metrics; do
  command -v $tool >/dev/null ||
    { echo "$tool is missing: apt-get install mosquitto mosquitto-clients curl jq bc sqlite3 influxdb victoria-metrics" >&2; exit 1; }
done
cargo build --release --quiet
case " $CONSUMERS " in *" python "*) python_venv 'paho.mqtt, influxdb' paho-mqtt==2.1.0 influxdb==5.3.2 ;; esac

dir=$(mktemp -d)
shm=$(mktemp -d -p /dev/shm garonne-bench.XXXXXX) # the spool in memory (tmpfs)
temp_dirs+=("$dir" "$shm")
before_cleanup() {
  if [ -n "${KEEP_LOGS:-}" ]; then cp "$dir"/*.log "$dir"/*.metrics "$KEEP_LOGS/" 2>/dev/null || true; fi
}

# A fresh broker for each run: no retained statuses or sessions left by the one before.
# max_queued_messages: a consumer that is away gets a backlog, not losses.
start_broker() { # in-flight window
  start_mosquitto "max_queued_messages 10000000" "max_inflight_messages $1"
}

# The stores, started before their consumer and stopped after it, each in its own directory.
start_influxd() {
  local d=$dir/influxd; mkdir -p "$d"
  store_port=$(free_port)
  cat > "$d/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$(free_port)"
[meta]
  dir = "$d/meta"
[data]
  dir = "$d/data"
  wal-dir = "$d/wal"
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[http]
  bind-address = "127.0.0.1:$store_port"
CONF
  influxd -config "$d/influxdb.conf" >"$d/influxd.log" 2>&1 &
  store_pid=$!
  pids+=("$store_pid")
  wait_for 30 influxd "$d/influxd.log" curl -fs "http://127.0.0.1:$store_port/ping"
  curl -fs -XPOST "http://127.0.0.1:$store_port/query" --data-urlencode 'q=CREATE DATABASE garonne' >/dev/null
}
count_influxd() {
  curl -fsG "http://127.0.0.1:$store_port/query" --data-urlencode db=garonne \
    --data-urlencode 'q=SELECT count("seq") FROM "reading"' | jq '.results[0].series[0].values[0][1] // 0'
}
start_victoria_server() {
  local d=$dir/victoria; mkdir -p "$d"
  store_port=$(free_port)
  victoria-metrics -storageDataPath="$d/data" -httpListenAddr="127.0.0.1:$store_port" \
    -dedup.minScrapeInterval=1ms -retentionPeriod=100y >"$d/victoria.log" 2>&1 &
  store_pid=$!
  pids+=("$store_pid")
  wait_for 30 victoria-metrics "$d/victoria.log" curl -fs "http://127.0.0.1:$store_port/health"
}
count_victoria() { # the samples of reading_seq, one per reading (a point is a sample per field)
  curl -fs "http://127.0.0.1:$store_port/internal/force_flush" >/dev/null
  curl -fsG "http://127.0.0.1:$store_port/api/v1/export" --data-urlencode 'match[]=reading_seq' |
    jq -n '[inputs | .values | length] | add // 0'
}
count_embedded() { # readings: distinct (sensor, time) in both reading tables
  sqlite3 "$dir/history.sqlite" \
    'SELECT count(*) FROM (SELECT sensor, time_ns FROM reading_recent UNION SELECT sensor, time_ns FROM reading)'
}
stop_store() {
  if [ -n "${store_pid:-}" ]; then stop_pid "$store_pid"; fi
  store_pid=
  if [ -n "${KEEP_LOGS:-}" ]; then
    for f in "$dir"/influxd/influxd.log "$dir"/victoria/victoria.log; do
      if [ -f "$f" ]; then cp "$f" "$KEEP_LOGS/$name.$(basename "$f")"; fi
    done
  fi
  rm -rf "$dir/influxd" "$dir/victoria" "$dir/history.sqlite"*
}

# Each consumer: start it (setting cmd, client, and its pid in consumer), tell when it has
# subscribed, and say how far it has got: progress_NAME prints "DONE ACKED", DONE being what
# counts for the consumer (for the historian, points its store confirmed, or for the spool-only
# runs messages acknowledged; for mosquitto_sub, messages received; for Python, points
# written), ACKED the messages it has acknowledged to the broker (the historian; else DONE).
mport=$(free_port)
metrics() { curl -fs "http://127.0.0.1:$mport/metrics"; }
metric() { # name [file]: the sum of the samples of a metric
  { if [ -n "${2:-}" ]; then cat "$2"; else metrics; fi; } |
    awk -v m="$1" '$1 == m || index($1, m "{") == 1 {n += $2} END {printf "%d\n", n}'
}
start_historian() { # spool dir, store flags...
  client=bench-historian
  local spool=$1; shift
  cmd=("$historian_bin" historian --broker "mqtt://127.0.0.1:$port" --spool-dir "$spool"
       --metrics-addr "127.0.0.1:$mport" --client-id $client "$@")
  "${cmd[@]}" >>"$dir/$name.log" 2>&1 &
  consumer=$!
}
ready_historian() {
  wait_for 30 "garonne historian" "$dir/$name.log" sh -c "curl -fs http://127.0.0.1:$mport/metrics | grep -q '^garonne_historian_mqtt_connected 1'"
  sleep 1
}
progress_historian() { # points written (acknowledged for a spool-only run), acknowledged
  metrics | awk -v spool="$spool_only" '
    $1 == "garonne_historian_points_written_total" {w = $2}
    $1 == "garonne_historian_messages_acknowledged_total" {a = $2}
    END {printf "%d %d\n", spool ? a : w, a}'
}

start_bare() {
  client=bench-bare
  cmd=(mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -c -i $client -F . -t 'garonne/v1/sensors/+/reading'
       -t 'garonne/v1/sensors/+/senml' -t 'garonne/v1/sensors/+/status' -t 'garonne/v1/neighbourhoods/+/aggregate'
       -t 'garonne/v1/alerts/+/+')
  "${cmd[@]}" >>"$dir/bare.out" 2>>"$dir/bare.log" &
  consumer=$!
}
ready_bare() { sleep 1; }
progress_bare() { local n; n=$(wc -l <"$dir/bare.out"); echo "$n $n"; }

# Spool only: nothing listens on the store's port, so every record stays in the spool. The
# spool may take the whole backlog (its default bound, 1 GiB, is 40 s of this load). `tmpfs`
# puts the spool in memory, where fdatasync costs nothing: the difference is the syncs' cost.
start_spool() {
  printf 'spool_max_bytes = %d\n' $((64 << 30)) >"$dir/spool-only.toml"
  start_historian "$1" --config "$dir/spool-only.toml" --store influx --influx-url "http://127.0.0.1:$(free_port)" --influx-api v1 --db garonne
}
start_influx() { start_historian "$dir/spool" --store influx --influx-url "http://127.0.0.1:$store_port" --influx-api v1 --db garonne; }
start_victoria() { start_historian "$dir/spool" --store influx --influx-url "http://127.0.0.1:$store_port" --influx-api v2 --org garonne --bucket garonne; }
start_embedded() { start_historian "$dir/spool" --store embedded --store-path "$dir/history.sqlite"; }

start_python() {
  client=bench-python
  cmd=("$venv/bin/python" -u bench/python_historian.py 127.0.0.1 "$port" 127.0.0.1 "$store_port" garonne
       --count-file "$dir/python.count" --client-id $client --persistent)
  "${cmd[@]}" >>"$dir/python.log" 2>&1 &
  consumer=$!
}
ready_python() { wait_for 30 python "$dir/python.log" grep -q '^connected' "$dir/python.log"; sleep 1; }
progress_python() { local n; n=$(cat "$dir/python.count" 2>/dev/null || echo 0); echo "$n $n"; } # rewritten once a second

commands=() notes=() rows=() spool_rows=() live_rows=() python_rate=
# Sets up one run: a fresh broker with the given window, the consumer's store, and what the
# consumer is (kind, store, start and progress functions, spool directory).
setup() { # consumer, window
  name=$1 historian_bin=./target/release/garonne
  case $name in baseline-*) historian_bin=$BASELINE_BIN ;; esac
  kind=${1#baseline-} store=none start=start_${1#baseline-} ready=ready_$1 progress=progress_$1 spool_only= cap=$DRAIN_CAP
  case $name in
    influx|python) store=influxd ;;
    victoria) store=victoria ;;
    embedded|baseline-embedded) store=embedded ;;
  esac
  case $name in spool|tmpfs|influx|victoria|embedded|baseline-spool|baseline-embedded)
    kind=historian ready=ready_historian progress=progress_historian ;;
  esac
  case $name in
    spool|baseline-spool) start="start_spool $dir/spool" spool_only=1 ;;
    tmpfs) start="start_spool $shm/spool" spool_only=1 ;;
    python) cap=$PYTHON_CAP ;;
  esac
  rm -rf "$dir/spool" "$shm/spool" "$dir/$name.out" "$dir/$name.count" "$dir/$name.log"
  start_broker "$2"
  store_pid=
  case $store in influxd) start_influxd ;; victoria) start_victoria_server ;; esac
}

# Waits until the consumer's progress reaches target, stops moving for STALL seconds, or cap
# seconds pass since t0; sets count, acked, took (t0 to the last progress), ingest_took (t0 to
# the last acknowledgement) and ingest_count (progress when the last message was acknowledged).
follow() { # pid target t0
  local pid=$1 target=$2 t0=$3 last=-1 last_acked=-1
  local moved=$t0 acked_moved=$t0
  count=0 acked=0 ingest_count=
  while [ "$count" -lt "$target" ] && [ "$(whole_secs_since "$t0")" -lt "$cap" ] &&
        [ "$(whole_secs_since "$moved")" -lt $STALL ]; do
    sleep 0.1
    if ! kill -0 "$pid" 2>/dev/null; then notes+=("$name exited early: $(tail -3 "$dir/$name.log")"); break; fi
    read -r count acked < <($progress 2>/dev/null || echo "$count $acked")
    if [ "$count" != "$last" ]; then last=$count moved=$EPOCHREALTIME; fi
    if [ "$acked" != "$last_acked" ]; then last_acked=$acked acked_moved=$EPOCHREALTIME; fi
    if [ -z "$ingest_count" ] && [ "$acked" -ge "$target" ]; then ingest_count=$count; fi
  done
  took=$(echo "${moved/,/.} - ${t0/,/.}" | bc -l)
  ingest_took=$(echo "${acked_moved/,/.} - ${t0/,/.}" | bc -l)
  ingest_count=${ingest_count:-$count}
}

# One backlog run: subscribe, stop, load, then the consumer alone, timed.
run() { # consumer, window
  setup "$1" "$2"
  local window=$2
  $start
  pids+=("$consumer")
  "$ready"
  stop_pid "$consumer"
  simulate_load
  local target=$((published + STATUSES))
  [ "$name" = python ] && target=$published # it subscribes to readings only
  local broker_kib; broker_kib=$(kib VmRSS "$broker")

  local store_ticks0=0; [ -n "$store_pid" ] && store_ticks0=$(cpu_ticks "$store_pid")
  local t0=$EPOCHREALTIME
  $start
  local pid=$consumer
  pids+=("$pid")
  commands+=("$name (window $window): ${cmd[*]}")
  follow "$pid" "$target" "$t0"
  local ticks; ticks=$(cpu_ticks "$pid")
  local peak_kib; peak_kib=$(kib VmHWM "$pid")
  local store_ticks=0; [ -n "$store_pid" ] && store_ticks=$(( $(cpu_ticks "$store_pid") - store_ticks0 ))
  if [ $kind = historian ]; then metrics >"$dir/$name.metrics" 2>/dev/null || true; fi
  stop_pid "$pid"

  # What the store holds (the historian wrote statuses too: only readings are counted).
  local stored=—
  case $store in
    influxd) stored=$(count_influxd) ;;
    victoria) for _ in 1 2 3 4 5; do stored=$(count_victoria); [ "$stored" -ge "$published" ] 2>/dev/null && break; sleep 1; done ;;
    embedded) stored=$(count_embedded 2>/dev/null || echo "none (no file)") ;;
  esac
  if [ -n "$spool_only" ]; then stored="$(metric garonne_historian_spool_records "$dir/$name.metrics") in the spool"; fi
  stop_store
  stop_pid "$broker"

  # Readings per second: readings taken (for the historian, points confirmed less the statuses)
  # over the time from start to the last progress.
  local readings=$count
  [ "$target" != "$published" ] && readings=$((count * published / target))
  local per_sec; per_sec=$(echo "$readings / $took" | bc -l)
  [ "$name" = python ] && python_rate=$per_sec
  local all=yes
  [ "$count" -ge "$target" ] || all="no: $count of $target in $(printf '%.0f' "$took") s"
  local cpu_us=— store_us=—
  if [ "$count" -gt 0 ]; then
    cpu_us=$(printf '%.1f' "$(echo "$ticks * 1000000 / $(getconf CLK_TCK) / $count" | bc -l)")
    if [ "$store_ticks" -gt 0 ]; then
      store_us=$(printf '%.1f' "$(echo "$store_ticks * 1000000 / $(getconf CLK_TCK) / $count" | bc -l)")
    fi
  fi
  rows+=("$(printf '| %s | %s | %d | %s | %s | %.1f | %.0f | RATIO | %s | %s | %d | %d |' \
    "$name" "$window" "$published" "$all" "$stored" "$took" "$per_sec" "$cpu_us" "$store_us" \
    $((peak_kib / 1024)) $((broker_kib / 1024)))")
  if [ $kind = historian ]; then
    local after=—
    if [ -z "$spool_only" ] && [ "$(echo "$took - $ingest_took > 0.5" | bc)" = 1 ]; then
      after=$(printf '%.0f' "$(echo "($count - $ingest_count) / ($took - $ingest_took)" | bc -l)")
    fi
    spool_rows+=("$(spool_row "$name" "$window" "$dir/$name.metrics" "$ingest_took" "$after" "$took")")
  fi
  log_notes "$name (window $window)"
}

# One live run of the spool-only historian: subscribed while the load runs, as deployed.
run_live() { # window
  setup spool "$1"
  $start
  local pid=$consumer
  pids+=("$pid")
  commands+=("spool, live (window $1): ${cmd[*]}")
  "$ready"
  simulate_load
  local target=$((published + STATUSES)) at_end t0=$EPOCHREALTIME
  at_end=$(metric garonne_historian_messages_acknowledged_total)
  follow "$pid" "$target" "$t0"
  local ticks; ticks=$(cpu_ticks "$pid")
  metrics >"$dir/live.metrics" 2>/dev/null || true
  stop_pid "$pid"
  stop_pid "$broker"
  local after=—
  if [ "$count" -ge "$target" ]; then after=$(printf '%.1f' "$([ "$at_end" -ge "$target" ] && echo 0 || echo "$took")")
  else after="not in $(printf '%.0f' "$took") s: $count of $target"; fi
  local syncs sync_sum
  syncs=$(metric garonne_historian_spool_syncs_total "$dir/live.metrics")
  sync_sum=$(awk '$1 == "garonne_historian_spool_sync_seconds_sum" {print $2}' "$dir/live.metrics")
  live_rows+=("$(printf '| %s | %d | %.0f | %d | %d | %s | %s | %s | %s |' "$1" "$target" \
    "$(echo "$published / $load_secs" | bc -l)" "$at_end" $((target - at_end)) "$after" \
    "$(printf '%.1f' "$(echo "$count / ($syncs + 0.000001)" | bc -l)")" \
    "$(printf '%.2f' "$(echo "${sync_sum:-0} * 1000 / ($syncs + 0.000001)" | bc -l)")" \
    "$(printf '%.1f' "$(echo "$ticks * 1000000 / $(getconf CLK_TCK) / ($count + 1)" | bc -l)")")")
  log_notes "spool, live (window $1)"
}

log_notes() { # what: the consumer's errors and panics, counted
  local errors
  errors=$(sed -E 's/\x1b\[[0-9;]*m//g' "$dir/$name.log" 2>/dev/null | grep -E 'panicked| ERROR |write failed' |
    sed -E 's/^[0-9T:.-]+Z +//' | sort | uniq -c | sort -rn | head -3) || true
  if [ -n "$errors" ]; then notes+=("$1 logged: $errors"); fi
}

# From a historian's final /metrics: groups, their size, sync latency; batches, write latency.
quantile() { # metric file q: the upper bound of the bucket holding quantile q (ms)
  awk -v m="$1_bucket" -v q="$3" '
    index($1, m "{") == 1 { match($1, /le="[^"]+"/); le = substr($1, RSTART + 4, RLENGTH - 5); n++; les[n] = le; c[n] = $2 }
    END { total = c[n]; if (total == 0) { print "—"; exit }
          for (i = 1; i <= n; i++) if (c[i] >= q * total) { if (les[i] == "+Inf") print "> 5000"; else printf "≤ %g\n", les[i] * 1000; exit } }' "$2"
}
spool_row() { # name window metrics-file ingest-seconds points/s-after-the-ingest seconds-in-all
  local f=$3 m=garonne_historian
  local acked syncs sync_sum batches points write_sum
  acked=$(metric ${m}_messages_acknowledged_total "$f"); syncs=$(metric ${m}_spool_syncs_total "$f")
  sync_sum=$(awk -v k=${m}_spool_sync_seconds_sum '$1 == k {print $2}' "$f")
  batches=$(metric ${m}_batches_written_total "$f"); points=$(metric ${m}_points_written_total "$f")
  write_sum=$(awk -v k=${m}_store_write_seconds_sum '$1 == k {print $2}' "$f")
  local group=— sync_ms=— batch=— write_ms=— busy=—
  if [ "${syncs:-0}" -gt 0 ]; then
    group=$(printf '%.1f' "$(echo "$acked / $syncs" | bc -l)")
    sync_ms=$(printf '%.2f' "$(echo "${sync_sum:-0} * 1000 / $syncs" | bc -l)")
  fi
  if [ "${batches:-0}" -gt 0 ]; then
    batch=$(printf '%.0f' "$(echo "$points / $batches" | bc -l)")
    write_ms=$(printf '%.1f' "$(echo "${write_sum:-0} * 1000 / $batches" | bc -l)")
    busy=$(printf '%.0f' "$(echo "${write_sum:-0} * 100 / $6" | bc -l)")
  fi
  printf '| %s | %s | %d | %.1f | %d | %s | %s | %s | %s | %s | %d | %s | %s | %s | %s |' "$1" "$2" "$acked" "$4" "$syncs" "$group" \
    "$sync_ms" "$(quantile ${m}_spool_sync_seconds "$f" 0.5)" "$(quantile ${m}_spool_sync_seconds "$f" 0.99)" \
    "$5" "$batches" "$batch" "$write_ms" "$(quantile ${m}_store_write_seconds "$f" 0.99)" "$busy"
}

echo "$SENSORS sensors flat out (--rate $rate), QoS 1, $secs s of load per consumer, mosquitto $(mosquitto -h 2>&1 | head -1 | awk '{print $3}') on loopback;"
echo "$(influxd version 2>/dev/null | awk '{print "InfluxDB", $2}'), VictoriaMetrics $(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null || echo '?'), sqlite3 $(sqlite3 --version | awk '{print $1}'), $(nproc) cores; spool and stores in $(df --output=source "$dir" | tail -1)"
echo
for name in $CONSUMERS; do run "$name" "$inflight"; done
case " $CONSUMERS " in *" spool "*)
  for window in $WINDOWS; do [ "$window" = "$inflight" ] || run spool "$window"; done
  for window in $LIVE_WINDOWS; do run_live "$window"; done ;;
esac

echo "Backlog: each consumer alone, from its start until its store confirmed the last point."
echo
echo "| consumer | broker window | backlog (readings) | took it all | readings in the store | seconds from start to last point | readings/s | vs Python | consumer CPU per message (µs) | store CPU per message (µs) | peak RSS (MiB) | broker RSS with the backlog (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
  ratio=—
  if [ -n "$python_rate" ] && [[ $row =~ ^\|\ (influx|victoria|embedded|python)\  ]]; then
    r=$(echo "$row" | awk -F' \\| ' '{print $7}')
    ratio=$(printf '%.1f×' "$(echo "$r / $python_rate" | bc -l)")
  fi
  echo "${row/RATIO/$ratio}"
done
echo
if [ ${#spool_rows[@]} -gt 0 ]; then
  echo "The same historian runs from their /metrics: the spool's groups (one fdatasync each) and the store's batches."
  echo
  echo "| historian run | broker window | messages acknowledged | seconds to the last acknowledgement | spool syncs | messages per sync | sync mean (ms) | sync p50 (ms) | sync p99 (ms) | points/s once all was acknowledged (drain alone) | store batches | points per batch | write mean (ms) | write p99 (ms) | store busy (% of the run) |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${spool_rows[@]}"
  echo
fi
if [ ${#live_rows[@]} -gt 0 ]; then
  echo "Live: the spool-only historian subscribed while the simulator publishes flat out (as deployed), by broker in-flight window."
  echo
  echo "| broker window | messages published | published/s | acknowledged at load end | behind at load end | seconds to catch up | messages per sync | sync mean (ms) | historian CPU per message (µs) |"
  echo "|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${live_rows[@]}"
  echo
fi
echo "load: ${sim[*]}"
printf '%s\n' "${commands[@]}"
if [ ${#notes[@]} -gt 0 ]; then echo; printf '%s\n' "${notes[@]}"; fi

if [ $store_bench = 1 ]; then
  echo
  echo "Store only: cargo bench -p garonne-historian --bench stores"
  echo
  cargo bench -p garonne-historian --bench stores --quiet 2>/dev/null ||
    echo "the store-only bench failed: run it alone to see why"
fi
