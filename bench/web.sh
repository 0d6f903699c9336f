#!/usr/bin/env bash
# The web server on this machine, with its pipeline running beside it: mosquitto, the simulated
# fleet (`garonne simulate --density 2`: the 20 quartiers, 117 sensors at 1 Hz), realtime,
# the historian (embedded store) and `garonne serve`, all release builds.
#   api    wrk on GET /api/neighbourhoods (20 quartiers with their live aggregates), plain and
#          gzipped; the baseline is nginx serving the very same bytes as a static file.
#   sse    CLIENTS clients (default 1000) on /events for SECONDS: events delivered and dropped,
#          the server's resident memory without them and with them.
#   page   page weight as a browser gets it (gzipped), and the time to a full map in headless
#          chromium (median of 10 fresh contexts); the baseline is the validator page.
#
# Usage: bench/web.sh [--clients N] [SECONDS]   (default 1000 clients, 10 s per measurement)
# Needs: mosquitto, nginx, wrk, curl, python3, node + npm, chromium; the Toulouse open data in
# GARONNE_DATA_DIR (default ../shared/data/toulouse).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh
POLYGONS=$DATA/quartiers-de-democratie-locale.geojson
clients=1000 secs=10
while [ $# -gt 0 ]; do
  case $1 in
    --clients) clients=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | cut -c3-; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) secs=$1; shift ;;
  esac
done
for tool in mosquitto nginx wrk curl python3 node npm; do
  command -v $tool >/dev/null || [ -x /usr/sbin/$tool ] ||
    { echo "$tool is missing: apt-get install mosquitto nginx wrk curl python3 nodejs npm" >&2; exit 1; }
done
[ -f "$POLYGONS" ] || { echo "no polygons at $POLYGONS: set GARONNE_DATA_DIR" >&2; exit 1; }
PATH=$PATH:/usr/sbin

cargo build --release --quiet --bin garonne
(cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build >/dev/null)
bin=$PWD/target/release/garonne

work=$(mktemp -d)
chmod 755 "$work" # nginx workers (not root) read the baseline document here
temp_dirs+=("$work")

mqtt=$(free_port) http=$(free_port) static=$(free_port)
broker=mqtt://127.0.0.1:$mqtt
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\n' "$mqtt" >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 & pids+=($!)
sleep 0.5
"$bin" serve --broker "$broker" --http "127.0.0.1:$http" --neighbourhoods "$POLYGONS" \
  --store embedded --store-path "$work/history.sqlite" --static-dir frontend/dist \
  --grafana-url http://127.0.0.1:3000 >"$work/serve.log" 2>&1 & serve=$!; pids+=($serve)
"$bin" realtime --broker "$broker" --neighbourhoods "$POLYGONS" --window 60s --emit-every 1s \
  --no-snapshot --metrics-addr 127.0.0.1:0 >"$work/realtime.log" 2>&1 & pids+=($!)
"$bin" historian --broker "$broker" --data-dir "$work" --store embedded \
  --store-path "$work/history.sqlite" --metrics-addr 127.0.0.1:0 >"$work/historian.log" 2>&1 & pids+=($!)
"$bin" simulate --broker "$broker" --data-dir "$DATA" --density 2 >"$work/simulate.log" 2>&1 & pids+=($!)
base=http://127.0.0.1:$http
wait_for 60 "garonne serve" "$work/serve.log" curl -fs "$base/readyz"
every_neighbourhood_live() {
  [ "$(curl -fs "$base/api/neighbourhoods" | python3 -c 'import json,sys; print(all(f["properties"]["aggregate"] for f in json.load(sys.stdin)["features"]))')" = True ]
}
wait_for 60 "an aggregate for every neighbourhood" "$work/realtime.log" every_neighbourhood_live
sleep 2

echo "# Garonne web server: $(date -u +%FT%TZ), $(nproc) cores, ${secs}s per measurement"
echo

# --- api ----------------------------------------------------------------------------------------
# The baseline: nginx serving a snapshot of the same document, gzipped ahead of time (gzip_static),
# with two workers like the server's two threads.
mkdir -p "$work/www/api"
curl -fs "$base/api/neighbourhoods" -o "$work/www/api/neighbourhoods"
gzip -9 -k "$work/www/api/neighbourhoods"
cat >"$work/nginx.conf" <<EOF
worker_processes 2;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/geo+json;
  server {
    listen 127.0.0.1:$static;
    root $work/www;
    gzip_static on;
  }
}
EOF
nginx -c "$work/nginx.conf" -p "$work" -g 'daemon off;' & pids+=($!)
wait_for 60 nginx "$work/nginx-error.log" curl -fs "http://127.0.0.1:$static/api/neighbourhoods"

load() { # name url [header]
  local out
  if [ $# -eq 3 ]; then
    out=$(wrk -t2 -c64 -d"${secs}s" --latency -H "$3" "$2")
  else
    out=$(wrk -t2 -c64 -d"${secs}s" --latency "$2")
  fi
  local rps p99 p50
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  printf '| %s | %.0f | %s | %s |\n' "$1" "$rps" "$p50" "$p99"
  echo "$rps" >"$work/rps-$1"
}
plain_bytes=$(stat -c %s "$work/www/api/neighbourhoods")
gzip_bytes=$(curl -fs -H 'Accept-Encoding: gzip' "$base/api/neighbourhoods" | wc -c)
echo "## GET /api/neighbourhoods: wrk -t2 -c64 -d${secs}s --latency"
echo
echo "document: $plain_bytes bytes, $gzip_bytes gzipped by the server"
echo
echo "| target | requests/s | p50 | p99 |"
echo "|---|---|---|---|"
load garonne-gzip "$base/api/neighbourhoods" "Accept-Encoding: gzip"
load nginx-gzip "http://127.0.0.1:$static/api/neighbourhoods" "Accept-Encoding: gzip"
load garonne-plain "$base/api/neighbourhoods"
load nginx-plain "http://127.0.0.1:$static/api/neighbourhoods"
echo
ratio() { python3 -c "print(f'{float(open(\"$work/rps-$1\").read()) / float(open(\"$work/rps-$2\").read()):.2f}')"; }
echo "garonne / nginx: gzipped $(ratio garonne-gzip nginx-gzip)×, plain $(ratio garonne-plain nginx-plain)×"
echo

# --- sse ----------------------------------------------------------------------------------------
echo "## /events: $clients clients (all kinds) for ${secs}s"
echo
before=$(rss_kib "$serve")
sent_before=$(curl -fs "$base/metrics" | awk '$1 == "garonne_server_events_sent_total" {print $2}')
dropped_before=$(curl -fs "$base/metrics" | awk '$1 == "garonne_server_events_dropped_total" {print $2}')
coproc SSE { python3 bench/sse_clients.py "$base/events?kinds=aggregate,status,alert,reading,rolling" "$clients" "$secs"; }
read -r result <&"${SSE[0]}"
with=$(rss_kib "$serve")
metrics=$(curl -fs "$base/metrics")
echo >&"${SSE[1]}"
wait "$SSE_PID" || true
sent=$(awk '$1 == "garonne_server_events_sent_total" {print $2}' <<<"$metrics")
dropped=$(awk '$1 == "garonne_server_events_dropped_total" {print $2}' <<<"$metrics")
connected=$(awk '$1 == "garonne_server_event_clients" {print $2}' <<<"$metrics")
echo "clients: $result"
echo "server: $connected clients connected, $((sent - sent_before)) events sent, $((dropped - dropped_before)) dropped"
echo "server RSS: $((before / 1024)) MiB without clients, $((with / 1024)) MiB with them: $(((with - before) / clients)) KiB per client"
echo

# --- page ---------------------------------------------------------------------------------------
echo "## Pages"
echo
weight() { # the bytes a browser downloads, gzipped, for each path given
  local total=0 n
  for path in "$@"; do
    n=$(curl -fs -H 'Accept-Encoding: gzip' "$base$path" | wc -c)
    total=$((total + n))
  done
  echo $((total / 1024))
}
echo "map page: code $(weight / /static/app.js /static/app.css) KiB gzipped (HTML, JS, CSS), data $(weight /api/neighbourhoods /api/sensors /api/alerts) KiB gzipped (neighbourhoods, sensors, alerts)"
echo "validator page: $(weight /validate /static/validate.js /static/validate.css) KiB gzipped"
echo
(cd frontend && node bench/first-render.mjs "$base" / 10 && node bench/first-render.mjs "$base" /validate 10)
