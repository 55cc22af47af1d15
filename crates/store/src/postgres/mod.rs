//! The PostgreSQL backend: several servers on one database.
//!
//! Driver: the blocking `postgres` crate (a thin wrapper over tokio-postgres). [`crate::Tx`]
//! is synchronous and its closures run on store threads, so a blocking client owned by each
//! thread mirrors the SQLite backend's shape exactly (a bounded write queue, a reader pool)
//! with no async bridging inside `Tx` methods. Its clients run their own small runtime, so
//! every connection is opened on the thread that owns it, never on a caller's tokio thread.
//!
//! Writes: one writer thread per server, each job its own transaction (no group commit: a
//! transaction per job is simpler and correct across servers). Every write transaction
//! first takes one transaction-scoped advisory lock ([`WRITE_LOCK`]), so writes are
//! serialised across every server on the database as SQLite's single writer serialises them
//! on one: the read-then-write logic of IPAM, segment allocation, quotas, subnet-pool
//! prefixes and `If-Match` stays exact, and change sequences commit in order (a feed reader
//! never sees seq N+1 before N). SERIALIZABLE with retries would let writes overlap, but a
//! [`crate::Job`] is `FnOnce` and cannot be re-run; that is a later change. Under the lock
//! no write transaction waits on another's row locks, so none fails with a serialization
//! failure or deadlock (SQLSTATE 40001/40P01) and there is nothing to retry; were one to
//! happen, it would answer 500 like any other database error.
//! A statement that may fail with a unique violation the caller handles (a taken address)
//! runs in its own savepoint, since PostgreSQL aborts the whole transaction on an error.
//! Reads: a fixed pool of reader threads, each job one `REPEATABLE READ READ ONLY`
//! transaction (one snapshot). Both queues are bounded; a full one refuses at once with
//! [`StoreError::Busy`] (503).
//!
//! Change feed: a write that recorded a change notifies [`listen::CHANNEL`] in its own
//! transaction (delivered at commit), and publishes its seq locally once committed; a
//! listener thread per backend publishes what the other servers commit ([`listen`]).

mod listen;
pub mod testing;
mod tx;

pub use listen::{APPLICATION_NAME as LISTENER_NAME, CHANNEL};

use crate::{refuse, Backend, Job, StoreError};
use postgres::{Client, IsolationLevel, NoTls};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tx::{PgTx, Statements};

/// The advisory lock every write transaction holds (an arbitrary constant: "ntrn").
pub const WRITE_LOCK: i64 = 0x6e74_726e;

/// Options for connecting to the database.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// A libpq-style connection string or `postgresql://` URL.
    pub url: String,
    /// Read connections (and reader threads).
    pub readers: usize,
    /// Most write jobs waiting for the writer; more are refused with [`StoreError::Busy`].
    pub write_queue: usize,
    /// Most read jobs waiting for a free reader; more are refused with [`StoreError::Busy`].
    pub read_queue: usize,
    /// How long a connection attempt may take when the URL does not say.
    pub connect_timeout: Duration,
    /// Longest the change-feed listener goes without reading `MAX(seq)` itself: the most a
    /// lost notification delays other servers' changes (see [`listen`]).
    pub change_poll: Duration,
}

impl PgOptions {
    /// Defaults for a database URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            readers: 4,
            write_queue: 2048,
            read_queue: 2048,
            connect_timeout: Duration::from_secs(5),
            change_poll: Duration::from_secs(1),
        }
    }
}

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_core.sql")),
    (2, include_str!("../../migrations/postgres/0002_identity.sql")),
    (3, include_str!("../../migrations/postgres/0003_rbac.sql")),
    (4, include_str!("../../migrations/postgres/0004_security_groups.sql")),
    (5, include_str!("../../migrations/postgres/0005_routers.sql")),
    (6, include_str!("../../migrations/postgres/0006_floatingips.sql")),
    (7, include_str!("../../migrations/postgres/0007_agents.sql")),
    (8, include_str!("../../migrations/postgres/0008_binding_failures.sql")),
    (9, include_str!("../../migrations/postgres/0009_dhcp_agents.sql")),
    (10, include_str!("../../migrations/postgres/0010_l3_agents.sql")),
    (11, include_str!("../../migrations/postgres/0011_revocation_events.sql")),
    (12, include_str!("../../migrations/postgres/0012_port_forwardings.sql")),
    (13, include_str!("../../migrations/postgres/0013_subnetpools.sql")),
    (14, include_str!("../../migrations/postgres/0014_address_groups.sql")),
    (15, include_str!("../../migrations/postgres/0015_flavors.sql")),
    (16, include_str!("../../migrations/postgres/0016_security_group_defaults.sql")),
    (17, include_str!("../../migrations/postgres/0017_auto_allocation.sql")),
    (18, include_str!("../../migrations/postgres/0018_keystone.sql")),
    (19, include_str!("../../migrations/postgres/0019_inactive_bindings.sql")),
    (20, include_str!("../../migrations/postgres/0020_signing_keys.sql")),
    (21, include_str!("../../migrations/postgres/0021_host_questions.sql")),
];

/// The PostgreSQL backend.
pub struct PgBackend {
    writer: mpsc::SyncSender<Job>,
    reads: mpsc::SyncSender<Job>,
    changes: tokio::sync::watch::Receiver<u64>,
    /// Dropped with the backend, which stops the change-feed listener.
    _listening: mpsc::Sender<()>,
    stats: Arc<crate::StoreStats>,
}

impl PgBackend {
    /// Connects, migrates the database if needed, and starts the writer and reader threads.
    /// Blocks until every connection is open (or one failed).
    pub fn open(opts: &PgOptions) -> Result<Arc<Self>, StoreError> {
        let mut config: postgres::Config = opts.url.parse().map_err(StoreError::Connect)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(opts.connect_timeout);
        }
        let (reads, read_jobs) = mpsc::sync_channel::<Job>(opts.read_queue.max(1));
        let read_jobs = Arc::new(Mutex::new(read_jobs));
        let (writer, write_jobs) = mpsc::sync_channel::<Job>(opts.write_queue.max(1));
        // The writer migrates before the readers connect: they may then rely on the schema.
        let (opened, latest) = mpsc::channel::<Result<u64, StoreError>>();
        let (notify_tx, notify_rx) = mpsc::channel();
        let writer_config = config.clone();
        let stats = Arc::new(crate::StoreStats::default());
        let writer_stats = stats.clone();
        spawn("neutrino-store-pg-writer".into(), move || {
            let mut client = match connect(&writer_config).and_then(|mut c| migrate(&mut c).map(|()| c)) {
                Ok(c) => c,
                Err(e) => return drop(opened.send(Err(e))),
            };
            let latest = match client.query_one("SELECT COALESCE(MAX(seq), 0) FROM changes", &[]) {
                Ok(row) => row.get::<_, i64>(0) as u64,
                Err(e) => return drop(opened.send(Err(StoreError::Connect(e)))),
            };
            let notify = Arc::new(tokio::sync::watch::channel(latest).0);
            let _ = notify_tx.send(notify.clone());
            let _ = opened.send(Ok(latest));
            writer_loop(&writer_config, &mut client, write_jobs, &notify, &writer_stats);
        })?;
        latest.recv().map_err(|_| StoreError::Closed)??;
        let notify = notify_rx.recv().map_err(|_| StoreError::Closed)?;
        let changes = notify.subscribe();
        let (listening, stop) = mpsc::channel();
        listen::spawn(config.clone(), opts.change_poll, notify, stop)?;
        for i in 0..opts.readers.max(1) {
            let (ready, ok) = mpsc::channel::<Result<(), StoreError>>();
            let (config, jobs) = (config.clone(), read_jobs.clone());
            spawn(format!("neutrino-store-pg-reader-{i}"), move || match connect(&config) {
                Ok(mut client) => {
                    let _ = ready.send(Ok(()));
                    reader_loop(&config, &mut client, jobs);
                }
                Err(e) => drop(ready.send(Err(e))),
            })?;
            ok.recv().map_err(|_| StoreError::Closed)??;
        }
        Ok(Arc::new(Self { writer, reads, changes, _listening: listening, stats }))
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name(name)
        .spawn(f)
        .map(drop)
        .map_err(|e| StoreError::TransactionFailed { step: "spawn", message: e.to_string() })
}

fn connect(config: &postgres::Config) -> Result<Client, StoreError> {
    config.connect(NoTls).map_err(StoreError::Connect)
}

/// Applies the migrations the database has not seen yet, all in one transaction under the
/// write lock, so two servers starting together migrate once.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut txn = client.transaction().map_err(StoreError::Connect)?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]).map_err(StoreError::Connect)?;
    txn.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .map_err(StoreError::Connect)?;
    for (version, sql) in MIGRATIONS {
        let done = txn
            .query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[version])
            .map_err(StoreError::Connect)?
            .is_some();
        if done {
            continue;
        }
        txn.batch_execute(sql).map_err(StoreError::Connect)?;
        txn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version]).map_err(StoreError::Connect)?;
        tracing::info!(version, "applied store migration (PostgreSQL)");
    }
    txn.commit().map_err(StoreError::Connect)
}

/// Reconnects a client whose connection broke (the server restarted); false when it cannot.
fn ensure_connected(config: &postgres::Config, client: &mut Client, statements: &mut Statements) -> bool {
    if !client.is_closed() {
        return true;
    }
    match connect(config) {
        Ok(fresh) => {
            *client = fresh;
            statements.clear();
            true
        }
        Err(e) => {
            tracing::error!(error = %neutrino_model::error::error_chain(&e), "cannot reconnect to PostgreSQL");
            false
        }
    }
}

fn writer_loop(
    config: &postgres::Config,
    client: &mut Client,
    rx: mpsc::Receiver<Job>,
    notify: &tokio::sync::watch::Sender<u64>,
    stats: &crate::StoreStats,
) {
    let mut statements = Statements::default();
    while let Ok(job) = rx.recv() {
        if !ensure_connected(config, client, &mut statements) {
            refuse(job, StoreError::TransactionFailed { step: "CONNECT", message: "database unreachable".into() });
            continue;
        }
        let failed = |step, e: postgres::Error| StoreError::TransactionFailed { step, message: e.to_string() };
        let mut txn = match client.transaction() {
            Ok(t) => t,
            Err(e) => {
                refuse(job, failed("BEGIN", e));
                continue;
            }
        };
        if let Err(e) = txn.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]) {
            refuse(job, failed("LOCK", e));
            continue;
        }
        let ran = {
            let mut tx = PgTx::new(&mut txn, &mut statements);
            // The job catches its own panics (see `erase`); this one catches a raw job's.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(&mut tx)))).map(|o| (o, tx.last_change))
        };
        let Ok((outcome, last_change)) = ran else {
            tracing::error!("a write job panicked; rolling it back, the writer keeps serving");
            continue;
        };
        if !outcome.keep {
            let _ = txn.rollback();
            (outcome.deliver)(Ok(()));
            continue;
        }
        // Other servers' listeners hear of the change when (and only if) it commits.
        if last_change > 0 {
            if let Err(e) = txn.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &last_change.to_string()]) {
                let _ = txn.rollback();
                (outcome.deliver)(Err(failed("NOTIFY", e)));
                continue;
            }
        }
        match stats.time_commit(|| txn.commit()) {
            Ok(()) => {
                if last_change > 0 {
                    crate::publish(notify, last_change);
                }
                (outcome.deliver)(Ok(()));
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed");
                (outcome.deliver)(Err(failed("COMMIT", e)));
            }
        }
    }
}

fn reader_loop(config: &postgres::Config, client: &mut Client, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut statements = Statements::default();
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let next = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        if !ensure_connected(config, client, &mut statements) {
            refuse(job, StoreError::TransactionFailed { step: "CONNECT", message: "database unreachable".into() });
            continue;
        }
        let begun = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start();
        let mut txn = match begun {
            Ok(t) => t,
            Err(e) => {
                refuse(job, StoreError::TransactionFailed { step: "BEGIN", message: e.to_string() });
                continue;
            }
        };
        let outcome = {
            let mut tx = PgTx::new(&mut txn, &mut statements);
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(&mut tx))))
        };
        let _ = txn.rollback();
        match outcome {
            Ok(outcome) => (outcome.deliver)(Ok(())),
            Err(_) => tracing::error!("a read job panicked; the reader keeps serving"),
        }
    }
}

impl Backend for PgBackend {
    fn submit_write(&self, job: Job) {
        crate::enqueue(&self.writer, job, "write");
    }

    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.clone()
    }

    fn submit_read(&self, job: Job) {
        crate::enqueue(&self.reads, job, "read");
    }

    fn stats(&self) -> Arc<crate::StoreStats> {
        self.stats.clone()
    }
}
