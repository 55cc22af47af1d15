//! Several servers on one PostgreSQL database: a change committed through one wakes the
//! others' [`Store::changes`] watchers (LISTEN/NOTIFY), and the feed table stays the truth
//! when a notification is lost (the listener's own poll, its reconnect).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

use neutrino_model::{ApiError, Resource};
use neutrino_store::postgres::testing::TestCluster;
use neutrino_store::postgres::{PgBackend, PgOptions, LISTENER_NAME};
use neutrino_store::{ChangeOp, Store};
use std::time::{Duration, Instant};

/// A store on the cluster whose listener reads `MAX(seq)` itself only every `poll`.
fn open(cluster: &TestCluster, poll: Duration) -> Store {
    let mut opts = PgOptions::new(cluster.url());
    opts.change_poll = poll;
    Store::new(PgBackend::open(&opts).unwrap())
}

async fn record(store: &Store, id: &str) -> u64 {
    let id = id.to_string();
    store
        .write(move |tx| -> Result<u64, ApiError> {
            Ok(tx.change_record(Resource::Network, &id, ChangeOp::Create, "p")?)
        })
        .await
        .unwrap()
}

/// How long `store`'s watch takes to reach `seq`; panics past `limit`.
async fn seen_within(store: &Store, seq: u64, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut changes = store.changes();
    let reached = tokio::time::timeout(limit, changes.wait_for(|latest| *latest >= seq)).await.map(drop);
    assert!(reached.is_ok(), "seq {seq} not seen within {limit:?} (latest {})", *changes.borrow());
    started.elapsed()
}

/// Runs a statement on the cluster off the test's runtime (the blocking client has its own).
fn execute(cluster: &TestCluster, sql: &str) -> u64 {
    let (url, sql) = (cluster.url(), sql.to_string());
    std::thread::spawn(move || postgres::Client::connect(&url, postgres::NoTls).unwrap().execute(&sql, &[]).unwrap())
        .join()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_through_one_server_wakes_the_others_watch_at_once() {
    let Some(cluster) = TestCluster::for_test() else { return };
    // The poll is far away: only the notification can wake B in time.
    let a = open(&cluster, Duration::from_secs(60));
    let b = open(&cluster, Duration::from_secs(60));
    for i in 0..5 {
        let seq = record(&a, &format!("n{i}")).await;
        let took = seen_within(&b, seq, Duration::from_secs(2)).await;
        assert!(took < Duration::from_millis(500), "B saw A's change after {took:?}");
    }
    // And the other way round.
    let seq = record(&b, "back").await;
    seen_within(&a, seq, Duration::from_millis(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_without_a_notification_is_read_by_the_poll() {
    let Some(cluster) = TestCluster::for_test() else { return };
    let store = open(&cluster, Duration::from_millis(200));
    let before = *store.changes().borrow();
    // Written by hand: no pg_notify, so only the listener's poll can find it.
    execute(
        &cluster,
        "INSERT INTO changes (resource, resource_id, op, project_id) VALUES ('network', 'x', 'create', 'p')",
    );
    seen_within(&store, before + 1, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_reconnects_and_catches_up_after_its_connection_breaks() {
    let Some(cluster) = TestCluster::for_test() else { return };
    let a = open(&cluster, Duration::from_secs(60));
    let b = open(&cluster, Duration::from_secs(60));
    let seq = record(&a, "first").await;
    seen_within(&b, seq, Duration::from_secs(2)).await;
    // Cut both listeners: what commits meanwhile is never notified to B's new session.
    let cut = execute(
        &cluster,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{LISTENER_NAME}'"),
    );
    assert_eq!(cut, 2, "one listener per server");
    let seq = record(&a, "while cut").await;
    // The reconnect re-reads MAX(seq) (the poll is a minute away).
    seen_within(&b, seq, Duration::from_secs(5)).await;
    // And it listens again.
    let seq = record(&a, "after").await;
    let took = seen_within(&b, seq, Duration::from_secs(2)).await;
    assert!(took < Duration::from_millis(500), "B saw A's change after {took:?}");
}
