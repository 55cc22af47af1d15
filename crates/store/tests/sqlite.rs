//! The SQLite backend against a real database file in a temporary directory.

use neutrino_model::{ApiError, Resource};
use neutrino_store::sqlite::{SqliteBackend, SqliteOptions};
use neutrino_store::{Doc, IndexFilter, IpAllocation, Store, StoreError};

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
                &Doc { id: "s1".into(), network_id: "n1".into(), body: "{}".into(), ..Doc::default() },
            )?;
            for p in ["p1", "p2"] {
                tx.doc_insert(
                    Resource::Port,
                    &Doc {
                        id: p.into(),
                        network_id: "n1".into(),
                        mac_address: p.into(),
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
                tx.change_record(Resource::Network, "keep", "create", "p")
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
            tx.change_record(Resource::Network, "x", "create", "p")?;
            Err(ApiError::bad_request("no"))
        })
        .await;
    assert!(failed.is_err());
    assert!(!changes.has_changed().unwrap());
    for i in 0..5 {
        store
            .write(move |tx| -> Result<u64, ApiError> {
                Ok(tx.change_record(Resource::Network, &format!("n{i}"), "create", "p")?)
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
        .write(|tx| -> Result<u64, ApiError> { Ok(tx.change_record_kind("agent", "a", "update")?) })
        .await
        .unwrap();
    assert!(next > latest, "{next} > {latest}");
    assert_eq!(*changes.borrow_and_update(), next);
    assert_eq!(store.read(|tx| -> Result<u64, ApiError> { Ok(tx.change_latest()?) }).await.unwrap(), next);
}
