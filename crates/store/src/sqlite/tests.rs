//! The write batch's failure paths, driven through [`BatchControl`] on a real database, and
//! the query plans of the visibility filter.

use super::*;
use crate::doc_table::where_clause;
use crate::{IndexFilter, JobOutcome, Tx, Visibility};
use neutrino_model::Resource;
use std::sync::mpsc::Receiver;

/// Runs every statement for real, except `fail` which fails without running.
struct FailAt(Step);

impl BatchControl for FailAt {
    fn run(&self, conn: &Connection, step: Step) -> rusqlite::Result<()> {
        if step == self.0 {
            return Err(rusqlite::Error::InvalidQuery);
        }
        Sql.run(conn, step)
    }
}

fn database() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut conn = Connection::open(dir.path().join("t.db")).expect("open");
    configure(&conn, Durability::Normal).expect("configure");
    migrate(&mut conn).expect("migrate");
    (dir, conn)
}

fn network(id: &str) -> crate::Doc {
    crate::Doc { id: id.into(), project_id: "p".into(), name: id.into(), body: "{}".into(), ..Default::default() }
}

/// A raw job inserting network `id` and keeping it or not; its result arrives on the receiver.
fn insert_job(id: &'static str, keep: bool) -> (Job, Receiver<Result<(), StoreError>>) {
    let (reply, result) = std::sync::mpsc::channel();
    let job: Job = Box::new(move |tx: Result<&mut dyn Tx, StoreError>| {
        let ran = tx.and_then(|tx| tx.doc_insert(Resource::Network, &network(id)));
        let refused = ran.is_err();
        JobOutcome {
            keep: keep && !refused,
            deliver: Box::new(move |committed| {
                let _ = reply.send(ran.and(committed));
            }),
        }
    });
    (job, result)
}

fn ids(conn: &Connection) -> Vec<String> {
    let mut stmt = conn.prepare("SELECT id FROM networks ORDER BY id").expect("prepare");
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).expect("query");
    rows.collect::<Result<_, _>>().expect("rows")
}

fn notifier() -> tokio::sync::watch::Sender<u64> {
    tokio::sync::watch::channel(0).0
}

#[test]
fn a_rolled_back_job_leaves_the_others_of_its_batch_committed() {
    let (_dir, mut conn) = database();
    let (a, a_result) = insert_job("a", true);
    let (b, b_result) = insert_job("b", false);
    let (c, c_result) = insert_job("c", true);
    run_batch(&mut conn, vec![a, b, c], &notifier(), &Sql, &crate::StoreStats::default());
    assert!(a_result.recv().unwrap().is_ok());
    assert!(b_result.recv().unwrap().is_ok(), "b's own result is what it returned");
    assert!(c_result.recv().unwrap().is_ok());
    assert_eq!(ids(&conn), ["a", "c"]);
}

#[test]
fn a_failed_rollback_to_fails_the_whole_batch_and_keeps_nothing() {
    let (_dir, mut conn) = database();
    let (a, a_result) = insert_job("a", true);
    let (b, b_result) = insert_job("b", false);
    let (c, c_result) = insert_job("c", true);
    run_batch(&mut conn, vec![a, b, c], &notifier(), &FailAt(Step::RollbackTo), &crate::StoreStats::default());
    for (name, result) in [("a", a_result), ("b", b_result), ("c", c_result)] {
        match result.recv().unwrap() {
            Err(StoreError::TransactionFailed { step, .. }) => assert_eq!(step, "ROLLBACK TO job", "{name}"),
            other => panic!("{name}: expected the batch to fail, got {other:?}"),
        }
    }
    assert!(ids(&conn).is_empty(), "b's insert (not rolled back to its savepoint) must not be committed");
    // The connection is usable for the next batch.
    let (d, d_result) = insert_job("d", true);
    run_batch(&mut conn, vec![d], &notifier(), &Sql, &crate::StoreStats::default());
    assert!(d_result.recv().unwrap().is_ok());
    assert_eq!(ids(&conn), ["d"]);
}

#[test]
fn a_failed_savepoint_or_release_fails_the_batch_too() {
    for step in [Step::Savepoint, Step::Release, Step::Commit] {
        let (_dir, mut conn) = database();
        let (a, a_result) = insert_job("a", true);
        let (b, b_result) = insert_job("b", true);
        run_batch(&mut conn, vec![a, b], &notifier(), &FailAt(step), &crate::StoreStats::default());
        assert!(a_result.recv().unwrap().is_err(), "{step:?}");
        assert!(b_result.recv().unwrap().is_err(), "{step:?}");
        assert!(ids(&conn).is_empty(), "{step:?}");
    }
}

#[test]
fn a_raw_job_that_panics_is_rolled_back_and_the_batch_commits() {
    let (_dir, mut conn) = database();
    let (a, a_result) = insert_job("a", true);
    let (panic_reply, panic_result) = std::sync::mpsc::channel::<()>();
    let panicking: Job = Box::new(move |tx: Result<&mut dyn Tx, StoreError>| {
        let _reply = panic_reply;
        if let Ok(tx) = tx {
            let _ = tx.doc_insert(Resource::Network, &network("boom"));
        }
        panic!("resource logic bug");
    });
    let (c, c_result) = insert_job("c", true);
    run_batch(&mut conn, vec![a, panicking, c], &notifier(), &Sql, &crate::StoreStats::default());
    assert!(a_result.recv().unwrap().is_ok());
    assert!(panic_result.recv().is_err(), "the panicking job's caller sees its reply dropped");
    assert!(c_result.recv().unwrap().is_ok());
    assert_eq!(ids(&conn), ["a", "c"]);
}

fn plan(conn: &Connection, resource: Resource, filter: &IndexFilter) -> String {
    let (clause, args) = where_clause(resource, filter);
    let table = match resource {
        Resource::Network => "networks",
        Resource::Subnet => "subnets",
        _ => "ports",
    };
    let sql = format!("EXPLAIN QUERY PLAN SELECT body FROM {table}{clause} ORDER BY id");
    let mut stmt = conn.prepare(&sql).expect("prepare");
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(3)).expect("plan");
    rows.collect::<Result<Vec<_>, _>>().expect("rows").join("\n")
}

#[test]
fn a_members_list_is_answered_from_the_indexes() {
    let (_dir, conn) = database();
    let member = |actions: &[&str]| IndexFilter {
        visible_to: Some(Visibility {
            project_id: "p".into(),
            rbac_actions: actions.iter().map(|a| a.to_string()).collect(),
        }),
        ..Default::default()
    };
    let ports = plan(&conn, Resource::Port, &member(&[]));
    assert!(ports.contains("USING INDEX ports_project_id"), "{ports}");
    let networks = plan(&conn, Resource::Network, &member(&["access_as_shared", "access_as_external"]));
    assert!(networks.contains("MULTI-INDEX OR"), "{networks}");
    assert!(networks.contains("INDEX networks_project_id"), "{networks}");
    assert!(networks.contains("SEARCH rbac_policies USING"), "{networks}");
    assert!(!networks.contains("SCAN networks"), "{networks}");
    let subnets = plan(&conn, Resource::Subnet, &member(&["access_as_shared"]));
    assert!(subnets.contains("INDEX subnets_project_id"), "{subnets}");
    assert!(subnets.contains("INDEX subnets_network_id"), "{subnets}");
    assert!(!subnets.contains("SCAN subnets"), "{subnets}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_show_the_write_queue_and_time_commits() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SqliteBackend::open(&SqliteOptions::new(dir.path().join("s.db"))).unwrap();
    let store = crate::Store::new(backend);
    // The first write holds the writer until released; the second waits in the queue.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.write(move |_tx| held.recv().map_err(|_| StoreError::Closed)).await }
    });
    let second = tokio::spawn({
        let store = store.clone();
        async move { store.write(|_tx| Ok::<(), StoreError>(())).await }
    });
    let stats = store.stats();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while stats.write_queue_depth() != 1 {
        assert!(std::time::Instant::now() < deadline, "depth stayed {}", stats.write_queue_depth());
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    release.send(()).unwrap();
    first.await.unwrap().unwrap();
    second.await.unwrap().unwrap();
    assert_eq!(stats.write_queue_depth(), 0);
    let commits = stats.commit_seconds.snapshot().count;
    assert!((1..=2).contains(&commits), "two writes commit once or twice, got {commits}");
}
