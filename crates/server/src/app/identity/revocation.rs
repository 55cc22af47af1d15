//! Token revocation: revoked tokens and revocation events (a user, project or role
//! assignment ended), persisted in the store and held in memory for validation, so a
//! request is authenticated without reading the store. Every revocation is also a change of
//! kind [`ChangeKind::Revocation`], by which servers sharing the database hear of it within
//! the feed's latency ([`super::replicas`]); they also re-read them periodically (see
//! [`crate::app::scheduler`]), the fallback.

use crate::app::App;
use neutrino_identity::{Claims, RevocationEvent, Revocations};
use neutrino_model::ApiError;
use neutrino_store::identity::RevocationRecord;
use neutrino_store::{ChangeKind, ChangeOp, Store, StoreError, Tx};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Revocations as the store holds them at start.
pub struct LoadedRevocations {
    pub revocations: Revocations,
    pub last_event_id: i64,
    /// The change feed's position in the same snapshot: what a follower of the feed reads
    /// on from, so a revocation committed after the load is never skipped.
    pub feed_seq: u64,
}

fn event_of(r: &RevocationRecord) -> RevocationEvent {
    RevocationEvent {
        user_id: r.user_id.clone(),
        project_id: r.project_id.clone(),
        role_id: r.role_id.clone(),
        app_cred_id: r.app_cred_id.clone(),
        issued_before_us: r.issued_before_us,
        prune_after: r.prune_after,
    }
}

/// Loads revoked tokens and revocation events still in force, for [`super::Identity::open`].
pub async fn load_revoked(store: &Store) -> Result<LoadedRevocations, ApiError> {
    let now = chrono::Utc::now().timestamp();
    let (tokens, events, feed_seq) = store
        .read(move |tx| -> Result<_, ApiError> {
            Ok((tx.revoked_token_list_expiring(now)?, tx.revocation_event_list(0, now)?, tx.change_latest()?))
        })
        .await?;
    let mut revocations = Revocations::default();
    for (audit_id, expires_at) in &tokens {
        revocations.revoke_audit_id(audit_id, *expires_at);
    }
    for record in &events {
        revocations.add(&event_of(record));
    }
    Ok(LoadedRevocations { revocations, last_event_id: events.last().map_or(0, |r| r.id), feed_seq })
}

/// Reads in revocation events other servers sharing the store wrote since the last read.
pub async fn refresh_revocations(app: &App) -> Result<usize, ApiError> {
    let after = app.identity.last_event_id.load(Ordering::Acquire);
    let now = chrono::Utc::now().timestamp();
    let records =
        app.store.read(move |tx| -> Result<_, ApiError> { Ok(tx.revocation_event_list(after, now)?) }).await?;
    let events: Vec<RevocationEvent> = records.iter().map(event_of).collect();
    app.identity.signer.add_revocations(&events, now);
    if let Some(last) = records.last() {
        app.identity.last_event_id.fetch_max(last.id, Ordering::AcqRel);
    }
    Ok(events.len())
}

/// How a revocation's change names a revoked token: `token:<audit id>`.
pub const TOKEN: &str = "token:";
/// How a revocation's change names a revocation event: `event:<id>`.
pub const EVENT: &str = "event:";

/// Reads in every revoked token still in force (other servers' revocations whose change this
/// server did not see: the feed compacted past it); returns how many are held.
pub async fn refresh_revoked_tokens(app: &App) -> Result<usize, ApiError> {
    let now = chrono::Utc::now().timestamp();
    let tokens = app.store.read(move |tx| -> Result<_, ApiError> { Ok(tx.revoked_token_list_expiring(now)?) }).await?;
    for (audit_id, expires_at) in &tokens {
        app.identity.signer.revoke_until(audit_id, *expires_at);
    }
    Ok(tokens.len())
}

/// Reads in the revoked tokens named by audit id (their changes reached this server).
pub async fn read_revoked_tokens(app: &App, audit_ids: Vec<String>) -> Result<(), ApiError> {
    let found = app
        .store
        .read(move |tx| -> Result<Vec<(String, i64)>, ApiError> {
            let mut found = Vec::new();
            for id in audit_ids {
                if let Some(expires) = tx.revoked_token_expiry(&id)? {
                    found.push((id, expires));
                }
            }
            Ok(found)
        })
        .await?;
    for (audit_id, expires_at) in &found {
        app.identity.signer.revoke_until(audit_id, *expires_at);
    }
    Ok(())
}

/// What a revocation event names (Keystone's user / project / role fields).
#[derive(Debug, Clone, Default)]
pub struct RevocationScope {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub role_id: Option<String>,
    pub app_cred_id: Option<String>,
}

impl RevocationScope {
    /// Every token of a user (deleted, disabled, password changed).
    pub fn user(id: &str) -> Self {
        Self { user_id: Some(id.into()), ..Self::default() }
    }
    /// Every token scoped to a project (deleted, disabled).
    pub fn project(id: &str) -> Self {
        Self { project_id: Some(id.into()), ..Self::default() }
    }
    /// A user's tokens on a project carrying a role (the assignment was removed).
    pub fn grant(project_id: &str, user_id: &str, role_id: &str) -> Self {
        Self {
            user_id: Some(user_id.into()),
            project_id: Some(project_id.into()),
            role_id: Some(role_id.into()),
            app_cred_id: None,
        }
    }
    /// A user's tokens carrying a role on a domain or the system (that assignment ended):
    /// project-scoped tokens with the role go too, which revokes more, never less.
    pub fn user_role(user_id: &str, role_id: &str) -> Self {
        Self { user_id: Some(user_id.into()), role_id: Some(role_id.into()), ..Self::default() }
    }
    /// Tokens issued with an application credential (deleted).
    pub fn app_cred(id: &str) -> Self {
        Self { app_cred_id: Some(id.into()), ..Self::default() }
    }
}

/// Records a revocation event inside the write transaction that makes it necessary, and
/// prunes what has expired. Tokens issued up to now match; the event is kept until every
/// token it can match has expired (`token_ttl` from now). The caller applies the returned
/// event with [`apply_revocations`] once the transaction has committed.
pub fn record_revocation(
    tx: &mut dyn Tx,
    token_ttl: i64,
    scope: RevocationScope,
) -> Result<RevocationEvent, StoreError> {
    let now_us = chrono::Utc::now().timestamp_micros();
    let now = now_us.div_euclid(1_000_000);
    tx.revocation_prune(now)?;
    let record = RevocationRecord {
        id: 0,
        user_id: scope.user_id,
        project_id: scope.project_id,
        role_id: scope.role_id,
        app_cred_id: scope.app_cred_id,
        issued_before_us: now_us,
        revoked_at_us: now_us,
        prune_after: now + token_ttl.max(0) + 1,
    };
    let id = tx.revocation_event_insert(&record)?;
    tx.change_record_kind(ChangeKind::Revocation, &format!("{EVENT}{id}"), ChangeOp::Create)?;
    Ok(event_of(&record))
}

/// Makes committed revocation events effective for token validation.
pub fn apply_revocations(app: &App, events: &[RevocationEvent]) {
    app.identity.signer.add_revocations(events, chrono::Utc::now().timestamp());
}

/// Revokes a token (persisted, then effective in memory until the token expires).
pub async fn revoke(app: &Arc<App>, claims: &Claims) -> Result<(), ApiError> {
    let audit = claims.audit_id.clone();
    let expires = claims.expires_at;
    app.store
        .write(move |tx| -> Result<(), ApiError> {
            tx.revocation_prune(chrono::Utc::now().timestamp())?;
            tx.revoked_token_insert(&audit, expires)?;
            tx.change_record_kind(ChangeKind::Revocation, &format!("{TOKEN}{audit}"), ChangeOp::Create)?;
            Ok(())
        })
        .await?;
    app.identity.signer.revoke_until(&claims.audit_id, claims.expires_at);
    Ok(())
}
