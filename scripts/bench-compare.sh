#!/usr/bin/env bash
# Side-by-side benchmark on this machine: upstream Neutron 26 (../shared/neutron-peer) and
# neutrino, one after the other, measured by the same `neutrino bench` with the same
# parameters. Everything listens on loopback; everything started here is stopped on exit.
#
#   ./scripts/bench-compare.sh [RESULTS_DIR] [N] [M] [CONC]     (defaults: /var/tmp/neutrino-bench-results 50 1000 8)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-/var/tmp/neutrino-bench-results}"; N="${2:-50}"; M="${3:-1000}"; C="${4:-8}"
PEER="$(pwd)/../shared/neutron-peer"
STATE="${NEUTRON_PEER_DIR:-$HOME/.cache/neutron-peer}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/neutrino-target}"
NEUTRINO_PORT=19797
mkdir -p "$OUT"

cargo build --release --locked -p neutrino
BIN="$CARGO_TARGET_DIR/release/neutrino"
DATA=$(mktemp -d)
NPID=""
stop_all() {
  [ -n "$NPID" ] && kill "$NPID" 2>/dev/null || true
  [ -x "$PEER/neutronctl.sh" ] && "$PEER/neutronctl.sh" stop >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap stop_all EXIT

stamp=$(date -u +%Y%m%dT%H%M%SZ)
if [ -x "$PEER/setup.sh" ]; then
  echo "== upstream Neutron"
  [ -x "$STATE/venv26/bin/neutron-server" ] || "$PEER/setup.sh"
  "$PEER/neutronctl.sh" stop >/dev/null 2>&1 || true
  "$PEER/neutronctl.sh" reset-db
  "$PEER/neutronctl.sh" start 2
  UPID=$(cat "$STATE/state/neutron-server.pid")
  "$BIN" bench http://127.0.0.1:19696 -n "$N" -m "$M" -c "$C" --server-pid "$UPID" \
    --label "neutron-26.0.6 api_workers=2" --json "$OUT/neutron-$stamp.json" | tee "$OUT/neutron-$stamp.txt"
  "$PEER/neutronctl.sh" stop
else
  echo "no ../shared/neutron-peer: upstream run skipped" >&2
fi

echo "== neutrino"
"$BIN" server --noauth --listen "127.0.0.1:$NEUTRINO_PORT" --data-dir "$DATA" >"$OUT/neutrino-server-$stamp.log" 2>&1 &
NPID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$NEUTRINO_PORT/" >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN" bench "http://127.0.0.1:$NEUTRINO_PORT" -n "$N" -m "$M" -c "$C" --server-pid "$NPID" \
  --label "neutrino sqlite full-durability" --json "$OUT/neutrino-$stamp.json" | tee "$OUT/neutrino-$stamp.txt"
echo "results in $OUT"
