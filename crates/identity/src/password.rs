//! Password hashing with Argon2id (memory-hard), in the PHC string format so parameters can
//! change without invalidating stored hashes.
//!
//! [`hash`] and [`verify`] allocate Argon2's working memory (19 MiB with the default
//! parameters) per call. A server answering logins uses a [`HashPool`] instead: it reuses a
//! bounded set of working buffers, so a burst of logins cannot grow the heap beyond
//! `buffers × 19 MiB`, and it verifies a dummy hash for unknown users so a failed login costs
//! the same whether or not the user exists.

use argon2::password_hash::{Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::{Mutex, OnceLock};

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash password: {0}")]
pub struct HashError(String);

/// Hashes a password with a fresh random salt.
pub fn hash(password: &str) -> Result<String, HashError> {
    let salt = fresh_salt()?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the stored PHC hash (false for a malformed hash).
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

fn fresh_salt() -> Result<SaltString, HashError> {
    let bytes: [u8; 16] = rand::random();
    SaltString::encode_b64(&bytes).map_err(|e| HashError(e.to_string()))
}

/// Reusable Argon2 working memory: at most `max_buffers` buffers are kept between calls
/// (callers bound how many run at once; a call beyond that allocates and frees its own).
pub struct HashPool {
    buffers: Mutex<Vec<Vec<Block>>>,
    max_buffers: usize,
    dummy: OnceLock<String>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool").field("max_buffers", &self.max_buffers).finish()
    }
}

impl HashPool {
    /// A pool keeping up to `max_buffers` working buffers.
    pub fn new(max_buffers: usize) -> Self {
        Self { buffers: Mutex::new(Vec::new()), max_buffers: max_buffers.max(1), dummy: OnceLock::new() }
    }

    fn with_memory<R>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
        let mut memory = self.buffers.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
        memory.resize(blocks, Block::new());
        let result = f(&mut memory[..blocks]);
        let mut pool = self.buffers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < self.max_buffers {
            pool.push(memory);
        }
        result
    }

    /// Hashes a password with a fresh random salt (same PHC output as [`hash`]).
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        let salt = fresh_salt()?;
        let params = Params::default();
        let mut salt_bytes = [0u8; 64];
        let salt_raw = salt.as_salt().decode_b64(&mut salt_bytes).map_err(|e| HashError(e.to_string()))?;
        let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        self.with_memory(params.block_count(), |memory| {
            argon.hash_password_into_with_memory(password.as_bytes(), salt_raw, &mut out, memory)
        })
        .map_err(|e| HashError(e.to_string()))?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| HashError(e.to_string()))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| HashError(e.to_string()))?),
        };
        Ok(phc.to_string())
    }

    /// Whether `password` matches the stored PHC hash. A malformed or unusable hash (a user
    /// created without a password) is answered false after the same work as a real check.
    pub fn verify(&self, password: &str, stored: &str) -> bool {
        match self.compute(password, stored) {
            Some(matched) => matched,
            None => {
                self.verify_dummy(password);
                false
            }
        }
    }

    /// Spends a real verification's work on a hash nobody's password matches: what a login
    /// for an unknown user costs, so timing does not tell which usernames exist.
    pub fn verify_dummy(&self, password: &str) {
        let dummy = self.dummy.get_or_init(|| {
            let secret: [u8; 32] = rand::random();
            self.hash(&String::from_utf8_lossy(&secret)).unwrap_or_default()
        });
        let _ = self.compute(password, dummy);
    }

    /// `None` when the stored hash is not a usable Argon2 PHC string.
    fn compute(&self, password: &str, stored: &str) -> Option<bool> {
        let parsed = PasswordHash::new(stored).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).ok()?;
        let expected = parsed.hash?;
        let mut salt_bytes = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt_bytes).ok()?;
        let mut out = vec![0u8; expected.len()];
        let argon = Argon2::new(algorithm, version, params.clone());
        self.with_memory(params.block_count(), |memory| {
            argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
        })
        .ok()?;
        // Output's equality is constant-time.
        Some(Output::new(&out).ok()? == expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_are_salted() {
        let a = hash("s3cret").unwrap();
        let b = hash("s3cret").unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("s3cret", &a));
        assert!(!verify("wrong", &a));
        assert!(!verify("s3cret", "not a hash"));
    }

    #[test]
    fn pool_hashes_are_interchangeable_with_plain_ones() {
        let pool = HashPool::new(1);
        let pooled = pool.hash("s3cret").unwrap();
        assert!(pooled.starts_with("$argon2id$v=19$"), "{pooled}");
        assert!(verify("s3cret", &pooled), "plain verify accepts a pooled hash");
        assert!(!verify("wrong", &pooled));
        let plain = hash("other").unwrap();
        assert!(pool.verify("other", &plain), "pooled verify accepts a plain hash");
        assert!(!pool.verify("wrong", &plain));
        assert!(!pool.verify("", "not a hash"));
        assert!(!pool.verify("", ""), "a user without a password never matches");
        assert_eq!(pool.buffers.lock().unwrap().len(), 1, "one buffer kept, reused");
    }
}
