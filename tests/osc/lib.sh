# Helpers for the python-openstackclient workflow scripts; sourced, not run.
# They need `openstack` on PATH (scripts/install-osc.sh) and a work dir in $WORK.

if ! command -v openstack >/dev/null; then
  echo "openstack is not on PATH: run scripts/install-osc.sh and add its venv's bin dir" >&2
  exit 2
fi
# JSON assertions use the client's own Python (any python3 would do: only the stdlib is used).
OSC_PY="$(dirname "$(command -v openstack)")/python3"
[ -x "$OSC_PY" ] || OSC_PY=python3

step() { echo "== $*"; }
fail() {
  echo "CHECK FAILED: $*"
  exit 1
}

# use_noauth_cloud URL: points openstack at URL through tests/osc/clouds-noauth.yaml.
use_noauth_cloud() {
  local template
  template=$(<"$(dirname "${BASH_SOURCE[0]}")/clouds-noauth.yaml")
  printf '%s\n' "${template//@URL@/$1}" >"$WORK/clouds.yaml"
  export OS_CLIENT_CONFIG_FILE="$WORK/clouds.yaml" OS_CLOUD=neutrino-noauth
}

# use_keystone_clouds URL ADMIN_PASSWORD SUFFIX: a clouds.yaml in $WORK with `admin` (the
# bootstrap admin) and `member` (user-SUFFIX with pw-SUFFIX in project proj-SUFFIX, made by
# make_member), and the admin/member shorthands.
use_keystone_clouds() {
  cat >"$WORK/clouds.yaml" <<YAML
clouds:
  admin:
    auth:
      auth_url: $1/v3
      username: admin
      password: $2
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    identity_api_version: 3
  member:
    auth:
      auth_url: $1/v3
      username: user-$3
      password: pw-$3
      project_name: proj-$3
      user_domain_name: Default
      project_domain_name: Default
    identity_api_version: 3
YAML
  export OS_CLIENT_CONFIG_FILE="$WORK/clouds.yaml"
  unset OS_CLOUD
  MEMBER_SUFFIX=$3
}
admin() { openstack --os-cloud admin "$@"; }
member() { openstack --os-cloud member "$@"; }

# make_member: as admin, the member's project and user, with the member role there.
make_member() {
  admin project create "proj-$MEMBER_SUFFIX" -f value -c id >/dev/null
  admin user create --password "pw-$MEMBER_SUFFIX" "user-$MEMBER_SUFFIX" -f value -c id >/dev/null
  admin role add --project "proj-$MEMBER_SUFFIX" --user "user-$MEMBER_SUFFIX" member
}

# check FILE EXPR [NAME=VALUE...]: EXPR is a Python expression over the JSON in FILE (`d`),
# each NAME (a string) and eui64(prefix, mac); false fails the workflow, printing FILE.
check() {
  "$OSC_PY" - "$@" <<'PYEOF' || fail "$2 ($(printf '%s ' "${@:3}"))"
import ipaddress, json, sys

def eui64(prefix, mac):
    """The SLAAC address of `mac` in `prefix` (modified EUI-64, RFC 4291 appendix A)."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = bytes(octets[:3] + [0xFF, 0xFE] + octets[3:])
    return str(ipaddress.IPv6Network(prefix).network_address + int.from_bytes(iid, "big"))

path, expr = sys.argv[1], sys.argv[2]
names = dict(arg.split("=", 1) for arg in sys.argv[3:])
with open(path) as f:
    d = json.load(f)
if not eval(expr, {"d": d, "eui64": eui64, **names}):
    print(json.dumps(d, indent=1)[:4000])
    sys.exit(1)
PYEOF
}

# field FILE KEY: prints one top-level field of the JSON object in FILE.
field() {
  "$OSC_PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# refused WHAT MESSAGE_PART CMD...: CMD must fail and say MESSAGE_PART (case-insensitive).
refused() {
  local what=$1 part=$2
  shift 2
  if "$@" >"$WORK/refused.out" 2>&1; then fail "$what was accepted"; fi
  grep -qi -- "$part" "$WORK/refused.out" || fail "$what: expected '$part' in: $(cat "$WORK/refused.out")"
}
