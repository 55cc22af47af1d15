//! What every store backend does, run on each: SQLite in a temp dir, and PostgreSQL in a
//! throwaway cluster ([`TestCluster`]) when it is installed (always under `CI`, where a
//! missing PostgreSQL fails these tests instead of skipping its half).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use neutrino_model::{ApiError, Resource};
use neutrino_store::identity::{Domain, Project, RevocationRecord, User};
use neutrino_store::postgres::testing::TestCluster;
use neutrino_store::postgres::{PgBackend, PgOptions};
use neutrino_store::sqlite::{SqliteBackend, SqliteOptions};
use neutrino_store::{ChangeOp, Doc, IndexFilter, IpAllocation, Store, StoreError};

/// One backend under test, with what keeps its database alive.
struct Under {
    store: Store,
    db: Db,
}

enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(TestCluster),
}

impl Under {
    fn name(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Another store on the same database while this one lives: a second server. `None`
    /// where the backend refuses it, as SQLite does (one process per file: the second open
    /// fails with `StoreError::Locked`, checked here; a reopen after the first is dropped is
    /// tests/lock.rs's).
    fn open_another(&self) -> Option<Store> {
        match &self.db {
            Db::Sqlite(dir) => match SqliteBackend::open(&SqliteOptions::new(dir.path().join("t.db"))) {
                Err(StoreError::Locked { .. }) => None,
                Err(e) => panic!("a second open of the SQLite file: {e}"),
                Ok(_) => panic!("a second open of one SQLite file was allowed"),
            },
            Db::Postgres(cluster) => Some(Store::new(PgBackend::open(&PgOptions::new(cluster.url())).unwrap())),
        }
    }

    /// The first column (text) of every row `sql` selects, straight from the database:
    /// what the store wrote, not what it maps it to.
    fn stored(&self, sql: &str) -> Vec<String> {
        match &self.db {
            Db::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
                rows.map(Result::unwrap).collect()
            }
            // The blocking client runs its own runtime: off the test's tokio thread.
            Db::Postgres(cluster) => std::thread::scope(|s| {
                s.spawn(|| {
                    let mut client = postgres::Client::connect(&cluster.url(), postgres::NoTls).unwrap();
                    client.query(sql, &[]).unwrap().iter().map(|r| r.get::<_, String>(0)).collect()
                })
                .join()
                .unwrap()
            }),
        }
    }

    /// Runs a statement straight on the database.
    fn execute(&self, sql: &str) {
        match &self.db {
            Db::Sqlite(dir) => {
                rusqlite::Connection::open(dir.path().join("t.db")).unwrap().execute(sql, []).unwrap();
            }
            Db::Postgres(cluster) => std::thread::scope(|s| {
                s.spawn(|| {
                    let mut client = postgres::Client::connect(&cluster.url(), postgres::NoTls).unwrap();
                    client.execute(sql, &[]).unwrap();
                })
                .join()
                .unwrap()
            }),
        }
    }
}

/// SQLite, and PostgreSQL when it can be started.
fn backends() -> Vec<Under> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteBackend::open(&SqliteOptions::new(dir.path().join("t.db"))).expect("open sqlite");
    let mut all = vec![Under { store: Store::new(sqlite), db: Db::Sqlite(dir) }];
    if let Some(cluster) = TestCluster::for_test() {
        let pg = PgBackend::open(&PgOptions::new(cluster.url())).expect("open postgres");
        all.push(Under { store: Store::new(pg), db: Db::Postgres(cluster) });
    }
    all
}

/// A `#[tokio::test]` per body, running it on every backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_every_backend() {
                    for u in super::backends() {
                        eprintln!("backend: {}", u.name());
                        super::$name(&u).await;
                    }
                }
            }
        )*
    };
}

on_every_backend!(
    failed_job_keeps_nothing_and_others_commit,
    ledger_rejects_an_address_twice,
    reopening_keeps_data_and_migrations_run_once,
    committed_changes_are_published_and_compaction_keeps_the_sequence,
    a_visibility_filter_returns_own_rows_and_rbac_shared_networks_only,
    segments_without_a_physical_network_or_an_id_read_back_as_none,
    a_binding_is_bound_to_a_segment_or_failed_with_a_reason,
    a_document_without_a_column_its_table_needs_is_refused,
    the_feed_reads_back_typed_kinds_stored_by_name,
    events_are_listed_after_an_id_and_pruned_past_expiry,
    signing_keys_are_replaced_whole_and_changes_name_their_kind,
    two_servers_on_one_database_never_overshoot_a_limit,
    agents_are_upserted_found_and_assigned,
    inactive_bindings_round_trip_and_a_second_one_per_host_is_refused,
    forwardings_flavors_and_auto_allocations_keep_their_rules,
    users_and_projects_update_in_place,
    keystone_assignments_credentials_and_catalog,
    stats_time_each_commit_and_the_queue_drains,
    host_questions_are_pending_until_answered_and_expire,
);

/// `neutrino diagnose`'s questions: pending per host until answered (by that host only),
/// each insert and answer a change of its own kind naming the host or the question, and
/// deleted by age or by id.
async fn host_questions_are_pending_until_answered_and_expire(u: &Under) {
    use neutrino_store::{ChangeKind, HostQuestionRow};
    let q = |id: &str, host: &str, created_ms: i64| HostQuestionRow {
        id: id.into(),
        host: host.into(),
        body: format!("{{\"id\": \"{id}\"}}"),
        created_ms,
        answer: None,
        answered_ms: None,
    };
    let store = u.store.clone();
    let since = store.read(|tx| tx.change_latest()).await.unwrap();
    let (q1, q2, q3) = (q("q1", "h1", 1000), q("q2", "h1", 2000), q("q3", "h2", 1500));
    let rows = [q2.clone(), q1.clone(), q3.clone()];
    store
        .write(move |tx| -> Result<(), StoreError> {
            for r in &rows {
                tx.host_question_insert(r)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let pending = store.read(|tx| tx.host_question_pending("h1", 10)).await.unwrap();
    assert_eq!(pending, [q1.clone(), q2.clone()], "oldest first ({})", u.name());
    assert_eq!(store.read(|tx| tx.host_question_pending("h1", 1)).await.unwrap(), std::slice::from_ref(&q1));
    let (wrong_host, answered, again) = store
        .write(|tx| -> Result<_, StoreError> {
            Ok((
                tx.host_question_answer("q1", "h2", "{}", 5000)?,
                tx.host_question_answer("q1", "h1", "{\"findings\": []}", 5000)?,
                tx.host_question_answer("q1", "h1", "{}", 6000)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!((wrong_host, answered, again), (false, true, false));
    let got = store.read(|tx| tx.host_question_get("q1")).await.unwrap().unwrap();
    assert_eq!((got.answer.as_deref(), got.answered_ms), (Some("{\"findings\": []}"), Some(5000)));
    assert_eq!(store.read(|tx| tx.host_question_pending("h1", 10)).await.unwrap(), std::slice::from_ref(&q2));
    let feed = store.read(move |tx| tx.change_list_since(since, 10)).await.unwrap();
    let kinds: Vec<_> = feed.iter().map(|c| (c.kind, c.id.as_str())).collect();
    assert_eq!(
        kinds,
        [
            (ChangeKind::HostQuestion, "h1"),
            (ChangeKind::HostQuestion, "h1"),
            (ChangeKind::HostQuestion, "h2"),
            (ChangeKind::HostAnswer, "q1")
        ]
    );
    // q1 (1000) and q3 (1500) are older than 1600; q2 goes by id.
    let gone = store.write(|tx| tx.host_question_delete(1600, &["q2".to_string()])).await.unwrap();
    assert_eq!(gone, 3);
    assert_eq!(u.stored("SELECT id FROM host_questions"), Vec::<String>::new());
}

/// `/metrics` reads `Store::stats`: every backend times its commits and counts queued writes.
async fn stats_time_each_commit_and_the_queue_drains(u: &Under) {
    let stats = u.store.stats();
    let before = stats.commit_seconds.snapshot().count;
    for i in 0..3 {
        u.store
            .write(move |tx| -> Result<(), ApiError> { Ok(tx.doc_insert(Resource::Network, &net(&format!("s{i}")))?) })
            .await
            .unwrap();
    }
    let after = stats.commit_seconds.snapshot();
    assert_eq!(after.count - before, 3, "one commit per write when writes come one at a time");
    assert!(after.sum > 0.0);
    assert_eq!(stats.write_queue_depth(), 0);
}

fn net(id: &str) -> Doc {
    Doc {
        id: id.into(),
        project_id: "p".into(),
        name: id.into(),
        body: format!("{{\"id\": \"{id}\"}}"),
        ..Doc::default()
    }
}

/// Inserts network `n1` and, for each id, a port on it.
fn network_with_ports(tx: &mut dyn neutrino_store::Tx, ports: &[&str]) -> Result<(), StoreError> {
    tx.doc_insert(Resource::Network, &net("n1"))?;
    ports.iter().try_for_each(|p| network_port(tx, p))
}

/// Two servers on one database, each allocating by read-then-write as the resource logic
/// does (count, then insert below a limit; pick the lowest free address, then take it):
/// the limit is never overshot and no address is handed out twice, because the backend
/// serialises write transactions across servers (SQLite's file lock, PostgreSQL's write lock).
async fn two_servers_on_one_database_never_overshoot_a_limit(u: &Under) {
    const LIMIT: usize = 10;
    const ADDRESSES: usize = 8;
    let Some(other) = u.open_another() else { return };
    let servers = [u.store.clone(), other];
    servers[0]
        .write(|tx| -> Result<(), StoreError> {
            network_with_ports(tx, &[])?;
            tx.doc_insert(
                Resource::Subnet,
                &Doc { id: "s1".into(), network_id: Some("n1".into()), body: "{}".into(), ..Doc::default() },
            )
        })
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for i in 0..40 {
        let store = servers[i % 2].clone();
        jobs.push(tokio::spawn(async move {
            store
                .write(move |tx| -> Result<bool, StoreError> {
                    let ports = IndexFilter { network_ids: Some(vec!["n1".into()]), ..IndexFilter::default() };
                    if tx.doc_count(Resource::Port, &ports)? as usize >= LIMIT {
                        return Ok(false);
                    }
                    let id = format!("p{i:02}");
                    network_port(tx, &id)?;
                    let taken: Vec<String> =
                        tx.ip_allocation_list_by_subnet("s1")?.into_iter().map(|a| a.ip_address).collect();
                    let Some(free) = (0..ADDRESSES).map(|n| format!("10.0.0.{n}")).find(|a| !taken.contains(a)) else {
                        return Ok(true);
                    };
                    let alloc =
                        IpAllocation { subnet_id: "s1".into(), ip_address: free, port_id: id, network_id: "n1".into() };
                    tx.ip_allocation_insert(&alloc)?;
                    Ok(true)
                })
                .await
        }));
    }
    let mut created = 0;
    for job in jobs {
        created += usize::from(job.await.unwrap().expect("no job fails: none races another"));
    }
    assert_eq!(created, LIMIT, "{}", u.name());
    let ports = u.stored("SELECT COUNT(*) || '' FROM ports");
    assert_eq!(ports, [LIMIT.to_string()], "{}", u.name());
    let addresses = u.stored("SELECT COUNT(DISTINCT ip_address) || '/' || COUNT(*) FROM ip_allocations");
    assert_eq!(addresses, [format!("{ADDRESSES}/{ADDRESSES}")], "{}", u.name());
}

/// Inserts a port `id` on network `n1`.
fn network_port(tx: &mut dyn neutrino_store::Tx, id: &str) -> Result<(), StoreError> {
    let port = Doc {
        id: id.into(),
        network_id: Some("n1".into()),
        device_id: Some(String::new()),
        device_owner: Some(String::new()),
        mac_address: Some(id.into()),
        body: "{}".into(),
        ..Doc::default()
    };
    tx.doc_insert(Resource::Port, &port)
}

async fn failed_job_keeps_nothing_and_others_commit(u: &Under) {
    let store = u.store.clone();
    // Many concurrent jobs land in shared batches; the failing ones must leave no trace.
    let mut handles = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store
                .write(move |tx| -> Result<(), ApiError> {
                    tx.doc_insert(Resource::Network, &net(&format!("n{i:02}")))?;
                    if i % 2 == 1 {
                        return Err(ApiError::bad_request("odd"));
                    }
                    Ok(())
                })
                .await
        }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.await.expect("join");
        assert_eq!(r.is_ok(), i % 2 == 0);
    }
    let ids = store
        .read(|tx| -> Result<Vec<String>, ApiError> { Ok(tx.doc_list(Resource::Network, &IndexFilter::default())?) })
        .await
        .unwrap();
    assert_eq!(ids.len(), 20);
    assert!(
        ids.iter().all(|b| {
            let n: u32 = b.trim_end_matches("\"}").rsplit('n').next().unwrap().parse().unwrap();
            n.is_multiple_of(2)
        }),
        "{ids:?}"
    );
}

async fn ledger_rejects_an_address_twice(u: &Under) {
    let store = u.store.clone();
    let result = store
        .write(|tx| -> Result<(), StoreError> {
            tx.doc_insert(Resource::Network, &net("n1"))?;
            tx.doc_insert(
                Resource::Subnet,
                &Doc { id: "s1".into(), network_id: Some("n1".into()), body: "{}".into(), ..Doc::default() },
            )?;
            for p in ["p1", "p2"] {
                tx.doc_insert(
                    Resource::Port,
                    &Doc {
                        id: p.into(),
                        network_id: Some("n1".into()),
                        device_id: Some(String::new()),
                        device_owner: Some(String::new()),
                        mac_address: Some(p.into()),
                        body: "{}".into(),
                        ..Doc::default()
                    },
                )?;
            }
            let a = IpAllocation {
                subnet_id: "s1".into(),
                ip_address: "10.0.0.2".into(),
                port_id: "p1".into(),
                network_id: "n1".into(),
            };
            tx.ip_allocation_insert(&a)?;
            let again = IpAllocation { port_id: "p2".into(), ..a };
            match tx.ip_allocation_insert(&again) {
                Err(StoreError::UniqueViolation { .. }) => Ok(()),
                other => panic!("expected a unique violation, got {other:?}"),
            }
        })
        .await;
    assert!(result.is_ok());
    // Deleting a port releases its addresses (ON DELETE CASCADE).
    let left = store
        .write(|tx| -> Result<usize, StoreError> {
            tx.doc_delete(Resource::Port, "p1")?;
            Ok(tx.ip_allocation_list_by_subnet("s1")?.len())
        })
        .await
        .unwrap();
    assert_eq!(left, 0);
}

async fn reopening_keeps_data_and_migrations_run_once(u: &Under) {
    u.store
        .write(|tx| -> Result<u64, StoreError> {
            tx.doc_insert(Resource::Network, &net("keep"))?;
            tx.change_record(Resource::Network, "keep", ChangeOp::Create, "p")
        })
        .await
        .unwrap();
    if let Some(store) = u.open_another() {
        let (body, seq) = store
            .read(|tx| -> Result<_, StoreError> { Ok((tx.doc_get(Resource::Network, "keep")?, tx.change_latest()?)) })
            .await
            .unwrap();
        assert!(body.is_some());
        assert_eq!(seq, 1);
    }
    assert_eq!(u.stored("SELECT COUNT(*) || '' FROM schema_migrations"), ["21"], "each migration ran once");
}

async fn committed_changes_are_published_and_compaction_keeps_the_sequence(u: &Under) {
    let store = u.store.clone();
    let mut changes = store.changes();
    assert_eq!(*changes.borrow_and_update(), 0);
    // A failed job's change is never published.
    let failed = store
        .write(|tx| -> Result<(), ApiError> {
            tx.change_record(Resource::Network, "x", ChangeOp::Create, "p")?;
            Err(ApiError::bad_request("no"))
        })
        .await;
    assert!(failed.is_err());
    assert!(!changes.has_changed().unwrap());
    for i in 0..5 {
        store
            .write(move |tx| -> Result<u64, ApiError> {
                Ok(tx.change_record(Resource::Network, &format!("n{i}"), ChangeOp::Create, "p")?)
            })
            .await
            .unwrap();
    }
    assert!(changes.has_changed().unwrap());
    let latest = *changes.borrow_and_update();
    let dropped = store.write(|tx| -> Result<u64, ApiError> { Ok(tx.change_compact(2)?) }).await.unwrap();
    assert_eq!(dropped, 3);
    // Compaction is not a change, and the next sequence continues after the last one.
    assert!(!changes.has_changed().unwrap());
    let next = store
        .write(|tx| -> Result<u64, ApiError> { Ok(tx.change_record_agent("a", ChangeOp::Update)?) })
        .await
        .unwrap();
    assert!(next > latest, "{next} > {latest}");
    assert_eq!(*changes.borrow_and_update(), next);
    assert_eq!(store.read(|tx| -> Result<u64, ApiError> { Ok(tx.change_latest()?) }).await.unwrap(), next);
}

async fn a_visibility_filter_returns_own_rows_and_rbac_shared_networks_only(u: &Under) {
    use neutrino_store::Visibility;
    let store = u.store.clone();
    store
        .write(|tx| -> Result<(), StoreError> {
            let doc = |id: &str, project: &str| Doc {
                id: id.into(),
                project_id: project.into(),
                name: id.into(),
                body: format!("{{\"id\": \"{id}\"}}"),
                ..Doc::default()
            };
            for i in 0..500 {
                tx.doc_insert(Resource::Network, &doc(&format!("other-{i:03}"), "other"))?;
            }
            tx.doc_insert(Resource::Network, &doc("mine", "me"))?;
            tx.doc_insert(Resource::Network, &doc("shared-all", "admin"))?;
            tx.doc_insert(Resource::Network, &doc("shared-me", "admin"))?;
            tx.doc_insert(Resource::Network, &doc("shared-else", "admin"))?;
            tx.doc_insert(Resource::Network, &doc("ext", "admin"))?;
            let policy = |id: &str, object: &str, action: &str, target: &str| neutrino_store::identity::RbacPolicy {
                id: id.into(),
                project_id: "admin".into(),
                object_type: "network".into(),
                object_id: object.into(),
                action: action.into(),
                target_project: target.into(),
            };
            tx.rbac_policy_insert(&policy("r1", "shared-all", "access_as_shared", "*"))?;
            tx.rbac_policy_insert(&policy("r2", "shared-me", "access_as_shared", "me"))?;
            tx.rbac_policy_insert(&policy("r3", "shared-else", "access_as_shared", "else"))?;
            tx.rbac_policy_insert(&policy("r4", "ext", "access_as_external", "*"))?;
            Ok(())
        })
        .await
        .unwrap();
    let list = |actions: Vec<&'static str>| {
        let store = store.clone();
        async move {
            store
                .read(move |tx| -> Result<Vec<String>, StoreError> {
                    let filter = IndexFilter {
                        visible_to: Some(Visibility {
                            project_id: "me".into(),
                            rbac_actions: actions.into_iter().map(String::from).collect(),
                        }),
                        ..IndexFilter::default()
                    };
                    tx.doc_list(Resource::Network, &filter)
                })
                .await
                .unwrap()
        }
    };
    let all = list(vec!["access_as_shared", "access_as_external"]).await;
    assert_eq!(all, [r#"{"id": "ext"}"#, r#"{"id": "mine"}"#, r#"{"id": "shared-all"}"#, r#"{"id": "shared-me"}"#]);
    let own = list(vec![]).await;
    assert_eq!(own, [r#"{"id": "mine"}"#]);
}

async fn segments_without_a_physical_network_or_an_id_read_back_as_none(u: &Under) {
    use neutrino_store::Segment;
    let store = u.store.clone();
    let vxlan = Segment {
        id: "s-vxlan".into(),
        network_id: "n1".into(),
        network_type: "vxlan".into(),
        physical_network: None,
        segmentation_id: Some(1001),
    };
    let flat = Segment {
        id: "s-flat".into(),
        network_id: "n1".into(),
        network_type: "flat".into(),
        physical_network: Some("physnet1".into()),
        segmentation_id: None,
    };
    let (read, in_use) = store
        .write({
            let (vxlan, flat) = (vxlan.clone(), flat.clone());
            move |tx| -> Result<_, StoreError> {
                network_with_ports(tx, &[])?;
                tx.segment_insert(&vxlan)?;
                tx.segment_insert(&flat)?;
                // The stored '' and 0 keep a flat physical network allocatable once.
                let again = Segment { id: "s-flat-2".into(), ..flat };
                assert!(matches!(tx.segment_insert(&again), Err(StoreError::UniqueViolation { .. })));
                Ok((tx.segment_list_by_network("n1")?, tx.segment_ids_in_use("vxlan", None)?))
            }
        })
        .await
        .unwrap();
    assert_eq!(read, [flat, vxlan]);
    assert_eq!(in_use, [1001]);
    drop(store);
    // The stored representation is the one existing databases hold.
    let rows = u.stored("SELECT physical_network || '/' || segmentation_id FROM network_segments ORDER BY id");
    assert_eq!(rows, ["physnet1/0", "/1001"]);
}

async fn a_binding_is_bound_to_a_segment_or_failed_with_a_reason(u: &Under) {
    use neutrino_store::{BindingResult, PortBinding};
    let store = u.store.clone();
    let binding = |port: &str, result: BindingResult| PortBinding {
        port_id: port.into(),
        host: "h1".into(),
        network_id: "n1".into(),
        result,
    };
    let bound = binding("p1", BindingResult::Bound { segment_id: "s1".into() });
    let failed = binding("p2", BindingResult::Failed { reason: "no agent".into() });
    let unexplained = binding("p3", BindingResult::Failed { reason: String::new() });
    let (by_host, by_network) = store
        .write({
            let written = [bound.clone(), failed.clone(), unexplained];
            move |tx| -> Result<_, StoreError> {
                network_with_ports(tx, &["p1", "p2", "p3"])?;
                for b in &written {
                    tx.port_binding_set(b)?;
                }
                Ok((tx.port_binding_list_by_host("h1")?, tx.port_binding_list_by_network("n1")?))
            }
        })
        .await
        .unwrap();
    // A failure without a reason still reads back as a failure.
    let unexplained = binding("p3", BindingResult::Failed { reason: "binding failed".into() });
    assert_eq!(by_host, [bound.clone(), failed, unexplained]);
    assert_eq!(by_network, [bound]);
    let rows = u.stored("SELECT segment_id || '/' || failure FROM port_bindings ORDER BY port_id");
    assert_eq!(rows, ["s1/", "/no agent", "/binding failed"]);
}

async fn a_document_without_a_column_its_table_needs_is_refused(u: &Under) {
    let store = u.store.clone();
    let result = store
        .write(|tx| -> Result<(), StoreError> {
            tx.doc_insert(Resource::Network, &net("n1"))?;
            tx.doc_insert(Resource::Subnet, &Doc { id: "s1".into(), body: "{}".into(), ..Doc::default() })
        })
        .await;
    assert!(matches!(result, Err(StoreError::Database(_) | StoreError::Postgres(_))), "{result:?}");
}

async fn the_feed_reads_back_typed_kinds_stored_by_name(u: &Under) {
    use neutrino_store::{Change, ChangeKind};
    let store = u.store.clone();
    let listed = store
        .write(|tx| -> Result<Vec<Change>, StoreError> {
            tx.change_record(Resource::SecurityGroupRule, "r1", ChangeOp::Create, "p")?;
            tx.change_record(Resource::FloatingIp, "f1", ChangeOp::Delete, "p")?;
            tx.change_record_agent("a1", ChangeOp::Update)?;
            tx.change_list_since(1, 10)
        })
        .await
        .unwrap();
    let change = |seq, kind, id: &str| Change { seq, kind, id: id.into() };
    assert_eq!(listed, [change(2, ChangeKind::FloatingIp, "f1"), change(3, ChangeKind::Agent, "a1")]);
    let rows = u.stored("SELECT resource || '/' || op || '/' || project_id FROM changes ORDER BY seq");
    assert_eq!(rows, ["security_group_rule/create/p", "floatingip/delete/p", "agent/update/"]);
    // A kind this version does not know fails the read instead of being misread.
    u.execute("INSERT INTO changes (resource, resource_id, op, project_id) VALUES ('trunk', 't', 'create', '')");
    let read = store.read(|tx| -> Result<Vec<Change>, StoreError> { tx.change_list_since(3, 10) }).await;
    assert!(read.is_err(), "{read:?}");
}

fn event(user: Option<&str>, project: Option<&str>, prune_after: i64) -> RevocationRecord {
    RevocationRecord {
        id: 0,
        user_id: user.map(Into::into),
        project_id: project.map(Into::into),
        role_id: None,
        app_cred_id: None,
        issued_before_us: 1_000,
        revoked_at_us: 1_000,
        prune_after,
    }
}

async fn events_are_listed_after_an_id_and_pruned_past_expiry(u: &Under) {
    let store = u.store.clone();
    let ids = store
        .write(|tx| -> Result<Vec<i64>, StoreError> {
            tx.revoked_token_insert("old-token", 50)?;
            tx.revoked_token_insert("live-token", 500)?;
            Ok(vec![
                tx.revocation_event_insert(&event(Some("u1"), None, 100))?,
                tx.revocation_event_insert(&event(None, Some("p1"), 300))?,
                tx.revocation_event_insert(&event(Some("u2"), Some("p2"), 400))?,
            ])
        })
        .await
        .unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let all = store.read(|tx| tx.revocation_event_list(0, 0)).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].project_id.as_deref(), Some("p1"));
    assert_eq!(all[2].user_id.as_deref(), Some("u2"));
    let first = ids[0];
    let newer = store.read(move |tx| tx.revocation_event_list(first, 0)).await.unwrap();
    assert_eq!(newer.iter().map(|e| e.id).collect::<Vec<_>>(), ids[1..]);
    let live = store.read(|tx| tx.revocation_event_list(0, 150)).await.unwrap();
    assert_eq!(live.len(), 2, "the first event is past its prune time");
    let pruned = store.write(|tx| tx.revocation_prune(150)).await.unwrap();
    assert_eq!(pruned, 2, "one event and one expired token");
    let rows = store.read(|tx| tx.revocation_event_list(0, 0)).await.unwrap();
    assert_eq!(rows.len(), 2);
    let tokens = store.read(|tx| tx.revoked_token_list_expiring(0)).await.unwrap();
    assert_eq!(tokens, vec![("live-token".to_string(), 500)]);
    let expiry =
        store.read(|tx| Ok::<_, StoreError>((tx.revoked_token_expiry("live-token")?, tx.revoked_token_expiry("x")?)));
    assert_eq!(expiry.await.unwrap(), (Some(500), None));
}

/// The signing keys servers share on one database: replaced whole, read back by id, and a
/// revocation or rotation is a change of its own kind (no project).
async fn signing_keys_are_replaced_whole_and_changes_name_their_kind(u: &Under) {
    use neutrino_store::identity::SigningKey;
    use neutrino_store::ChangeKind;
    let store = u.store.clone();
    let key = |id: u32, staged: bool| SigningKey { id, key: format!("k{id}"), staged };
    assert!(store.read(|tx| tx.signing_key_list()).await.unwrap().is_empty());
    let first = vec![key(1, false), key(2, true)];
    let keys = first.clone();
    store.write(move |tx| tx.signing_key_replace(&keys)).await.unwrap();
    assert_eq!(store.read(|tx| tx.signing_key_list()).await.unwrap(), first);
    let second = vec![key(2, false), key(3, true)];
    let keys = second.clone();
    store.write(move |tx| tx.signing_key_replace(&keys)).await.unwrap();
    assert_eq!(store.read(|tx| tx.signing_key_list()).await.unwrap(), second);
    assert!(!format!("{:?}", second[0]).contains("k2"), "key material is never printed");
    let since = store.read(|tx| tx.change_latest()).await.unwrap();
    store
        .write(|tx| -> Result<(), StoreError> {
            tx.change_record_kind(ChangeKind::Revocation, "token", ChangeOp::Create)?;
            tx.change_record_kind(ChangeKind::SigningKey, "3", ChangeOp::Update)?;
            Ok(())
        })
        .await
        .unwrap();
    let feed = store.read(move |tx| tx.change_list_since(since, 10)).await.unwrap();
    let kinds: Vec<_> = feed.iter().map(|c| (c.kind, c.id.as_str())).collect();
    assert_eq!(kinds, [(ChangeKind::Revocation, "token"), (ChangeKind::SigningKey, "3")]);
    assert_eq!(u.stored("SELECT resource FROM changes WHERE resource = 'signing_key'"), ["signing_key"]);
}

async fn agents_are_upserted_found_and_assigned(u: &Under) {
    use neutrino_store::{AgentRow, Assignment};
    let agent = |beat: i64| AgentRow {
        id: "a1".into(),
        agent_type: "DHCP agent".into(),
        host: "h1".into(),
        heartbeat_at: beat,
        body: format!("{{\"beat\": {beat}}}"),
    };
    let (found, added, again, listed, removed, left) = u
        .store
        .write(move |tx| -> Result<_, StoreError> {
            network_with_ports(tx, &[])?;
            tx.agent_upsert(&agent(1))?;
            tx.agent_upsert(&agent(2))?;
            let found = tx.agent_find("DHCP agent", "h1")?;
            let added = tx.assignment_add(Assignment::DhcpNetwork, "n1", "a1")?;
            let again = tx.assignment_add(Assignment::DhcpNetwork, "n1", "a1")?;
            let listed = tx.assignment_list(Assignment::DhcpNetwork)?;
            let removed = tx.assignment_remove(Assignment::DhcpNetwork, "n1", "a1")?;
            tx.assignment_add(Assignment::DhcpNetwork, "n1", "a1")?;
            // Deleting the agent takes its assignments with it.
            tx.agent_delete("a1")?;
            Ok((found, added, again, listed, removed, tx.assignment_list(Assignment::DhcpNetwork)?))
        })
        .await
        .unwrap();
    assert_eq!(found, Some(agent(2)), "{}", u.name());
    assert!(added && !again && removed, "{}", u.name());
    assert_eq!(listed, [("n1".to_string(), "a1".to_string())]);
    assert!(left.is_empty(), "{}", u.name());
    let none =
        u.store.read(|tx| -> Result<_, StoreError> { Ok((tx.agent_get("a1")?, tx.agent_list()?)) }).await.unwrap();
    assert_eq!(none, (None, vec![]));
}

async fn inactive_bindings_round_trip_and_a_second_one_per_host_is_refused(u: &Under) {
    use neutrino_store::{InactiveBinding, InactiveRole};
    let binding = InactiveBinding {
        port_id: "p1".into(),
        host: "h2".into(),
        network_id: "n1".into(),
        segment_id: Some("s1".into()),
        vif_type: "bridge".into(),
        vnic_type: "normal".into(),
        profile: serde_json::json!({"migrating_to": "h2"}).as_object().cloned().unwrap(),
        vif_details: serde_json::Map::new(),
        role: InactiveRole::Target,
        wired: false,
    };
    let (repeat, wired, by_host, deleted, left) = u
        .store
        .write({
            let binding = binding.clone();
            move |tx| -> Result<_, StoreError> {
                network_with_ports(tx, &["p1"])?;
                tx.port_inactive_binding_insert(&binding)?;
                // The job goes on after the refusal (on PostgreSQL: the statement's savepoint).
                let repeat = tx.port_inactive_binding_insert(&binding);
                let wired = tx.port_inactive_binding_set_wired("p1", "h2", true)?;
                let by_host = tx.port_inactive_binding_list_by_host("h2")?;
                let deleted = tx.port_inactive_binding_delete("p1", "h2")?;
                Ok((repeat, wired, by_host, deleted, tx.port_inactive_binding_list("p1")?))
            }
        })
        .await
        .unwrap();
    assert!(
        matches!(repeat, Err(StoreError::UniqueViolation { ref table }) if table == "port_inactive_bindings"),
        "{repeat:?}"
    );
    assert!(wired && deleted, "{}", u.name());
    assert_eq!(by_host, [InactiveBinding { wired: true, ..binding }], "{}", u.name());
    assert!(left.is_empty());
}

async fn forwardings_flavors_and_auto_allocations_keep_their_rules(u: &Under) {
    use neutrino_store::AutoAllocation;
    let doc = |id: &str| Doc { id: id.into(), name: id.into(), body: "{}".into(), ..Doc::default() };
    let outcome = u
        .store
        .write(move |tx| -> Result<_, StoreError> {
            tx.port_forwarding_put("pf1", "f1", "{\"v\": 1}")?;
            tx.port_forwarding_put("pf1", "f1", "{\"v\": 2}")?;
            let forwardings = tx.port_forwarding_list("f1")?;
            tx.doc_insert(Resource::Flavor, &doc("fl"))?;
            for profile in ["sp-b", "sp-a"] {
                tx.doc_insert(Resource::ServiceProfile, &doc(profile))?;
                tx.flavor_profile_add("fl", profile)?;
            }
            let repeat = tx.flavor_profile_add("fl", "sp-a");
            let profiles = tx.flavor_profile_list("fl")?;
            let topology = AutoAllocation { project_id: "p".into(), network_id: "n1".into(), router_id: "r1".into() };
            tx.auto_allocation_insert(&topology)?;
            let second = tx.auto_allocation_insert(&AutoAllocation { router_id: "r2".into(), ..topology });
            tx.default_external_network_set(Some("ext1"))?;
            tx.default_external_network_set(Some("ext2"))?;
            let external = tx.default_external_network_get()?;
            tx.default_external_network_set(None)?;
            Ok((
                forwardings,
                repeat,
                profiles,
                second,
                tx.auto_allocation_get("p")?,
                external,
                tx.default_external_network_get()?,
            ))
        })
        .await
        .unwrap();
    let (forwardings, repeat, profiles, second, topology, external, cleared) = outcome;
    assert_eq!(forwardings, ["{\"v\": 2}"], "{}", u.name());
    assert!(matches!(repeat, Err(StoreError::UniqueViolation { .. })), "{repeat:?}");
    assert_eq!(profiles, ["sp-b", "sp-a"], "in the order they were associated ({})", u.name());
    assert!(matches!(second, Err(StoreError::UniqueViolation { .. })), "{second:?}");
    assert_eq!(topology.map(|t| t.router_id), Some("r1".into()));
    assert_eq!((external, cleared), (Some("ext2".into()), None), "{}", u.name());
}

async fn users_and_projects_update_in_place(u: &Under) {
    let store = u.store.clone();
    store
        .write(|tx| -> Result<(), ApiError> {
            tx.domain_insert(&Domain { id: "d".into(), name: "D".into(), description: String::new(), enabled: true })?;
            for name in ["p", "q"] {
                tx.project_insert(&Project {
                    id: name.into(),
                    domain_id: "d".into(),
                    name: name.into(),
                    description: String::new(),
                    enabled: true,
                })?;
            }
            for name in ["u", "v"] {
                tx.user_insert(&User {
                    id: name.into(),
                    domain_id: "d".into(),
                    name: name.into(),
                    password_hash: "h".into(),
                    enabled: true,
                    default_project_id: None,
                    email: None,
                    description: None,
                })?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let mut user = store.read(|tx| tx.user_get("u")).await.unwrap().unwrap();
    user.enabled = false;
    user.password_hash = "h2".into();
    let saved = user.clone();
    assert!(store.write(move |tx| tx.user_update(&saved)).await.unwrap());
    assert_eq!(store.read(|tx| tx.user_get("u")).await.unwrap(), Some(user.clone()));
    let mut clash = user.clone();
    clash.name = "v".into();
    assert!(matches!(store.write(move |tx| tx.user_update(&clash)).await, Err(StoreError::UniqueViolation { .. })));
    let mut ghost = user;
    ghost.id = "nobody".into();
    assert!(!store.write(move |tx| tx.user_update(&ghost)).await.unwrap());
    let mut project = store.read(|tx| tx.project_get("p")).await.unwrap().unwrap();
    project.enabled = false;
    project.description = "off".into();
    let saved = project.clone();
    assert!(store.write(move |tx| tx.project_update(&saved)).await.unwrap());
    assert_eq!(store.read(|tx| tx.project_get("p")).await.unwrap(), Some(project));
}

async fn keystone_assignments_credentials_and_catalog(u: &Under) {
    use neutrino_store::identity::{AppCredential, AssignmentTarget, Endpoint, Role, RoleAssignment, Service};
    let role = |id: &str| Role { id: id.into(), name: format!("{id}-role") };
    let outcome = u
        .store
        .write(move |tx| -> Result<_, StoreError> {
            tx.domain_insert(&Domain { id: "d".into(), name: "D".into(), description: String::new(), enabled: true })?;
            let project = Project {
                id: "p".into(),
                domain_id: "d".into(),
                name: "p".into(),
                description: String::new(),
                enabled: true,
            };
            tx.project_insert(&project)?;
            let user = User {
                id: "u".into(),
                domain_id: "d".into(),
                name: "u".into(),
                password_hash: "h".into(),
                enabled: true,
                default_project_id: None,
                email: Some("u@example.org".into()),
                description: None,
            };
            tx.user_insert(&user)?;
            for r in ["b", "a"] {
                tx.role_insert(&role(r))?;
            }
            tx.role_assignment_insert("p", "u", "a")?;
            tx.role_assignment_insert("p", "u", "a")?;
            let system = RoleAssignment { target: AssignmentTarget::System, user_id: "u".into(), role_id: "b".into() };
            let domain = RoleAssignment { target: AssignmentTarget::Domain("d".into()), ..system.clone() };
            tx.scoped_assignment_insert(&system)?;
            tx.scoped_assignment_insert(&domain)?;
            let all = tx.role_assignment_list(Some("u"), None)?;
            let on_system = tx.scoped_assignment_roles(&AssignmentTarget::System, "u")?;
            let dropped = tx.scoped_assignment_delete(&domain)?;
            let cred = AppCredential {
                id: "c".into(),
                user_id: "u".into(),
                project_id: "p".into(),
                name: "ci".into(),
                description: None,
                secret_hash: "s".into(),
                expires_at: Some(10),
                unrestricted: false,
                roles: vec![role("b"), role("a")],
            };
            tx.app_cred_insert(&cred)?;
            let duplicate = tx.app_cred_insert(&AppCredential { id: "c2".into(), ..cred });
            let creds = tx.app_cred_list("u", Some("ci"))?;
            tx.service_insert(&Service {
                id: "s".into(),
                kind: "network".into(),
                name: "neutron".into(),
                description: String::new(),
                enabled: true,
            })?;
            let endpoint = Endpoint {
                id: "e".into(),
                service_id: "s".into(),
                interface: "public".into(),
                region_id: None,
                url: "http://x".into(),
                enabled: true,
            };
            tx.endpoint_insert(&endpoint)?;
            let seeded = (tx.catalog_mark_seeded()?, tx.catalog_mark_seeded()?);
            // A service's endpoints go with it.
            tx.service_delete("s")?;
            Ok((all, on_system, dropped, duplicate, creds, seeded, tx.endpoint_list()?, tx.app_cred_count("u")?))
        })
        .await
        .unwrap();
    let (all, on_system, dropped, duplicate, creds, seeded, endpoints, count) = outcome;
    let targets: Vec<AssignmentTarget> = all.into_iter().map(|a| a.target).collect();
    assert_eq!(
        targets,
        [AssignmentTarget::Domain("d".into()), AssignmentTarget::Project("p".into()), AssignmentTarget::System],
        "{}",
        u.name()
    );
    assert_eq!(on_system, [role("b")]);
    assert!(dropped);
    assert!(matches!(duplicate, Err(StoreError::UniqueViolation { .. })), "{duplicate:?}");
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0].roles, [role("a"), role("b")], "roles by name ({})", u.name());
    assert_eq!(seeded, (true, false));
    assert!(endpoints.is_empty());
    assert_eq!(count, 1);
}

/// The PostgreSQL migrations are the SQLite history translated: the same tables with the
/// same columns (one more on PostgreSQL, the position SQLite reads from its rowid).
#[tokio::test]
async fn both_schemas_have_the_same_tables_and_columns() {
    let mut schemas: Vec<Vec<String>> = Vec::new();
    for u in backends() {
        schemas.push(match u.db {
            Db::Sqlite(_) => u.stored(
                "SELECT m.name || '.' || p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY 1",
            ),
            Db::Postgres(_) => u.stored(
                "SELECT (table_name || '.' || column_name)::text COLLATE \"C\" FROM information_schema.columns \
                 WHERE table_schema = 'public' AND (table_name, column_name) <> ('flavor_service_profiles', 'position') \
                 ORDER BY 1",
            ),
        });
    }
    if let [sqlite, postgres] = &schemas[..] {
        assert!(sqlite.len() > 100, "{sqlite:?}");
        assert_eq!(sqlite, postgres);
    }
}
