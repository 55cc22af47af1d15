#!/usr/bin/env bash
# Installs python-openstackclient and openstacksdk into a virtualenv for the
# client-compatibility tests (tests/osc/: the CLI scripts and sdk-workflow.py, run by
# crates/cli/tests/osc_workflow.rs) and for trying the server with `openstack`:
#   ./scripts/install-osc.sh            # venv in /var/tmp/neutrino-osc-venv
#   NEUTRINO_OSC_VENV=/opt/osc ./scripts/install-osc.sh
# Versions come from tests/osc/constraints.txt (python-openstackclient 10.5.0, openstacksdk
# 4.22.0 and their dependencies, exact), which need Python >= 3.11. Idempotent: returns at
# once when the venv already holds exactly those versions. On a fresh Debian machine, run as
# root: it installs python3-venv when no Python can make a virtualenv.
# Env: NEUTRINO_OSC_VENV (venv path), NEUTRINO_OSC_PYTHON (interpreter to use first).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="${NEUTRINO_OSC_VENV:-/var/tmp/neutrino-osc-venv}"
CONSTRAINTS="$ROOT/tests/osc/constraints.txt"
# The stamp is a copy of the constraints the venv was built from, written last.
STAMP="$VENV/neutrino-osc-constraints.txt"
OSC_VERSION=$(sed -n 's/^python-openstackclient==//p' "$CONSTRAINTS")

installed() {
  [ -x "$VENV/bin/openstack" ] && cmp -s "$CONSTRAINTS" "$STAMP" &&
    [ "$("$VENV/bin/openstack" --version 2>/dev/null)" = "openstack $OSC_VERSION" ]
}

if installed; then
  echo "python-openstackclient $OSC_VERSION already in $VENV"
  exit 0
fi

# Two runs at once (the test suite and a developer) must not build the same venv together.
mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null; then
  exec 9>"$VENV.lock"
  flock 9
  if installed; then
    echo "python-openstackclient $OSC_VERSION already in $VENV"
    exit 0
  fi
fi

# An interpreter that is recent enough and can make a venv with pip in it.
usable_python() {
  "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}
pick_python() {
  local py
  for py in "${NEUTRINO_OSC_PYTHON:-}" "$(command -v python3 || true)" /usr/bin/python3; do
    if [ -n "$py" ] && [ -x "$py" ] && usable_python "$py"; then
      echo "$py"
      return 0
    fi
  done
  return 1
}

if ! PY=$(pick_python); then
  if ! command -v apt-get >/dev/null; then
    echo "no Python >= 3.11 with the venv module found; install one (or set NEUTRINO_OSC_PYTHON)" >&2
    exit 1
  fi
  echo "== installing python3-venv (apt-get)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv
  if ! usable_python /usr/bin/python3; then
    echo "/usr/bin/python3 is older than 3.11 or cannot make a venv; set NEUTRINO_OSC_PYTHON" >&2
    exit 1
  fi
  PY=/usr/bin/python3
fi

# Never delete a directory that is not a virtualenv (NEUTRINO_OSC_VENV may point anywhere).
if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ] && [ -n "$(ls -A "$VENV")" ]; then
  echo "$VENV exists and is not a virtualenv; not touching it" >&2
  exit 1
fi

echo "== creating $VENV with $PY ($("$PY" --version 2>&1))"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python3" -m pip install -q -c "$CONSTRAINTS" --upgrade pip
"$VENV/bin/python3" -m pip install -q -c "$CONSTRAINTS" python-openstackclient openstacksdk
cp "$CONSTRAINTS" "$STAMP"
installed || {
  echo "$VENV/bin/openstack does not report version $OSC_VERSION" >&2
  exit 1
}
echo "python-openstackclient $OSC_VERSION installed in $VENV"
