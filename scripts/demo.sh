#!/usr/bin/env bash
# The all-in-one demo on embedded defaults: builds neutrino and runs `neutrino demo`, a whole
# cloud on this machine in network namespaces — `neutrino server` (SQLite store, embedded
# Keystone, generated admin password) on a controller, two compute hosts running
# `neutrino agent` (the first also serving DHCP and metadata), two VMs booted through the
# API calls Nova makes, getting their addresses by DHCP, pinging each other across VXLAN and
# fetching their instance id from 169.254.169.254. Nothing is added to the machine's own
# network namespace; everything is removed on exit (Ctrl-C on a terminal; at once
# otherwise, or pass --wait).
#
#   ./scripts/demo.sh                 # as root on Debian
#   ./scripts/demo.sh --hosts 3 --wait
#
# scripts/api-demo.sh is the API-only walk-through (server on 127.0.0.1:9696, CLI, curl).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/neutrino-target}"

if [ "$(id -u)" != 0 ]; then
  echo "the demo builds hosts in network namespaces: run it as root" >&2
  exit 1
fi

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v cargo >/dev/null || need_apt+=(cargo rustc)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v bridge >/dev/null || need_apt+=(iproute2)
command -v ping >/dev/null || need_apt+=(iputils-ping)
command -v unshare >/dev/null || need_apt+=(util-linux)
command -v busybox >/dev/null || need_apt+=(busybox)
command -v curl >/dev/null || need_apt+=(curl)
[ -x /usr/sbin/dnsmasq ] || need_apt+=(dnsmasq-base)
command -v nft >/dev/null || need_apt+=(nftables)
command -v conntrack >/dev/null || need_apt+=(conntrack)
if [ ${#need_apt[@]} -gt 0 ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}"
fi

echo "== building neutrino (release)"
cargo build --release --locked -p neutrino
exec "$CARGO_TARGET_DIR/release/neutrino" demo "$@"
