//! One process per database file: a second open is refused while the first lives.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use neutrino_model::Resource;
use neutrino_store::sqlite::{lock_path, LockHolder, SqliteBackend, SqliteOptions};
use neutrino_store::{ChangeOp, Doc, Store, StoreError};

#[tokio::test]
async fn a_second_open_is_refused_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("neutrino.db");
    let opts = SqliteOptions::new(&db);
    let first = Store::new(SqliteBackend::open(&opts).unwrap());

    let err = SqliteBackend::open(&opts).err().expect("a second open must be refused");
    let StoreError::Locked { path, lock, holder } = &err else { panic!("not Locked: {err:?}") };
    assert_eq!(path, &db.display().to_string());
    assert_eq!(lock, &lock_path(&db).display().to_string());
    assert!(lock.ends_with("neutrino.db.lock"), "{lock}");
    assert_eq!(*holder, LockHolder(Some(std::process::id())));
    let message = err.to_string();
    assert!(message.contains(&db.display().to_string()), "{message}");
    assert!(message.contains(&format!("pid {}", std::process::id())), "{message}");

    // The same file by another spelling, and through a symlinked directory, is the same lock.
    let dotted = dir.path().join(".").join("neutrino.db");
    assert!(matches!(SqliteBackend::open(&SqliteOptions::new(dotted)), Err(StoreError::Locked { .. })));
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(dir.path(), &link).unwrap();
    let linked = SqliteOptions::new(link.join("neutrino.db"));
    assert!(matches!(SqliteBackend::open(&linked), Err(StoreError::Locked { .. })));

    // The first keeps serving, and once it is dropped the file opens again with its data.
    first
        .write(|tx| -> Result<u64, StoreError> {
            tx.doc_insert(Resource::Network, &Doc { id: "n".into(), body: "{}".into(), ..Doc::default() })?;
            tx.change_record(Resource::Network, "n", ChangeOp::Create, "p")
        })
        .await
        .unwrap();
    drop(first);
    let second = Store::new(SqliteBackend::open(&opts).expect("reopen after the first is dropped"));
    let kept = second.read(|tx| -> Result<_, StoreError> { tx.doc_get(Resource::Network, "n") }).await.unwrap();
    assert!(kept.is_some());
}
