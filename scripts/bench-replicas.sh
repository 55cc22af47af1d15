#!/usr/bin/env bash
# Port creates/s with several `neutrino server` replicas on one PostgreSQL, side by side in
# one run with one server on SQLite and upstream Neutron 26 on MariaDB (issue 16), all
# measured by the same `neutrino bench` (load.py's ports scenario) with the same load.
#
#   scripts/bench-replicas.sh [RESULTS_DIR] [N] [M] [CONC]
#       defaults: /var/tmp/neutrino-bench-replicas 50 1000 16
#
# Configurations, in this order (CONFIGS to pick some): sqlite (one server, embedded store),
# pg1, pg2, pg4 (1, 2, 4 servers on one PostgreSQL database, a fresh database each; the
# bench spreads requests over them round-robin per request), neutron (upstream, API_WORKERS
# API workers, through ../shared/neutron-peer as scripts/bench-compare.sh runs it).
# Every neutrino server is the release build of this tree with --noauth on 127.0.0.1.
#
# PostgreSQL 15 is a throwaway cluster this script starts: initdb in a temp dir, listening
# on a unix socket in that dir only (no TCP), with production durability by default (fsync
# on, synchronous_commit on, full_page_writes on) and pg_stat_statements; removed on exit.
# During each PostgreSQL configuration it samples pg_stat_activity (state and wait event of
# the neutrino backends, 5 times a second) and keeps the top statements and transaction
# counts, so the report can say where the database's time goes.
#
# Writes RESULTS_DIR/<UTC time>/: CONFIG.{txt,json} (the bench's table and JSON),
# CONFIG-server*.log, pgN-waits.txt and pgN-statements.txt, meta.txt (machine, commit,
# load, parameters, database settings) and summary.md (one row per configuration).
# Everything it starts is stopped when it exits, on failure and on Ctrl-C too; it refuses
# to start if a neutron-server or something on its ports is already running.
#
# Environment: CONFIGS ("sqlite pg1 pg2 pg4 neutron"), NEUTRON_PEER (peer scripts, default
# ../shared/neutron-peer), NEUTRON_PEER_DIR, NEUTRON_PORT (19696), API_WORKERS (2),
# LIST_REPS (2: the list phases are not what this compares), BASE_PORT (19811: neutrino
# servers on BASE_PORT..BASE_PORT+3), PG_SYNCHRONOUS_COMMIT (on; off shows what the WAL
# flush costs: a commit then returns before its WAL is on disk), CARGO_TARGET_DIR
# (/var/tmp/neutrino-target).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/var/tmp/neutrino-bench-replicas}
N=${2:-50}
M=${3:-1000}
C=${4:-16}
CONFIGS=${CONFIGS:-sqlite pg1 pg2 pg4 neutron}
PEER=${NEUTRON_PEER:-$ROOT/../shared/neutron-peer}
export NEUTRON_PEER_DIR=${NEUTRON_PEER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/neutron-peer}
R=$NEUTRON_PEER_DIR
export NEUTRON_PORT=${NEUTRON_PORT:-19696}
W=${API_WORKERS:-2}
REPS=${LIST_REPS:-2}
BASE_PORT=${BASE_PORT:-19811}
SYNC_COMMIT=${PG_SYNCHRONOUS_COMMIT:-on}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/neutrino-target}
export no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"

die() { echo "bench-replicas: $*" >&2; exit 1; }
is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_count "$N" || die "N must be a positive integer, not '$N'"
is_count "$M" || die "M must be a positive integer, not '$M'"
is_count "$C" || die "CONC must be one positive integer, not '$C'"
is_count "$REPS" || die "LIST_REPS must be a positive integer"
is_count "$W" || die "API_WORKERS must be a positive integer"
[[ $BASE_PORT =~ ^[0-9]+$ ]] || die "BASE_PORT must be a port number"
[[ $SYNC_COMMIT =~ ^(on|off)$ ]] || die "PG_SYNCHRONOUS_COMMIT must be on or off"
for c in $CONFIGS; do [[ $c =~ ^(sqlite|pg1|pg2|pg4|neutron)$ ]] || die "unknown configuration '$c'"; done
PGBIN=$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null) || die "PostgreSQL 15 is not installed (apt-get install postgresql-15)"
if [[ " $CONFIGS " == *" neutron "* ]]; then
  [ -x "$PEER/setup.sh" ] && [ -x "$PEER/neutronctl.sh" ] || die "no upstream peer scripts in $PEER (set NEUTRON_PEER)"
  grep -Eq '^bind_host *= *127\.0\.0\.1 *$' "$PEER/templates/neutron.conf" || die "the peer's neutron.conf does not bind to 127.0.0.1"
  grep -Eq '^bind-address *= *127\.0\.0\.1 *$' "$PEER/templates/my.cnf" || die "the peer's my.cnf does not bind to 127.0.0.1"
fi
command -v curl >/dev/null || die "curl is needed"
command -v python3 >/dev/null || die "python3 is needed (summary)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
live_pid_of() {  # the pid in a pid file, if alive and running the given command
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" && grep -q -- "$2" "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}
if p=$(live_pid_of "$R/state/neutron-server.pid" neutron-server); then
  die "neutron-server is already running (pid $p); stop it first: this script restarts it on a fresh database"
fi
for i in 0 1 2 3; do port_busy $((BASE_PORT + i)) && die "127.0.0.1:$((BASE_PORT + i)) is already in use (set BASE_PORT)"; done
port_busy "$NEUTRON_PORT" && die "127.0.0.1:$NEUTRON_PORT is already in use"

echo "== building neutrino (release)"
cargo build --release -p neutrino --manifest-path "$ROOT/Cargo.toml"
BIN=$CARGO_TARGET_DIR/release/neutrino
[ -x "$BIN" ] || die "no binary at $BIN"

RUN=$OUT/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RUN"

# --- what this script started, stopped on exit ----------------------------------------
SERVER_PIDS=()
DATA_DIRS=()
PGDIR=
PG_STARTED=0
SAMPLER=
STARTED_MARIADB=0
STARTED_NEUTRON=0
NEUTRON_LOG_START=0
stop_pid() {  # TERM, wait up to 15 s, then KILL
  pid_alive "$1" || return 0
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 30); do pid_alive "$1" || return 0; sleep 0.5; done
  kill -KILL "$1" 2>/dev/null || true
}
as_pg() {  # PostgreSQL refuses to run as root: its binaries run as `postgres` then
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
psql_q() { "$PGBIN/psql" -XAtq -h "$PGDIR" -U postgres "$@"; }
stop_servers() {
  local p
  for p in "${SERVER_PIDS[@]}"; do stop_pid "$p"; wait "$p" 2>/dev/null || true; done
  SERVER_PIDS=()
  for d in "${DATA_DIRS[@]}"; do rm -rf -- "$d"; done
  DATA_DIRS=()
}
stop_sampler() {
  if [ -n "$SAMPLER" ]; then touch "$PGDIR/sampler.stop"; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=; fi
}
save_neutron_log() {
  tail -c +"$((NEUTRON_LOG_START + 1))" "$R/logs/neutron-server.log" >"$RUN/neutron-server.log" 2>/dev/null || true
}
stop_everything() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  stop_sampler
  stop_servers
  if [ "$PG_STARTED" = 1 ]; then as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1; fi
  [ -n "$PGDIR" ] && rm -rf -- "$PGDIR"
  if [ "$STARTED_NEUTRON" = 1 ]; then save_neutron_log; "$PEER/neutronctl.sh" stop >/dev/null 2>&1; fi
  if [ "$STARTED_MARIADB" = 1 ] && mp=$(live_pid_of "$R/mysql/mysqld.pid" mariadbd); then stop_pid "$mp"; fi
  exit "$rc"
}
trap stop_everything EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- PostgreSQL ------------------------------------------------------------------------
# Production durability; sizes for a small machine; pg_stat_statements for the profile.
PG_SETTINGS=(
  "fsync = on" "synchronous_commit = $SYNC_COMMIT" "full_page_writes = on" "wal_sync_method = fdatasync"
  "max_connections = 100" "shared_buffers = 512MB" "max_wal_size = 4GB" "checkpoint_timeout = 15min"
  "listen_addresses = ''" "shared_preload_libraries = 'pg_stat_statements'" "pg_stat_statements.track = all"
)
start_postgres() {
  PGDIR=$(mktemp -d "${BENCH_DATA_PARENT:-/var/tmp}/neutrino-bench-pg.XXXXXX")
  [ "$(id -u)" = 0 ] && chown postgres: "$PGDIR"
  as_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 --locale=C >"$RUN/postgres-initdb.log" 2>&1
  printf '%s\n' "${PG_SETTINGS[@]}" | as_pg tee -a "$PGDIR/data/postgresql.conf" >/dev/null
  PG_STARTED=1
  as_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -o "-k $PGDIR" -w start >/dev/null
  psql_q -d postgres -c "CREATE EXTENSION pg_stat_statements" >/dev/null
}
pg_pid() { head -1 "$PGDIR/data/postmaster.pid"; }

# Samples what the database's backends are doing: "state wait_event_type:wait_event", one
# line per backend of the configuration's database that is inside a statement or a
# transaction (idle connections left out), 20 times a second, over one connection.
# It stops when the stop file appears (psql then reads end of input and exits too).
start_sampler() {
  local db=$1 out=$2
  local query="SELECT state || ' ' || coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity \
WHERE datname = '$db' AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND state <> 'idle';"
  rm -f "$PGDIR/sampler.stop"
  ( while [ ! -e "$PGDIR/sampler.stop" ]; do echo "$query"; sleep 0.05; done | psql_q -d postgres >"$out" 2>/dev/null ) &
  SAMPLER=$!
}

# --- neutrino servers ------------------------------------------------------------------
# Starts `count` servers (on the database URL, or SQLite when empty), one after the other
# so the first migrates alone; sets URLS and PIDS.
start_servers() {
  local name=$1 count=$2 url=$3 i port data pid
  local db=()
  [ -n "$url" ] && db=(--database-url "$url")
  URLS=() PIDS=()
  for ((i = 0; i < count; i++)); do
    port=$((BASE_PORT + i))
    data=$(mktemp -d "${BENCH_DATA_PARENT:-/var/tmp}/neutrino-bench-data.XXXXXX")
    DATA_DIRS+=("$data")
    env -u NEUTRINO_CONFIG -u NEUTRINO_DATABASE_URL "$BIN" server --noauth --listen "127.0.0.1:$port" \
      --data-dir "$data" "${db[@]}" >"$RUN/$name-server$i.log" 2>&1 </dev/null &
    pid=$!
    SERVER_PIDS+=("$pid")
    PIDS+=("$pid")
    for _ in $(seq 1 150); do
      pid_alive "$pid" || die "neutrino server $i of $name exited, see $RUN/$name-server$i.log"
      curl -sf -m 2 --noproxy '*' -o /dev/null "http://127.0.0.1:$port/v2.0/networks?limit=1" && break
      sleep 0.2
    done
    curl -sf -m 2 --noproxy '*' -o /dev/null "http://127.0.0.1:$port/v2.0/networks?limit=1" \
      || die "neutrino server $i of $name not answering, see $RUN/$name-server$i.log"
    URLS+=("http://127.0.0.1:$port")
  done
}

BENCH=(bench -n "$N" -m "$M" -c "$C" --list-reps "$REPS" --prefix lg)
failed=0
join() { local IFS=,; echo "$*"; }

run_neutrino() {  # sqlite | pgK
  local name=$1 count=1 url= db=
  local dbpid=()
  if [[ $name == pg* ]]; then
    count=${name#pg}
    db=nt_$name
    [ -n "$PGDIR" ] || start_postgres
    psql_q -d postgres -c "CREATE DATABASE $db" >/dev/null
    url="host=$PGDIR user=postgres dbname=$db"
  fi
  echo "== $name: $count neutrino server(s) on ${db:-SQLite}"
  start_servers "$name" "$count" "$url"
  if [ -n "$url" ]; then
    psql_q -d postgres -c "SELECT pg_stat_statements_reset()" >/dev/null
    start_sampler "$db" "$RUN/$name-waits.raw"
    dbpid=(--db-pid "$(pg_pid)")
  fi
  "$BIN" "${BENCH[@]}" "$(join "${URLS[@]}")" --server-pid "$(join "${PIDS[@]}")" "${dbpid[@]}" \
    --label "$name: $count neutrino --noauth (release) on ${db:-SQLite}" --json "$RUN/$name.json" \
    2>&1 | tee "$RUN/$name.txt" || failed=1
  if [ -n "$url" ]; then
    stop_sampler
    sort "$RUN/$name-waits.raw" | uniq -c | sort -rn >"$RUN/$name-waits.txt"
    rm -f "$RUN/$name-waits.raw"
    local of_db="(SELECT oid FROM pg_database WHERE datname = '$db')"
    {
      echo "# transactions (pg_stat_database) of $db over the whole run (setup, lists and deletes included)"
      psql_q -d postgres -c "SELECT 'commits ' || xact_commit || ', rollbacks ' || xact_rollback \
        FROM pg_stat_database WHERE datname = '$db'"
      echo "# top statements by total time: calls | total ms | mean ms | rows | query"
      psql_q -d postgres -F ' | ' -c "SELECT calls, round(total_exec_time::numeric, 1), \
        round(mean_exec_time::numeric, 3), rows, left(regexp_replace(query, '\s+', ' ', 'g'), 110) \
        FROM pg_stat_statements WHERE dbid = $of_db ORDER BY total_exec_time DESC LIMIT 60"
      echo "# statements in all: calls"
      psql_q -d postgres -c "SELECT sum(calls) FROM pg_stat_statements WHERE dbid = $of_db"
    } >"$RUN/$name-statements.txt" 2>&1
  fi
  stop_servers
}

run_neutron() {
  echo "== upstream Neutron 26 on MariaDB, api_workers=$W"
  if ! mariadb-admin --socket="$R/mysql/mysqld.sock" -uroot ping >/dev/null 2>&1; then STARTED_MARIADB=1; fi
  "$PEER/setup.sh"  # configs, installs only what is missing, a fresh database (starts MariaDB)
  NEUTRON_LOG_START=$(stat -c %s "$R/logs/neutron-server.log" 2>/dev/null || echo 0)
  STARTED_NEUTRON=1
  "$PEER/neutronctl.sh" start "$W"
  local upid mpid
  upid=$(live_pid_of "$R/state/neutron-server.pid" neutron-server) || die "neutron-server did not stay up"
  mpid=$(live_pid_of "$R/mysql/mysqld.pid" mariadbd) || die "MariaDB is not running"
  "$BIN" "${BENCH[@]}" "http://127.0.0.1:$NEUTRON_PORT" --server-pid "$upid" --db-pid "$mpid" \
    --label "neutron-26.0.6 api_workers=$W on MariaDB" --json "$RUN/neutron.json" 2>&1 | tee "$RUN/neutron.txt" || failed=1
  save_neutron_log
  "$PEER/neutronctl.sh" stop
  STARTED_NEUTRON=0
  if [ "$STARTED_MARIADB" = 1 ] && mp=$(live_pid_of "$R/mysql/mysqld.pid" mariadbd); then stop_pid "$mp"; STARTED_MARIADB=0; fi
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "neutrino commit: $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
       "($(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) files changed)"
  echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "parameters: N=$N networks, M=$M port creates at concurrency $C, list reps $REPS; configurations: $CONFIGS"
  echo "neutrino: $BIN server --noauth (release), 127.0.0.1:$BASE_PORT.., requests round-robin per request over the servers"
  echo "postgresql: $("$PGBIN/postgres" --version), throwaway cluster (unix socket only): ${PG_SETTINGS[*]}"
  echo "neutron: 26.0.6, api_workers=$W, MariaDB $(mariadbd --version 2>/dev/null | awk '{print $3}') with the peer's my.cnf (InnoDB defaults: innodb_flush_log_at_trx_commit=1)"
  echo "note: every server, both databases and the bench share these $(nproc) cores"
} | tee "$RUN/meta.txt"

for config in $CONFIGS; do
  case $config in
    neutron) run_neutron ;;
    *) run_neutrino "$config" ;;
  esac
  echo "load average after $config: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/meta.txt"
done

python3 - "$RUN" $CONFIGS >"$RUN/summary.md" <<'EOF' || echo "no summary" >&2
import json, os, sys
run, configs = sys.argv[1], sys.argv[2:]
names = {"sqlite": "1 neutrino, SQLite", "pg1": "1 neutrino, PostgreSQL", "pg2": "2 neutrino, PostgreSQL",
         "pg4": "4 neutrino, PostgreSQL", "neutron": "Neutron 26, MariaDB"}
f = lambda x: "n/a" if x is None else "%.1f" % x
f2 = lambda x: "n/a" if x is None else "%.2f" % x
print("| configuration | create_port req/s | p50 ms | p99 ms | srv CPU ms/req | db CPU ms/req | create_network req/s | delete_port req/s | failed |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for c in configs:
    path = os.path.join(run, c + ".json")
    if not os.path.exists(path):
        print("| %s | no result |||||||" % names[c]); continue
    d = json.load(open(path))
    rows = {r["op"]: r for r in d["results"]}
    cp, cn, dp = rows.get("create_port", {}), rows.get("create_network", {}), rows.get("delete_port", {})
    print("| %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (names[c], f(cp.get("rps")), f(cp.get("p50_ms")),
          f(cp.get("p99_ms")), f2(cp.get("srv_cpu_ms_per_req")), f2(cp.get("db_cpu_ms_per_req")), f(cn.get("rps")),
          f(dp.get("rps")), d["failed_requests"]))
for c in configs:
    path = os.path.join(run, c + "-waits.txt")
    if not os.path.exists(path):
        continue
    samples = [l.split(None, 1) for l in open(path) if l.strip()]
    total = sum(int(n) for n, _ in samples) or 1
    top = ", ".join("%s %.0f%%" % (what.strip(), 100.0 * int(n) / total) for n, what in samples[:6])
    print("\n%s: backends in a transaction, %d samples over the run: %s" % (c, total, top))
EOF
cat "$RUN/summary.md"
echo "results in $RUN"
exit "$failed"
