#!/bin/sh
# Entrypoint of Garonne's mosquitto container (eclipse-mosquitto:2, busybox sh): writes the
# password file from environment variables with mosquitto_passwd, then replaces itself with
# mosquitto running this directory's mosquitto.conf. No password is ever written anywhere else
# or printed; the file holds salted hashes and is rebuilt from scratch at every start.
#
# Users and their environment variables (an unset variable and an empty one are the same):
#   realtime    GARONNE_MQTT_REALTIME_PASSWORD   required
#   historian   GARONNE_MQTT_HISTORIAN_PASSWORD  required
#   server      GARONNE_MQTT_SERVER_PASSWORD     required
#   simulator   GARONNE_MQTT_SIMULATOR_PASSWORD  optional: without it, no simulator user
#   viewer      GARONNE_MQTT_VIEWER_PASSWORD     optional: read-only, for mosquitto_sub
#   operator    GARONNE_MQTT_OPERATOR_PASSWORD   optional: the teacher, who publishes profiles
#                                                (garonne profile publish); without it, nobody
#                                                can publish a profile live
#   sensors     GARONNE_MQTT_SENSORS             optional: "ID:PASSWORD ID:PASSWORD ...",
#                                                separated by spaces or new lines
#               GARONNE_MQTT_SENSORS_FILE        optional: a file (e.g. a docker secret) with
#                                                one ID:PASSWORD a line; blank lines and lines
#                                                starting with # are skipped
# A sensor's user name is its sensor id (`sensor_id` in the Pi agent's pi.toml): 1 to 128
# letters, digits, '.', '_' or '-', starting with a letter or digit, and not the name of a
# service. Its password is everything after the first ':' (no spaces in GARONNE_MQTT_SENSORS;
# use the file for those). `acl` lets each sensor publish only under its own id.
#
# Each Garonne service logs in with GARONNE_MQTT_USERNAME and GARONNE_MQTT_PASSWORD (see
# service/src/mqtt.rs): in docker compose, e.g. for realtime, GARONNE_MQTT_USERNAME=realtime
# and GARONNE_MQTT_PASSWORD=${GARONNE_MQTT_REALTIME_PASSWORD}.
#
# Paths:
#   GARONNE_MOSQUITTO_CONFIG  the configuration, /mosquitto/config/mosquitto.conf by default.
#   GARONNE_MOSQUITTO_CERTS   the folder of the TLS files, /mosquitto/certs by default: each
#                             file the configuration's cafile, certfile and keyfile name is
#                             copied from there (same file name) to that path, given to the user
#                             mosquitto switches to (it drops root before it reads them); a
#                             missing one stops the start, saying how to make it.
# The password file is written where the configuration's `password_file` says; the directory
# is created if needed. When run as root, the password file (and a directory created for it)
# and the `persistence_location` directory are given to the user mosquitto switches to (the
# configuration's `user`, mosquitto by default), since mosquitto drops root privileges before
# it reads them.
#
# Arguments are passed on to mosquitto after `-c CONFIG` (e.g. `-v`).
#
# Tested by tests/deploy_mosquitto.rs.

set -eu
# No file of ours is readable by anyone else; no argument is taken for a file name pattern.
umask 077
set -f

config=${GARONNE_MOSQUITTO_CONFIG:-/mosquitto/config/mosquitto.conf}
services='realtime historian server simulator viewer operator'

fail() {
    printf 'garonne-mosquitto: %s\n' "$*" >&2
    exit 1
}

say() {
    printf 'garonne-mosquitto: %s\n' "$*"
}

# The value of a one-value setting of the configuration: the last line that sets it wins, as in
# mosquitto. Values are taken up to the first blank.
setting() {
    awk -v name="$1" '$1 == name { value = $2 } END { print value }' "$config"
}

[ -r "$config" ] || fail "cannot read the configuration $config: mount deploy/mosquitto at" \
    "/mosquitto/config, or set GARONNE_MOSQUITTO_CONFIG to its path"
password_file=$(setting password_file)
[ -n "$password_file" ] || fail "$config has no password_file line: add one, such as" \
    "\`password_file /tmp/garonne-mosquitto/passwd\`"

run_user=$(setting user)
run_user=${run_user:-mosquitto}
owner=''
if [ "$(id -u)" = 0 ] && [ "$run_user" != root ] && id "$run_user" >/dev/null 2>&1; then
    owner="$run_user:$(id -gn "$run_user")"
fi

password_dir=$(dirname "$password_file")
if [ ! -d "$password_dir" ]; then
    mkdir -p "$password_dir"
    [ -z "$owner" ] || chown "$owner" "$password_dir"
fi

# Written beside the final file and moved into place, so that mosquitto never reads half a file.
new_file="$password_file.new"
trap 'rm -f "$new_file"' EXIT
: >"$new_file"

users=' '
service_users=''
sensor_count=0

# add_user NAME PASSWORD: one line of the password file.
add_user() {
    case "$users" in
        *" $1 "*) fail "the user $1 is given twice: keep one entry for it" ;;
    esac
    [ -n "$2" ] || fail "the user $1 has an empty password: give it one"
    # -b takes the password as an argument: it shows in this container's process list for the
    # moment mosquitto_passwd runs, and nowhere else.
    mosquitto_passwd -b "$new_file" "$1" "$2" >/dev/null ||
        fail "mosquitto_passwd could not add the user $1"
    users="$users$1 "
}

# add_service NAME VARIABLE required|optional
add_service() {
    eval "password=\${$2:-}"
    if [ -n "$password" ]; then
        add_user "$1" "$password"
        service_users="$service_users $1"
    elif [ "$3" = required ]; then
        fail "$2 is not set: set it (in .env with docker compose, see .env.example); the $1" \
            "service logs in with it"
    else
        say "$2 is not set: no $1 user"
    fi
}

# add_sensor ID:PASSWORD WHERE: WHERE says where the entry comes from, for messages, which
# never quote the entry itself (it holds a password).
add_sensor() {
    id=${1%%:*}
    [ "$id" != "$1" ] || fail "$2 has an entry without ':': write each sensor as ID:PASSWORD"
    if ! printf '%s\n' "$id" | grep -Eqx '[A-Za-z0-9][A-Za-z0-9._-]{0,127}'; then
        fail "$2 has a sensor id that is not valid: use 1 to 128 letters, digits, '.', '_'" \
            "or '-', starting with a letter or digit"
    fi
    case " $services " in
        *" $id "*) fail "$2 has a sensor named $id, which is a service's user name: rename it" ;;
    esac
    add_user "$id" "${1#*:}"
    sensor_count=$((sensor_count + 1))
}

add_service realtime GARONNE_MQTT_REALTIME_PASSWORD required
add_service historian GARONNE_MQTT_HISTORIAN_PASSWORD required
add_service server GARONNE_MQTT_SERVER_PASSWORD required
add_service simulator GARONNE_MQTT_SIMULATOR_PASSWORD optional
add_service viewer GARONNE_MQTT_VIEWER_PASSWORD optional
add_service operator GARONNE_MQTT_OPERATOR_PASSWORD optional

# Word splitting of an unquoted variable: spaces, tabs and new lines separate entries (globbing
# is off, see `set -f`).
for entry in ${GARONNE_MQTT_SENSORS:-}; do
    add_sensor "$entry" GARONNE_MQTT_SENSORS
done

sensors_file=${GARONNE_MQTT_SENSORS_FILE:-}
if [ -n "$sensors_file" ]; then
    [ -r "$sensors_file" ] || fail "cannot read GARONNE_MQTT_SENSORS_FILE $sensors_file"
    line_number=0
    while IFS= read -r line || [ -n "$line" ]; do
        line_number=$((line_number + 1))
        # A file written on Windows ends its lines with CR LF.
        line=${line%"$(printf '\r')"}
        case "$line" in
            '' | '#'*) continue ;;
        esac
        add_sensor "$line" "$sensors_file line $line_number"
    done <"$sensors_file"
fi

[ -z "$owner" ] || chown "$owner" "$new_file"
mv -f "$new_file" "$password_file"
trap - EXIT

# The TLS listener's files (deploy/tls/README.md).
certs=${GARONNE_MOSQUITTO_CERTS:-/mosquitto/certs}
for name in cafile certfile keyfile; do
    target=$(setting "$name")
    [ -n "$target" ] || continue
    source="$certs/$(basename "$target")"
    [ -r "$source" ] || fail "cannot read $source, the $name of the TLS listener: put ca.crt," \
        "server.crt and server.key in deploy/tls (deploy/tls/README.md; for a first start," \
        "deploy/tls/self-signed.sh HOSTNAME makes a self-signed set)"
    target_dir=$(dirname "$target")
    if [ ! -d "$target_dir" ]; then
        mkdir -p "$target_dir"
        [ -z "$owner" ] || chown "$owner" "$target_dir"
    fi
    cp "$source" "$target.new"
    [ -z "$owner" ] || chown "$owner" "$target.new"
    mv -f "$target.new" "$target"
done

persistence_dir=$(setting persistence_location)
if [ -n "$owner" ] && [ -n "$persistence_dir" ] && [ -d "$persistence_dir" ]; then
    # A bind-mounted data directory belongs to the host's user; mosquitto writes it as its own.
    chown "$owner" "$persistence_dir"
    db_file=$(setting persistence_file)
    db="${persistence_dir%/}/${db_file:-mosquitto.db}"
    [ ! -f "$db" ] || chown "$owner" "$db"
fi

say "password file $password_file written: services$service_users, and $sensor_count sensors; TLS files from $certs"
exec mosquitto -c "$config" "$@"
