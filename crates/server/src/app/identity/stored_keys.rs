//! Signing keys kept in the database, for servers sharing one (PostgreSQL): one key
//! repository for every replica, so a token any of them signs validates on all, and
//! `neutrino keys rotate` rotates it for all at once. A server on SQLite keeps
//! `<data_dir>/keys` ([`neutrino_identity::KeyRepository`]'s files).
//!
//! Keystone's staged key: a rotation makes the staged key (held by every replica since the
//! previous rotation) primary and stages a new one, so a token signed with a new primary
//! validates on every replica at once, whichever heard of the rotation first. A rotation is
//! a change of kind [`ChangeKind::SigningKey`]: replicas re-read the keys when it reaches
//! them ([`super::replicas`]), and every minute anyway.

use crate::app::App;
use neutrino_identity::keys::new_key_text;
use neutrino_identity::KeyRepository;
use neutrino_model::ApiError;
use neutrino_store::identity::SigningKey;
use neutrino_store::{ChangeKind, ChangeOp, Store, Tx};

/// How errors name the keys' place.
const ORIGIN: &str = "database table signing_keys";

fn repository(keys: &[SigningKey]) -> Result<KeyRepository, ApiError> {
    let repo = KeyRepository::from_stored(ORIGIN, keys.iter().map(|k| (k.id, k.key.clone(), k.staged)));
    let repo = repo.and_then(|r| {
        r.primary()?;
        Ok(r)
    });
    repo.map_err(|e| {
        tracing::error!(error = %e, "cannot use the stored signing keys");
        ApiError::internal()
    })
}

/// The stored keys, creating the first ones (a primary and a staged key) in a new database.
/// Servers starting together create them once: writes are serialised.
pub fn ensure(tx: &mut dyn Tx) -> Result<Vec<SigningKey>, ApiError> {
    let keys = tx.signing_key_list()?;
    if !keys.is_empty() {
        return Ok(keys);
    }
    let first = vec![
        SigningKey { id: 1, key: new_key_text(), staged: false },
        SigningKey { id: 2, key: new_key_text(), staged: true },
    ];
    tx.signing_key_replace(&first)?;
    Ok(first)
}

/// Rotates: the staged key becomes primary, a new key is staged, and the oldest beyond
/// `keep` (besides the staged one) go. Returns the keys now, oldest first.
pub fn rotate(tx: &mut dyn Tx, keep: usize) -> Result<Vec<SigningKey>, ApiError> {
    let mut keys = ensure(tx)?;
    keys.iter_mut().for_each(|k| k.staged = false);
    let next = keys.last().map_or(1, |k| k.id + 1);
    let surplus = keys.len().saturating_sub(keep.max(1));
    keys.drain(..surplus);
    keys.push(SigningKey { id: next, key: new_key_text(), staged: true });
    tx.signing_key_replace(&keys)?;
    tx.change_record_kind(ChangeKind::SigningKey, &next.to_string(), ChangeOp::Update)?;
    Ok(keys)
}

/// The key repository a server on the database starts with.
pub async fn open(store: &Store) -> Result<KeyRepository, ApiError> {
    repository(&store.write(ensure).await?)
}

/// Re-reads the stored keys into the signer (a rotation reached this server).
pub async fn reload(app: &App) -> Result<(), ApiError> {
    let keys = app.store.read(|tx| -> Result<_, ApiError> { Ok(tx.signing_key_list()?) }).await?;
    app.identity.signer.reload_keys(repository(&keys)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store-less `Tx` is too big to fake; the rotation's arithmetic is checked through
    /// the keys it leaves, on an in-memory SQLite store.
    #[tokio::test]
    async fn a_rotation_promotes_the_staged_key_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let opts = neutrino_store::sqlite::SqliteOptions::new(dir.path().join("t.db"));
        let store = Store::new(neutrino_store::sqlite::SqliteBackend::open(&opts).unwrap());
        let first = repository(&store.write(ensure).await.unwrap()).unwrap();
        assert_eq!((first.primary().unwrap().0, first.staged()), (1, Some(2)));
        let again = store.write(ensure).await.unwrap();
        assert_eq!(again.iter().map(|k| k.id).collect::<Vec<_>>(), [1, 2], "the first keys are made once");
        for _ in 0..3 {
            store.write(|tx| rotate(tx, 2)).await.unwrap();
        }
        let keys = store.read(|tx| -> Result<_, ApiError> { Ok(tx.signing_key_list()?) }).await.unwrap();
        let repo = repository(&keys).unwrap();
        assert_eq!(repo.ids(), [3, 4, 5], "two keys that sign or validate, and the staged one");
        assert_eq!((repo.primary().unwrap().0, repo.staged()), (4, Some(5)));
    }
}
