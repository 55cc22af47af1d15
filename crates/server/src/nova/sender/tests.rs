//! The batching and back-off against a fake Nova and a timer that records its pauses (and
//! returns at once, so time is whatever the test says it was).

use super::*;
use crate::nova::{EventName, EventStatus};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// A Nova in memory: down for the next `down_for` attempts, refusing or not knowing some
/// servers, recording every batch it took.
#[derive(Default)]
struct FakeNova {
    state: Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    down_for: usize,
    refuse_all: bool,
    unknown_servers: HashSet<String>,
    attempts: usize,
    batches: Vec<Vec<NovaEvent>>,
}

impl FakeNova {
    fn with(f: impl FnOnce(&mut FakeState)) -> Arc<Self> {
        let nova = Arc::new(FakeNova::default());
        f(&mut nova.state.lock().unwrap());
        nova
    }

    fn batches(&self) -> Vec<Vec<NovaEvent>> {
        self.state.lock().unwrap().batches.clone()
    }
}

impl NovaApi for Arc<FakeNova> {
    async fn send(&self, events: &[NovaEvent]) -> Result<Vec<EventResult>, SendError> {
        let mut s = self.state.lock().unwrap();
        s.attempts += 1;
        if s.down_for > 0 {
            s.down_for -= 1;
            return Err(SendError::Unreachable("connection refused".into()));
        }
        if s.refuse_all {
            return Err(SendError::Refused { status: 403, body: "forbidden".into() });
        }
        s.batches.push(events.to_vec());
        if events.iter().all(|e| s.unknown_servers.contains(&e.server_uuid)) {
            return Err(SendError::NotFound);
        }
        let code = |e: &NovaEvent| if s.unknown_servers.contains(&e.server_uuid) { 404 } else { 200 };
        Ok(events.iter().map(|e| EventResult { event: e.clone(), code: code(e) }).collect())
    }
}

/// Records every pause and returns at once.
#[derive(Clone, Default)]
struct RecordingTimer(Arc<Mutex<Vec<Duration>>>);

impl Timer for RecordingTimer {
    async fn sleep(&self, duration: Duration) {
        self.0.lock().unwrap().push(duration);
        tokio::task::yield_now().await;
    }
}

fn plugged(server: &str, port: &str) -> NovaEvent {
    NovaEvent {
        name: EventName::VifPlugged,
        server_uuid: server.into(),
        tag: port.into(),
        status: Some(EventStatus::Completed),
    }
}

const INTERVAL: Duration = Duration::from_secs(2);

/// Runs the sender until `done` holds for the fake Nova (or fails after a while).
async fn run_until(queue: &Notifier, nova: &Arc<FakeNova>, timer: &RecordingTimer, done: impl Fn(&FakeState) -> bool) {
    let task = tokio::spawn(run(queue.clone(), nova.clone(), timer.clone(), INTERVAL));
    for _ in 0..1000 {
        if done(&nova.state.lock().unwrap()) {
            task.abort();
            return;
        }
        tokio::task::yield_now().await;
    }
    task.abort();
    panic!("the sender did not finish");
}

#[tokio::test]
async fn events_queued_together_go_in_one_batch_then_the_sender_pauses_the_interval() {
    let queue = Notifier::new(true, 100);
    let nova = FakeNova::with(|_| {});
    let timer = RecordingTimer::default();
    queue.queue(vec![plugged("s1", "p1"), plugged("s2", "p2")]);
    run_until(&queue, &nova, &timer, |s| !s.batches.is_empty()).await;
    assert_eq!(nova.batches(), vec![vec![plugged("s1", "p1"), plugged("s2", "p2")]]);
    assert_eq!(*timer.0.lock().unwrap(), vec![INTERVAL]);
    assert_eq!(Counters::get(&queue.counters().sent), 2);
}

#[tokio::test]
async fn while_nova_is_down_events_are_kept_and_retried_with_growing_pauses() {
    let queue = Notifier::new(true, 100);
    let nova = FakeNova::with(|s| s.down_for = 6);
    let timer = RecordingTimer::default();
    queue.queue(vec![plugged("s1", "p1")]);
    queue.queue(vec![plugged("s2", "p2")]);
    run_until(&queue, &nova, &timer, |s| !s.batches.is_empty()).await;
    // Nothing lost, nothing twice, in order.
    assert_eq!(nova.batches(), vec![vec![plugged("s1", "p1"), plugged("s2", "p2")]]);
    let secs: Vec<u64> = timer.0.lock().unwrap().iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [2, 2, 4, 8, 16, 30, 2], "back-off (never shorter than the interval), then the interval");
    assert_eq!(Counters::get(&queue.counters().retried_batches), 6);
    assert_eq!(Counters::get(&queue.counters().sent), 2);
    assert_eq!(queue.pending(), 0);
}

#[tokio::test]
async fn the_backoff_starts_again_after_a_success() {
    let queue = Notifier::new(true, 100);
    let nova = FakeNova::with(|s| s.down_for = 2);
    let mut backoff = None;
    queue.queue(vec![plugged("s1", "p1")]);
    let short = Duration::from_millis(10);
    assert_eq!(send_once(&queue, &nova, &mut backoff, short).await, FIRST_BACKOFF);
    assert_eq!(send_once(&queue, &nova, &mut backoff, short).await, FIRST_BACKOFF * 2);
    assert_eq!(send_once(&queue, &nova, &mut backoff, short).await, short);
    assert_eq!(backoff, None);
    nova.state.lock().unwrap().down_for = 1;
    queue.queue(vec![plugged("s2", "p2")]);
    assert_eq!(send_once(&queue, &nova, &mut backoff, short).await, FIRST_BACKOFF);
}

#[tokio::test]
async fn an_unknown_server_is_not_an_error_and_not_retried() {
    let queue = Notifier::new(true, 100);
    let nova = FakeNova::with(|s| {
        s.unknown_servers.insert("gone".into());
    });
    let mut backoff = None;
    // 207: one known, one unknown.
    queue.queue(vec![plugged("s1", "p1"), plugged("gone", "p2")]);
    assert_eq!(send_once(&queue, &nova, &mut backoff, INTERVAL).await, INTERVAL);
    // 404: all unknown.
    queue.queue(vec![plugged("gone", "p3")]);
    assert_eq!(send_once(&queue, &nova, &mut backoff, INTERVAL).await, INTERVAL);
    let c = queue.counters();
    assert_eq!((Counters::get(&c.sent), Counters::get(&c.server_not_found), Counters::get(&c.failed)), (1, 2, 0));
    assert_eq!(queue.pending(), 0);
    assert_eq!(nova.state.lock().unwrap().attempts, 2);
}

#[tokio::test]
async fn a_refused_request_is_counted_as_failed_and_dropped() {
    let queue = Notifier::new(true, 100);
    let nova = FakeNova::with(|s| s.refuse_all = true);
    let mut backoff = None;
    queue.queue(vec![plugged("s1", "p1")]);
    assert_eq!(send_once(&queue, &nova, &mut backoff, INTERVAL).await, INTERVAL);
    assert_eq!(Counters::get(&queue.counters().failed), 1);
    assert_eq!(queue.pending(), 0);
}

#[tokio::test]
async fn a_long_queue_goes_out_in_batches() {
    let queue = Notifier::new(true, 10_000);
    let nova = FakeNova::with(|_| {});
    let timer = RecordingTimer::default();
    queue.queue((0..MAX_BATCH + 1).map(|i| plugged("s", &i.to_string())).collect());
    run_until(&queue, &nova, &timer, |s| s.batches.len() == 2).await;
    let sizes: Vec<usize> = nova.batches().iter().map(Vec::len).collect();
    assert_eq!(sizes, [MAX_BATCH, 1]);
}
