#!/bin/sh
# Makes a self-signed TLS set in this folder, for a first start or a network without a public
# name: ca.crt (a certificate authority made for this deployment), server.crt and server.key (the
# certificate nginx and mosquitto present, signed by that CA, for HOSTNAME, localhost and
# 127.0.0.1, and IP when given). The CA's key is thrown away once it has signed: to renew, remove
# the three files and run this again, then give clients the new ca.crt.
#
#   deploy/tls/self-signed.sh HOSTNAME [IP]      e.g. deploy/tls/self-signed.sh garonne.lan 192.168.1.20
#
# Clients trust ca.crt: `ca_file` / `--ca-file` for Garonne's MQTT clients, `--cafile` for
# mosquitto_sub, the browser's or system's certificate store for HTTPS. See README.md.
set -eu
umask 077

name=${1:?usage: deploy/tls/self-signed.sh HOSTNAME [IP]}
ip=${2:-}
dir=$(cd "$(dirname "$0")" && pwd)
for file in ca.crt server.crt server.key; do
    if [ -e "$dir/$file" ]; then
        echo "self-signed.sh: $dir/$file exists: remove ca.crt, server.crt and server.key to make a new set" >&2
        exit 1
    fi
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

san="DNS:$name,DNS:localhost,IP:127.0.0.1"
case "$name" in
    *[!0-9.]*) ;;
    *) san="IP:$name,DNS:localhost,IP:127.0.0.1" ;;
esac
[ -z "$ip" ] || san="$san,IP:$ip"

openssl req -x509 -newkey rsa:3072 -sha256 -days 3650 -nodes \
    -keyout "$work/ca.key" -out "$work/ca.crt" -subj "/CN=Garonne CA for $name" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null
openssl req -newkey rsa:3072 -sha256 -nodes \
    -keyout "$work/server.key" -out "$work/server.csr" -subj "/CN=$name" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=$san" >"$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 825 -sha256 -extfile "$work/server.ext" \
    -out "$work/server.crt" 2>/dev/null

# Certificates are public; the key stays readable by its owner only (nginx and the mosquitto
# entrypoint read it as root).
chmod 644 "$work/ca.crt" "$work/server.crt"
chmod 600 "$work/server.key"
mv "$work/ca.crt" "$work/server.crt" "$work/server.key" "$dir/"
echo "self-signed.sh: wrote $dir/ca.crt, server.crt and server.key for $san (valid 825 days)"
