//! Signed tokens: creation and validation without any store access.

use crate::keys::KeyRepository;
use crate::revoke::{RevocationEvent, Revocations};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::RwLock;

type HmacSha256 = Hmac<Sha256>;
const PREFIX: &str = "nt1";

/// A role as the token carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRef {
    pub id: String,
    pub name: String,
}

/// The application credential a token was issued with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCredRef {
    pub id: String,
    pub name: String,
    /// Restricted credentials may not manage application credentials.
    pub restricted: bool,
}

/// What a token asserts. Times are Unix seconds. At most one scope is set: a project, a
/// domain, or the system; none for an unscoped token. Fields added after the first
/// release default when absent, so older tokens still validate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Domain scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_name: Option<String>,
    /// System scope (`{"system": {"all": true}}`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub system: bool,
    pub roles: Vec<RoleRef>,
    pub methods: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Unique per token; what revocation names.
    pub audit_id: String,
    /// The audit id of the token this one was rescoped from (Keystone's audit chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_chain_id: Option<String>,
    /// Set when the token was issued with an application credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_cred: Option<AppCredRef>,
}

impl Claims {
    /// Whether the token carries the role.
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.name == name)
    }

    /// Whether the token has any scope (project, domain or system).
    pub fn is_scoped(&self) -> bool {
        self.project_id.is_some() || self.domain_id.is_some() || self.system
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

/// The signed payload: the claims plus the issue time in microseconds, which revocation
/// events compare against (seconds would let a token issued in the same second as a
/// revocation, but before it, survive). Tokens without it date from `issued_at`'s second.
#[derive(Serialize, Deserialize)]
struct Payload {
    #[serde(flatten)]
    claims: Claims,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issued_at_us: Option<i64>,
}

/// Signs and validates tokens with a key repository; keeps revocations (audit ids and
/// events) in memory so validation never touches the store.
pub struct TokenSigner {
    keys: RwLock<KeyRepository>,
    revoked: RwLock<Revocations>,
}

impl TokenSigner {
    /// A signer over loaded keys and the audit ids already revoked.
    pub fn new(keys: KeyRepository, revoked: impl IntoIterator<Item = String>) -> Self {
        Self::with_revocations(keys, Revocations::from_audit_ids(revoked))
    }

    /// A signer over loaded keys and loaded revocations.
    pub fn with_revocations(keys: KeyRepository, revoked: Revocations) -> Self {
        Self { keys: RwLock::new(keys), revoked: RwLock::new(revoked) }
    }

    fn mac(key: &[u8; 32], signed: &str) -> HmacSha256 {
        // HMAC accepts keys of any length; 32 bytes never fails.
        let mut mac =
            <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(signed.as_bytes());
        mac
    }

    /// Issues a token for the claims, dated `claims.issued_at`'s second.
    pub fn issue(&self, claims: &Claims) -> Result<String, crate::KeyError> {
        self.issue_at(claims, claims.issued_at.saturating_mul(1_000_000))
    }

    /// Issues a token dated `issued_at_us` (Unix microseconds) for revocation: the caller
    /// takes it before reading what the claims say, so a revocation committed after that
    /// read always covers the token.
    pub fn issue_at(&self, claims: &Claims, issued_at_us: i64) -> Result<String, crate::KeyError> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let (kid, key) = keys.primary()?;
        let body = Payload { claims: claims.clone(), issued_at_us: Some(issued_at_us) };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&body).unwrap_or_default());
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
        let payload: Payload = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
        let claims = payload.claims;
        if claims.expires_at <= now {
            return Err(TokenError::Expired);
        }
        let issued_at_us = payload.issued_at_us.unwrap_or(claims.issued_at.saturating_mul(1_000_000));
        if self.revoked.read().unwrap_or_else(|p| p.into_inner()).is_revoked(&claims, issued_at_us) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// Marks a token's audit id revoked (the caller also persists it). Without an expiry
    /// the id is kept until restart; [`TokenSigner::revoke_until`] lets it be pruned.
    pub fn revoke(&self, audit_id: &str) {
        self.revoke_until(audit_id, i64::MAX);
    }

    /// Marks a token's audit id revoked until the token's own expiry.
    pub fn revoke_until(&self, audit_id: &str, expires_at: i64) {
        self.revoked.write().unwrap_or_else(|p| p.into_inner()).revoke_audit_id(audit_id, expires_at);
    }

    /// Adds revocation events (the caller has persisted them) and drops what has expired
    /// by `now` (Unix seconds).
    pub fn add_revocations<'a>(&self, events: impl IntoIterator<Item = &'a RevocationEvent>, now: i64) {
        let mut revoked = self.revoked.write().unwrap_or_else(|p| p.into_inner());
        for event in events {
            revoked.add(event);
        }
        revoked.prune(now);
    }

    /// How many revocations are held in memory.
    pub fn revocation_count(&self) -> usize {
        self.revoked.read().unwrap_or_else(|p| p.into_inner()).len()
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
            ..Claims::default()
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
    fn revocation_events_compare_microseconds_and_old_tokens_still_validate() {
        let (_d, s) = signer();
        let before = s.issue_at(&claims(1000), 100_000_100).unwrap();
        let after = s.issue_at(&claims(1000), 100_000_300).unwrap();
        let legacy = {
            // A token signed before issued_at_us existed: plain claims as the payload.
            let keys = s.keys.read().unwrap();
            let (kid, key) = keys.primary().unwrap();
            let signed =
                format!("{PREFIX}.{kid}.{}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(1000)).unwrap()));
            let sig = URL_SAFE_NO_PAD.encode(TokenSigner::mac(key, &signed).finalize().into_bytes());
            format!("{signed}.{sig}")
        };
        assert_eq!(s.validate(&legacy, 10).unwrap(), claims(1000));
        let event = RevocationEvent {
            user_id: Some("u1".into()),
            project_id: None,
            role_id: None,
            app_cred_id: None,
            issued_before_us: 100_000_200,
            prune_after: 1000,
        };
        s.add_revocations([&event], 10);
        assert_eq!(s.validate(&before, 10), Err(TokenError::Revoked));
        assert!(s.validate(&after, 10).is_ok(), "issued 100 us after the event, same second");
        assert_eq!(s.validate(&legacy, 10), Err(TokenError::Revoked), "legacy token dates from its second");
        s.add_revocations([], 1001);
        assert_eq!(s.revocation_count(), 0, "pruned past expiry");
        assert!(s.validate(&before, 10).is_ok());
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
