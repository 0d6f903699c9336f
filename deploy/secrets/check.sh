#!/bin/sh
# Refuses to start the docker compose deployment on placeholder or short secrets: docker compose
# runs this first (the one-shot service `secrets`) and mosquitto, InfluxDB and Grafana wait for
# it to succeed. .env.example's `change-me` would otherwise start a stack whose MQTT port is
# published on every interface with a password anyone can read in the repository.
#
# A secret is refused when it is empty (for the required ones), holds a placeholder word
# (change-me, changeme, password, secret) or is shorter than 16 characters. Good ones:
# `openssl rand -hex 24`, one per variable. The sensors' passwords (GARONNE_MQTT_SENSORS,
# "ID:PASSWORD ID:PASSWORD ...") follow the same rule. No secret is ever printed.
#
# Tested by deploy/checks/tests/deploy_secrets.rs.

set -eu
set -f

min_length=16
required='GARONNE_MQTT_REALTIME_PASSWORD GARONNE_MQTT_HISTORIAN_PASSWORD
GARONNE_MQTT_SERVER_PASSWORD GARONNE_MQTT_VIEWER_PASSWORD GARONNE_INFLUX_ADMIN_PASSWORD
GARONNE_INFLUX_ADMIN_TOKEN GARONNE_INFLUX_HISTORIAN_PASSWORD GARONNE_INFLUX_READER_PASSWORD
GARONNE_GRAFANA_ADMIN_PASSWORD'
optional='GARONNE_MQTT_SIMULATOR_PASSWORD GARONNE_MQTT_OPERATOR_PASSWORD'
refused=0

# refuse WHAT WHY-EN WHY-FR: one line in English, one in French.
refuse() {
    printf 'garonne-secrets: %s %s\n' "$1" "$2" >&2
    printf 'garonne-secrets: %s %s\n' "$1" "$3" >&2
    refused=$((refused + 1))
}

# check WHAT VALUE
check() {
    case $(printf '%s' "$2" | tr 'A-Z' 'a-z') in
        *change-me* | *changeme* | *password* | *secret*)
            refuse "$1" "is a placeholder, not a secret" "est un exemple, pas un secret"
            return
            ;;
    esac
    if [ "${#2}" -lt "$min_length" ]; then
        refuse "$1" "is ${#2} characters long, fewer than $min_length" \
            "fait ${#2} caractères, moins de $min_length"
    fi
}

for name in $required; do
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then
        refuse "$name" "is not set" "n'est pas défini"
    else
        check "$name" "$value"
    fi
done
for name in $optional; do
    eval "value=\${$name:-}"
    [ -z "$value" ] || check "$name" "$value"
done
for entry in ${GARONNE_MQTT_SENSORS:-}; do
    check "GARONNE_MQTT_SENSORS (sensor ${entry%%:*})" "${entry#*:}"
done

if [ "$refused" -gt 0 ]; then
    printf '%s\n' \
        "garonne-secrets: $refused secret(s) to replace in .env, each with the output of \`openssl rand -hex 24\`; then docker compose up -d again" \
        "garonne-secrets: $refused secret(s) à remplacer dans .env, chacun par la sortie de \`openssl rand -hex 24\` ; puis relancez docker compose up -d" >&2
    exit 1
fi
echo "garonne-secrets: every secret is set and long enough"
