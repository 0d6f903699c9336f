#!/usr/bin/env bash
# Cross-builds `garonne` for a 64-bit Raspberry Pi (aarch64-unknown-linux-gnu: Raspberry Pi OS
# 64-bit) on a Debian 12 x86_64 machine, then runs the aarch64 binary under qemu-aarch64 (user
# mode):
#
#   phase 1: `garonne payload validate` on a valid example (exit 0) and an invalid one (exit 1);
#   phase 2: `garonne pi --fake-hardware` against a local mosquitto, checking that its readings
#            arrive on garonne/v1/sensors/<id>/reading and pass the x86 validator.
#            Skipped (exit 0, said so) while the binary has no `pi` subcommand, unless
#            --require-pi is given.
#
# Usage: scripts/cross-pi.sh [--require-pi] [--no-run] [--profile NAME]
#   --require-pi    fail, instead of skipping phase 2, when `garonne pi` is missing
#   --no-run        build only (no qemu runs)
#   --profile NAME  the cargo profile of the aarch64 build (default: release, the binary for a
#                   Pi); CI gives `pi-check`, which optimises less: it checks that the binary
#                   builds and runs, not its speed
#
# GARONNE_HOST_BIN: an x86_64 garonne to check the readings with (CI keeps the one its tests
# built); without it, the dev build of target/debug/garonne is made.
#
# The toolchain is Debian's, not rustup's: rustup cannot add a target without its download
# server, and an aarch64 std must come from the very compiler that uses it. Debian 12 ships
# rustc-web (a recent Rust) with its std for every architecture, so with dpkg multiarch:
#   rustc-web + cargo-web (x86_64 compiler, /usr/bin/rustc, /usr/bin/cargo),
#   libstd-rust-web-dev:arm64 (its aarch64 std, /usr/lib/rustlib/aarch64-unknown-linux-gnu),
#   gcc-aarch64-linux-gnu + libc6-dev-arm64-cross (linker, C compiler for aws-lc/ring, glibc),
#   qemu-user (qemu-aarch64).
# The binary needs the glibc versions it was linked against (2.35 at most so far, printed
# below): Raspberry Pi OS bookworm (2.36) or later, not bullseye (2.31).
# Missing packages are installed with apt-get when run as root (as in CI); otherwise the
# command to run is printed. rustup's toolchain in ~/.cargo/bin stays first on PATH and is not
# touched: this script names Debian's compiler explicitly.
#
# Output: $GARONNE_CROSS_TARGET_DIR/aarch64-unknown-linux-gnu/<profile>/garonne, and a stripped
# copy to install on a Pi, $GARONNE_CROSS_TARGET_DIR/garonne (default dir: target/aarch64).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

require_pi=false
run=true
profile=release
while [ $# -gt 0 ]; do
  arg=$1
  shift
  case $arg in
    --require-pi) require_pi=true ;;
    --no-run) run=false ;;
    --profile)
      [ $# -gt 0 ] || { echo "cross-pi: --profile needs a name (release, pi-check)" >&2; exit 2; }
      profile=$1
      shift
      ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cross-pi: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

TARGET=aarch64-unknown-linux-gnu
TARGET_DIR=${GARONNE_CROSS_TARGET_DIR:-target/aarch64}
DEB_RUSTC=/usr/bin/rustc                 # Debian's rustc-web
DEB_CARGO=/usr/bin/cargo                 # Debian's cargo-web
TARGET_STD=/usr/lib/rustlib/$TARGET/lib  # libstd-rust-web-dev:arm64

step() { printf '\n=== cross-pi: %s\n' "$*"; }
fail() { printf 'cross-pi: FAILED: %s\n' "$*" >&2; exit 1; }

# --- 1. toolchain -------------------------------------------------------------------------------
step "toolchain (Debian rustc-web + arm64 std, aarch64-linux-gnu-gcc, qemu-user)"
command -v dpkg-query >/dev/null || fail "this script needs Debian 12 (dpkg/apt); elsewhere see docs/raspberry-pi.md (rustup target add)"
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
packages=(rustc-web cargo-web libstd-rust-web-dev:arm64 libc6:arm64 gcc-aarch64-linux-gnu
  libc6-dev-arm64-cross mosquitto mosquitto-clients file)
command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null || packages+=(qemu-user)
missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
arch_missing=false
dpkg --print-foreign-architectures | grep -qx arm64 || arch_missing=true
if [ ${#missing[@]} -gt 0 ] || $arch_missing; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]}" >&2
    $arch_missing && echo "  sudo dpkg --add-architecture arm64 && sudo apt-get update" >&2
    echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    fail "toolchain packages missing (run the commands above, or run this script as root)"
  fi
  # rustc-web conflicts with Debian's own `rustc` package: never let apt remove it silently.
  if installed rustc && ! installed rustc-web; then
    fail "Debian's rustc package is installed and conflicts with rustc-web; remove it first (apt-get remove rustc)"
  fi
  echo "installing: ${missing[*]}$($arch_missing && echo ' (after dpkg --add-architecture arm64)')"
  export DEBIAN_FRONTEND=noninteractive
  $arch_missing && dpkg --add-architecture arm64
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts mosquitto as a system service on port 1883; this script starts its own.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now mosquitto >/dev/null 2>&1 || true; fi
fi
QEMU=$(command -v qemu-aarch64 || command -v qemu-aarch64-static) || fail "qemu-aarch64 not found"
ls "$TARGET_STD"/libstd-*.rlib >/dev/null 2>&1 || fail "no aarch64 std in $TARGET_STD (libstd-rust-web-dev:arm64)"
echo "rustc: $("$DEB_RUSTC" --version)"
echo "cargo: $("$DEB_CARGO" --version)"
echo "std:   $(dpkg-query -W -f='${Package}:${Architecture} ${Version}' libstd-rust-web-dev:arm64)"
echo "glibc: $(dpkg-query -W -f='${Package}:${Architecture} ${Version}' libc6:arm64) (run time, under qemu)"
echo "gcc:   $(aarch64-linux-gnu-gcc --version | head -1)"
echo "qemu:  $("$QEMU" --version | head -1)"

# --- 2. cross build -----------------------------------------------------------------------------
step "cargo build --profile $profile --target $TARGET --bin garonne [--features rpi] (target dir $TARGET_DIR)"
# RUSTC: cargo would otherwise run the first `rustc` on PATH, rustup's, whose version does not
# match the arm64 std (error E0514). Build scripts and proc macros use the same compiler and its
# x86_64 std (libstd-rust-web-dev:amd64). The C parts (aws-lc-sys, ring) use the cross gcc.
export RUSTC=$DEB_RUSTC
unset RUSTUP_TOOLCHAIN RUSTC_WRAPPER
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# Real Pi hardware (I2C, GPIO through rppal) is the cargo feature `rpi` of the command line.
features=()
if awk '/^\[/{f=($0=="[features]")} f && /^rpi *=/{found=1} END{exit !found}' Cargo.toml; then
  features=(--features rpi)
fi
echo "features: ${features[*]:-(none: this garonne has no rpi feature yet, so no real hardware)}"
start=$SECONDS
"$DEB_CARGO" build --profile "$profile" --locked --target "$TARGET" --target-dir "$TARGET_DIR" --bin garonne "${features[@]}"
echo "cross build took $((SECONDS - start)) s"
BIN=$TARGET_DIR/$TARGET/$profile/garonne
[ -x "$BIN" ] || fail "no binary at $BIN"
file "$BIN"
file -L "$BIN" | grep -q 'ARM aarch64' || fail "$BIN is not an aarch64 executable"
ls -l "$BIN"
echo "needs glibc >= $(aarch64-linux-gnu-objdump -T "$BIN" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1 | cut -d_ -f2)"
# The release profile keeps line tables (for backtraces), which makes the binary large; the copy
# to put on a Pi is stripped.
aarch64-linux-gnu-strip -o "$TARGET_DIR/garonne" "$BIN"
echo "stripped copy for the Pi: $TARGET_DIR/garonne ($(du -h "$TARGET_DIR/garonne" | cut -f1))"
$run || { echo "cross-pi: built (--no-run: qemu runs skipped)"; exit 0; }

# The arm64 runtime is Debian's multiarch glibc (libc6:arm64, /lib/ld-linux-aarch64.so.1 and
# /lib/aarch64-linux-gnu, as on a Pi), so qemu needs no -L. Not `-L /usr/aarch64-linux-gnu`:
# that takes the cross package's ld.so (glibc 2.36-8cross1) but the dynamic loader then still
# finds libc.so.6 in /lib/aarch64-linux-gnu (2.36-9+deb12uN); the two builds disagree on their
# private structures and the first pthread_create spins forever (any tokio runtime hangs,
# while single-threaded commands seem fine).
unset QEMU_LD_PREFIX
arm() { "$QEMU" "$BIN" "$@"; }

# --- 3. phase 1: payload validate under qemu ----------------------------------------------------
step "phase 1: garonne payload validate under $(basename "$QEMU")"
echo "\$ $QEMU $BIN --version"
arm --version
valid=docs/examples/valid/weather-station.json
invalid=docs/examples/invalid/sentinel-values.json
set +e
arm payload validate "$valid"; rc=$?
set -e
[ $rc -eq 0 ] || fail "phase 1: '$valid' should validate (exit 0), got exit $rc"
echo "ok: $valid -> exit 0"
set +e
arm payload validate "$invalid"; rc=$?
set -e
[ $rc -eq 1 ] || fail "phase 1: '$invalid' should be rejected (exit 1), got exit $rc"
echo "ok: $invalid -> exit 1"
echo "phase 1 passed"

# --- 4. phase 2: the Pi agent with fake hardware under qemu -------------------------------------
step "phase 2: garonne pi --fake-hardware under qemu, readings over a local mosquitto"
set +e
help_out=$(arm pi --help 2>&1); rc=$?
set -e
if [ $rc -ne 0 ]; then
  if grep -q "unrecognized subcommand 'pi'" <<<"$help_out"; then
    if $require_pi; then
      fail "phase 2: this garonne has no 'pi' subcommand, and --require-pi was given"
    fi
    echo "phase 2 SKIPPED: this garonne binary has no 'pi' subcommand yet ('garonne pi --help' says:"
    echo "  $(head -1 <<<"$help_out"))."
    echo "Only phase 1 (payload validation) was checked. Exit 0."
    exit 0
  fi
  printf '%s\n' "$help_out" >&2
  fail "phase 2: 'garonne pi --help' failed with exit $rc"
fi
grep -q -- '--fake-hardware' <<<"$help_out" || fail "phase 2: 'garonne pi --help' does not offer --fake-hardware"
echo "'garonne pi --help' is there (exit 0) and offers --fake-hardware"

# The x86 garonne that checks the readings: the one GARONNE_HOST_BIN names, or rustup's own
# toolchain's ordinary dev build (after `cargo test` it is already built).
step "x86_64 garonne (validator)"
HOST_BIN=${GARONNE_HOST_BIN:-}
if [ -z "$HOST_BIN" ]; then
  (unset RUSTC CC_aarch64_unknown_linux_gnu; cargo build --quiet --locked --bin garonne)
  HOST_BIN=target/debug/garonne
fi
[ -x "$HOST_BIN" ] || fail "no x86 binary at $HOST_BIN"
echo "validator: $HOST_BIN"

step "local mosquitto, pi.toml"
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$MOSQUITTO" ] || fail "mosquitto not found"
work=$(mktemp -d -t garonne-cross-pi.XXXXXX)
broker_pid=""
agent_pid=""
sub_pid=""
cleanup() {
  for pid in $sub_pid $agent_pid $broker_pid; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port: try a few random ones, keep the first mosquitto accepts.
port=""
for _ in 1 2 3 4 5; do
  p=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue # someone listens there
  cat >"$work/mosquitto.conf" <<CONF
listener $p 127.0.0.1
allow_anonymous true
persistence false
# As root, mosquitto 2 switches to the user mosquitto; it needs to write nothing here.
CONF
  "$MOSQUITTO" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 50); do
    # shellcheck disable=SC2016 # $SYS is an MQTT topic, not a shell variable
    if mosquitto_sub -h 127.0.0.1 -p "$p" -t '$SYS/broker/version' -C 1 -W 1 >/dev/null 2>&1; then
      port=$p
      break 2
    fi
    kill -0 "$broker_pid" 2>/dev/null || break
    sleep 0.2
  done
  kill "$broker_pid" 2>/dev/null || true
  wait "$broker_pid" 2>/dev/null || true
  broker_pid=""
done
[ -n "$port" ] || { cat "$work/mosquitto.log" >&2; fail "phase 2: mosquitto did not start on a loopback port"; }
echo "mosquitto $(mosquitto -h 2>&1 | head -1 | awk '{print $3}') on 127.0.0.1:$port"

sensor=ci-cross-pi-01
readings=5
# The shipped example (deploy/pi/pi.toml, every module) with this run's sensor id, broker, a
# 1 s interval and a temporary queue; the fake hardware answers for every module it names.
example=deploy/pi/pi.toml
[ -f "$example" ] || fail "phase 2: $example is missing"
sed -e "s|^sensor_id *=.*|sensor_id = \"$sensor\"|" \
  -e "s|^broker *=.*|broker = \"mqtt://127.0.0.1:$port\"|" \
  -e "s|^interval_secs *=.*|interval_secs = 1|" \
  -e "s|^queue_dir *=.*|queue_dir = \"$work/queue\"|" \
  "$example" >"$work/pi.toml"
for key in "sensor_id = \"$sensor\"" "broker = \"mqtt://127.0.0.1:$port\"" "interval_secs = 1" \
  "queue_dir = \"$work/queue\""; do
  grep -qxF "$key" "$work/pi.toml" || fail "phase 2: could not set '$key' in a copy of $example"
done
echo "pi.toml (from $example, comments left out):"; grep -v -e '^#' -e '^$' "$work/pi.toml" | sed 's/^/  /'

topic_filter="garonne/v1/sensors/+/reading"
# Subscribe first, so that no reading is missed; -v prints "topic payload".
mosquitto_sub -h 127.0.0.1 -p "$port" -t "$topic_filter" -v -C "$readings" -W 60 \
  >"$work/received" 2>"$work/sub.err" &
sub_pid=$!
sleep 0.5

step "garonne pi --fake-hardware under qemu"
NO_COLOR=1 GARONNE_LOG=${GARONNE_LOG:-info} "$QEMU" "$BIN" pi --config "$work/pi.toml" --fake-hardware \
  >"$work/agent.out" 2>"$work/agent.err" &
agent_pid=$!
echo "agent started under qemu (pid $agent_pid), waiting for $readings readings (at most 60 s)"

# Until the subscriber has its readings (or gives up after 60 s), or the agent dies first.
agent_alive=true
while kill -0 "$sub_pid" 2>/dev/null; do
  if ! kill -0 "$agent_pid" 2>/dev/null; then agent_alive=false; break; fi
  sleep 0.2
done
if $agent_alive; then
  set +e
  wait "$sub_pid"; sub_rc=$?
  set -e
  sub_pid=""
  kill -0 "$agent_pid" 2>/dev/null || agent_alive=false
else
  sub_rc=dead
fi
# Stop the agent as systemd would (SIGTERM; qemu hands it to the program) and wait for it.
kill -TERM "$agent_pid" 2>/dev/null || true
agent_rc=""
for _ in $(seq 100); do
  kill -0 "$agent_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$agent_pid" 2>/dev/null; then
  kill -KILL "$agent_pid" 2>/dev/null || true
  agent_rc=killed
fi
set +e
wait "$agent_pid"; rc=$?
set -e
agent_pid=""
agent_rc=${agent_rc:-$rc}

echo "--- agent log (last 15 lines)"
tail -n 15 "$work/agent.err"
show_logs() {
  echo "--- agent stdout"; cat "$work/agent.out"
  echo "--- mosquitto_sub stderr"; cat "$work/sub.err"
  echo "--- mosquitto log"; tail -n 20 "$work/mosquitto.log"
} >&2

$agent_alive || { show_logs; fail "phase 2: the agent exited before $readings readings arrived (exit $agent_rc)"; }
count=$(grep -c . "$work/received" || true)
if [ "$sub_rc" -ne 0 ] || [ "$count" -lt "$readings" ]; then
  show_logs
  fail "phase 2: $count of $readings readings arrived on $topic_filter within 60 s (mosquitto_sub exit $sub_rc)"
fi
echo "--- $count readings received"
cut -c1-200 "$work/received"

# Every reading on the sensor's own topic, carrying its id; payloads to NDJSON for the validator.
want_topic="garonne/v1/sensors/$sensor/reading"
while IFS= read -r line; do
  topic=${line%% *}
  payload=${line#* }
  [ "$topic" = "$want_topic" ] || fail "phase 2: a reading arrived on $topic, not $want_topic"
  grep -q "\"sensor_id\": *\"$sensor\"" <<<"$payload" || fail "phase 2: a reading does not carry sensor_id $sensor: $payload"
  printf '%s\n' "$payload"
done <"$work/received" >"$work/readings.ndjson"

echo "--- x86 validator: garonne payload validate - < readings.ndjson"
set +e
"$HOST_BIN" payload validate - <"$work/readings.ndjson"; rc=$?
set -e
[ $rc -eq 0 ] || fail "phase 2: the readings from the aarch64 agent do not validate (exit $rc)"

# Every module of the example answered (a module that fails is left out of the readings), and
# nothing was lost or reordered on the way.
for q in temperature relativeHumidity atmosphericPressure illuminance motion; do
  n=$(grep -c "\"$q\":" "$work/readings.ndjson" || true)
  [ "$n" -eq "$count" ] || fail "phase 2: only $n of $count readings have $q (a module failed under qemu?)"
done
seqs=$(grep -o '"seq": *[0-9]*' "$work/readings.ndjson" | grep -o '[0-9]*$' | tr '\n' ' ')
prev=""
for n in $seqs; do
  [ -z "$prev" ] || [ "$n" -eq $((prev + 1)) ] || fail "phase 2: readings out of sequence: $seqs"
  prev=$n
done
echo "every reading has temperature, relativeHumidity, atmosphericPressure, illuminance and motion; seq $seqs"

case $agent_rc in
  0) echo "agent stopped cleanly on SIGTERM (exit 0)" ;;
  *) fail "phase 2: the agent did not stop cleanly on SIGTERM (exit $agent_rc)" ;;
esac

# The real-hardware path (feature rpi, rppal) cannot run off a Pi, but it must be compiled in:
# without --fake-hardware the agent has to look for the Pi's buses (and, here, find none and
# stop with exit 1), not answer that it was built without Raspberry Pi support.
if [ ${#features[@]} -gt 0 ]; then
  step "garonne pi without --fake-hardware under qemu (rpi feature compiled in?)"
  set +e
  NO_COLOR=1 timeout -s TERM 60 "$QEMU" "$BIN" pi --config "$work/pi.toml" >"$work/real.out" 2>"$work/real.err"
  rc=$?
  set -e
  grep -E 'module failed|^error' "$work/real.err" | cut -c1-200 | sed 's/^/  /'
  grep -q 'built without Raspberry Pi support' "$work/real.err" &&
    fail "phase 2: the binary was built with --features rpi but says it has no Raspberry Pi support"
  if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then
    fail "phase 2: off a Pi, 'garonne pi' without --fake-hardware should stop with an error (exit $rc)"
  fi
  echo "ok: the real-hardware path is compiled in (it probed the Pi's buses, found none here, exit $rc)"
fi
echo "phase 2 passed: $count readings from the aarch64 agent under qemu, all valid"
