//! The task that sends queued events to Nova in batches, with back-off while Nova is
//! unreachable. Nova and time are traits, so the whole loop runs in tests against a fake.

use super::queue::{Counters, Notifier};
use super::NovaEvent;
use std::future::Future;
use std::time::Duration;

/// Most events in one request; a longer queue goes out over several batches.
pub const MAX_BATCH: usize = 500;
/// The first pause after a failed attempt; it doubles up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between attempts while Nova is down.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Nova's answer about one event (`code` 200 accepted, 404 unknown server, else refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventResult {
    pub event: NovaEvent,
    pub code: u16,
}

/// Why a batch was not taken as a whole.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Not delivered (connection, Keystone, no endpoint yet, 5xx, token refused twice):
    /// the batch is kept and retried.
    #[error("nova not reachable: {0}")]
    Unreachable(String),
    /// Nova answered 404 for the whole request: none of the servers exists.
    #[error("nova knows none of the servers")]
    NotFound,
    /// Nova refused the request (400, 403, ...): retrying it would not help.
    #[error("nova refused the events with {status}: {body}")]
    Refused { status: u16, body: String },
}

/// `POST /v2.1/os-server-external-events`.
pub trait NovaApi: Send + Sync + 'static {
    /// Sends one batch; on success, Nova's answer for each event.
    fn send(&self, events: &[NovaEvent]) -> impl Future<Output = Result<Vec<EventResult>, SendError>> + Send;
}

/// Waiting, injected so tests need not wait.
pub trait Timer: Send + Sync + 'static {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// The real timer.
pub struct TokioTimer;

impl Timer for TokioTimer {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

/// Sends batches for as long as the server runs: the first event after a quiet spell at
/// once, then at most one batch per `interval` (Neutron's `BatchNotifier`), and after a
/// failed attempt the next one after a growing pause.
pub async fn run(queue: Notifier, api: impl NovaApi, timer: impl Timer, interval: Duration) {
    let mut backoff = None;
    loop {
        queue.wait().await;
        let pause = send_once(&queue, &api, &mut backoff, interval).await;
        timer.sleep(pause).await;
    }
}

/// Sends one batch and says how long to pause before the next. `backoff` is the pause
/// after the last failed attempt (`None` after a success).
pub async fn send_once(
    queue: &Notifier,
    api: &impl NovaApi,
    backoff: &mut Option<Duration>,
    interval: Duration,
) -> Duration {
    let batch = queue.take(MAX_BATCH);
    if batch.is_empty() {
        return Duration::ZERO;
    }
    let counters = queue.counters();
    match api.send(&batch).await {
        Ok(results) => {
            record(counters, &results);
            *backoff = None;
            interval
        }
        Err(SendError::NotFound) => {
            tracing::info!(events = batch.len(), "nova knows none of the events' servers");
            Counters::add(&counters.server_not_found, batch.len());
            *backoff = None;
            interval
        }
        Err(e @ SendError::Refused { .. }) => {
            tracing::error!(error = %e, events = ?batch, "nova refused events");
            Counters::add(&counters.failed, batch.len());
            *backoff = None;
            interval
        }
        Err(e @ SendError::Unreachable(_)) => {
            let pause = backoff.map_or(FIRST_BACKOFF, |b| (b * 2).min(MAX_BACKOFF));
            *backoff = Some(pause);
            tracing::warn!(error = %e, events = batch.len(), retry_in_s = pause.as_secs(), "nova events kept for a retry");
            Counters::add(&counters.retried_batches, 1);
            queue.put_back(batch);
            pause.max(interval)
        }
    }
}

/// Logs and counts Nova's per-event answers (a 207 mixes them).
fn record(counters: &Counters, results: &[EventResult]) {
    for r in results {
        let e = &r.event;
        match r.code {
            200 => {
                tracing::info!(event = ?e.name, server = %e.server_uuid, port = %e.tag, status = ?e.status, "nova event sent");
                Counters::add(&counters.sent, 1);
            }
            404 => {
                tracing::info!(event = ?e.name, server = %e.server_uuid, port = %e.tag, "nova does not know the server");
                Counters::add(&counters.server_not_found, 1);
            }
            code => {
                tracing::warn!(event = ?e.name, server = %e.server_uuid, port = %e.tag, code, "nova event failed");
                Counters::add(&counters.failed, 1);
            }
        }
    }
}

#[cfg(test)]
mod tests;
