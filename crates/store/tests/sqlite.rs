//! The SQLite backend against a real database file in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use neutrino_model::{ApiError, Resource};
use neutrino_store::sqlite::{SqliteBackend, SqliteOptions};
use neutrino_store::{ChangeOp, Doc, IndexFilter, IpAllocation, Store, StoreError};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = SqliteBackend::open(&SqliteOptions::new(dir.path().join("t.db"))).expect("open");
    (dir, Store::new(backend))
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

#[tokio::test]
async fn failed_job_keeps_nothing_and_others_commit() {
    let (_dir, store) = open();
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

#[tokio::test]
async fn ledger_rejects_an_address_twice() {
    let (_dir, store) = open();
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

#[tokio::test]
async fn reopening_keeps_data_and_migrations_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SqliteOptions::new(dir.path().join("t.db"));
    {
        let store = Store::new(SqliteBackend::open(&opts).unwrap());
        store
            .write(|tx| -> Result<u64, StoreError> {
                tx.doc_insert(Resource::Network, &net("keep"))?;
                tx.change_record(Resource::Network, "keep", ChangeOp::Create, "p")
            })
            .await
            .unwrap();
    }
    let store = Store::new(SqliteBackend::open(&opts).unwrap());
    let (body, seq) = store
        .read(|tx| -> Result<_, StoreError> { Ok((tx.doc_get(Resource::Network, "keep")?, tx.change_latest()?)) })
        .await
        .unwrap();
    assert!(body.is_some());
    assert_eq!(seq, 1);
}

#[tokio::test]
async fn committed_changes_are_published_and_compaction_keeps_the_sequence() {
    let (_dir, store) = open();
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

fn open_with(tweak: impl FnOnce(&mut SqliteOptions)) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = SqliteOptions::new(dir.path().join("t.db"));
    tweak(&mut opts);
    let backend = SqliteBackend::open(&opts).expect("open");
    (dir, Store::new(backend))
}

/// Occupies the writer (or a reader) until the returned sender is dropped; returns once
/// the blocking job runs.
async fn block_writer(store: &Store) -> (std::sync::mpsc::Sender<()>, tokio::task::JoinHandle<Result<(), ApiError>>) {
    let (running_tx, running_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let store = store.clone();
    let handle = tokio::spawn(async move {
        store
            .write(move |_tx| -> Result<(), ApiError> {
                let _ = running_tx.send(());
                let _ = release_rx.recv();
                Ok(())
            })
            .await
    });
    running_rx.await.expect("the blocking job runs");
    (release_tx, handle)
}

async fn network_ids(store: &Store) -> Vec<String> {
    store
        .read(|tx| -> Result<Vec<String>, ApiError> { Ok(tx.doc_list(Resource::Network, &IndexFilter::default())?) })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_panicking_job_fails_alone_and_the_writer_keeps_serving() {
    let (_dir, store) = open();
    // Hold the writer so that every job below lands in the same batch.
    let (release, blocker) = block_writer(&store).await;
    let mut handles = Vec::new();
    for i in 0..9 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store
                .write(move |tx| -> Result<(), ApiError> {
                    tx.doc_insert(Resource::Network, &net(&format!("n{i}")))?;
                    if i == 4 {
                        panic!("a bug in resource logic");
                    }
                    Ok(())
                })
                .await
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(release);
    blocker.await.unwrap().unwrap();
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.await.expect("join");
        if i == 4 {
            let e = r.expect_err("the panicking job fails");
            assert_eq!((e.status, e.kind.as_ref()), (500, "HTTPInternalServerError"));
        } else {
            r.expect("the other jobs of the batch commit");
        }
    }
    let ids = network_ids(&store).await;
    assert_eq!(ids.len(), 8, "{ids:?}");
    assert!(!ids.iter().any(|b| b.contains("n4")), "{ids:?}");
    // Later writes are served.
    store.write(|tx| -> Result<(), ApiError> { Ok(tx.doc_insert(Resource::Network, &net("later"))?) }).await.unwrap();
    assert_eq!(network_ids(&store).await.len(), 9);
}

#[tokio::test]
async fn a_full_write_queue_answers_503_at_once_and_drains_afterwards() {
    let (_dir, store) = open_with(|o| o.write_queue = 3);
    let (release, blocker) = block_writer(&store).await;
    let mut queued = Vec::new();
    for i in 0..3 {
        let store = store.clone();
        queued.push(tokio::spawn(async move {
            store
                .write(move |tx| -> Result<(), ApiError> {
                    Ok(tx.doc_insert(Resource::Network, &net(&format!("q{i}")))?)
                })
                .await
        }));
    }
    // Let the three reach the queue.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        store.write(|tx| -> Result<(), ApiError> { Ok(tx.doc_insert(Resource::Network, &net("over"))?) }),
    )
    .await
    .expect("a full queue answers at once, it does not wait");
    let e = refused.expect_err("the queue is full");
    assert_eq!((e.status, e.kind.as_ref()), (503, "ServiceUnavailable"), "{e:?}");
    let raw = store.write(|_tx| -> Result<(), StoreError> { Ok(()) }).await;
    assert!(matches!(raw, Err(StoreError::Busy { queue: "write" })), "{raw:?}");
    drop(release);
    blocker.await.unwrap().unwrap();
    for h in queued {
        h.await.unwrap().expect("queued writes commit");
    }
    let ids = network_ids(&store).await;
    assert_eq!(ids.len(), 3, "nothing of the refused write was stored: {ids:?}");
}

#[tokio::test]
async fn reads_use_a_fixed_pool_and_a_full_read_queue_answers_503() {
    let (_dir, store) = open_with(|o| {
        o.readers = 2;
        o.read_queue = 2;
    });
    let (running_tx, mut running_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Arc::new(std::sync::Mutex::new(release_rx));
    let mut reads = Vec::new();
    // Two reads occupy both readers, two more wait in the queue.
    for _ in 0..4 {
        let store = store.clone();
        let running = running_tx.clone();
        let release = release_rx.clone();
        reads.push(tokio::spawn(async move {
            store
                .read(move |_tx| -> Result<(), StoreError> {
                    let _ = running.send(());
                    let _ = release.lock().unwrap().recv();
                    Ok(())
                })
                .await
        }));
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
    }
    for _ in 0..2 {
        running_rx.recv().await.expect("a reader runs");
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(running_rx.try_recv().is_err(), "only two reads run at once");
    let over = store.read(|_tx| -> Result<(), StoreError> { Ok(()) }).await;
    assert!(matches!(over, Err(StoreError::Busy { queue: "read" })), "{over:?}");
    let e = store.read(|_tx| -> Result<(), ApiError> { Ok(()) }).await.expect_err("busy");
    assert_eq!(e.status, 503);
    drop(release_tx);
    for r in reads {
        r.await.unwrap().expect("the queued reads run");
    }
    store.read(|_tx| -> Result<(), StoreError> { Ok(()) }).await.expect("reads are served again");
}

#[tokio::test]
async fn a_visibility_filter_returns_own_rows_and_rbac_shared_networks_only() {
    use neutrino_store::Visibility;
    let (_dir, store) = open();
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

#[tokio::test]
async fn a_read_whose_caller_left_while_queued_is_skipped() {
    let (_dir, store) = open_with(|o| o.readers = 1);
    let (running_tx, running_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .read(move |_tx| -> Result<(), StoreError> {
                    let _ = running_tx.send(());
                    let _ = release_rx.recv();
                    Ok(())
                })
                .await
        })
    };
    running_rx.await.expect("the only reader is busy");
    let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = ran.clone();
    let abandoned = tokio::time::timeout(
        std::time::Duration::from_millis(100),
        store.read(move |_tx| -> Result<(), StoreError> {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }),
    )
    .await;
    assert!(abandoned.is_err(), "the read waits behind the busy reader and its caller gives up");
    drop(release_tx);
    holder.await.unwrap().unwrap();
    // Reads run in order on the one reader: once this one ran, the abandoned one was seen.
    store.read(|_tx| -> Result<(), StoreError> { Ok(()) }).await.unwrap();
    assert!(!ran.load(std::sync::atomic::Ordering::SeqCst), "the abandoned read was run for nobody");
}

/// Inserts network `n1` and, for each id, a port on it.
fn network_with_ports(tx: &mut dyn neutrino_store::Tx, ports: &[&str]) -> Result<(), StoreError> {
    tx.doc_insert(Resource::Network, &net("n1"))?;
    for p in ports {
        let port = Doc {
            id: (*p).into(),
            network_id: Some("n1".into()),
            device_id: Some(String::new()),
            device_owner: Some(String::new()),
            mac_address: Some((*p).into()),
            body: "{}".into(),
            ..Doc::default()
        };
        tx.doc_insert(Resource::Port, &port)?;
    }
    Ok(())
}

/// Reads one column of every row of a table straight from the database file: what the
/// store wrote, not what it maps it to.
fn stored(dir: &tempfile::TempDir, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt.query_map([], |r| r.get::<_, rusqlite::types::Value>(0)).unwrap();
    rows.map(|v| format!("{:?}", v.unwrap())).collect()
}

#[tokio::test]
async fn segments_without_a_physical_network_or_an_id_read_back_as_none() {
    use neutrino_store::Segment;
    let (dir, store) = open();
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
    let rows = stored(&dir, "SELECT physical_network || '/' || segmentation_id FROM network_segments ORDER BY id");
    assert_eq!(rows, ["Text(\"physnet1/0\")", "Text(\"/1001\")"]);
}

#[tokio::test]
async fn a_binding_is_bound_to_a_segment_or_failed_with_a_reason() {
    use neutrino_store::{BindingResult, PortBinding};
    let (dir, store) = open();
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
    drop(store);
    let rows = stored(&dir, "SELECT segment_id || '/' || failure FROM port_bindings ORDER BY port_id");
    assert_eq!(rows, ["Text(\"s1/\")", "Text(\"/no agent\")", "Text(\"/binding failed\")"]);
}

#[tokio::test]
async fn a_document_without_a_column_its_table_needs_is_refused() {
    let (_dir, store) = open();
    let result = store
        .write(|tx| -> Result<(), StoreError> {
            tx.doc_insert(Resource::Network, &net("n1"))?;
            tx.doc_insert(Resource::Subnet, &Doc { id: "s1".into(), body: "{}".into(), ..Doc::default() })
        })
        .await;
    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
}

#[tokio::test]
async fn the_feed_reads_back_typed_kinds_stored_by_name() {
    use neutrino_store::{Change, ChangeKind};
    let (dir, store) = open();
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
    drop(store);
    let rows = stored(&dir, "SELECT resource || '/' || op || '/' || project_id FROM changes ORDER BY seq");
    assert_eq!(
        rows,
        ["Text(\"security_group_rule/create/p\")", "Text(\"floatingip/delete/p\")", "Text(\"agent/update/\")"]
    );
    // A kind this version does not know fails the read instead of being misread.
    let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
    conn.execute("INSERT INTO changes (resource, resource_id, op, project_id) VALUES ('trunk', 't', 'create', '')", [])
        .unwrap();
    drop(conn);
    let store = Store::new(SqliteBackend::open(&SqliteOptions::new(dir.path().join("t.db"))).unwrap());
    let read = store.read(|tx| -> Result<Vec<Change>, StoreError> { tx.change_list_since(3, 10) }).await;
    assert!(matches!(read, Err(StoreError::Database(_))), "{read:?}");
}
