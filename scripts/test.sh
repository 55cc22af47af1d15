#!/usr/bin/env bash
# The whole test suite: installs what it needs (Debian packages, the python-openstackclient
# virtualenv for the client-compatibility test), checks formatting and clippy (a warning fails
# the run), then runs every test of the workspace.
# Usage: ./scripts/test.sh            (as root on Debian; CI runs it via .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/neutrino-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

need_apt=()
command -v cc >/dev/null || need_apt+=(build-essential)
command -v curl >/dev/null || need_apt+=(curl)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
# The dataplane tests build simulated hosts in network namespaces (see KERNEL.md).
command -v ip >/dev/null || need_apt+=(iproute2)
command -v bridge >/dev/null || need_apt+=(iproute2)
command -v ping >/dev/null || need_apt+=(iputils-ping)
command -v unshare >/dev/null || need_apt+=(util-linux)
command -v nft >/dev/null || need_apt+=(nftables)
command -v conntrack >/dev/null || need_apt+=(conntrack)
command -v busybox >/dev/null || need_apt+=(busybox)
# The L3 and firewall kernel tests run TCP servers and probes with socat.
command -v socat >/dev/null || need_apt+=(socat)
# The metadata tests fetch from inside VMs with curl.
command -v curl >/dev/null || need_apt+=(curl)
[ -x /usr/sbin/dnsmasq ] || need_apt+=(dnsmasq-base)
# Router advertisements (L3 agent) and the testbed VMs' DHCPv6 client.
[ -x /usr/sbin/radvd ] || need_apt+=(radvd)
[ -x /usr/sbin/dhclient ] || need_apt+=(isc-dhcp-client)
# The store tests run every backend test on a throwaway PostgreSQL cluster too.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# The failover test puts docs/OPERATIONS.md's haproxy in front of two servers.
[ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
# The Open vSwitch tests run ovsdb-server and ovs-vswitchd per simulated host (userspace
# datapath; ethtool turns checksum offload off toward it; tcpdump shows VLAN tags on the wire).
[ -x /usr/sbin/ovs-vswitchd ] || need_apt+=(openvswitch-switch)
[ -x /usr/sbin/ethtool ] || need_apt+=(ethtool)
command -v tcpdump >/dev/null || need_apt+=(tcpdump)
# The metrics tests parse /metrics with the reference Prometheus text parser.
python3 -c "import prometheus_client" 2>/dev/null || need_apt+=(python3-prometheus-client)
if ! command -v cargo >/dev/null; then
  need_apt+=(cargo rustc)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need_apt[*]}"
  apt-get update -q
  # No service starts during the install: openvswitch-switch's postinst would start OVS in the
  # machine's own namespace, where the tests never run it (policy-rc.d 101 = "not now").
  policy=/usr/sbin/policy-rc.d
  own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" || { [ -z "$own_policy" ] || rm -f "$policy"; exit 1; }
  [ -z "$own_policy" ] || rm -f "$policy"
fi

echo "== python-openstackclient virtualenv"
./scripts/install-osc.sh
echo "== Horizon virtualenv and Chromium (the browser test)"
./scripts/install-horizon.sh

# The formatting and lint gates need rustfmt and clippy next to cargo.
for tool in fmt clippy; do
  if ! cargo "$tool" --version >/dev/null 2>&1; then
    component=$([ "$tool" = fmt ] && echo rustfmt || echo clippy)
    if command -v rustup >/dev/null; then
      rustup component add "$component"
    else
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$([ "$tool" = fmt ] && echo rustfmt || echo rust-clippy)"
    fi
  fi
done

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (workspace, all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings 2>&1

echo "== cargo test (workspace)"
cargo test --workspace --locked --no-fail-fast 2>&1

# The API suite again with every server's store on PostgreSQL (a throwaway cluster shared
# by the test process, a database per server; about 2.5 min on 2 cores). The store suite
# runs on both backends in the workspace run above.
echo "== cargo test (API suite on PostgreSQL)"
NEUTRINO_TEST_STORE=postgres cargo test -p neutrino-server --test api --locked 2>&1
