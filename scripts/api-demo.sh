#!/usr/bin/env bash
# The all-in-one demo on embedded defaults: builds neutrino, starts `neutrino server`
# (SQLite store in /var/lib/neutrino, Networking API and Keystone-compatible identity on
# 127.0.0.1:9696), logs in as the bootstrapped admin like any OpenStack client, walks
# through networks, subnets and ports with the neutrino CLI, and leaves the server running
# for you (foreground on a terminal: Ctrl-C stops it).
#
#   ./scripts/api-demo.sh                 # as root on Debian
#   NEUTRINO_LISTEN=127.0.0.1:9797 NEUTRINO_DATA_DIR=/tmp/nd ./scripts/api-demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/neutrino-target}"
LISTEN="${NEUTRINO_LISTEN:-127.0.0.1:9696}"
DATA_DIR="${NEUTRINO_DATA_DIR:-/var/lib/neutrino}"
URL="http://$LISTEN"

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v curl >/dev/null || need_apt+=(curl)
command -v cargo >/dev/null || need_apt+=(cargo rustc)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
fi

echo "== building neutrino (release)"
cargo build --release --locked -p neutrino
BIN="$CARGO_TARGET_DIR/release/neutrino"

if curl -sf "$URL/" >/dev/null 2>&1; then
  echo "something already answers on $URL; stop it or set NEUTRINO_LISTEN" >&2
  exit 1
fi

mkdir -p "$DATA_DIR"
# The admin password is kept beside the store (mode 0600) so a rerun logs in again.
PWFILE="$DATA_DIR/demo-admin-password"
if [ ! -s "$PWFILE" ]; then
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$PWFILE")
fi
ADMIN_PASSWORD=$(cat "$PWFILE")

echo "== starting: neutrino server --listen $LISTEN --data-dir $DATA_DIR"
NEUTRINO_BOOTSTRAP_PASSWORD="$ADMIN_PASSWORD" "$BIN" server --listen "$LISTEN" --data-dir "$DATA_DIR" \
  >>"$DATA_DIR/server.log" 2>&1 &
SERVER=$!
stop_server() { kill "$SERVER" 2>/dev/null || true; }
trap stop_server INT TERM
for _ in $(seq 1 100); do
  curl -sf "$URL/" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { echo "server exited; see $DATA_DIR/server.log" >&2; tail -n 20 "$DATA_DIR/server.log" >&2; exit 1; }
  sleep 0.1
done

# Log in like any OpenStack client: Keystone v3 password auth, endpoint from the catalog.
export OS_AUTH_URL="$URL/v3" OS_USERNAME=admin OS_PASSWORD="$ADMIN_PASSWORD" OS_PROJECT_NAME=admin
run() { echo; echo "\$ neutrino $*"; "$BIN" "$@"; }

# A rerun starts from a clean slate for the demo's own resources.
"$BIN" port delete demo-port >/dev/null 2>&1 || true
"$BIN" network delete demo-net >/dev/null 2>&1 || true

run network create demo-net --description "created by the demo" --tag demo
run subnet create demo-subnet --network demo-net --subnet-range 192.0.2.0/24 --dns-nameserver 192.0.2.53
run subnet create demo-subnet-v6 --network demo-net --subnet-range 2001:db8:1::/64 --ip-version 6 \
  --ipv6-ra-mode slaac --ipv6-address-mode slaac
run port create demo-port --network demo-net --fixed-ip subnet=demo-subnet,ip-address=192.0.2.10
run port list
run network show demo-net
echo
echo "\$ neutrino network delete demo-net   # refused while a port uses it"
"$BIN" network delete demo-net || true

echo
echo "== the raw API, as every OpenStack client sees it"
AUTH_BODY=$(printf '{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "%s", "domain": {"name": "Default"}}}}, "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}' "$ADMIN_PASSWORD")
TOKEN=$(curl -si "$URL/v3/auth/tokens" -H 'Content-Type: application/json' -d "$AUTH_BODY" \
  | tr -d '\r' | awk -F': ' 'tolower($1)=="x-subject-token" {print $2}')
echo "\$ curl -s -H 'X-Auth-Token: <token from POST /v3/auth/tokens>' $URL/v2.0/networks?name=demo-net"
curl -s -H "X-Auth-Token: $TOKEN" "$URL/v2.0/networks?name=demo-net"; echo
echo "\$ curl -s $URL/v2.0/networks   # without a token"
curl -s "$URL/v2.0/networks"; echo

echo
echo "neutrino server is running at $URL (pid $SERVER, log $DATA_DIR/server.log)."
echo "The admin password is in $PWFILE; the first start also wrote $DATA_DIR/clouds.yaml for openstack."
echo "Try: OS_AUTH_URL=$URL/v3 OS_USERNAME=admin OS_PASSWORD=\$(cat $PWFILE) OS_PROJECT_NAME=admin $BIN network list"
if [ -t 0 ]; then
  echo "Ctrl-C stops it."
  wait "$SERVER"
else
  trap - INT TERM
  echo "Stop it with: kill $SERVER"
fi
