#!/usr/bin/env bash
# The telemetry page under load (issue 16): a car of CHANNELS channels at 100 Hz (default 200:
# 20,000 values a second) published to mosquitto, `garonne serve` following it, and 50 viewers
# of /api/telemetry/stream at 10 Hz (or --rate), each with its own 10 channels — against a 1-viewer baseline
# and the server with no viewer, in the same run. Reports the server's CPU and memory, events
# per second, and publish-to-screen latency p50/p99 (bench/telemetry_viewers.py).
#
# The car's channels are a profile published live (as `garonne profile publish` does), so the
# packs validate like a DBC-made profile's.
#
# Usage: bench/telemetry-viewers.sh [--viewers N] [--channels N] [--rate raw|50|10|1] [SECONDS]
#        (defaults: 50 viewers, 200 channels, 10 Hz, 10 s per phase)
# Needs: mosquitto (and mosquitto_pub), python3, curl. GARONNE_BIN to use another binary than
# the release build it makes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh
viewers=50 channels=200 rate=10 secs=10
while [ $# -gt 0 ]; do
  case $1 in
    --viewers) viewers=$2; shift 2 ;;
    --channels) channels=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | cut -c3-; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) secs=$1; shift ;;
  esac
done
PATH=$PATH:/usr/sbin
for tool in mosquitto mosquitto_pub python3 curl; do
  command -v $tool >/dev/null || { echo "$tool is missing: apt-get install mosquitto mosquitto-clients python3 curl" >&2; exit 1; }
done
if [ -z "${GARONNE_BIN:-}" ]; then
  cargo build --release --quiet --bin garonne
  GARONNE_BIN=$PWD/target/release/garonne
fi

dir=$(mktemp -d)
temp_dirs+=("$dir")
start_mosquitto "persistence false" "max_inflight_messages 0" "max_queued_messages 100000"
http=$(free_port)
base=http://127.0.0.1:$http
printf '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"1","label":"one"},"geometry":{"type":"Polygon","coordinates":[[[1,43],[2,43],[2,44],[1,44],[1,43]]]}}]}' >"$dir/one.geojson"
"$GARONNE_BIN" serve --broker "mqtt://127.0.0.1:$port" --http "127.0.0.1:$http" \
  --neighbourhoods "$dir/one.geojson" --id-property code --name-property label \
  --store embedded --store-path "$dir/history.sqlite" >"$dir/serve.log" 2>&1 & serve=$!; pids+=($serve)
wait_for 30 "garonne serve" "$dir/serve.log" curl -fs "$base/readyz"

# The car's profile: CHANNELS quantities benchCh000..., no unit, 0 to 100.
profile=bench-car
{
  printf 'name = "%s"\nversion = 1\ntitle = { en = "Bench car", fr = "Voiture de banc" }\n' $profile
  for i in $(seq 0 $((channels - 1))); do
    printf '\n[[quantity]]\nname = "benchCh%03d"\nunit = "1"\nlabel = { en = "Channel %d", fr = "Voie %d" }\nmin = 0\nmax = 100\ntime = "mean"\nspace = "mean"\n' "$i" "$i" "$i"
  done
} >"$dir/profile.toml"
mosquitto_pub -h 127.0.0.1 -p "$port" -r -q 1 -t "garonne/v1/profiles/$profile" -f "$dir/profile.toml"
wait_for 10 "the profile at the server" "$dir/serve.log" curl -fs "$base/api/profiles/$profile"

echo "telemetry: $channels channels at 100 Hz, $viewers viewers at rate $rate (10 channels each), $secs s per phase"
python3 bench/telemetry_viewers.py "$base" "$port" "$serve" garonne "$channels" "$viewers" "$secs" "$rate"
curl -fs "$base/metrics" | grep -E '^garonne_server_telemetry_(batches_total|events_sent_total|batches_skipped_total|late_samples_total)' || true
