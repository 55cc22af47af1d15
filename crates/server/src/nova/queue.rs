//! The bounded queue between the requests that cause events and the task that sends them,
//! and the counters a `/metrics` endpoint can read.

use super::NovaEvent;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// What happened to the events so far (monotonic counters).
#[derive(Debug, Default)]
pub struct Counters {
    /// Events queued for Nova.
    pub queued: AtomicU64,
    /// Events Nova accepted (per-event code 200).
    pub sent: AtomicU64,
    /// Events about a server Nova does not know (404): not an error, nothing to retry.
    pub server_not_found: AtomicU64,
    /// Events Nova refused (any other per-event code, or the whole request refused).
    pub failed: AtomicU64,
    /// Attempts that did not reach Nova or that Nova could not serve; their events were kept.
    pub retried_batches: AtomicU64,
    /// Events dropped because the queue was full (`nova.max_queued_events`).
    pub dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The value of one counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

struct Shared {
    enabled: bool,
    limit: usize,
    events: Mutex<VecDeque<NovaEvent>>,
    wake: Notify,
    counters: Counters,
}

/// The handle the app layer queues events on (cheap to clone). A notifier that is not
/// enabled drops everything at once, so an unconfigured server pays nothing.
#[derive(Clone)]
pub struct Notifier(Arc<Shared>);

impl Notifier {
    /// A notifier keeping at most `limit` events; `enabled: false` queues nothing.
    pub fn new(enabled: bool, limit: usize) -> Self {
        Notifier(Arc::new(Shared {
            enabled,
            limit: limit.max(1),
            events: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            counters: Counters::default(),
        }))
    }

    /// Whether events are sent at all.
    pub fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.0.counters
    }

    /// Events waiting to be sent.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<NovaEvent>> {
        self.0.events.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues events for the next batch; never blocks on Nova.
    pub fn queue(&self, events: Vec<NovaEvent>) {
        if !self.0.enabled || events.is_empty() {
            return;
        }
        for e in &events {
            tracing::debug!(event = ?e.name, server = %e.server_uuid, port = %e.tag, status = ?e.status, "nova event queued");
        }
        Counters::add(&self.0.counters.queued, events.len());
        let mut q = self.lock();
        q.extend(events);
        self.trim(&mut q);
        drop(q);
        self.0.wake.notify_one();
    }

    /// Takes up to `max` events, oldest first.
    pub(crate) fn take(&self, max: usize) -> Vec<NovaEvent> {
        let mut q = self.lock();
        let n = q.len().min(max);
        q.drain(..n).collect()
    }

    /// Puts a batch Nova did not take back at the head of the queue, in its order.
    pub(crate) fn put_back(&self, batch: Vec<NovaEvent>) {
        let mut q = self.lock();
        for e in batch.into_iter().rev() {
            q.push_front(e);
        }
        self.trim(&mut q);
    }

    /// Drops the oldest events beyond the bound.
    fn trim(&self, q: &mut VecDeque<NovaEvent>) {
        let over = q.len().saturating_sub(self.0.limit);
        if over > 0 {
            q.drain(..over);
            Counters::add(&self.0.counters.dropped, over);
            tracing::error!(dropped = over, limit = self.0.limit, "nova event queue full: oldest events dropped");
        }
    }

    /// Waits until at least one event is queued.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.0.wake.notified();
            if !self.lock().is_empty() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nova::EventName;

    fn event(tag: &str) -> NovaEvent {
        NovaEvent { name: EventName::VifDeleted, server_uuid: "s".into(), tag: tag.into(), status: None }
    }

    fn tags(events: &[NovaEvent]) -> Vec<&str> {
        events.iter().map(|e| e.tag.as_str()).collect()
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_them() {
        let n = Notifier::new(true, 3);
        n.queue(vec![event("1"), event("2")]);
        n.queue(vec![event("3"), event("4")]);
        assert_eq!(tags(&n.take(10)), ["2", "3", "4"]);
        assert_eq!(Counters::get(&n.counters().dropped), 1);
        assert_eq!(Counters::get(&n.counters().queued), 4);
    }

    #[test]
    fn a_batch_put_back_goes_first_in_its_order() {
        let n = Notifier::new(true, 10);
        n.queue(vec![event("1"), event("2"), event("3")]);
        let batch = n.take(2);
        n.queue(vec![event("4")]);
        n.put_back(batch);
        assert_eq!(tags(&n.take(10)), ["1", "2", "3", "4"]);
    }

    #[test]
    fn a_disabled_notifier_keeps_nothing() {
        let n = Notifier::new(false, 10);
        n.queue(vec![event("1")]);
        assert_eq!(n.pending(), 0);
        assert_eq!(Counters::get(&n.counters().queued), 0);
    }
}
