//! What the store tells `/metrics`: how many write jobs wait for the writer, and how long
//! commits take. Both backends keep one [`StoreStats`] and hand it out through
//! [`crate::Backend::stats`]; the depth is counted by [`crate::Store::write`] (queued when
//! submitted, dequeued when the writer runs or refuses the job), the commit time by each
//! backend around its `COMMIT` (SQLite: one per group-committed batch; PostgreSQL: one per
//! job).

use neutrino_metrics::{Histogram, LATENCY_BUCKETS};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one store backend.
#[derive(Debug)]
pub struct StoreStats {
    /// Write jobs submitted and not yet started (or refused).
    write_queue: AtomicU64,
    /// Seconds each `COMMIT` took.
    pub commit_seconds: Histogram,
}

impl Default for StoreStats {
    fn default() -> Self {
        Self { write_queue: AtomicU64::new(0), commit_seconds: Histogram::new(LATENCY_BUCKETS) }
    }
}

impl StoreStats {
    /// Write jobs waiting for the writer now.
    pub fn write_queue_depth(&self) -> u64 {
        self.write_queue.load(Ordering::Relaxed)
    }

    pub(crate) fn queued(&self) {
        self.write_queue.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn dequeued(&self) {
        let _ = self.write_queue.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(1)));
    }

    /// Runs `commit` and records how long it took.
    pub(crate) fn time_commit<T>(&self, commit: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let result = commit();
        self.commit_seconds.observe_duration(started.elapsed());
        result
    }
}
