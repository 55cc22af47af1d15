#!/usr/bin/env bash
# python-openstackclient with application credentials against neutrino's embedded identity:
#   tests/osc/appcred-workflow.sh http://127.0.0.1:9696 ADMIN_PASSWORD
# A member creates a restricted application credential with `openstack application
# credential create`, lists networks with `--os-auth-type v3applicationcredential` (by id,
# then by name + user), sees it cannot create another with it, deletes it, and the
# credential stops working. Exits 0 only if every check passed; removes what it created.
set -euo pipefail
URL="${1:?usage: appcred-workflow.sh URL ADMIN_PASSWORD}"
ADMIN_PW="${2:?usage: appcred-workflow.sh URL ADMIN_PASSWORD}"
WORK=$(mktemp -d)
S="$$-$RANDOM"
. "$(dirname "$0")/lib.sh"
use_keystone_clouds "$URL" "$ADMIN_PW" "$S"
# with_cred ARGS...: openstack authenticated only by the application credential in $CRED_*.
with_cred() {
  env -u OS_CLIENT_CONFIG_FILE openstack --os-auth-type v3applicationcredential --os-auth-url "$URL/v3" \
    --os-identity-api-version 3 "$@"
}
cleanup() {
  admin network delete "mine-$S" >/dev/null 2>&1 || true
  admin user delete "user-$S" >/dev/null 2>&1 || true
  admin project delete "proj-$S" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step "admin creates a project and a member user"
make_member
member network create "mine-$S" -f value -c id >/dev/null

step "member: openstack application credential create"
member application credential create "ci-$S" --description "CI runner" -f json >"$WORK/cred.json"
field() { python3 -c 'import json,sys; print({k.lower(): v for k, v in json.load(open(sys.argv[1])).items()}[sys.argv[2]])' "$@"; }
CRED_ID=$(field "$WORK/cred.json" id)
CRED_SECRET=$(field "$WORK/cred.json" secret)
[ -n "$CRED_SECRET" ] || fail "no secret in $(cat "$WORK/cred.json")"
member application credential list -f value -c Name | grep -qx "ci-$S" || fail "not listed"
member application credential show "ci-$S" -f json >"$WORK/show.json"
grep -qF -e "$CRED_SECRET" "$WORK/show.json" && fail "show repeats the secret"

step "--os-auth-type v3applicationcredential (by id): network list"
LIST=$(with_cred --os-application-credential-id "$CRED_ID" --os-application-credential-secret "$CRED_SECRET" \
  network list -f value -c Name)
echo "$LIST" | grep -qx "mine-$S" || fail "the member's network is missing from: $LIST"

step "--os-auth-type v3applicationcredential (by name + user): network list"
with_cred --os-application-credential-name "ci-$S" --os-username "user-$S" --os-user-domain-name Default \
  --os-application-credential-secret "$CRED_SECRET" network list -f value -c Name | grep -qx "mine-$S" ||
  fail "name + user authentication failed"

step "a restricted credential cannot create another"
if with_cred --os-application-credential-id "$CRED_ID" --os-application-credential-secret "$CRED_SECRET" \
  application credential create "child-$S" >"$WORK/out" 2>&1; then
  fail "a restricted credential created another"
fi
grep -qi "not allowed\|forbidden\|not authorized" "$WORK/out" || fail "unexpected error: $(cat "$WORK/out")"

step "wrong secret is refused"
if with_cred --os-application-credential-id "$CRED_ID" --os-application-credential-secret "wrong" \
  network list >"$WORK/out" 2>&1; then
  fail "a wrong secret authenticated"
fi

step "member deletes the credential; it stops working"
member application credential delete "ci-$S"
if with_cred --os-application-credential-id "$CRED_ID" --os-application-credential-secret "$CRED_SECRET" \
  network list >"$WORK/out" 2>&1; then
  fail "a deleted credential still authenticates"
fi

echo "osc application credential workflow: all checks passed"
