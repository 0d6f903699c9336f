#!/usr/bin/env bash
# Installs the servers the tests start on loopback, and the browser the web app's tests drive
# (Debian packages), when they are missing.
# As root it installs them with apt-get; otherwise it prints the command to run. Under CI=true a
# server that is still missing afterwards is an error: the tests would fail on it anyway.
set -euo pipefail

# binary:package pairs, one per server or tool the tests use (openssl: deploy/tls/self-signed.sh).
needed=(
  "mosquitto:mosquitto"
  "mosquitto_sub:mosquitto-clients"
  "influxd:influxdb"
  "victoria-metrics:victoria-metrics"
  "chromium:chromium"
  "nginx:nginx"
  "promtool:prometheus"
  "openssl:openssl"
)

missing=()
for pair in "${needed[@]}"; do
  binary=${pair%%:*}
  package=${pair##*:}
  if ! command -v "$binary" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$binary" ]; then
    missing+=("$package")
  fi
done

# The course walkthrough's device script (docs/examples/classe-co2/envoyer_mesures.py) needs
# paho-mqtt; tests/walkthrough.rs runs it with python3 on PATH or Debian's /usr/bin/python3.
has_paho() { "$1" -c 'import paho.mqtt.client' >/dev/null 2>&1; }
if ! has_paho python3 && ! has_paho /usr/bin/python3; then
  missing+=("python3-paho-mqtt")
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  echo "installing test servers: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts these servers as system services (mosquitto on 1883, influxdb on 8086 and
  # 8088, victoria-metrics on 8428, nginx on 80, prometheus on 9090); the tests start their own,
  # on free ports.
  for package in "${missing[@]}"; do
    case $package in
      mosquitto | influxdb | victoria-metrics | nginx | prometheus)
        if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$package" >/dev/null 2>&1 || true; fi
        ;;
    esac
  done
else
  echo "missing test servers: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  if [ "${CI:-}" = "true" ]; then exit 1; fi
fi
