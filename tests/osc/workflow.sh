#!/usr/bin/env bash
# A scripted python-openstackclient workflow against a Networking API in no-auth mode:
#   tests/osc/workflow.sh http://127.0.0.1:9696
# Networks (description, tags, rename), IPv4 and IPv6 SLAAC subnets, a port with a fixed IP,
# a network delete refused while the port exists, then the deletes. `openstack` must be on
# PATH (scripts/install-osc.sh). Only behaviour Neutron itself guarantees is asserted (the
# script passes against upstream Neutron 26 in noauth mode); OSC_EXPECT_MTU=N also requires
# the network MTU to be N, which depends on the server's configuration. Exits 0 only if every
# check passed; deletes what it created, even on failure.
set -euo pipefail
URL="${1:?usage: workflow.sh URL}"
. "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d)
use_noauth_cloud "$URL"

S="$$-$RANDOM"
NET="osc-net-$S"
SUB4="osc-sub-$S"
SUB6="osc-sub6-$S"
PORT="osc-port-$S"
NET_ID="" SUB4_ID="" SUB6_ID="" PORT_ID=""
out() { echo "$WORK/$1.json"; }

# Deletes by id what is known to exist, by name what may exist without a known id.
cleanup() {
  local rc=$?
  if [ -n "$PORT_ID" ]; then openstack port delete "$PORT_ID" >/dev/null 2>&1 || true; fi
  for id in $SUB4_ID $SUB6_ID; do openstack subnet delete "$id" >/dev/null 2>&1 || true; done
  if [ -n "$NET" ]; then openstack network delete "${NET_ID:-$NET}" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

step "network create with a description and tags"
openstack network create "$NET" --description "osc workflow" --tag foo --tag bar -f json >"$(out net)"
NET_ID=$(field "$(out net)" id)
check "$(out net)" "d['name'] == net and d['description'] == 'osc workflow' and sorted(d['tags']) == ['bar', 'foo']" \
  net="$NET"

step "network list contains it"
openstack network list -f json >"$(out list)"
check "$(out list)" "any(n['ID'] == net_id and n['Name'] == net for n in d)" net_id="$NET_ID" net="$NET"

step "network show: name, admin_state_up, mtu, status, tags"
openstack network show "$NET" -f json >"$(out show)"
check "$(out show)" "d['id'] == net_id and d['name'] == net and d['admin_state_up'] is True and d['status'] == 'ACTIVE' \
  and d['tags'] == ['bar', 'foo'] and isinstance(d['mtu'], int) and (d['mtu'] == int(mtu) if mtu else d['mtu'] >= 68)" \
  net_id="$NET_ID" net="$NET" mtu="${OSC_EXPECT_MTU:-}"
REVISION=$(field "$(out show)" revision_number)

step "network set --name --description"
openstack network set "$NET_ID" --name "osc-renamed-$S" --description x
NET="osc-renamed-$S"
openstack network show "$NET" -f json >"$(out show2)"
check "$(out show2)" "d['id'] == net_id and d['name'] == net and d['description'] == 'x' and d['revision_number'] > int(rev)" \
  net_id="$NET_ID" net="$NET" rev="$REVISION"

step "subnet create with an allocation pool, a DNS server and a gateway"
openstack subnet create "$SUB4" --network "$NET" --subnet-range 10.20.0.0/24 \
  --allocation-pool start=10.20.0.10,end=10.20.0.50 --dns-nameserver 8.8.8.8 --gateway 10.20.0.1 -f json >"$(out sub)"
SUB4_ID=$(field "$(out sub)" id)
check "$(out sub)" "d['network_id'] == net_id and d['cidr'] == '10.20.0.0/24' and d['ip_version'] == 4" net_id="$NET_ID"

step "subnet show: allocation_pools, dns_nameservers, gateway_ip, enable_dhcp"
openstack subnet show "$SUB4" -f json >"$(out subshow)"
check "$(out subshow)" "d['id'] == sub_id and d['allocation_pools'] == [{'start': '10.20.0.10', 'end': '10.20.0.50'}] \
  and d['dns_nameservers'] == ['8.8.8.8'] and d['gateway_ip'] == '10.20.0.1' and d['enable_dhcp'] is True" \
  sub_id="$SUB4_ID"

step "IPv6 SLAAC subnet create"
openstack subnet create "$SUB6" --network "$NET" --ip-version 6 --ipv6-ra-mode slaac \
  --ipv6-address-mode slaac --subnet-range fd00:20::/64 -f json >"$(out sub6)"
SUB6_ID=$(field "$(out sub6)" id)
# Neutron's default IPv6 gateway is the subnet-router anycast address (the prefix itself).
check "$(out sub6)" "d['ip_version'] == 6 and d['cidr'] == 'fd00:20::/64' and d['ipv6_ra_mode'] == 'slaac' \
  and d['ipv6_address_mode'] == 'slaac' and d['gateway_ip'] == 'fd00:20::'"

step "port create with a fixed IP (the SLAAC subnet adds its EUI-64 address)"
openstack port create "$PORT" --network "$NET" --fixed-ip "subnet=$SUB4,ip-address=10.20.0.20" -f json >"$(out port)"
PORT_ID=$(field "$(out port)" id)
check "$(out port)" "d['network_id'] == net_id and d['mac_address'].startswith('fa:16:3e:') \
  and sorted((ip['subnet_id'], ip['ip_address']) for ip in d['fixed_ips']) \
    == sorted([(sub4, '10.20.0.20'), (sub6, eui64('fd00:20::/64', d['mac_address']))])" \
  net_id="$NET_ID" sub4="$SUB4_ID" sub6="$SUB6_ID"

step "port list --network shows the port, and only ports of that network"
openstack port list --network "$NET" -f json >"$(out ports)"
check "$(out ports)" "any(p['ID'] == port_id for p in d) \
  and all(ip['subnet_id'] in (sub4, sub6) for p in d for ip in p['Fixed IP Addresses'])" \
  port_id="$PORT_ID" sub4="$SUB4_ID" sub6="$SUB6_ID"

step "port set --name"
openstack port set "$PORT_ID" --name "osc-port2-$S"
PORT="osc-port2-$S"
openstack port show "$PORT" -f json >"$(out portshow)"
check "$(out portshow)" "d['id'] == port_id and d['name'] == port" port_id="$PORT_ID" port="$PORT"

step "network delete while the port exists fails, and the network stays"
refused "deleting a network with a port on it" "in use" openstack network delete "$NET"
[ "$(openstack network show "$NET_ID" -c id -f value)" = "$NET_ID" ] || fail "the network is gone"

step "port delete, subnet delete, network delete"
openstack port delete "$PORT"
PORT_ID=""
openstack subnet delete "$SUB4" "$SUB6"
SUB4_ID="" SUB6_ID=""
openstack network delete "$NET"
NET=""

step "network list no longer shows it"
openstack network list -f json >"$(out list2)"
check "$(out list2)" "not any(n['ID'] == net_id for n in d)" net_id="$NET_ID"
refused "showing the deleted network" "no network found" openstack network show "$NET_ID"

echo "osc workflow: all checks passed"
