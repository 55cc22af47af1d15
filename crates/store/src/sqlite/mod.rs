//! The embedded SQLite backend (WAL mode).
//!
//! Writes: one writer thread owns the only write connection. It takes every job that is
//! queued, runs each inside its own SAVEPOINT of one `BEGIN IMMEDIATE` transaction, and
//! commits once (group commit): a failed job is rolled back to its savepoint without
//! touching the others, and no job's result is released before the commit has returned.
//! Reads: a small pool of read-only connections, each read a consistent WAL snapshot.

mod tx;

use crate::{Backend, Job, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tx::SqliteTx;

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync the WAL at every commit: nothing acknowledged is ever lost (default).
    #[default]
    Full,
    /// fsync at checkpoints only: survives a process crash, may lose the last commits on
    /// power loss.
    Normal,
}

/// Options for opening the store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Database file path.
    pub path: PathBuf,
    /// Commit durability.
    pub durability: Durability,
    /// Read connections.
    pub readers: usize,
    /// Most jobs committed together.
    pub max_batch: usize,
}

impl SqliteOptions {
    /// Defaults for a database file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), durability: Durability::Full, readers: 4, max_batch: 256 }
    }
}

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_core.sql")),
    (2, include_str!("../../migrations/sqlite/0002_identity.sql")),
    (3, include_str!("../../migrations/sqlite/0003_rbac.sql")),
    (4, include_str!("../../migrations/sqlite/0004_security_groups.sql")),
    (5, include_str!("../../migrations/sqlite/0005_routers.sql")),
    (6, include_str!("../../migrations/sqlite/0006_floatingips.sql")),
    (7, include_str!("../../migrations/sqlite/0007_agents.sql")),
    (8, include_str!("../../migrations/sqlite/0008_binding_failures.sql")),
    (9, include_str!("../../migrations/sqlite/0009_dhcp_agents.sql")),
    (10, include_str!("../../migrations/sqlite/0010_l3_agents.sql")),
    (11, include_str!("../../migrations/sqlite/0011_revocation_events.sql")),
];

/// The SQLite backend.
pub struct SqliteBackend {
    writer: Mutex<mpsc::Sender<Job>>,
    changes: tokio::sync::watch::Receiver<u64>,
    readers: Mutex<Vec<Connection>>,
    path: PathBuf,
}

impl SqliteBackend {
    /// Opens (creating and migrating if needed) the database and starts the writer thread.
    pub fn open(opts: &SqliteOptions) -> Result<Arc<Self>, StoreError> {
        let open_err = |source| StoreError::Open { path: opts.path.display().to_string(), source };
        let mut conn = Connection::open(&opts.path).map_err(open_err)?;
        configure(&conn, opts.durability).map_err(open_err)?;
        migrate(&mut conn).map_err(open_err)?;
        let mut readers = Vec::with_capacity(opts.readers);
        for _ in 0..opts.readers.max(1) {
            readers.push(open_reader(&opts.path).map_err(open_err)?);
        }
        let latest: i64 =
            conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| r.get(0)).map_err(open_err)?;
        let (notify, changes) = tokio::sync::watch::channel(latest as u64);
        let (tx, rx) = mpsc::channel::<Job>();
        let max_batch = opts.max_batch.max(1);
        std::thread::Builder::new()
            .name("neutrino-store-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch, notify))
            .map_err(|e| StoreError::Open {
                path: opts.path.display().to_string(),
                source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
            })?;
        Ok(Arc::new(Self { writer: Mutex::new(tx), changes, readers: Mutex::new(readers), path: opts.path.clone() }))
    }

    fn take_reader(&self) -> Result<Connection, StoreError> {
        let pooled = self.readers.lock().map(|mut pool| pool.pop()).unwrap_or(None);
        match pooled {
            Some(conn) => Ok(conn),
            None => open_reader(&self.path).map_err(StoreError::from),
        }
    }
}

fn configure(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(())
}

fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Applies the migrations the database has not seen yet, each in its own transaction.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )?;
    for (version, sql) in MIGRATIONS {
        let done: bool =
            conn.query_row("SELECT COUNT(*) > 0 FROM schema_migrations WHERE version = ?1", [version], |r| r.get(0))?;
        if done {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES (?1)", [version])?;
        tx.commit()?;
        tracing::info!(version, "applied store migration");
    }
    Ok(())
}

fn writer_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Job>,
    max_batch: usize,
    notify: tokio::sync::watch::Sender<u64>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, batch, &notify);
    }
}

/// Publishes a committed change sequence to the watchers.
fn publish(notify: &tokio::sync::watch::Sender<u64>, seq: u64) {
    notify.send_if_modified(|latest| {
        let newer = seq > *latest;
        if newer {
            *latest = seq;
        }
        newer
    });
}

/// Runs a batch in one transaction. After the commit the highest change sequence is
/// published first and the results delivered second, so a client that got its answer can
/// rely on every watcher having been woken for it.
fn run_batch(conn: &mut Connection, batch: Vec<Job>, notify: &tokio::sync::watch::Sender<u64>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "cannot begin write transaction");
        // Run nothing; each waiting request learns the store failed.
        batch.into_iter().for_each(fail_job);
        return;
    }
    let mut last_change = 0;
    let mut deliveries = Vec::with_capacity(batch.len());
    for job in batch {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            tracing::error!(error = %e, "cannot open savepoint");
        }
        let outcome = {
            let mut tx = SqliteTx::new(conn);
            let outcome = job(&mut tx);
            if outcome.keep {
                last_change = last_change.max(tx.last_change);
            }
            outcome
        };
        let end = if outcome.keep { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
        if let Err(e) = conn.execute_batch(end) {
            tracing::error!(error = %e, "cannot close savepoint");
        }
        deliveries.push(outcome.deliver);
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            if last_change > 0 {
                publish(notify, last_change);
            }
            deliveries.into_iter().for_each(|d| d(Ok(())));
        }
        Err(e) => {
            tracing::error!(error = %e, "commit failed; every request of the batch fails");
            let _ = conn.execute_batch("ROLLBACK");
            let msg = e.to_string();
            for d in deliveries {
                d(Err(StoreError::Database(rusqlite::Error::InvalidParameterName(msg.clone()))));
            }
        }
    }
}

impl Backend for SqliteBackend {
    fn submit_write(&self, job: Job) {
        let sent = self.writer.lock().map(|w| w.send(job));
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(mpsc::SendError(job))) => fail_job(job),
            Err(_) => tracing::error!("store writer handle poisoned"),
        }
    }

    fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.clone()
    }

    fn run_read(&self, job: Job) {
        let conn = match self.take_reader() {
            Ok(conn) => conn,
            Err(e) => {
                tracing::error!(error = %e, "no read connection");
                return fail_job(job);
            }
        };
        let outcome = {
            // A deferred transaction pins one snapshot for every statement of the job.
            let _ = conn.execute_batch("BEGIN");
            let mut tx = SqliteTx::new(&conn);
            let outcome = job(&mut tx);
            let _ = conn.execute_batch("COMMIT");
            outcome
        };
        (outcome.deliver)(Ok(()));
        if let Ok(mut pool) = self.readers.lock() {
            pool.push(conn);
        }
    }
}

/// Dropping a job drops its reply channel, which the waiting request sees as
/// [`StoreError::Closed`].
fn fail_job(job: Job) {
    drop(job);
}
