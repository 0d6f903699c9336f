#!/usr/bin/env bash
# Publish rate of `garonne simulate` into mosquitto with 10,000 sensors, against a plain Python
# paho-mqtt publisher doing the same job in the same run, both counted by the broker itself
# ($SYS PUBLISH counter), with each publisher's peak resident memory.
#
# Usage: bench/simulate-publish.sh [SECONDS]          (default 20 s per publisher)
#        bench/simulate-publish.sh --soak [MINUTES]   (memory over a long run, default 10 min)
#        bench/simulate-publish.sh --fleets [SECONDS] (the open-data fleets, alone and together)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

command -v mosquitto >/dev/null || { echo "mosquitto is missing: apt-get install mosquitto mosquitto-clients" >&2; exit 1; }
cargo build --release --quiet
python_venv paho.mqtt paho-mqtt==2.1.0

dir=$(mktemp -d)
temp_dirs+=("$dir")
start_mosquitto "sys_interval 1" "max_queued_messages 1000000"

received() { # PUBLISH packets the broker has received so far
  mosquitto_sub -h 127.0.0.1 -p "$port" -t '$SYS/broker/publish/messages/received' -C 1 -W 5
}
settle() { sleep 2.5; } # $SYS is refreshed every second

if [ "${1:-}" = "--soak" ]; then
  minutes=${2:-10}
  echo "soak: $SENSORS sensors at 1 Hz each for $minutes min, resident memory every 30 s (MiB)"
  ./target/release/garonne simulate --broker "mqtt://127.0.0.1:$port" --data-dir "$DATA" \
    --density $DENSITY --rate 1 --qos 1 --duration "${minutes}m" --client-id soak >"$dir/soak.out" 2>/dev/null &
  pid=$!
  pids+=("$pid")
  while kill -0 $pid 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || true)
    [ -n "$rss" ] && echo "$(date -u +%H:%M:%S) $((rss / 1024))"
    sleep 30
  done
  cat "$dir/soak.out"
  exit 0
fi

if [ "${1:-}" = "--fleets" ]; then
  # The open-data fleets (issue 15) with no virtual sensors (--density 0): their own stations
  # only, each asked for 100 readings a second, QoS 1. Baseline in the same run: the weather
  # fleet alone. The status messages (online + offline per sensor, and the simulator's own)
  # are taken off the broker's count, with the sensor count the simulator prints.
  secs=${2:-20}
  echo "open-data fleets from $DATA, 100 Hz per sensor, QoS 1, $secs s each"
  echo "| fleets | sensors | readings the broker received | readings/s | vs weather alone | peak RSS (MiB) |"
  echo "|---|---|---|---|---|---|"
  base_rate=
  for fleets in weather bikes river weather,bikes,river; do
    settle; before=$(received)
    /usr/bin/time -f '%M' -o "$dir/rss" ./target/release/garonne simulate \
      --broker "mqtt://127.0.0.1:$port" --data-dir "$DATA" --fleet "$fleets" --density 0 \
      --rate 100 --qos 1 --duration "${secs}s" --client-id "bench-$fleets" >"$dir/out" 2>"$dir/err"
    settle; after=$(received)
    sensors=$(sed -n 's/.* from \([0-9]*\) sensors.*/\1/p' "$dir/out")
    count=$(( after - before - 2 * (sensors + 1) ))
    rate=$(echo "$count / $secs" | bc -l)
    [ -n "$base_rate" ] || base_rate=$rate
    printf '| %s | %d | %d | %.0f | %.2f | %d |\n' "$fleets" "$sensors" "$count" "$rate" \
      "$(echo "$rate / $base_rate" | bc -l)" "$(( $(cat "$dir/rss") / 1024 ))"
  done
  exit 0
fi

secs=${1:-20}
run() { # label, command...: prints "label | broker-counted messages | msg/s | peak RSS MiB"
  local label=$1; shift
  settle; local before; before=$(received)
  /usr/bin/time -f '%M' -o "$dir/rss" "$@" >"$dir/out" 2>"$dir/err"
  settle; local after; after=$(received)
  local extra=${STATUS_MESSAGES:-0}
  local count=$(( after - before - extra ))
  printf '| %s | %d | %.0f | %d |\n' "$label" "$count" "$(echo "$count / $secs" | bc -l)" "$(( $(cat "$dir/rss") / 1024 ))"
}
echo "$SENSORS sensors, $secs s per publisher, mosquitto $(mosquitto -h 2>&1 | head -1 | awk '{print $3}') on loopback"
echo "| publisher | messages the broker received | messages/s | peak RSS (MiB) |"
echo "|---|---|---|---|"
# garonne also publishes an online and an offline status per sensor (and its own): not counted.
STATUS_MESSAGES=$(( 2 * (SENSORS + 1) ))
for qos in 0 1; do
  run "garonne simulate, QoS $qos" ./target/release/garonne simulate --broker "mqtt://127.0.0.1:$port" \
    --data-dir "$DATA" --density $DENSITY --rate 100 --qos $qos --duration "${secs}s" --client-id "bench-q$qos"
done
STATUS_MESSAGES=0
for qos in 0 1; do
  run "Python paho-mqtt loop, QoS $qos" "$venv/bin/python" bench/paho_publisher.py "$port" $SENSORS "$secs" $qos
done
