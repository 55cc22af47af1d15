#!/usr/bin/env bash
# python-openstackclient drives routers, floating IPs and security groups (no-auth mode):
#   tests/osc/l3-workflow.sh http://127.0.0.1:9696
# Then the reverse deletions in the order a user would try them, the refused ones refused
# with the right message. Exits 0 only if every check passed; removes what it created.
set -euo pipefail
URL="${1:?usage: l3-workflow.sh URL}"
. "$(dirname "$0")/lib.sh"
WORK=$(mktemp -d)
use_noauth_cloud "$URL"
S="$$-$RANDOM"
cleanup() {
  openstack floating ip delete "$(cat "$WORK/fip" 2>/dev/null)" >/dev/null 2>&1 || true
  openstack port delete "vm-$S" >/dev/null 2>&1 || true
  openstack router remove subnet "r-$S" "priv-sub-$S" >/dev/null 2>&1 || true
  openstack router unset --external-gateway "r-$S" >/dev/null 2>&1 || true
  openstack router delete "r-$S" >/dev/null 2>&1 || true
  openstack security group delete "web-$S" >/dev/null 2>&1 || true
  openstack network delete "priv-$S" "ext-$S" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step "external network and a private network"
openstack network create --external "ext-$S" -f value -c id >/dev/null
openstack subnet create "ext-sub-$S" --network "ext-$S" --subnet-range 203.0.113.0/24 --no-dhcp >/dev/null
openstack network create "priv-$S" >/dev/null
openstack subnet create "priv-sub-$S" --network "priv-$S" --subnet-range 10.80.0.0/24 >/dev/null

step "router create, set --external-gateway, add subnet"
openstack router create "r-$S" >/dev/null
openstack router set --external-gateway "ext-$S" "r-$S"
openstack router show "r-$S" -f json >"$WORK/r.json"
grep -q '"external_gateway_info"' "$WORK/r.json" || fail "no gateway info"
grep -q "ext-sub\|203.0.113" "$WORK/r.json" || fail "gateway has no external address: $(cat "$WORK/r.json")"
openstack router add subnet "r-$S" "priv-sub-$S"

step "security group with rules: tcp 22, icmp, remote group"
openstack security group create "web-$S" >/dev/null
openstack security group rule create --protocol tcp --dst-port 22 --remote-ip 0.0.0.0/0 "web-$S" >/dev/null
openstack security group rule create --protocol icmp "web-$S" >/dev/null
openstack security group rule create --protocol tcp --dst-port 80 --remote-group "web-$S" "web-$S" >/dev/null
refused "a duplicate rule" "already exists" openstack security group rule create --protocol tcp --dst-port 22 --remote-ip 0.0.0.0/0 "web-$S"
RULES=$(openstack security group rule list "web-$S" -f value -c ID | wc -l)
[ "$RULES" -eq 5 ] || fail "expected 5 rules (2 egress + 3), got $RULES"

step "port with the security group, floating ip create / set --port / unset"
openstack port create "vm-$S" --network "priv-$S" --security-group "web-$S" -f json >"$WORK/port.json"
grep -q "$(openstack security group show "web-$S" -f value -c id)" "$WORK/port.json" || fail "port lacks the group"
openstack floating ip create "ext-$S" -f value -c id >"$WORK/fip"
FIP=$(cat "$WORK/fip")
openstack floating ip set --port "vm-$S" "$FIP"
openstack floating ip show "$FIP" -f value -c router_id | grep -q . || fail "floating ip has no router"

step "reverse deletions: the refused ones first"
refused "removing the interface a floating IP needs" "required by one or more floating ips" openstack router remove subnet "r-$S" "priv-sub-$S"
refused "deleting a router with interfaces" "has ports still attached" openstack router delete "r-$S"
refused "deleting a security group in use" "in use" openstack security group delete "web-$S"
refused "deleting a network in use" "in use" openstack network delete "priv-$S"
openstack floating ip unset --port "$FIP"
openstack floating ip show "$FIP" -f value -c port_id | grep -q "None\|^$" || fail "floating ip still associated"
openstack floating ip delete "$FIP"
openstack port delete "vm-$S"
openstack security group delete "web-$S"
openstack router remove subnet "r-$S" "priv-sub-$S"
openstack router unset --external-gateway "r-$S"
openstack router delete "r-$S"
openstack network delete "priv-$S" "ext-$S"

echo "osc l3 workflow: all checks passed"
