#!/usr/bin/env bash
# A scripted python-openstackclient workflow against a Networking API in no-auth mode:
#   tests/osc/workflow.sh http://127.0.0.1:9696
# `openstack` must be on PATH (scripts/install-osc.sh). Exits 0 only if every check passed;
# removes what it created, even on failure.
set -euo pipefail
URL="${1:?usage: workflow.sh URL}"
WORK=$(mktemp -d)
SUFFIX="$$-$RANDOM"
NET="osc-net-$SUFFIX"
cat >"$WORK/clouds.yaml" <<YAML
clouds:
  neutrino-noauth:
    auth_type: none
    auth:
      endpoint: $URL
    network_endpoint_override: $URL
YAML
export OS_CLIENT_CONFIG_FILE="$WORK/clouds.yaml" OS_CLOUD=neutrino-noauth
PY="$(dirname "$(command -v openstack)")/python3"

cleanup() {
  openstack port delete "osc-port-$SUFFIX" >/dev/null 2>&1 || true
  openstack network delete "$NET" "osc-renamed-$SUFFIX" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { echo "== $*"; }
# check JSON_FILE PYTHON_EXPR: the expression sees the parsed output as `d`.
check() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
if not ok:
    print("CHECK FAILED:", sys.argv[2], "\n", json.dumps(d, indent=1)[:2000])
    sys.exit(1)
PYEOF
}
out() { echo "$WORK/$1.json"; }

step "network create with description and tags"
openstack network create "$NET" --description "osc workflow" --tag foo --tag bar -f json >"$(out net)"
check "$(out net)" "d['name'] == '$NET' and d['description'] == 'osc workflow' and sorted(d['tags']) == ['bar', 'foo']"
NET_ID=$("$PY" -c "import json;print(json.load(open('$(out net)'))['id'])")

step "network list contains it"
openstack network list -f json >"$(out list)"
check "$(out list)" "any(n['ID'] == '$NET_ID' for n in d)"

step "network show"
openstack network show "$NET" -f json >"$(out show)"
check "$(out show)" "d['admin_state_up'] is True and d['mtu'] == 1450 and d['status'] == 'ACTIVE' and d['tags'] == ['bar', 'foo']"

step "network set --name --description"
openstack network set "$NET" --name "osc-renamed-$SUFFIX" --description changed
NET="osc-renamed-$SUFFIX"
openstack network show "$NET" -f json >"$(out show2)"
check "$(out show2)" "d['description'] == 'changed' and d['revision_number'] >= 1"

step "subnet create with a pool, DNS and a gateway"
openstack subnet create "osc-sub-$SUFFIX" --network "$NET" --subnet-range 10.20.0.0/24 \
  --allocation-pool start=10.20.0.10,end=10.20.0.50 --dns-nameserver 8.8.8.8 --gateway 10.20.0.1 -f json >"$(out sub)"
check "$(out sub)" "d['allocation_pools'] == [{'start': '10.20.0.10', 'end': '10.20.0.50'}] and d['dns_nameservers'] == ['8.8.8.8'] and d['gateway_ip'] == '10.20.0.1' and d['enable_dhcp'] is True"

step "subnet show"
openstack subnet show "osc-sub-$SUFFIX" -f json >"$(out subshow)"
check "$(out subshow)" "d['cidr'] == '10.20.0.0/24' and d['ip_version'] == 4"

step "IPv6 SLAAC subnet"
openstack subnet create "osc-sub6-$SUFFIX" --network "$NET" --ip-version 6 --ipv6-ra-mode slaac \
  --ipv6-address-mode slaac --subnet-range fd00:20::/64 -f json >"$(out sub6)"
check "$(out sub6)" "d['ipv6_ra_mode'] == 'slaac' and d['ipv6_address_mode'] == 'slaac' and d['gateway_ip'] == 'fd00:20::'"

step "port create with a fixed IP"
openstack port create "osc-port-$SUFFIX" --network "$NET" --fixed-ip "subnet=osc-sub-$SUFFIX,ip-address=10.20.0.20" -f json >"$(out port)"
check "$(out port)" "any(f['ip_address'] == '10.20.0.20' for f in d['fixed_ips']) and d['mac_address'].startswith('fa:16:3e:') and any(f['ip_address'].startswith('fd00:20::') for f in d['fixed_ips'])"

step "port list --network"
openstack port list --network "$NET" -f json >"$(out ports)"
check "$(out ports)" "len(d) == 1 and d[0]['Name'] == 'osc-port-$SUFFIX'"

step "port set --name"
openstack port set "osc-port-$SUFFIX" --name "osc-port2-$SUFFIX"
openstack port set "osc-port2-$SUFFIX" --name "osc-port-$SUFFIX"

step "network delete while a port exists fails"
if openstack network delete "$NET" 2>"$WORK/err.txt"; then
  echo "CHECK FAILED: network delete succeeded with a port on it"; exit 1
fi
grep -qi "in use" "$WORK/err.txt" || { echo "CHECK FAILED: no 'in use' in: $(cat "$WORK/err.txt")"; exit 1; }

step "delete port, subnets, network"
openstack port delete "osc-port-$SUFFIX"
openstack subnet delete "osc-sub-$SUFFIX" "osc-sub6-$SUFFIX"
openstack network delete "$NET"
openstack network list -f json >"$(out list2)"
check "$(out list2)" "not any(n['ID'] == '$NET_ID' for n in d)"

echo "osc workflow: all checks passed"
