//! The embedded SQLite backend (WAL mode).
//!
//! Writes: one writer thread owns the only write connection. It takes every job that is
//! queued, runs each inside its own SAVEPOINT of one `BEGIN IMMEDIATE` transaction, and
//! commits once (group commit): a failed or panicking job is rolled back to its savepoint
//! without touching the others, and no job's result is released before the commit has
//! returned. If one of the transaction's own statements fails (a `ROLLBACK TO` above all),
//! the batch can no longer tell good writes from bad ones: all of it is rolled back and every
//! job of it fails.
//! Reads: a fixed pool of reader threads, each owning one read-only connection; each read
//! is one consistent WAL snapshot.
//! Both queues are bounded: when one is full the job is refused with [`StoreError::Busy`]
//! (503) at once, so a flood costs neither memory nor threads nor file descriptors.

mod lock;
#[cfg(test)]
mod tests;
mod tx;

pub use lock::{lock_path, LockHolder};

use crate::{refuse, Backend, Job, StoreError};
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
    /// Read connections (and reader threads): at most this many reads run at once.
    pub readers: usize,
    /// Most jobs committed together.
    pub max_batch: usize,
    /// Most write jobs waiting for the writer; more are refused with [`StoreError::Busy`].
    pub write_queue: usize,
    /// Most read jobs waiting for a free reader; more are refused with [`StoreError::Busy`].
    pub read_queue: usize,
}

impl SqliteOptions {
    /// Defaults for a database file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            durability: Durability::Full,
            readers: 4,
            max_batch: 256,
            write_queue: 2048,
            read_queue: 2048,
        }
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
    (12, include_str!("../../migrations/sqlite/0012_port_forwardings.sql")),
    (13, include_str!("../../migrations/sqlite/0013_subnetpools.sql")),
    (14, include_str!("../../migrations/sqlite/0014_address_groups.sql")),
    (15, include_str!("../../migrations/sqlite/0015_flavors.sql")),
    (16, include_str!("../../migrations/sqlite/0016_security_group_defaults.sql")),
    (17, include_str!("../../migrations/sqlite/0017_auto_allocation.sql")),
    (18, include_str!("../../migrations/sqlite/0018_keystone.sql")),
    (19, include_str!("../../migrations/sqlite/0019_inactive_bindings.sql")),
    (20, include_str!("../../migrations/sqlite/0020_signing_keys.sql")),
    (21, include_str!("../../migrations/sqlite/0021_host_questions.sql")),
];

/// The SQLite backend.
pub struct SqliteBackend {
    writer: mpsc::SyncSender<Job>,
    reads: mpsc::SyncSender<Job>,
    changes: tokio::sync::watch::Receiver<u64>,
    stats: Arc<crate::StoreStats>,
    /// The writer thread, joined on drop so the write connection is closed before the lock
    /// is released.
    writer_thread: Option<std::thread::JoinHandle<()>>,
    /// Held for the backend's life: declared last, so dropped after the join (`lock`).
    _lock: lock::DbLock,
}

impl SqliteBackend {
    /// Takes the database's lock ([`StoreError::Locked`] if another process holds it),
    /// opens (creating and migrating if needed) the database and starts the writer and
    /// reader threads.
    pub fn open(opts: &SqliteOptions) -> Result<Arc<Self>, StoreError> {
        let lock = lock::acquire(&opts.path)?;
        let open_err = |source| StoreError::Open { path: opts.path.display().to_string(), source };
        let spawn_err = |e: std::io::Error| StoreError::Open {
            path: opts.path.display().to_string(),
            source: rusqlite::Error::ToSqlConversionFailure(Box::new(e)),
        };
        let mut conn = Connection::open(&opts.path).map_err(open_err)?;
        configure(&conn, opts.durability).map_err(open_err)?;
        migrate(&mut conn).map_err(open_err)?;
        let (reads, read_jobs) = mpsc::sync_channel::<Job>(opts.read_queue.max(1));
        let read_jobs = Arc::new(Mutex::new(read_jobs));
        for i in 0..opts.readers.max(1) {
            let reader = open_reader(&opts.path).map_err(open_err)?;
            let jobs = read_jobs.clone();
            std::thread::Builder::new()
                .name(format!("neutrino-store-reader-{i}"))
                .spawn(move || reader_loop(reader, jobs))
                .map_err(spawn_err)?;
        }
        let latest: i64 =
            conn.query_row("SELECT COALESCE(MAX(seq), 0) FROM changes", [], |r| r.get(0)).map_err(open_err)?;
        let (notify, changes) = tokio::sync::watch::channel(latest as u64);
        let (writer, write_jobs) = mpsc::sync_channel::<Job>(opts.write_queue.max(1));
        let max_batch = opts.max_batch.max(1);
        let stats = Arc::new(crate::StoreStats::default());
        let writer_stats = stats.clone();
        let writer_thread = std::thread::Builder::new()
            .name("neutrino-store-writer".into())
            .spawn(move || writer_loop(conn, write_jobs, max_batch, notify, &writer_stats))
            .map_err(spawn_err)?;
        Ok(Arc::new(Self { writer, reads, changes, stats, writer_thread: Some(writer_thread), _lock: lock }))
    }
}

impl Drop for SqliteBackend {
    /// Ends the writer (it finishes the jobs already queued) and waits for it, so the lock
    /// is released only once this process no longer writes.
    fn drop(&mut self) {
        let (closed, _) = mpsc::sync_channel(0);
        drop(std::mem::replace(&mut self.writer, closed));
        if let Some(thread) = self.writer_thread.take() {
            // A job that held the last handle is dropped on the writer thread itself.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
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
    stats: &crate::StoreStats,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        run_batch(&mut conn, batch, &notify, &Sql, stats);
    }
}

/// A reader thread: takes the next read job and runs it in one snapshot, until the
/// backend is dropped.
fn reader_loop(conn: Connection, jobs: Arc<Mutex<mpsc::Receiver<Job>>>) {
    loop {
        // The lock is held only while waiting for the next job, never while running one.
        let next = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        // A deferred transaction pins one snapshot for every statement of the job.
        if let Err(e) = conn.execute_batch("BEGIN") {
            tracing::error!(error = %e, "cannot begin read transaction");
            refuse(job, StoreError::TransactionFailed { step: "BEGIN", message: e.to_string() });
            continue;
        }
        let outcome = {
            let mut tx = SqliteTx::new(&conn);
            // The job catches its own panics (see `erase`); this one catches a raw job's.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(&mut tx))))
        };
        let _ = conn.execute_batch("COMMIT");
        match outcome {
            Ok(outcome) => (outcome.deliver)(Ok(())),
            Err(_) => tracing::error!("a read job panicked; the reader keeps serving"),
        }
    }
}

/// The transaction's own statements in a write batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Begin,
    Savepoint,
    Release,
    RollbackTo,
    Commit,
    Rollback,
}

impl Step {
    fn sql(self) -> &'static str {
        match self {
            Step::Begin => "BEGIN IMMEDIATE",
            Step::Savepoint => "SAVEPOINT job",
            Step::Release => "RELEASE job",
            Step::RollbackTo => "ROLLBACK TO job",
            Step::Commit => "COMMIT",
            Step::Rollback => "ROLLBACK",
        }
    }
}

/// Runs a batch's transaction statements: [`Sql`] runs them on the connection; the tests'
/// fake fails a chosen one, which SQLite itself cannot be made to do on demand.
trait BatchControl {
    fn run(&self, conn: &Connection, step: Step) -> rusqlite::Result<()>;
}

/// The real statements.
struct Sql;

impl BatchControl for Sql {
    fn run(&self, conn: &Connection, step: Step) -> rusqlite::Result<()> {
        conn.execute_batch(step.sql())
    }
}

/// How a job answers its caller once the batch's fate is known ([`crate::JobOutcome`]).
type Deliver = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// What one job of a batch left behind.
struct JobRun {
    /// The highest change sequence it recorded if its writes were kept, else 0.
    kept_change: u64,
    /// How to answer its caller (none when it panicked: its caller sees the reply dropped).
    deliver: Option<Deliver>,
    /// Whether its savepoint ended cleanly (released, or rolled back and released).
    ended: Result<(), (Step, rusqlite::Error)>,
}

/// Runs one job inside the savepoint the caller opened, then releases the savepoint, after
/// rolling back to it when the job failed or panicked.
fn run_job(conn: &Connection, job: Job, control: &impl BatchControl) -> JobRun {
    let ran = {
        let mut tx = SqliteTx::new(conn);
        // The job catches its own panics (see `erase`); this one catches a raw job's,
        // whose caller then sees its reply dropped.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(&mut tx)))).map(|o| (o, tx.last_change))
    };
    let (keep, kept_change, deliver) = match ran {
        Ok((outcome, change)) => (outcome.keep, if outcome.keep { change } else { 0 }, Some(outcome.deliver)),
        Err(_) => {
            tracing::error!("a write job panicked; rolling it back, the writer keeps serving");
            (false, 0, None)
        }
    };
    let ended = if keep {
        control.run(conn, Step::Release).map_err(|e| (Step::Release, e))
    } else {
        control
            .run(conn, Step::RollbackTo)
            .map_err(|e| (Step::RollbackTo, e))
            .and_then(|()| control.run(conn, Step::Release).map_err(|e| (Step::Release, e)))
    };
    JobRun { kept_change, deliver, ended }
}

/// Runs a batch in one transaction. After the commit the highest change sequence is
/// published first and the results delivered second, so a client that got its answer can
/// rely on every watcher having been woken for it.
fn run_batch(
    conn: &mut Connection,
    batch: Vec<Job>,
    notify: &tokio::sync::watch::Sender<u64>,
    control: &impl BatchControl,
    stats: &crate::StoreStats,
) {
    let failed =
        |step: Step, e: &rusqlite::Error| StoreError::TransactionFailed { step: step.sql(), message: e.to_string() };
    // A transaction left open by an earlier failure (its ROLLBACK failed too) ends here.
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    if let Err(e) = control.run(conn, Step::Begin) {
        tracing::error!(error = %e, "cannot begin write transaction");
        // Run nothing; each waiting request learns the store failed.
        batch.into_iter().for_each(|job| refuse(job, failed(Step::Begin, &e)));
        return;
    }
    let mut last_change = 0;
    let mut deliveries = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut abort: Option<(Step, rusqlite::Error)> = None;
    for job in jobs.by_ref() {
        if let Err(e) = control.run(conn, Step::Savepoint) {
            refuse(job, failed(Step::Savepoint, &e));
            abort = Some((Step::Savepoint, e));
            break;
        }
        let ran = run_job(conn, job, control);
        last_change = last_change.max(ran.kept_change);
        deliveries.extend(ran.deliver);
        if let Err(failure) = ran.ended {
            abort = Some(failure);
            break;
        }
    }
    if let Some((step, e)) = abort {
        // The savepoints can no longer keep the good jobs apart from the bad: keep nothing.
        tracing::error!(error = %e, step = step.sql(), "write transaction failed; every request of the batch fails");
        if let Err(rollback) = control.run(conn, Step::Rollback) {
            tracing::error!(error = %rollback, "cannot roll back the failed batch");
        }
        for d in deliveries {
            d(Err(failed(step, &e)));
        }
        jobs.for_each(|job| refuse(job, failed(step, &e)));
        return;
    }
    match stats.time_commit(|| control.run(conn, Step::Commit)) {
        Ok(()) => {
            if last_change > 0 {
                crate::publish(notify, last_change);
            }
            deliveries.into_iter().for_each(|d| d(Ok(())));
        }
        Err(e) => {
            tracing::error!(error = %e, "commit failed; every request of the batch fails");
            let _ = control.run(conn, Step::Rollback);
            for d in deliveries {
                d(Err(failed(Step::Commit, &e)));
            }
        }
    }
}

impl Backend for SqliteBackend {
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
