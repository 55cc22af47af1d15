#!/usr/bin/env bash
# Installs openapi-spec-validator into a virtualenv for the test that validates
# `GET /openapi.json` (crates/server/tests/api/openapi.rs runs this script itself):
#   ./scripts/install-openapi-validator.sh     # venv in /var/tmp/neutrino-openapi-venv
# Versions come from tests/openapi/constraints.txt (exact). Idempotent: returns at once when
# the venv already holds exactly those versions; two runs at once wait on a lock.
# Env: NEUTRINO_OPENAPI_VENV (venv path), NEUTRINO_OPENAPI_PYTHON (interpreter to use first).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="${NEUTRINO_OPENAPI_VENV:-/var/tmp/neutrino-openapi-venv}"
CONSTRAINTS="$ROOT/tests/openapi/constraints.txt"
# The stamp is a copy of the constraints the venv was built from, written last.
STAMP="$VENV/neutrino-openapi-constraints.txt"

installed() {
  [ -x "$VENV/bin/python3" ] && cmp -s "$CONSTRAINTS" "$STAMP" &&
    "$VENV/bin/python3" -c 'import openapi_spec_validator' 2>/dev/null
}

if installed; then
  exit 0
fi

mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null; then
  exec 9>"$VENV.lock"
  flock 9
  if installed; then
    exit 0
  fi
fi

PY=""
for py in "${NEUTRINO_OPENAPI_PYTHON:-}" "$(command -v python3 || true)" /usr/bin/python3; do
  if [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
    PY=$py
    break
  fi
done
if [ -z "$PY" ]; then
  echo "no Python >= 3.9 with the venv module found; install python3-venv (or set NEUTRINO_OPENAPI_PYTHON)" >&2
  exit 1
fi

# Never delete a directory that is not a virtualenv (NEUTRINO_OPENAPI_VENV may point anywhere).
if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ] && [ -n "$(ls -A "$VENV")" ]; then
  echo "$VENV exists and is not a virtualenv; not touching it" >&2
  exit 1
fi

echo "== creating $VENV with $PY ($("$PY" --version 2>&1))"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/python3" -m pip install -q -c "$CONSTRAINTS" openapi-spec-validator
cp "$CONSTRAINTS" "$STAMP"
installed || {
  echo "openapi-spec-validator did not install into $VENV" >&2
  exit 1
}
echo "openapi-spec-validator installed in $VENV"
