//! What only the SQLite backend has (its queues, its reader pool); what every backend does
//! is in `backends.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use neutrino_model::{ApiError, Resource};
use neutrino_store::sqlite::{SqliteBackend, SqliteOptions};
use neutrino_store::{Doc, IndexFilter, Store, StoreError};

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
