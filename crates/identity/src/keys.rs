//! The signing key repository: a directory of numbered key files, like keystone's Fernet
//! key repository.
//!
//! Rotation (`neutrino` operators run it on a schedule shorter than the token lifetime ×
//! the number of kept keys): [`KeyRepository::rotate`] writes key `max + 1`, which signs
//! from then on, and deletes the oldest keys beyond `keep`. Tokens signed by a deleted key
//! stop validating. Replicas share the directory (or a copy of it) to validate each other's
//! tokens; copy the new key to every replica before it starts signing with it.
//!
//! Servers sharing a database keep their keys there instead ([`KeyRepository::from_stored`]),
//! with Keystone's staged key: the newest key only validates until the next rotation makes
//! it primary, so every replica holds a key before any replica signs with it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Key repository failures.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key repository {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write key {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {path} is not a base64url 32-byte key")]
    Corrupt { path: PathBuf },
    #[error("key repository {path} holds no key")]
    Empty { path: PathBuf },
}

/// The keys, by id; the highest id is the primary (signing) key.
#[derive(Clone)]
pub struct KeyRepository {
    /// Where the keys come from (a directory, or a name for keys held elsewhere).
    dir: PathBuf,
    keys: BTreeMap<u32, [u8; 32]>,
    /// The key that validates but does not sign yet, if any.
    staged: Option<u32>,
}

impl std::fmt::Debug for KeyRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("KeyRepository")
            .field("dir", &self.dir)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .field("staged", &self.staged)
            .finish()
    }
}

impl KeyRepository {
    /// Loads the repository, creating it with one key when it does not exist yet.
    pub fn open_or_create(dir: &Path) -> Result<Self, KeyError> {
        std::fs::create_dir_all(dir).map_err(|source| KeyError::Write { path: dir.into(), source })?;
        let mut repo = Self::load(dir)?;
        if repo.keys.is_empty() {
            repo.write_key(1)?;
        }
        Ok(repo)
    }

    /// Loads an existing repository.
    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let mut keys = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|source| KeyError::Read { path: dir.into(), source })?;
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let path = entry.path();
            let text =
                std::fs::read_to_string(&path).map_err(|source| KeyError::Read { path: path.clone(), source })?;
            keys.insert(id, decode(&text, &path)?);
        }
        Ok(Self { dir: dir.into(), keys, staged: None })
    }

    /// Keys held elsewhere (a database) as `(id, base64url text, staged)`; `origin` names
    /// that place in errors. At most one key is staged: the newest staged one counts.
    pub fn from_stored(origin: &str, stored: impl IntoIterator<Item = (u32, String, bool)>) -> Result<Self, KeyError> {
        let mut repo = Self { dir: origin.into(), keys: BTreeMap::new(), staged: None };
        for (id, text, staged) in stored {
            repo.keys.insert(id, decode(&text, &Path::new(origin).join(id.to_string()))?);
            if staged {
                repo.staged = Some(id);
            }
        }
        Ok(repo)
    }

    fn write_key(&mut self, id: u32) -> Result<(), KeyError> {
        let key = random_key();
        let path = self.dir.join(id.to_string());
        let tmp = self.dir.join(format!(".{id}.tmp"));
        write_private(&tmp, &URL_SAFE_NO_PAD.encode(key))
            .map_err(|source| KeyError::Write { path: tmp.clone(), source })?;
        std::fs::rename(&tmp, &path).map_err(|source| KeyError::Write { path: path.clone(), source })?;
        self.keys.insert(id, key);
        Ok(())
    }

    /// Adds a new primary key and keeps only the newest `keep` keys (at least 1).
    pub fn rotate(&mut self, keep: usize) -> Result<u32, KeyError> {
        let next = self.keys.keys().next_back().map_or(1, |m| m + 1);
        self.write_key(next)?;
        while self.keys.len() > keep.max(1) {
            let Some((&oldest, _)) = self.keys.iter().next() else { break };
            let path = self.dir.join(oldest.to_string());
            std::fs::remove_file(&path).map_err(|source| KeyError::Write { path, source })?;
            self.keys.remove(&oldest);
        }
        Ok(next)
    }

    /// The signing key and its id: the newest that is not staged.
    pub fn primary(&self) -> Result<(u32, &[u8; 32]), KeyError> {
        self.keys
            .iter()
            .rev()
            .find(|(id, _)| Some(**id) != self.staged)
            .map(|(id, k)| (*id, k))
            .ok_or_else(|| KeyError::Empty { path: self.dir.clone() })
    }

    /// The staged key's id, if any.
    pub fn staged(&self) -> Option<u32> {
        self.staged
    }

    /// A validation key by id.
    pub fn get(&self, id: u32) -> Option<&[u8; 32]> {
        self.keys.get(&id)
    }

    /// Ids present, oldest first.
    pub fn ids(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }
}

/// A new random key, base64url (how key files and stored keys hold it).
pub fn new_key_text() -> String {
    URL_SAFE_NO_PAD.encode(random_key())
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    key
}

fn decode(text: &str, path: &Path) -> Result<[u8; 32], KeyError> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| KeyError::Corrupt { path: path.into() })?;
    bytes.try_into().map_err(|_| KeyError::Corrupt { path: path.into() })
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_rotate_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let mut repo = KeyRepository::open_or_create(dir.path()).unwrap();
        assert_eq!(repo.ids(), [1]);
        assert_eq!(repo.rotate(2).unwrap(), 2);
        assert_eq!(repo.rotate(2).unwrap(), 3);
        assert_eq!(repo.ids(), [2, 3]);
        let reloaded = KeyRepository::load(dir.path()).unwrap();
        assert_eq!(reloaded.ids(), [2, 3]);
        assert_eq!(reloaded.primary().unwrap().1, repo.primary().unwrap().1);
        assert!(!format!("{repo:?}").contains(&URL_SAFE_NO_PAD.encode(repo.primary().unwrap().1)));
    }

    #[test]
    fn a_staged_key_validates_but_does_not_sign() {
        let (one, two) = (new_key_text(), new_key_text());
        let repo = KeyRepository::from_stored("db", [(1, one.clone(), false), (2, two.clone(), true)]).unwrap();
        assert_eq!(repo.primary().unwrap().0, 1);
        assert_eq!(repo.staged(), Some(2));
        assert!(repo.get(2).is_some());
        assert!(!format!("{repo:?}").contains(&two));
        let promoted = KeyRepository::from_stored("db", [(1, one, false), (2, two, false)]).unwrap();
        assert_eq!(promoted.primary().unwrap().0, 2);
        assert!(matches!(
            KeyRepository::from_stored("db", [(1, "short".into(), false)]),
            Err(KeyError::Corrupt { .. })
        ));
        let only_staged = KeyRepository::from_stored("db", [(1, new_key_text(), true)]).unwrap();
        assert!(matches!(only_staged.primary(), Err(KeyError::Empty { .. })));
    }

    #[test]
    fn corrupt_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("1"), "short").unwrap();
        assert!(matches!(KeyRepository::load(dir.path()), Err(KeyError::Corrupt { .. })));
    }
}
