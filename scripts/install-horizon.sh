#!/usr/bin/env bash
# Installs what the Horizon browser test (crates/cli/tests/horizon_browser.rs,
# tests/horizon/) needs: Debian's chromium and chromium-driver, and a virtualenv with the
# OpenStack dashboard (PyPI `horizon`, unmodified) and selenium, its static assets collected
# and compressed, configured by tests/horizon/local_settings.py (only the Keystone URL):
#   ./scripts/install-horizon.sh            # venv in /var/tmp/neutrino-horizon-venv
#   NEUTRINO_HORIZON_VENV=/opt/horizon ./scripts/install-horizon.sh
# Versions come from tests/horizon/constraints.txt (horizon 27.0.0, Django 5.2, selenium and
# their dependencies, exact), which need Python >= 3.11. Idempotent: returns at once when the
# venv was built from the same constraints and settings. Run as root on Debian (apt-get).
# Env: NEUTRINO_HORIZON_VENV (venv path), NEUTRINO_HORIZON_PYTHON (interpreter to use first).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="${NEUTRINO_HORIZON_VENV:-/var/tmp/neutrino-horizon-venv}"
CONSTRAINTS="$ROOT/tests/horizon/constraints.txt"
SETTINGS="$ROOT/tests/horizon/local_settings.py"
# The stamp is the constraints and settings the venv was built from, written last.
STAMP="$VENV/neutrino-horizon-stamp.txt"

stamp() { cat "$CONSTRAINTS" "$SETTINGS"; }

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if ! command -v apt-get >/dev/null; then
    echo "chromium and chromedriver are missing and there is no apt-get to install them" >&2
    exit 1
  fi
  echo "== installing chromium and chromium-driver (apt-get)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
fi

installed() {
  [ -x "$VENV/bin/django-admin" ] && [ -f "$STAMP" ] && cmp -s <(stamp) "$STAMP"
}

if installed; then
  echo "horizon already in $VENV"
  exit 0
fi

# Two runs at once (the test suite and a developer) must not build the same venv together.
mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null; then
  exec 9>"$VENV.lock"
  flock 9
  if installed; then
    echo "horizon already in $VENV"
    exit 0
  fi
fi

usable_python() {
  "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}
PY=""
for candidate in "${NEUTRINO_HORIZON_PYTHON:-}" "$(command -v python3 || true)" /usr/bin/python3; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && usable_python "$candidate"; then
    PY=$candidate
    break
  fi
done
if [ -z "$PY" ]; then
  if ! command -v apt-get >/dev/null; then
    echo "no Python >= 3.11 with the venv module found (set NEUTRINO_HORIZON_PYTHON)" >&2
    exit 1
  fi
  echo "== installing python3-venv (apt-get)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv
  usable_python /usr/bin/python3 || {
    echo "/usr/bin/python3 is older than 3.11 or cannot make a venv" >&2
    exit 1
  }
  PY=/usr/bin/python3
fi

# Never delete a directory that is not a virtualenv (NEUTRINO_HORIZON_VENV may point anywhere).
if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ] && [ -n "$(ls -A "$VENV")" ]; then
  echo "$VENV exists and is not a virtualenv; not touching it" >&2
  exit 1
fi

echo "== creating $VENV with $PY ($("$PY" --version 2>&1))"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python3" -m pip install -q -c "$CONSTRAINTS" --upgrade pip
"$VENV/bin/python3" -m pip install -q -c "$CONSTRAINTS" horizon selenium

# Configure the dashboard as a deployment does: local_settings.py in openstack_dashboard/local,
# then the static assets collected and compressed ahead of time (COMPRESS_OFFLINE).
DASHBOARD=$("$VENV/bin/python3" -c 'import openstack_dashboard, os; print(os.path.dirname(openstack_dashboard.__file__))')
cp "$SETTINGS" "$DASHBOARD/local/local_settings.py"
echo "== collectstatic and compress"
(cd "$VENV" && PYTHONWARNINGS=ignore::DeprecationWarning "$VENV/bin/django-admin" collectstatic --noinput -v 0 --settings openstack_dashboard.settings)
(cd "$VENV" && PYTHONWARNINGS=ignore::DeprecationWarning "$VENV/bin/django-admin" compress --force -v 0 --settings openstack_dashboard.settings)
stamp >"$STAMP"
echo "horizon $("$VENV/bin/python3" -c 'from importlib.metadata import version; print(version("horizon"))') installed in $VENV"
