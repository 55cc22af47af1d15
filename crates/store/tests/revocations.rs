//! User and project updates in the SQLite backend (revocation events: `backends.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use neutrino_model::ApiError;
use neutrino_store::identity::{Domain, Project, User};
use neutrino_store::sqlite::{SqliteBackend, SqliteOptions};
use neutrino_store::{Store, StoreError};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = SqliteBackend::open(&SqliteOptions::new(dir.path().join("t.db"))).expect("open");
    (dir, Store::new(backend))
}

#[tokio::test]
async fn users_and_projects_update_in_place() {
    let (_dir, store) = open();
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
