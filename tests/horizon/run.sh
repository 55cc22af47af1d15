#!/usr/bin/env bash
# Runs the Horizon browser test with the first python3 on PATH (the Horizon virtualenv's, as
# crates/cli/tests/osc_workflow.rs puts it first):
#   tests/horizon/run.sh NEUTRINO_URL ADMIN_PASSWORD ARTEFACT_DIR
set -euo pipefail
exec python3 "$(dirname "$0")/browser_test.py" "$@"
