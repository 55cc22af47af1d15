//! The store: where every resource lives, behind one narrow transaction interface.
//!
//! Resource logic runs as a closure over [`Tx`] inside one database transaction, so a
//! request either commits whole or leaves nothing behind. [`Store::write`] sends the closure
//! to the backend's writer; [`Store::read`] runs it on a read snapshot. The SQLite backend
//! ([`sqlite`]) serialises writes on one thread and commits them in groups (one fsync for
//! every request that queued meanwhile), which is what makes thousands of creates per second
//! durable on one disk. The PostgreSQL backend ([`postgres`]) implements the same [`Tx`]
//! over the same schema history, for several servers on one database.

mod change;
mod doc_table;
pub mod identity;
pub mod postgres;
pub mod sqlite;
mod stats;
mod tx;

pub use stats::StoreStats;

pub use change::{Change, ChangeKind, ChangeOp};
pub use tx::{
    AgentRow, Assignment, AutoAllocation, BindingResult, Doc, HostQuestionRow, InactiveBinding, InactiveRole,
    IndexFilter, IpAllocation, PortBinding, Segment, Tx, Visibility,
};

use neutrino_model::Resource;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Failures of the store itself (not of the request's logic).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint rejected the write: the caller lost a race or repeated a key.
    #[error("unique constraint violated on {table}")]
    UniqueViolation { table: String },
    /// The database failed.
    #[error("database error")]
    Database(#[source] rusqlite::Error),
    /// The stored document could not be decoded.
    #[error("stored {resource:?} {id} is corrupt")]
    Corrupt {
        resource: Resource,
        id: String,
        #[source]
        source: serde_json::Error,
    },
    /// The store's worker is gone (shutting down).
    #[error("store is shut down")]
    Closed,
    /// A queue in front of the database is full: the server is flooded. Answered 503 with
    /// a `Retry-After`, so well-behaved clients back off instead of piling up.
    #[error("the store's {queue} queue is full")]
    Busy { queue: &'static str },
    /// The job panicked; its writes were rolled back and the store kept serving.
    #[error("a store job panicked")]
    JobPanicked,
    /// The write transaction of a batch failed at one of its own statements (BEGIN,
    /// SAVEPOINT, ROLLBACK TO, RELEASE, COMMIT); the whole batch was rolled back.
    #[error("write transaction failed at {step}: {message}")]
    TransactionFailed { step: &'static str, message: String },
    /// Another process holds the database's lock ([`sqlite::lock_path`]): one process per
    /// database file, whatever SQLite itself would allow.
    #[error("store {path} is in use by {holder}, which holds {lock}: only one neutrino process may open a database at a time; stop that one first, or use another --data-dir")]
    Locked { path: String, lock: String, holder: sqlite::LockHolder },
    /// The database's lock file cannot be created or locked.
    #[error("cannot lock store with {path}")]
    LockFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// PostgreSQL failed.
    #[error("PostgreSQL error")]
    Postgres(#[source] ::postgres::Error),
    /// Connecting to or migrating the PostgreSQL database failed (the URL is not shown: it
    /// may hold a password).
    #[error("cannot open the PostgreSQL store")]
    Connect(#[source] ::postgres::Error),
    /// A change feed row names a kind this version does not know.
    #[error("unknown change kind '{0}'")]
    UnknownChangeKind(String),
    /// Opening or migrating the database failed.
    #[error("cannot open store at {path}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, Some(msg)) = &e {
            if f.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("UNIQUE") {
                let table = msg.rsplit(": ").next().unwrap_or(msg).split('.').next().unwrap_or("").to_string();
                return StoreError::UniqueViolation { table };
            }
        }
        StoreError::Database(e)
    }
}

impl From<::postgres::Error> for StoreError {
    /// A unique violation names its table, as rusqlite's does ([`StoreError::UniqueViolation`]).
    fn from(e: ::postgres::Error) -> Self {
        if e.code() == Some(&::postgres::error::SqlState::UNIQUE_VIOLATION) {
            let table = e.as_db_error().and_then(|d| d.table()).unwrap_or("").to_string();
            return StoreError::UniqueViolation { table };
        }
        StoreError::Postgres(e)
    }
}

/// What a finished job reports back to the backend: whether to keep its writes, and how to
/// hand its result to the waiting request once the transaction's fate is known.
pub struct JobOutcome {
    /// Keep this job's writes (false rolls back to the job's savepoint).
    pub keep: bool,
    /// Called after commit (Ok) or when the commit failed (Err).
    pub deliver: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

/// A type-erased unit of work over a transaction. Called with `Err` it does not run: it
/// answers its caller with that error (a full queue, a failed batch), see [`refuse`].
pub type Job = Box<dyn FnOnce(Result<&mut dyn Tx, StoreError>) -> JobOutcome + Send>;

/// Answers a job's caller with `error` without running it.
pub fn refuse(job: Job, error: StoreError) {
    (job(Err(error)).deliver)(Ok(()));
}

/// A storage backend: runs jobs in transactions. Both calls return at once; a job the
/// backend cannot take (its queue is full, it is shut down) is [`refuse`]d.
pub trait Backend: Send + Sync {
    /// Queues a write job; it runs inside a write transaction.
    fn submit_write(&self, job: Job);
    /// Queues a read job; it runs on a consistent snapshot.
    fn submit_read(&self, job: Job);
    /// The highest committed change sequence, updated after every commit that recorded one.
    fn changes(&self) -> tokio::sync::watch::Receiver<u64>;
    /// The backend's write-queue depth and commit times (for `/metrics`).
    fn stats(&self) -> Arc<StoreStats>;
}

/// Publishes a committed change sequence to the watchers; never moves backwards (a
/// backend may hear of one commit twice, or of an older one after a newer one).
pub(crate) fn publish(notify: &tokio::sync::watch::Sender<u64>, seq: u64) {
    notify.send_if_modified(|latest| {
        let newer = seq > *latest;
        if newer {
            *latest = seq;
        }
        newer
    });
}

/// Queues a job on a backend's bounded queue, or refuses it at once: [`StoreError::Busy`]
/// when the queue is full, [`StoreError::Closed`] when its worker is gone.
pub(crate) fn enqueue(queue: &std::sync::mpsc::SyncSender<Job>, job: Job, name: &'static str) {
    match queue.try_send(job) {
        Ok(()) => {}
        Err(std::sync::mpsc::TrySendError::Full(job)) => refuse(job, StoreError::Busy { queue: name }),
        Err(std::sync::mpsc::TrySendError::Disconnected(job)) => refuse(job, StoreError::Closed),
    }
}

/// Handle to the store, cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    /// Wraps a backend.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// Runs `f` in a write transaction. If `f` fails, none of its writes are kept; if it
    /// succeeds, the result is returned only after the transaction is durably committed.
    pub async fn write<T, E>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, E>>();
        let job = erase(f, tx, false);
        // Counted as queued until the writer runs it or it is refused (a full queue refuses
        // at once, so the count never exceeds the queue's capacity).
        let stats = self.backend.stats();
        stats.queued();
        self.backend.submit_write(Box::new(move |tx| {
            stats.dequeued();
            job(tx)
        }));
        rx.await.unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
    }

    /// The backend's write-queue depth and commit times.
    pub fn stats(&self) -> Arc<StoreStats> {
        self.backend.stats()
    }

    /// Watches the highest committed change sequence: what agents' long polls wait on.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.backend.changes()
    }

    /// Runs `f` on a read snapshot (on one of the backend's reader threads).
    pub async fn read<T, E>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, E>>();
        // A read whose requester is gone (client disconnected, request timed out) is
        // skipped, so a flood of abandoned requests does not keep the readers busy.
        self.backend.submit_read(erase(f, tx, true));
        rx.await.unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
    }
}

fn erase<T, E>(
    f: impl FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    reply: oneshot::Sender<Result<T, E>>,
    skip_if_abandoned: bool,
) -> Job
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    Box::new(move |tx: Result<&mut dyn Tx, StoreError>| {
        let result = match tx {
            Ok(_) if skip_if_abandoned && reply.is_closed() => Err(E::from(StoreError::Closed)),
            // A panic in resource logic must not take the writer (or a reader) down with
            // it: the job fails alone and is rolled back.
            Ok(tx) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(tx))).unwrap_or_else(|_| {
                tracing::error!("a store job panicked; its writes are rolled back");
                Err(E::from(StoreError::JobPanicked))
            }),
            Err(refused) => Err(E::from(refused)),
        };
        let keep = result.is_ok();
        JobOutcome {
            keep,
            deliver: Box::new(move |committed: Result<(), StoreError>| {
                let outcome = match (result, committed) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(store_err)) => Err(E::from(store_err)),
                    (Ok(v), Ok(())) => Ok(v),
                };
                // The requester may have gone away (client disconnected); nothing to do then.
                let _ = reply.send(outcome);
            }),
        }
    })
}

/// A store failure that reaches a client is an internal error: the cause is logged here,
/// never shown. Resource logic maps the expected cases (unique violations) itself first.
/// A full queue is the catalogue's busy service (503, to which the server adds
/// `Retry-After`). The impl lives here only because the orphan rule wants it in the crate
/// of the error or of `ApiError`; what a client sees is the catalogue's, in the model.
impl From<StoreError> for neutrino_model::ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Busy { queue } = &e {
            tracing::warn!(queue, "store queue full; answering 503");
            return neutrino_model::ApiError::service_busy();
        }
        let chain = neutrino_model::error::error_chain(&e);
        tracing::error!(error = %chain, "store failure");
        neutrino_model::ApiError::internal()
    }
}
