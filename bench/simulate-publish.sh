#!/usr/bin/env bash
# Publish rate of `garonne simulate` into mosquitto with 10,000 sensors, against a plain Python
# paho-mqtt publisher doing the same job in the same run, both counted by the broker itself
# ($SYS PUBLISH counter), with each publisher's peak resident memory.
#
# Usage: bench/simulate-publish.sh [SECONDS]          (default 20 s per publisher)
#        bench/simulate-publish.sh --soak [MINUTES]   (memory over a long run, default 10 min)
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
