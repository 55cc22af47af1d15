#!/usr/bin/env bash
# Side-by-side benchmark on this machine: upstream Neutron 26 (../shared/neutron-peer) and
# neutrino, one after the other, measured by the same `neutrino bench` with the same
# parameters and the server's process tree given as --server-pid.
#
#   scripts/bench-compare.sh [RESULTS_DIR] [N] [M] [CONC]
#       defaults: /var/tmp/neutrino-bench-results 50 1000 8
#
# Writes RESULTS_DIR/<UTC time>/: neutron.{txt,json}, neutrino.{txt,json}, the servers' logs,
# meta.txt (machine, commit, parameters) and summary.md (req/s and p50/p99 side by side).
# Exits non-zero if either run had failed requests (after running both).
#
# Upstream runs through the peer's own scripts: setup.sh (renders its configs into the
# state dir, installs neutron and MariaDB only if they are missing, recreates the database)
# then `neutronctl.sh start`. neutrino is the release build of this tree, started as
# `neutrino server --noauth --listen 127.0.0.1:19797 --data-dir <fresh temp dir>`.
# Every server listens on 127.0.0.1 only and all benchmark traffic stays on loopback.
# Everything this script starts is stopped when it exits, on failure and on Ctrl-C too;
# it refuses to start if a neutron-server or something on the ports is already running,
# rather than disturb (or measure) someone else's.
#
# Environment: NEUTRON_PEER (peer scripts, default ../shared/neutron-peer),
# NEUTRON_PEER_DIR (peer state, default ~/.cache/neutron-peer), NEUTRON_PORT (19696),
# API_WORKERS (neutron API workers, 2), LIST_REPS (20), CARGO_TARGET_DIR
# (/var/tmp/neutrino-target), BENCH_DATA_PARENT (where neutrino's data dir goes, /var/tmp).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/var/tmp/neutrino-bench-results}
N=${2:-50}
M=${3:-1000}
C=${4:-8}
PEER=${NEUTRON_PEER:-$ROOT/../shared/neutron-peer}
export NEUTRON_PEER_DIR=${NEUTRON_PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/neutron-peer}
R=$NEUTRON_PEER_DIR
export NEUTRON_PORT=${NEUTRON_PORT:-19696}
NEUTRINO_LISTEN=127.0.0.1:19797
W=${API_WORKERS:-2}
REPS=${LIST_REPS:-20}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/neutrino-target}
# Loopback never goes through a proxy (curl and the peer scripts honour no_proxy).
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"

die() { echo "bench-compare: $*" >&2; exit 1; }
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_count "$N" || die "N must be a positive integer, not '$N'"
is_count "$M" || die "M must be a positive integer, not '$M'"
is_count "$REPS" || die "LIST_REPS must be a positive integer, not '$REPS'"
is_count "$W" || die "API_WORKERS must be a positive integer, not '$W'"
[[ $C =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "CONC must be a comma-separated list of positive integers, not '$C'"
[[ $NEUTRON_PORT =~ ^[0-9]+$ ]] || die "NEUTRON_PORT must be a port number"
[ -x "$PEER/setup.sh" ] && [ -x "$PEER/neutronctl.sh" ] || die "no upstream peer scripts in $PEER (set NEUTRON_PEER)"
# The peer's configs must keep its servers on loopback.
grep -Eq '^bind_host *= *127\.0\.0\.1 *$' "$PEER/templates/neutron.conf" || die "$PEER/templates/neutron.conf does not bind to 127.0.0.1"
grep -Eq '^bind-address *= *127\.0\.0\.1 *$' "$PEER/templates/my.cnf" || die "$PEER/templates/my.cnf does not bind to 127.0.0.1"
command -v curl >/dev/null || die "curl is needed (the peer scripts use it too)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
# The pid in a pid file, if that process is alive and runs the given command.
live_pid_of() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" && grep -q -- "$2" "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

if p=$(live_pid_of "$R/state/neutron-server.pid" neutron-server); then
  die "neutron-server is already running (pid $p); stop it first ($PEER/neutronctl.sh stop): this script restarts it on a fresh database"
fi
port_busy "$NEUTRON_PORT" && die "127.0.0.1:$NEUTRON_PORT is already in use"
port_busy "${NEUTRINO_LISTEN##*:}" && die "$NEUTRINO_LISTEN is already in use"

echo "== building neutrino (release)"
cargo build --release -p neutrino --manifest-path "$ROOT/Cargo.toml"
BIN=$CARGO_TARGET_DIR/release/neutrino
[ -x "$BIN" ] || die "no binary at $BIN"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
RUN=$OUT/$stamp
mkdir -p "$RUN"

STARTED_MARIADB=0
STARTED_NEUTRON=0
NEUTRINO_PID=
DATA=
NEUTRON_LOG_START=0
stop_pid() {  # TERM, wait up to 15 s, then KILL
  local pid=$1
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do pid_alive "$pid" || return 0; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null || true
}
save_neutron_log() {  # only this run's part of the peer's (appended) log
  tail -c +"$((NEUTRON_LOG_START + 1))" "$R/logs/neutron-server.log" >"$RUN/neutron-server.log" 2>/dev/null || true
}
stop_everything() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ -n "$NEUTRINO_PID" ]; then stop_pid "$NEUTRINO_PID"; wait "$NEUTRINO_PID" 2>/dev/null; fi
  [ -n "$DATA" ] && rm -rf -- "$DATA"
  if [ "$STARTED_NEUTRON" = 1 ]; then
    save_neutron_log
    "$PEER/neutronctl.sh" stop >/dev/null 2>&1
  fi
  if [ "$STARTED_MARIADB" = 1 ] && mp=$(live_pid_of "$R/mysql/mysqld.pid" mariadbd); then stop_pid "$mp"; fi
  exit "$rc"
}
trap stop_everything EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

{
  echo "date: $(date -u +%FT%TZ)"
  echo "neutrino commit: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
       "($(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) files changed)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "parameters: N=$N networks, M=$M ports, concurrency $C, list reps $REPS"
  echo "neutron: 26.0.6, api_workers=$W, http://127.0.0.1:$NEUTRON_PORT, state $R"
  echo "neutrino: $BIN server --noauth --listen $NEUTRINO_LISTEN (fresh data dir)"
} | tee "$RUN/meta.txt"

BENCH=(bench -n "$N" -m "$M" -c "$C" --list-reps "$REPS" --prefix lg)
failed=0

echo "== upstream Neutron"
if ! mariadb-admin --socket="$R/mysql/mysqld.sock" -uroot ping >/dev/null 2>&1; then STARTED_MARIADB=1; fi
"$PEER/setup.sh"  # renders configs, installs only what is missing, fresh database (starts MariaDB)
NEUTRON_LOG_START=$(stat -c %s "$R/logs/neutron-server.log" 2>/dev/null || echo 0)
STARTED_NEUTRON=1
"$PEER/neutronctl.sh" start "$W"
UPID=$(live_pid_of "$R/state/neutron-server.pid" neutron-server) || die "neutron-server did not stay up"
MPID=$(live_pid_of "$R/mysql/mysqld.pid" mariadbd) || die "MariaDB is not running"
"$PEER/neutronctl.sh" status >"$RUN/neutron-memory-before.txt" 2>&1 || true
"$BIN" "${BENCH[@]}" "http://127.0.0.1:$NEUTRON_PORT" --server-pid "$UPID" --db-pid "$MPID" \
  --label "neutron-26.0.6 api_workers=$W" --json "$RUN/neutron.json" 2>&1 | tee "$RUN/neutron.txt" || failed=1
"$PEER/neutronctl.sh" status >"$RUN/neutron-memory-after.txt" 2>&1 || true
save_neutron_log
"$PEER/neutronctl.sh" stop
STARTED_NEUTRON=0
if [ "$STARTED_MARIADB" = 1 ] && mp=$(live_pid_of "$R/mysql/mysqld.pid" mariadbd); then
  stop_pid "$mp"  # not needed by neutrino; keep the machine as quiet as it was
  STARTED_MARIADB=0
fi

echo "== neutrino"
DATA=$(mktemp -d "${BENCH_DATA_PARENT:-/var/tmp}/neutrino-bench-data.XXXXXX")
env -u NEUTRINO_CONFIG "$BIN" server --noauth --listen "$NEUTRINO_LISTEN" --data-dir "$DATA" \
  >"$RUN/neutrino-server.log" 2>&1 </dev/null &
NEUTRINO_PID=$!
for _ in $(seq 1 100); do
  pid_alive "$NEUTRINO_PID" || die "neutrino server exited, see $RUN/neutrino-server.log"
  curl -sf -m 2 --noproxy '*' -o /dev/null "http://$NEUTRINO_LISTEN/v2.0/networks?limit=1" && break
  sleep 0.2
done
curl -sf -m 2 --noproxy '*' -o /dev/null "http://$NEUTRINO_LISTEN/v2.0/networks?limit=1" \
  || die "neutrino server not answering on $NEUTRINO_LISTEN, see $RUN/neutrino-server.log"
"$BIN" "${BENCH[@]}" "http://$NEUTRINO_LISTEN" --server-pid "$NEUTRINO_PID" \
  --label "neutrino --noauth (release)" --json "$RUN/neutrino.json" 2>&1 | tee "$RUN/neutrino.txt" || failed=1
stop_pid "$NEUTRINO_PID"
wait "$NEUTRINO_PID" 2>/dev/null || true
NEUTRINO_PID=

# Side by side, per phase of each concurrency level (python3 is there: the peer needs it).
python3 - "$RUN/neutron.json" "$RUN/neutrino.json" >"$RUN/summary.md" <<'EOF' || echo "no summary (a run wrote no JSON)" >&2
import json, sys
up, ours = (json.load(open(p)) for p in sys.argv[1:3])
key = lambda r: (r["concurrency"], r["op"])
theirs = {key(r): r for r in up["results"]}
print("| conc | op | Neutron req/s | Neutron p50 / p99 ms | neutrino req/s | neutrino p50 / p99 ms | req/s ratio |")
print("|---:|---|---:|---:|---:|---:|---:|")
for r in ours["results"]:
    u = theirs.get(key(r))
    if u is None:
        continue
    ratio = "%.0f×" % (r["rps"] / u["rps"]) if u["rps"] else "n/a"
    fmt = lambda x: "nan" if x is None else "%.1f" % x
    print("| %d | %s | %.1f | %s / %s | %.1f | %s / %s | %s |" % (
        r["concurrency"], r["op"], u["rps"], fmt(u["p50_ms"]), fmt(u["p99_ms"]),
        r["rps"], fmt(r["p50_ms"]), fmt(r["p99_ms"]), ratio))
mib = lambda d: "n/a" if d.get("server_rss_kib_after") is None else "%.0f MiB" % (d["server_rss_kib_after"] / 1024)
print("\nServer RSS after the run (process tree): Neutron %s (MariaDB not included), neutrino %s." % (mib(up), mib(ours)))
EOF
[ -s "$RUN/summary.md" ] && cat "$RUN/summary.md"
echo "results in $RUN"
exit "$failed"
