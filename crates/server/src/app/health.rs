//! Whether this server can serve: what `GET /healthcheck` answers a load balancer.
//!
//! The server can serve when its store answers a trivial read (the latest change sequence)
//! within [`PROBE_TIMEOUT`]. The endpoint is unauthenticated, so a flood of probes must
//! cost the store nothing: one probe runs at a time, and its verdict is reused for
//! [`FRESH_FOR`] by every request that arrives meanwhile (they wait for the running probe
//! instead of starting their own). Whatever the request rate, the store sees at most one
//! health read per [`FRESH_FOR`].

use neutrino_store::{Store, StoreError};
use std::time::{Duration, Instant};

/// How long the store may take to answer the probe's read before the server is unhealthy
/// (`healthcheck_timeout`'s default).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a verdict is reused (`healthcheck_cache`'s default).
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// The outcome of a probe. Each reason is short and says nothing about the deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The store answered in time.
    Ok,
    /// A queue in front of the store is full: requests are being refused with 503.
    StoreBusy,
    /// The store did not answer within [`PROBE_TIMEOUT`].
    StoreSlow,
    /// The store is shut down or failed.
    StoreDown,
}

impl Verdict {
    /// Whether a load balancer should send requests here.
    pub fn healthy(self) -> bool {
        self == Verdict::Ok
    }

    /// The body line, as oslo.middleware's plain-text answer carries its backends' reasons.
    pub fn reason(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::StoreBusy => "STORE BUSY",
            Verdict::StoreSlow => "STORE NOT ANSWERING",
            Verdict::StoreDown => "STORE UNAVAILABLE",
        }
    }
}

/// The last verdict and when it was reached; the lock is held across a probe, which is what
/// keeps probes one at a time.
#[derive(Debug)]
pub struct Health {
    last: tokio::sync::Mutex<Option<(Instant, Verdict)>>,
    /// `healthcheck_timeout`.
    timeout: Duration,
    /// `healthcheck_cache`.
    fresh_for: Duration,
}

impl Default for Health {
    /// [`PROBE_TIMEOUT`] and [`FRESH_FOR`].
    fn default() -> Self {
        Health::new(PROBE_TIMEOUT, FRESH_FOR)
    }
}

impl Health {
    /// Probes that time out after `timeout`, verdicts reused for `fresh_for` (at least a
    /// millisecond, so a flood never reaches the store once per request).
    pub fn new(timeout: Duration, fresh_for: Duration) -> Self {
        Health { last: tokio::sync::Mutex::new(None), timeout, fresh_for: fresh_for.max(Duration::from_millis(1)) }
    }

    /// The store's health: the last verdict if fresh, else a new probe's.
    pub async fn check(&self, store: &Store) -> Verdict {
        let mut last = self.last.lock().await;
        if let Some((at, verdict)) = *last {
            if at.elapsed() < self.fresh_for {
                return verdict;
            }
        }
        let verdict = probe(store, self.timeout).await;
        *last = Some((Instant::now(), verdict));
        verdict
    }
}

async fn probe(store: &Store, timeout: Duration) -> Verdict {
    let read = store.read(|tx| -> Result<u64, StoreError> { tx.change_latest() });
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(_)) => Verdict::Ok,
        Ok(Err(StoreError::Busy { queue })) => {
            tracing::warn!(queue, "health check: store queue full");
            Verdict::StoreBusy
        }
        Ok(Err(e)) => {
            tracing::error!(error = %neutrino_model::error::error_chain(&e), "health check: store failed");
            Verdict::StoreDown
        }
        Err(_) => {
            tracing::warn!(timeout_s = timeout.as_secs(), "health check: store did not answer in time");
            Verdict::StoreSlow
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neutrino_store::{refuse, Backend, Job};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A store that is shut down: every job is refused as [`StoreError::Closed`]; counts them.
    #[derive(Default)]
    struct ShutDown {
        reads: AtomicUsize,
    }

    impl Backend for ShutDown {
        fn submit_write(&self, job: Job) {
            refuse(job, StoreError::Closed);
        }
        fn submit_read(&self, job: Job) {
            self.reads.fetch_add(1, Ordering::SeqCst);
            refuse(job, StoreError::Closed);
        }
        fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
            tokio::sync::watch::channel(0).1
        }
        fn stats(&self) -> Arc<neutrino_store::StoreStats> {
            Arc::default()
        }
    }

    #[tokio::test]
    async fn a_shut_down_store_is_unavailable_and_probed_once_per_period() {
        let backend = Arc::new(ShutDown::default());
        let store = Store::new(backend.clone());
        let health = Health::default();
        for _ in 0..10 {
            assert_eq!(health.check(&store).await, Verdict::StoreDown);
        }
        assert_eq!(backend.reads.load(Ordering::SeqCst), 1);
        assert_eq!(Verdict::StoreDown.reason(), "STORE UNAVAILABLE");
    }

    #[tokio::test]
    async fn the_configured_period_decides_when_the_store_is_probed_again() {
        let backend = Arc::new(ShutDown::default());
        let store = Store::new(backend.clone());
        let health = Health::new(PROBE_TIMEOUT, Duration::from_millis(30));
        health.check(&store).await;
        health.check(&store).await;
        assert_eq!(backend.reads.load(Ordering::SeqCst), 1, "within healthcheck_cache");
        tokio::time::sleep(Duration::from_millis(40)).await;
        health.check(&store).await;
        assert_eq!(backend.reads.load(Ordering::SeqCst), 2, "after healthcheck_cache");
    }
}
