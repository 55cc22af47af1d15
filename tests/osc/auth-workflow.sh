#!/usr/bin/env bash
# python-openstackclient against neutrino's embedded identity, with a plain clouds.yaml:
#   tests/osc/auth-workflow.sh http://127.0.0.1:9696 ADMIN_PASSWORD
# As admin: create a project, a member user, a shared and a private network. As the member:
# the shared network is visible, the private one is not found, --share/--external are
# forbidden. Exits 0 only if every check passed; removes what it created.
set -euo pipefail
URL="${1:?usage: auth-workflow.sh URL ADMIN_PASSWORD}"
ADMIN_PW="${2:?usage: auth-workflow.sh URL ADMIN_PASSWORD}"
WORK=$(mktemp -d)
S="$$-$RANDOM"
. "$(dirname "$0")/lib.sh"
use_keystone_clouds "$URL" "$ADMIN_PW" "$S"
cleanup() {
  admin network delete "shared-$S" "private-$S" "mine-$S" >/dev/null 2>&1 || true
  admin user delete "user-$S" >/dev/null 2>&1 || true
  admin project delete "proj-$S" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step "admin creates a project, a user and gives it the member role"
make_member

step "admin creates a shared and a private network"
admin network create --share "shared-$S" -f value -c id >/dev/null
PRIVATE=$(admin network create "private-$S" -f value -c id)

step "member sees the shared network, not the private one"
LIST=$(member network list -f value -c Name)
echo "$LIST" | grep -qx "shared-$S" || fail "shared network missing from: $LIST"
if echo "$LIST" | grep -qx "private-$S"; then fail "private network visible to the member"; fi

step "member: network show <private id> is not found"
if member network show "$PRIVATE" >"$WORK/out" 2>&1; then fail "member could show the private network"; fi
grep -qi "no network found\|not found" "$WORK/out" || fail "unexpected error: $(cat "$WORK/out")"

step "member: --share and --external are forbidden"
for flag in --share --external; do
  if member network create "$flag" "x-$S" >"$WORK/out" 2>&1; then fail "member created a network with $flag"; fi
  grep -qi "forbidden\|not authorized\|disallowed" "$WORK/out" || fail "unexpected error for $flag: $(cat "$WORK/out")"
done

step "member creates and deletes its own network"
member network create "mine-$S" -f value -c id >/dev/null
member network delete "mine-$S"

echo "osc auth workflow: all checks passed"
