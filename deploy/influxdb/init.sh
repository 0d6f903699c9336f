#!/bin/bash
# First-start set-up of Garonne's InfluxDB 2 (image influxdb:2), run once by the image's
# entrypoint from /docker-entrypoint-initdb.d after DOCKER_INFLUXDB_INIT_MODE=setup has created
# the org, the bucket and the operator token (the `influx` command is configured with it). A
# volume that is already set up skips every init script.
#
# It makes InfluxQL work (docs/architecture.md: history and Grafana read with InfluxQL):
#   - the DBRP mapping: database GARONNE_INFLUX_DATABASE, retention policy autogen -> the bucket;
#   - two v1 users (InfluxDB 1.x-style user name and password, no token to copy around):
#       GARONNE_INFLUX_HISTORIAN_USERNAME  write the bucket only (`garonne historian --influx-api v1`)
#       GARONNE_INFLUX_READER_USERNAME     read the bucket only (Grafana, `garonne serve`)
#     with the passwords GARONNE_INFLUX_HISTORIAN_PASSWORD and GARONNE_INFLUX_READER_PASSWORD.
# docker-compose.yml passes these variables; their values come from .env.
#
# To change a password later: `docker compose exec influxdb influx v1 auth set-password
# --username NAME --password NEW`, then the same value in .env and `docker compose up -d`.

# A function run in a subshell: strict mode stays here even if the entrypoint sources the file.
garonne_init() (
    set -euo pipefail

    fail() {
        echo "garonne-influxdb-init: $*" >&2
        exit 1
    }
    require() {
        [ -n "${!1:-}" ] || fail "$1 is not set: set it (in .env with docker compose, see .env.example)"
    }

    require DOCKER_INFLUXDB_INIT_ORG
    require DOCKER_INFLUXDB_INIT_BUCKET
    require GARONNE_INFLUX_HISTORIAN_USERNAME
    require GARONNE_INFLUX_HISTORIAN_PASSWORD
    require GARONNE_INFLUX_READER_USERNAME
    require GARONNE_INFLUX_READER_PASSWORD

    org=$DOCKER_INFLUXDB_INIT_ORG
    database=${GARONNE_INFLUX_DATABASE:-garonne}
    # The entrypoint exports the new bucket's id; asked for by name otherwise.
    bucket_id=${DOCKER_INFLUXDB_INIT_BUCKET_ID:-}
    if [ -z "$bucket_id" ]; then
        bucket_id=$(influx bucket list --org "$org" --name "$DOCKER_INFLUXDB_INIT_BUCKET" \
            --hide-headers | cut -f1)
    fi
    [ -n "$bucket_id" ] || fail "bucket $DOCKER_INFLUXDB_INIT_BUCKET not found in org $org"

    influx v1 dbrp create --org "$org" --bucket-id "$bucket_id" \
        --db "$database" --rp autogen --default >/dev/null
    echo "garonne-influxdb-init: database $database (retention policy autogen) maps to bucket" \
        "$DOCKER_INFLUXDB_INIT_BUCKET"

    # v1_user USERNAME PASSWORD read|write DESCRIPTION: a v1 user that may only read, or only
    # write, the bucket. The password is an argument: it shows in this container's process list
    # while the command runs, and nowhere else (nothing is echoed or logged).
    v1_user() {
        influx v1 auth create --org "$org" --username "$1" --password "$2" \
            "--$3-bucket" "$bucket_id" --description "$4" >/dev/null
        echo "garonne-influxdb-init: v1 user $1 may $3 the bucket"
    }
    v1_user "$GARONNE_INFLUX_HISTORIAN_USERNAME" "$GARONNE_INFLUX_HISTORIAN_PASSWORD" write \
        "garonne historian: writes the bucket"
    v1_user "$GARONNE_INFLUX_READER_USERNAME" "$GARONNE_INFLUX_READER_PASSWORD" read \
        "garonne readers (Grafana, garonne serve): read the bucket"
)

garonne_init
