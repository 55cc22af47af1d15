//! Application credentials (keystone/application_credential): a secret a user creates for
//! a program, authenticating as that user on the project the creating token was scoped to,
//! with a subset of the user's roles there. The secret is generated unless given, shown once,
//! and stored hashed like a password. A credential ends when it expires, is deleted, or its
//! user or project is deleted; deleting it revokes the tokens issued with it, and removing
//! the user's role assignment on its project deletes it, as Keystone does.

use super::auth::{resolve_user, AppCredLookup, Identified};
use super::{check_secret, record_revocation, unauthorized, LoginRefused, RevocationScope};
use crate::app::App;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use neutrino_identity::{AppCredRef, Claims, RevocationEvent};
use neutrino_model::ApiError;
use neutrino_store::identity::{AppCredential, Role};
use neutrino_store::{StoreError, Tx};
use rand::RngCore;
use std::net::IpAddr;
use std::sync::Arc;

/// A create request, validated.
#[derive(Debug, Clone)]
pub struct NewAppCred {
    pub name: String,
    pub description: Option<String>,
    pub secret: Option<String>,
    pub expires_at: Option<i64>,
    /// Roles asked for (by id or name); empty = every role of the creating token.
    pub roles: Vec<RoleSpec>,
    pub unrestricted: bool,
}

/// A role named in a request.
#[derive(Debug, Clone)]
pub enum RoleSpec {
    Id(String),
    Name(String),
}

/// 64 random bytes, base64url without padding (Keystone's generator).
fn generate_secret() -> String {
    let mut bytes = [0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Refuses a token issued with a restricted credential (Keystone: such a credential may
/// not create or delete credentials, so it cannot outlive or widen itself).
pub fn require_unrestricted(c: &Claims) -> Result<(), ApiError> {
    match &c.app_cred {
        Some(cred) if cred.restricted => Err(ApiError::keystone_forbidden(
            "Using method 'application_credential' is not allowed for managing additional application credentials",
        )),
        _ => Ok(()),
    }
}

/// Who may read or delete a user's credentials: the user, or an admin.
pub fn require_owner_or_admin(c: &Claims, user_id: &str, action: &str) -> Result<(), ApiError> {
    if c.user_id == user_id || super::is_cloud_admin(c) {
        Ok(())
    } else {
        Err(ApiError::keystone_forbidden(&format!("identity:{action}")))
    }
}

/// The roles a new credential gets: those asked for (each must exist and be carried by the
/// creating token), or every role of the token.
fn credential_roles(tx: &mut dyn Tx, c: &Claims, asked: &[RoleSpec]) -> Result<Vec<Role>, ApiError> {
    let mut roles = Vec::new();
    for spec in asked {
        let role = match spec {
            RoleSpec::Id(id) => tx.role_get(id)?.ok_or_else(|| ApiError::keystone_not_found("role", id))?,
            RoleSpec::Name(n) => tx.role_get_by_name(n)?.ok_or_else(|| ApiError::keystone_not_found("role", n))?,
        };
        if !c.roles.iter().any(|r| r.id == role.id) {
            return Err(ApiError::keystone_app_cred_invalid(
                "Cannot create an application credential with unassigned role",
            ));
        }
        if !roles.iter().any(|r: &Role| r.id == role.id) {
            roles.push(role);
        }
    }
    if asked.is_empty() {
        roles = c.roles.iter().map(|r| Role { id: r.id.clone(), name: r.name.clone() }).collect();
    }
    Ok(roles)
}

/// Creates a credential for the caller on the caller's project; returns it with the secret.
pub async fn create(
    app: &Arc<App>,
    c: &Claims,
    user_id: &str,
    req: NewAppCred,
) -> Result<(AppCredential, String), ApiError> {
    require_unrestricted(c)?;
    if c.user_id != user_id {
        return Err(ApiError::keystone_forbidden("Cannot create an application credential for another user"));
    }
    let project_id =
        c.project_id.clone().ok_or_else(|| ApiError::keystone_forbidden("identity:create_application_credential"))?;
    let secret = req.secret.clone().filter(|s| !s.is_empty()).unwrap_or_else(generate_secret);
    let secret_hash = app.identity.login_guard(&app.config.identity).hash(&secret).await?;
    let limit = app.config.identity.max_application_credentials_per_user;
    let claims = c.clone();
    let user_id = user_id.to_string();
    let cred = app
        .store
        .write(move |tx| -> Result<AppCredential, ApiError> {
            let roles = credential_roles(tx, &claims, &req.roles)?;
            if tx.app_cred_count(&user_id)? >= limit as u64 {
                return Err(ApiError::keystone_app_cred_limit(limit));
            }
            let held = tx.role_assignment_roles(&project_id, &user_id)?;
            if let Some(missing) = roles.iter().find(|r| !held.iter().any(|h| h.id == r.id)) {
                return Err(ApiError::keystone_app_cred_invalid(&format!(
                    "Could not find role assignment with role: {}, user or group: {user_id}, project, domain, or \
                     system: {project_id}.",
                    missing.id
                )));
            }
            let cred = AppCredential {
                id: uuid::Uuid::new_v4().simple().to_string(),
                user_id,
                project_id,
                name: req.name,
                description: req.description,
                secret_hash,
                expires_at: req.expires_at,
                unrestricted: req.unrestricted,
                roles,
            };
            tx.app_cred_insert(&cred).map_err(|e| match e {
                StoreError::UniqueViolation { .. } => ApiError::keystone_duplicate("application_credential"),
                other => other.into(),
            })?;
            Ok(cred)
        })
        .await?;
    Ok((cred, secret))
}

/// One credential of a user (404 when it is another user's).
pub async fn get(app: &Arc<App>, user_id: &str, id: &str) -> Result<AppCredential, ApiError> {
    let id2 = id.to_string();
    let cred = app.store.read(move |tx| -> Result<_, ApiError> { Ok(tx.app_cred_get(&id2)?) }).await?;
    cred.filter(|cr| cr.user_id == user_id).ok_or_else(|| ApiError::keystone_not_found("Application Credential", id))
}

/// Deletes a credential and revokes the tokens issued with it.
pub async fn delete(app: &Arc<App>, c: &Claims, user_id: &str, id: &str) -> Result<(), ApiError> {
    require_unrestricted(c)?;
    get(app, user_id, id).await?;
    let ttl = app.config.identity.token_ttl_seconds;
    let id2 = id.to_string();
    let events = app
        .store
        .write(move |tx| -> Result<Vec<RevocationEvent>, ApiError> { Ok(delete_in(tx, ttl, &[id2])?) })
        .await?;
    super::apply_revocations(app, &events);
    Ok(())
}

/// Deletes credentials inside a write transaction, recording a revocation event for each.
pub fn delete_in(tx: &mut dyn Tx, ttl: i64, ids: &[String]) -> Result<Vec<RevocationEvent>, StoreError> {
    let mut events = Vec::new();
    for id in ids {
        if tx.app_cred_delete(id)? {
            events.push(record_revocation(tx, ttl, RevocationScope::app_cred(id))?);
        }
    }
    Ok(events)
}

/// The `application_credential` method: the credential, its secret (throttled and hashed
/// like a password), unexpired, of an enabled user.
pub(super) async fn identify(
    app: &Arc<App>,
    lookup: AppCredLookup,
    secret: String,
    client: Option<IpAddr>,
) -> Result<Identified, LoginRefused> {
    let issued_at_us = chrono::Utc::now().timestamp_micros();
    let found = app
        .store
        .read(move |tx| -> Result<_, ApiError> {
            let cred = match &lookup {
                AppCredLookup::Id(id) => Some(
                    tx.app_cred_get(id)?.ok_or_else(|| ApiError::keystone_not_found("Application Credential", id))?,
                ),
                AppCredLookup::Name { name, user } => match resolve_user(tx, user)? {
                    Some(u) => tx.app_cred_list(&u.id, Some(name))?.pop(),
                    None => None,
                },
            };
            let Some(cred) = cred else { return Ok(None) };
            let user = tx.user_get(&cred.user_id)?;
            let domain = match &user {
                Some(u) => tx.domain_get(&u.domain_id)?,
                None => None,
            };
            Ok(Some((cred, user, domain)))
        })
        .await?;
    let (cred, user, domain) = found.ok_or_else(unauthorized)?;
    check_secret(app, &format!("appcred:{}", cred.id), &cred.secret_hash, &secret, client).await?;
    if cred.expires_at.is_some_and(|at| at <= issued_at_us.div_euclid(1_000_000)) {
        return Err(unauthorized().into());
    }
    let user = user.filter(|u| u.enabled).ok_or_else(unauthorized)?;
    let user_domain = domain.filter(|d| d.enabled).ok_or_else(unauthorized)?;
    let reference = AppCredRef { id: cred.id.clone(), name: cred.name.clone(), restricted: !cred.unrestricted };
    Ok(Identified {
        user,
        user_domain,
        methods: vec!["application_credential".into()],
        expires_cap: cred.expires_at,
        audit_chain_id: None,
        app_cred: Some((reference, cred.project_id, cred.roles)),
        issued_at_us,
    })
}
