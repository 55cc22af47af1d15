//! The store: where every resource lives, behind one narrow transaction interface.
//!
//! Resource logic runs as a closure over [`Tx`] inside one database transaction, so a
//! request either commits whole or leaves nothing behind. [`Store::write`] sends the closure
//! to the backend's writer; [`Store::read`] runs it on a read snapshot. The SQLite backend
//! ([`sqlite`]) serialises writes on one thread and commits them in groups (one fsync for
//! every request that queued meanwhile), which is what makes thousands of creates per second
//! durable on one disk. A PostgreSQL backend implements the same [`Tx`] over the same schema.

pub mod identity;
pub mod sqlite;
mod tx;

pub use tx::{AgentRow, Assignment, Doc, IndexFilter, IpAllocation, PortBinding, Segment, Tx};

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

/// What a finished job reports back to the backend: whether to keep its writes, and how to
/// hand its result to the waiting request once the transaction's fate is known.
pub struct JobOutcome {
    /// Keep this job's writes (false rolls back to the job's savepoint).
    pub keep: bool,
    /// Called after commit (Ok) or when the commit failed (Err).
    pub deliver: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

/// A type-erased unit of work over a transaction.
pub type Job = Box<dyn FnOnce(&mut dyn Tx) -> JobOutcome + Send>;

/// A storage backend: runs jobs in transactions.
pub trait Backend: Send + Sync {
    /// Queues a write job; it runs inside a write transaction.
    fn submit_write(&self, job: Job);
    /// Runs a read job on a consistent snapshot, blocking the calling thread.
    fn run_read(&self, job: Job);
    /// The highest committed change sequence, updated after every commit that recorded one.
    fn changes(&self) -> tokio::sync::watch::Receiver<u64>;
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
        self.backend.submit_write(erase(f, tx));
        rx.await.unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
    }

    /// Watches the highest committed change sequence: what agents' long polls wait on.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.backend.changes()
    }

    /// Runs `f` on a read snapshot (on a blocking thread).
    pub async fn read<T, E>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, E>>();
        let backend = self.backend.clone();
        let job = erase(f, tx);
        let joined = tokio::task::spawn_blocking(move || backend.run_read(job)).await;
        if joined.is_err() {
            return Err(E::from(StoreError::Closed));
        }
        rx.await.unwrap_or_else(|_| Err(E::from(StoreError::Closed)))
    }
}

fn erase<T, E>(
    f: impl FnOnce(&mut dyn Tx) -> Result<T, E> + Send + 'static,
    reply: oneshot::Sender<Result<T, E>>,
) -> Job
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    Box::new(move |tx: &mut dyn Tx| {
        let result = f(tx);
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
impl From<StoreError> for neutrino_model::ApiError {
    fn from(e: StoreError) -> Self {
        let chain = neutrino_model::error::error_chain(&e);
        tracing::error!(error = %chain, "store failure");
        neutrino_model::ApiError::internal()
    }
}
