#!/usr/bin/env bash
# Installs python-openstackclient into a virtualenv (default /var/tmp/neutrino-osc-venv,
# override with NEUTRINO_OSC_VENV) for the client-compatibility test and for trying the
# server with `openstack`. Idempotent and quick when already installed.
set -euo pipefail
VENV="${NEUTRINO_OSC_VENV:-/var/tmp/neutrino-osc-venv}"
OSC_VERSION="${NEUTRINO_OSC_VERSION:-10.5.0}"
SDK_VERSION="${NEUTRINO_SDK_VERSION:-4.22.0}"

if [ -x "$VENV/bin/openstack" ] && "$VENV/bin/openstack" --version 2>/dev/null | grep -q "$OSC_VERSION"; then
  echo "python-openstackclient $OSC_VERSION already in $VENV"
  exit 0
fi

PY=$(command -v python3 || true)
if [ -z "$PY" ] || ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv
  PY=$(command -v python3)
fi

rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q "python-openstackclient==$OSC_VERSION" "openstacksdk==$SDK_VERSION"
"$VENV/bin/openstack" --version
