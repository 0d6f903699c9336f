#!/usr/bin/env bash
# The weather fleet's load time and peak memory, two ways in the same run: the weather loaders
# (`weather-loaders`, the reference) and the weather description (`data/fleets/weather.toml`
# through the general fleet loader, what `garonne simulate` and `garonne up` use). Each way is
# run ROUNDS times (default 5), alternately, each time in a fresh process that loads the fleet
# RUNS times (default 20): the median of the processes' median load times and their peak
# resident memory (VmHWM) are printed, then the description's figures as ratios of the
# loaders'. First, the two ways are compared once (the same readings, or the differences).
#
# Usage: bench/weather-fleet-load.sh [DATA_DIR] [ROUNDS] [RUNS]
#   DATA_DIR defaults to ../shared/data/toulouse (the full data), else the test fixture.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-../shared/data/toulouse}
[ -d "$dir" ] || dir=testkit/fixtures/toulouse
rounds=${2:-5}
runs=${3:-20}

cargo build -q --release -p garonne-opendata --example fleet_load_time
bin=target/release/examples/fleet_load_time

echo "== the same readings both ways? ($dir)"
"$bin" "$dir" compare | tail -n 1

declare -A times mems
for round in $(seq "$rounds"); do
    for way in weather-loaders weather; do
        out=$("$bin" "$dir" "$way" "$runs" | tail -n 1)
        # "load time over N runs: median X ms, fastest Y ms; peak resident memory Z kB"
        median=$(sed -E 's/.*median ([0-9.]+) ms.*/\1/' <<<"$out")
        peak=$(sed -E 's/.*memory ([0-9]+) kB.*/\1/' <<<"$out")
        times[$way]+="$median "
        mems[$way]+="$peak "
        echo "round $round $way: median ${median} ms, peak ${peak} kB"
    done
done

median_of() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
old_t=$(median_of "${times[weather-loaders]}"); new_t=$(median_of "${times[weather]}")
old_m=$(median_of "${mems[weather-loaders]}"); new_m=$(median_of "${mems[weather]}")
echo "== $rounds rounds of $runs loads each, alternated"
echo "weather loaders:     load ${old_t} ms, peak ${old_m} kB (baseline)"
echo "weather description: load ${new_t} ms, peak ${new_m} kB"
awk -v a="$old_t" -v b="$new_t" -v c="$old_m" -v d="$new_m" \
    'BEGIN { printf "ratios (description / loaders): load time %.2fx, peak memory %.2fx\n", b / a, d / c }'
