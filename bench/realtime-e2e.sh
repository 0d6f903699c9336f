#!/usr/bin/env bash
# End to end through mosquitto: how many readings a realtime consumer takes in while
# `garonne simulate` publishes flat out (10,077 sensors, QoS 1), whether it keeps up, how long its
# backlog takes to drain once the load stops, and its peak resident memory. Consumers, in turn,
# under the same load against the same broker:
#   bare     mosquitto_sub counting lines: what a subscriber that does nothing receives;
#   garonne  garonne realtime, counted by its garonne_realtime_messages_received_total;
#   python   bench/python_realtime.py, the course's paho-mqtt + shapely job, counted by its count file.
#
# With --backlog, each consumer instead subscribes (a persistent session), stops, lets the load
# pile up in the broker, then starts again: the time it takes to take the whole backlog gives its
# own ceiling, with no publisher competing for the two cores.
#
# Usage: bench/realtime-e2e.sh [--neighbourhoods FILE] [--id-property P --name-property P]
#                              [--rate R] [--backlog] [SECONDS]  (default 20 s of load per consumer)
#        CONSUMERS="bare python" bench/realtime-e2e.sh   (default: bare garonne python)
#        BASELINE_BIN=/path/to/older/garonne CONSUMERS="bare baseline garonne" bench/realtime-e2e.sh
#          (baseline: the same realtime from another build, for a before/after in one run)
# The default polygons are the 60 INSEE grands quartiers of the data folder (GARONNE_DATA_DIR,
# default ../shared/data/toulouse).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh
DRAIN_CAP=120 # seconds we wait for a consumer's backlog after the load stops
STALL=15      # seconds without progress after which the rest of the backlog is taken as lost
GRACE=2       # a consumer whose backlog is gone within this many seconds of the load kept up
CONSUMERS=${CONSUMERS:-bare garonne python}

polygons=$DATA/grands-quartiers-2015-population.geojson
id_property= name_property= rate=100 secs=20 backlog=0
while [ $# -gt 0 ]; do
  case $1 in
    --neighbourhoods) polygons=$2; shift 2 ;;
    --id-property) id_property=$2; shift 2 ;;
    --name-property) name_property=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --backlog) backlog=1; shift ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | cut -c3-; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) secs=$1; shift ;;
  esac
done
# The two Toulouse layers name their id and name differently (see the data folder's SOURCES.md).
case $(basename "$polygons") in
  grands-quartiers*) id_property=${id_property:-grd_quart} name_property=${name_property:-libelle_des_grands_quartiers} ;;
  *) id_property=${id_property:-quartier} name_property=${name_property:-nom_quartier} ;;
esac
[ -f "$polygons" ] || { echo "no neighbourhood polygons at $polygons: set GARONNE_DATA_DIR or pass --neighbourhoods FILE" >&2; exit 1; }
for name in $CONSUMERS; do
  case $name in
    bare|garonne|python) ;;
    baseline) [ -x "${BASELINE_BIN:-}" ] || { echo "consumer baseline needs BASELINE_BIN, an older garonne binary" >&2; exit 2; } ;;
    *) echo "unknown consumer $name in CONSUMERS (bare, baseline, garonne, python)" >&2; exit 2 ;;
  esac
done

for tool in mosquitto mosquitto_sub bc; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install mosquitto mosquitto-clients bc" >&2; exit 1; }
done
cargo build --release --quiet
case " $CONSUMERS " in *" garonne "*)
  command -v curl >/dev/null || { echo "curl is missing (it reads garonne's metrics): apt-get install curl" >&2; exit 1; }
  ./target/release/garonne realtime --help >/dev/null 2>&1 ||
    { echo "this garonne has no 'realtime' command yet: run with CONSUMERS=\"bare python\"" >&2; exit 1; } ;;
esac
case " $CONSUMERS " in *" python "*) python_venv 'paho.mqtt, shapely' paho-mqtt==2.1.0 shapely==2.1.2 ;; esac

dir=$(mktemp -d)
temp_dirs+=("$dir")
mport=$(free_port)
# A slow consumer gets a backlog in the broker rather than losses: the queue holds the whole run.
start_mosquitto "max_queued_messages 10000000"

# Each consumer: how to start it (setting cmd and its MQTT client id), how to tell it has
# subscribed, and how many messages it has processed so far.
start_bare() {
  client=bench-bare
  cmd=(mosquitto_sub -h 127.0.0.1 -p "$port" -q 1 -c -i $client -F . -t 'garonne/v1/sensors/+/reading')
  "${cmd[@]}" >>"$dir/bare.out" 2>"$dir/bare.log" &
}
ready_bare() { sleep 1; }
count_bare() { wc -l <"$dir/bare.out"; }

start_garonne() { start_realtime ./target/release/garonne bench-realtime garonne; }
start_baseline() { start_realtime "$BASELINE_BIN" bench-baseline baseline; }
ready_baseline() { wait_for 30 baseline "$dir/baseline.log" count_garonne; sleep 1; }
count_baseline() { count_garonne; }
start_realtime() { # binary, client id, log name
  client=$2
  cmd=("$1" realtime --broker "mqtt://127.0.0.1:$port" --neighbourhoods "$polygons"
       --id-property "$id_property" --name-property "$name_property" --window 15m --emit-every 5s
       --metrics-addr "127.0.0.1:$mport" --client-id $client --no-snapshot)
  "${cmd[@]}" >"$dir/$3.log" 2>&1 &
}
ready_garonne() { wait_for 30 garonne "$dir/garonne.log" count_garonne; sleep 1; }
count_garonne() {
  curl -fs "http://127.0.0.1:$mport/metrics" |
    awk '$1 ~ /^garonne_realtime_messages_received_total({.*})?$/ {n += $2} END {printf "%d\n", n}'
}

start_python() {
  client=bench-python
  cmd=("$venv/bin/python" -u bench/python_realtime.py 127.0.0.1 "$port" "$polygons"
       --id-property "$id_property" --name-property "$name_property"
       --count-file "$dir/python.count" --client-id $client --persistent)
  "${cmd[@]}" >"$dir/python.log" 2>&1 &
}
ready_python() { wait_for 30 python "$dir/python.log" grep -q '^connected' "$dir/python.log"; sleep 1; }
count_python() { cat "$dir/python.count" 2>/dev/null || echo 0; } # rewritten once a second

forget_session() { # client id: connecting once with a clean session wipes the persistent one
  mosquitto_sub -h 127.0.0.1 -p "$port" -i "$1" -t bench/none -E
}

run_backlog() { # consumer: prints its row of the backlog table
  local name=$1
  rm -f "$dir/$name.out" "$dir/$name.count"
  "start_$name"
  local pid=$!
  pids+=("$pid")
  "ready_$name"
  stop_pid "$pid"
  simulate_load
  local broker_kib; broker_kib=$(kib VmRSS "$broker")
  local t0=$EPOCHREALTIME
  "start_$name"
  pid=$!
  pids+=("$pid")
  commands+=("$name: ${cmd[*]}")
  local count=0 last=0 moved=$t0
  while [ "$count" -lt "$published" ] && [ "$(whole_secs_since "$t0")" -lt $DRAIN_CAP ] &&
        [ "$(whole_secs_since "$moved")" -lt $STALL ]; do
    sleep 0.1
    count=$("count_$name" 2>/dev/null) || count=$last
    count=${count:-0}
    if [ "$count" != "$last" ]; then last=$count moved=$EPOCHREALTIME; fi
  done
  local took; took=$(echo "${moved/,/.} - ${t0/,/.}" | bc -l)
  local peak_kib; peak_kib=$(kib VmHWM "$pid")
  local cpu_us=—
  if [ "$count" -gt 0 ]; then cpu_us=$(printf '%.1f' "$(echo "$(cpu_ticks "$pid") * 1000000 / $(getconf CLK_TCK) / $count" | bc -l)"); fi
  stop_pid "$pid"
  forget_session "$client"
  local done=yes
  [ "$count" -ge "$published" ] || done="no: $count of $published"
  printf '| %s | %d | %s | %.1f | %.0f | %s | %d | %d |\n' "$name" "$published" "$done" "$took" \
    "$(echo "$count / $took" | bc -l)" "$cpu_us" $((peak_kib / 1024)) $((broker_kib / 1024))
}

commands=() notes=()
run() { # consumer: prints its row of the table
  local name=$1
  "start_$name"
  local pid=$!
  pids+=("$pid")
  commands+=("$name: ${cmd[*]}")
  "ready_$name"

  local published load_secs
  simulate_load
  local load=$load_secs
  local t0=$EPOCHREALTIME at_end
  at_end=$("count_$name") || at_end=0
  local broker_kib; broker_kib=$(kib VmRSS "$broker")

  # The backlog: wait until every reading is processed, the cap is reached, or the count stops moving.
  local count=$at_end last=$at_end moved=$t0
  while [ "$count" -lt "$published" ] && [ "$(whole_secs_since "$t0")" -lt $DRAIN_CAP ] &&
        [ "$(whole_secs_since "$moved")" -lt $STALL ]; do
    sleep 0.2
    count=$("count_$name") || count=$last
    if [ "$count" != "$last" ]; then last=$count moved=$EPOCHREALTIME; fi
  done
  local took; took=$(echo "${moved/,/.} - ${t0/,/.}" | bc -l)
  local rate_after=—
  if [ "$count" -gt "$at_end" ]; then rate_after=$(printf '%.0f/s' "$(echo "($count - $at_end) / $took" | bc -l)"); fi
  local kept_up=no after
  if [ "$count" -ge "$published" ]; then
    after=$(printf 'drained in %.1f s' "$took")
    if [ "$(echo "$took < $GRACE" | bc)" = 1 ]; then kept_up=yes; fi
  elif [ "$(whole_secs_since "$moved")" -ge $STALL ]; then
    after=$(printf 'stopped at %d after %.0f s: %d lost' "$count" "$took" $((published - count)))
    notes+=("$name stopped short of the total. Its log, then what the broker said about $client:"
            "$(tail -5 "$dir/$name.log")" "$(grep -F "$client" "$dir/mosquitto.log" || true)")
  else
    after="did not drain in $DRAIN_CAP s: $count of $published"
  fi
  local peak_kib; peak_kib=$(kib VmHWM "$pid")
  local cpu_us=—
  if [ "$count" -gt 0 ]; then cpu_us=$(printf '%.1f' "$(echo "$(cpu_ticks "$pid") * 1000000 / $(getconf CLK_TCK) / $count" | bc -l)"); fi
  stop_pid "$pid"
  # Every consumer keeps a persistent session: the broker would go on queueing readings for it
  # during the next runs. Connecting once with a clean session under its id wipes it.
  forget_session "$client"
  if [ -s "$dir/$name.log" ]; then notes+=("$name said at exit: $(tail -1 "$dir/$name.log")"); fi

  printf '| %s | %d | %.0f | %d | %.0f | %s | %s | %s | %s | %d | %d |\n' "$name" "$published" \
    "$(echo "$published / $load" | bc -l)" "$at_end" "$(echo "$at_end / $load" | bc -l)" \
    "$kept_up" "$after" "$rate_after" "$cpu_us" $((peak_kib / 1024)) $((broker_kib / 1024))
}

echo "$SENSORS sensors at --rate $rate, QoS 1, $secs s of load per consumer, mosquitto $(mosquitto -h 2>&1 | head -1 | awk '{print $3}') on loopback"
echo "neighbourhoods: $polygons (id $id_property, name $name_property)"
echo
if [ $backlog = 1 ]; then
  echo "| consumer | backlog (readings) | took it all | seconds from start to last message | readings/s | consumer CPU per message (µs) | peak RSS (MiB) | broker RSS with the backlog (MiB) |"
  echo "|---|---|---|---|---|---|---|---|"
  for name in $CONSUMERS; do run_backlog "$name"; done
  echo
  echo "load: ${sim[*]}"
  printf '%s\n' "${commands[@]}"
  exit 0
fi
echo "| consumer | readings published | published/s | processed during the load | processed/s during the load | kept up | after the load | processed/s after the load | consumer CPU per message (µs) | peak RSS (MiB) | broker RSS at load end (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for name in $CONSUMERS; do run "$name"; done
echo
echo "load: ${sim[*]}"
printf '%s\n' "${commands[@]}"
echo
if grep -q 'dropped' "$dir/mosquitto.log"; then grep 'dropped' "$dir/mosquitto.log"; fi
printf '%s\n' "${notes[@]}"
