# Shell helpers every bench script sources (`. bench/lib.sh` once in the repository's root):
# free ports, the processes a script starts and their cleanup on exit, their CPU time and memory
# from /proc, and waits with a timeout.
#
# Sourcing it sets the EXIT trap (and INT/TERM exit with 130): a script appends the pid of each
# process it starts to `pids`, and each temporary folder it makes to `temp_dirs`; on exit, every
# process still running is stopped (TERM, then KILL after 10 s), the script's `before_cleanup`
# function runs if it defines one (to keep logs, say), and the folders are removed.
# shellcheck shell=bash

pids=()      # processes started by the script, stopped on exit
temp_dirs=() # folders made by the script, removed on exit

# The open data the benches read: GARONNE_DATA_DIR, or the full data beside the repository (as
# `garonne data fetch` leaves it; the committed test fixture is too small for a load). The load
# the publishing benches put on the broker: 20 quartiers × DENSITY + 77 stations = SENSORS.
DATA=${GARONNE_DATA_DIR:-../shared/data/toulouse}
DENSITY=500
SENSORS=10077

# The Python the baselines run in (bench/python_*.py): a virtual environment of its own.
venv=target/bench-venv

# python_venv IMPORTS PACKAGE...: makes $venv, and pip-installs PACKAGE... in it, unless
# `import IMPORTS` already works there.
python_venv() {
  local imports=$1; shift
  if ! "$venv/bin/python" -c "import $imports" 2>/dev/null; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "$@"
  fi
}

# A free TCP port on 127.0.0.1 (bound, then released for a server to take).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# stop_pids PID...: TERM each, then KILL those still running 10 s later; waits for them.
stop_pids() {
  [ $# -gt 0 ] || return 0
  local pid alive
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in "$@"; do if kill -0 "$pid" 2>/dev/null; then alive=1; fi; done
    [ $alive = 1 ] || break
    sleep 0.2
  done
  for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# stop_pid PID: one process, as stop_pids.
stop_pid() { stop_pids "$1"; }

cleanup() {
  stop_pids "${pids[@]}"
  wait 2>/dev/null || true
  if declare -F before_cleanup >/dev/null; then before_cleanup || true; fi
  if [ ${#temp_dirs[@]} -gt 0 ]; then rm -rf "${temp_dirs[@]}"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# cpu_ticks PID...: user + system time of the processes so far, in clock ticks (getconf CLK_TCK
# per second); a process that is gone counts 0.
cpu_ticks() {
  local total=0 pid ticks
  for pid in "$@"; do
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || ticks=0
    total=$((total + ${ticks:-0}))
  done
  echo $total
}

# kib FIELD PID: a memory figure of /proc/PID/status in KiB (VmRSS, VmHWM...); 0 when gone.
kib() {
  local value
  value=$(awk -v k="$1:" '$1 == k {print $2}' "/proc/$2/status" 2>/dev/null) || value=0
  echo "${value:-0}"
}

# rss_kib PID...: the resident memory of the processes, summed, in KiB.
rss_kib() {
  local total=0 pid
  for pid in "$@"; do total=$((total + $(kib VmRSS "$pid"))); done
  echo $total
}

# whole_secs_since T: whole seconds since T, an earlier $EPOCHREALTIME.
whole_secs_since() { echo "(${EPOCHREALTIME/,/.} - ${1/,/.}) / 1" | bc; }

# wait_for SECONDS WHAT LOG COMMAND...: runs COMMAND every 0.2 s until it succeeds; after SECONDS,
# says what it waited for, with the end of LOG (a file, or "" for none), and exits.
wait_for() {
  local secs=$1 what=$2 log=$3; shift 3
  for _ in $(seq $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timed out after $secs s waiting for $what${log:+; the end of $log:}" >&2
  if [ -n "$log" ]; then tail -20 "$log" >&2; fi
  exit 1
}

# start_mosquitto [CONF_LINE...]: a mosquitto on a free port of 127.0.0.1 (sets port, and broker
# to its pid), anonymous, with the extra configuration lines; its mosquitto.conf and
# mosquitto.log in $dir. Returns once it accepts subscriptions.
start_mosquitto() {
  port=$(free_port)
  { echo "listener $port 127.0.0.1"; echo "allow_anonymous true"; printf '%s\n' "$@"; } >"$dir/mosquitto.conf"
  mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
  broker=$!
  pids+=("$broker")
  wait_for 10 mosquitto "$dir/mosquitto.log" mosquitto_sub -h 127.0.0.1 -p "$port" -t bench/none -E
}

# simulate_load: `garonne simulate` flat out (DENSITY, --rate $rate, QoS 1) on the broker at $port
# for $secs; sets sim (its command line), published (the readings, every one acknowledged by the
# broker; its statuses are on other topics) and load_secs (how long it took).
simulate_load() {
  sim=(./target/release/garonne simulate --broker "mqtt://127.0.0.1:$port" --data-dir "$DATA"
       --density $DENSITY --rate "$rate" --qos 1 --duration "${secs}s" --client-id bench-simulate)
  "${sim[@]}" >"$dir/sim.out" 2>"$dir/sim.log" & # in the background, so a signal stops us at once
  pids+=("$!")
  wait $! || { echo "garonne simulate failed:" >&2; cat "$dir/sim.log" >&2; exit 1; }
  # "published 1335844 messages from 10077 sensors in 20.0 s (66792 msg/s)"
  read -r published load_secs < <(awk '/^published/ {for (i = 1; i < NF; i++) if ($i == "in") print $2, $(i + 1)}' "$dir/sim.out") ||
    { echo "no summary from garonne simulate:" >&2; cat "$dir/sim.out" "$dir/sim.log" >&2; exit 1; }
}
