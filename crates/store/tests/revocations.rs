//! Revocation events and user/project updates in the SQLite backend.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use neutrino_model::ApiError;
use neutrino_store::identity::{Domain, Project, RevocationRecord, User};
use neutrino_store::sqlite::{SqliteBackend, SqliteOptions};
use neutrino_store::{Store, StoreError};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = SqliteBackend::open(&SqliteOptions::new(dir.path().join("t.db"))).expect("open");
    (dir, Store::new(backend))
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

#[tokio::test]
async fn events_are_listed_after_an_id_and_pruned_past_expiry() {
    let (_dir, store) = open();
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
