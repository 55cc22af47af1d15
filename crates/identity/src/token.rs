//! Signed tokens: creation and validation without any store access.

use crate::keys::KeyRepository;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashSet;
use std::sync::RwLock;

type HmacSha256 = Hmac<Sha256>;
const PREFIX: &str = "nt1";

/// A role as the token carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRef {
    pub id: String,
    pub name: String,
}

/// What a token asserts. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    pub user_domain_name: String,
    /// Project scope; `None` for an unscoped token.
    pub project_id: Option<String>,
    pub project_name: Option<String>,
    pub project_domain_id: Option<String>,
    pub project_domain_name: Option<String>,
    pub roles: Vec<RoleRef>,
    pub methods: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Unique per token; what revocation names.
    pub audit_id: String,
}

impl Claims {
    /// Whether the token carries the role.
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.name == name)
    }
}

/// Why a token is not accepted. Each maps to 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("The request you have made requires authentication.")]
    Malformed,
    #[error("The request you have made requires authentication.")]
    UnknownKey,
    #[error("The request you have made requires authentication.")]
    BadSignature,
    #[error("The request you have made requires authentication.")]
    Expired,
    #[error("The request you have made requires authentication.")]
    Revoked,
}

/// Signs and validates tokens with a key repository; keeps the revoked audit ids in memory
/// so validation never touches the store.
pub struct TokenSigner {
    keys: RwLock<KeyRepository>,
    revoked: RwLock<HashSet<String>>,
}

impl TokenSigner {
    /// A signer over loaded keys and the audit ids already revoked.
    pub fn new(keys: KeyRepository, revoked: impl IntoIterator<Item = String>) -> Self {
        Self { keys: RwLock::new(keys), revoked: RwLock::new(revoked.into_iter().collect()) }
    }

    fn mac(key: &[u8; 32], signed: &str) -> HmacSha256 {
        // HMAC accepts keys of any length; 32 bytes never fails.
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(signed.as_bytes());
        mac
    }

    /// Issues a token for the claims.
    pub fn issue(&self, claims: &Claims) -> Result<String, crate::KeyError> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let (kid, key) = keys.primary()?;
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("{PREFIX}.{kid}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(Self::mac(key, &signed).finalize().into_bytes());
        Ok(format!("{signed}.{sig}"))
    }

    /// Validates a token at time `now` (Unix seconds).
    pub fn validate(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.splitn(4, '.');
        let (Some(PREFIX), Some(kid), Some(payload), Some(sig)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let kid: u32 = kid.parse().map_err(|_| TokenError::Malformed)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| TokenError::Malformed)?;
        {
            let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
            let key = keys.get(kid).ok_or(TokenError::UnknownKey)?;
            let signed = &token[..token.len() - token.rsplit('.').next().map_or(0, str::len) - 1];
            Self::mac(key, signed).verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
        }
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
        if claims.expires_at <= now {
            return Err(TokenError::Expired);
        }
        if self.revoked.read().unwrap_or_else(|p| p.into_inner()).contains(&claims.audit_id) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// Marks a token's audit id revoked (the caller also persists it).
    pub fn revoke(&self, audit_id: &str) {
        self.revoked.write().unwrap_or_else(|p| p.into_inner()).insert(audit_id.to_string());
    }

    /// Replaces the keys after a rotation.
    pub fn reload_keys(&self, keys: KeyRepository) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires_at: i64) -> Claims {
        Claims {
            user_id: "u1".into(),
            user_name: "admin".into(),
            user_domain_id: "default".into(),
            user_domain_name: "Default".into(),
            project_id: Some("p1".into()),
            project_name: Some("admin".into()),
            project_domain_id: Some("default".into()),
            project_domain_name: Some("Default".into()),
            roles: vec![RoleRef { id: "r1".into(), name: "admin".into() }],
            methods: vec!["password".into()],
            issued_at: 100,
            expires_at,
            audit_id: "a1".into(),
        }
    }

    fn signer() -> (tempfile::TempDir, TokenSigner) {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyRepository::open_or_create(dir.path()).unwrap();
        (dir, TokenSigner::new(keys, []))
    }

    #[test]
    fn round_trip_and_expiry() {
        let (_d, s) = signer();
        let t = s.issue(&claims(1000)).unwrap();
        assert_eq!(s.validate(&t, 999).unwrap(), claims(1000));
        assert_eq!(s.validate(&t, 1000), Err(TokenError::Expired));
    }

    #[test]
    fn tampering_malformed_revoked() {
        let (_d, s) = signer();
        let t = s.issue(&claims(1000)).unwrap();
        let mut forged = claims(1000);
        forged.roles[0].name = "superuser".into();
        let parts: Vec<&str> = t.split('.').collect();
        let fake = format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap()),
            parts[3]
        );
        assert_eq!(s.validate(&fake, 10), Err(TokenError::BadSignature));
        assert_eq!(s.validate("garbage", 10), Err(TokenError::Malformed));
        assert_eq!(s.validate("nt1.x.y.z", 10), Err(TokenError::Malformed));
        s.revoke("a1");
        assert_eq!(s.validate(&t, 10), Err(TokenError::Revoked));
    }

    #[test]
    fn rotation_keeps_old_tokens_until_their_key_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = KeyRepository::open_or_create(dir.path()).unwrap();
        let s = TokenSigner::new(keys.clone(), []);
        let old = s.issue(&claims(1000)).unwrap();
        keys.rotate(2).unwrap();
        s.reload_keys(keys.clone());
        let new = s.issue(&claims(1000)).unwrap();
        assert!(new.starts_with("nt1.2."));
        assert!(s.validate(&old, 10).is_ok(), "old key still present");
        keys.rotate(2).unwrap();
        s.reload_keys(keys);
        assert_eq!(s.validate(&old, 10), Err(TokenError::UnknownKey), "rotated out");
        assert!(s.validate(&new, 10).is_ok());
    }
}
