#!/usr/bin/env bash
# The host fan-out (issue 16): `neutrino bench --scenario hosts` against a fresh release
# `neutrino server --noauth`, once per host count, and a summary of the rounds.
#
#   scripts/bench-hosts.sh [RESULTS_DIR] [HOST_COUNTS] [CHANGES] [CONC]
#       defaults: /var/tmp/neutrino-bench-hosts "100 400 1000" 200 1,8
#
# Each host count gets its own server (fresh data dir, 127.0.0.1 only) with the listener's
# connection caps raised so every simulated agent's long poll is served; the bench runs
# with --networks 100 (or $NETWORKS) and the server's pid for CPU. Writes RESULTS_DIR/<UTC time>/:
# hosts-N.{txt,json}, server-N.log and summary.md. Everything it starts is stopped when it
# exits. Environment: CARGO_TARGET_DIR (/var/tmp/neutrino-target), PORT (19798); BIN, a
# neutrino binary to run instead of building this tree's (to compare builds); NETWORKS
# (100), or `tenth` for N/10 networks at N hosts (every network spans 30 hosts at any N,
# so a change concerns as many hosts at 100 hosts as at 1000).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/var/tmp/neutrino-bench-hosts}/$(date -u +%Y%m%dT%H%M%SZ)
COUNTS=${2:-100 400 1000}
K=${3:-200}
C=${4:-1,8}
PORT=${PORT:-19798}
NETWORKS=${NETWORKS:-100}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/neutrino-target}

if ss -ltn | grep -q ":$PORT "; then
    echo "something already listens on port $PORT; set PORT" >&2
    exit 1
fi
mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release -p neutrino)
    BIN=$CARGO_TARGET_DIR/release/neutrino
fi
cat > "$OUT/server.toml" <<'TOML'
[http]
max_connections = 4096           # one long poll per simulated agent, and the bench's calls
max_connections_per_address = 0  # every agent comes from 127.0.0.1
TOML

SERVER=
stop() {
    if [ -n "$SERVER" ]; then
        kill "$SERVER" 2>/dev/null || true
        while kill -0 "$SERVER" 2>/dev/null; do sleep 0.2; done
        SERVER=
    fi
}
trap stop EXIT INT TERM

failed=0
for n in $COUNTS; do
    data=$(mktemp -d "${TMPDIR:-/var/tmp}/neutrino-bench-hosts.XXXXXX")
    "$BIN" server --noauth --listen "127.0.0.1:$PORT" --data-dir "$data" --config "$OUT/server.toml" \
        > "$OUT/server-$n.log" 2>&1 &
    SERVER=$!
    until ss -ltn | grep -q ":$PORT "; do
        kill -0 "$SERVER" || { echo "server did not start: $OUT/server-$n.log" >&2; exit 1; }
        sleep 0.2
    done
    nets=$NETWORKS
    [ "$nets" = tenth ] && nets=$((n / 10))
    "$BIN" bench "http://127.0.0.1:$PORT" --scenario hosts --hosts "$n" --networks "$nets" --changes "$K" \
        -c "$C" --server-pid "$SERVER" --json "$OUT/hosts-$n.json" -q --label "hosts $n" \
        | tee "$OUT/hosts-$n.txt" || failed=1
    stop
    rm -rf "$data"
done

{
    echo "# host fan-out, $(git -C "$ROOT" rev-parse --short HEAD), $(date -u)"
    echo
    grep -h -m1 '^| hosts ' "$OUT"/hosts-*.txt | head -1
    grep -h -m1 '^|---:' "$OUT"/hosts-*.txt | head -1
    for n in $COUNTS; do grep -h "^| $n | [0-9]* | [0-9]* |" "$OUT/hosts-$n.txt"; done
} > "$OUT/summary.md"
cat "$OUT/summary.md"
exit $failed
