//! `POST /v3/auth/tokens`: who is authenticating (password, an existing token, or an
//! application credential) and what the new token is scoped to (a project, a domain, the
//! system, or nothing). Keystone's rules: one scope at most; a scope the user holds no role
//! on is 401, never a silently different token; a rescoped token keeps the original's
//! expiry and audit chain; an application credential fixes the scope itself.

use super::{address_key, app_creds, too_many, unauthorized, LoginRefused, DEFAULT_DOMAIN_ID};
use crate::app::App;
use neutrino_identity::{AppCredRef, Claims, RoleRef};
use neutrino_model::ApiError;
use neutrino_store::identity::{AssignmentTarget, Domain, Project, Role, User};
use neutrino_store::{StoreError, Tx};
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

/// A parsed `POST /v3/auth/tokens` body.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub method: AuthMethod,
    pub scope: Scope,
}

/// How the caller proves who they are.
#[derive(Debug, Clone)]
pub enum AuthMethod {
    Password {
        user: Ref,
        password: String,
    },
    /// An existing token (rescoping).
    Token {
        id: String,
    },
    ApplicationCredential {
        cred: AppCredLookup,
        secret: String,
    },
}

/// An application credential by id, or by name under its user.
#[derive(Debug, Clone)]
pub enum AppCredLookup {
    Id(String),
    Name { name: String, user: Ref },
}

/// What the token is to be scoped to.
#[derive(Debug, Clone)]
pub enum Scope {
    Unscoped,
    Project(Ref),
    Domain(DomainRef),
    System,
}

/// An entity named by id, or by name within a domain (by id or name).
#[derive(Debug, Clone)]
pub enum Ref {
    Id(String),
    Name { name: String, domain: DomainRef },
}

/// A domain by id or name.
#[derive(Debug, Clone)]
pub enum DomainRef {
    Id(String),
    Name(String),
}

fn parse_domain(d: &Value, what: &str) -> Result<DomainRef, ApiError> {
    match (d.get("id").and_then(Value::as_str), d.get("name").and_then(Value::as_str)) {
        (Some(id), _) => Ok(DomainRef::Id(id.into())),
        (None, Some(n)) => Ok(DomainRef::Name(n.into())),
        _ => Err(ApiError::keystone_validation(format!("{what} domain requires an id or a name"))),
    }
}

fn parse_ref(v: &Value, what: &str) -> Result<Ref, ApiError> {
    if let Some(id) = v.get("id").and_then(Value::as_str) {
        return Ok(Ref::Id(id.into()));
    }
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::keystone_validation(format!("{what} requires an id or a name")))?;
    let domain = match v.get("domain") {
        Some(d) => parse_domain(d, what)?,
        None => DomainRef::Id(DEFAULT_DOMAIN_ID.into()),
    };
    Ok(Ref::Name { name: name.into(), domain })
}

fn parse_method(identity: &Value, method: &str) -> Result<AuthMethod, ApiError> {
    let data = identity.get(method).ok_or_else(|| ApiError::keystone_expecting(method, "identity"))?;
    match method {
        "password" => {
            let user = data.get("user").ok_or_else(|| ApiError::keystone_expecting("user", "password"))?;
            let password = user
                .get("password")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::keystone_validation("password is required"))?;
            Ok(AuthMethod::Password { user: parse_ref(user, "user")?, password: password.into() })
        }
        "token" => {
            let id =
                data.get("id").and_then(Value::as_str).ok_or_else(|| ApiError::keystone_expecting("id", "token"))?;
            Ok(AuthMethod::Token { id: id.into() })
        }
        "application_credential" => {
            let secret = data.get("secret").and_then(Value::as_str).unwrap_or_default().to_string();
            let cred = match (data.get("id").and_then(Value::as_str), data.get("name").and_then(Value::as_str)) {
                (Some(id), _) => AppCredLookup::Id(id.into()),
                (None, Some(name)) => {
                    let user = data
                        .get("user")
                        .ok_or_else(|| ApiError::keystone_expecting("user", "application credential"))?;
                    AppCredLookup::Name { name: name.into(), user: parse_ref(user, "user")? }
                }
                _ => return Err(ApiError::keystone_expecting("name or ID", "application credential")),
            };
            Ok(AuthMethod::ApplicationCredential { cred, secret })
        }
        _ => Err(ApiError::keystone_unsupported_method()),
    }
}

fn parse_scope(scope: Option<&Value>) -> Result<Scope, ApiError> {
    let Some(scope) = scope else {
        return Ok(Scope::Unscoped);
    };
    const KEYS: [&str; 5] = ["project", "domain", "unscoped", "system", "OS-TRUST:trust"];
    let expecting = || ApiError::keystone_expecting("system, project, domain, OS-TRUST:trust or unscoped", "scope");
    // keystoneauth asks for an explicitly unscoped token (what Horizon's login does) with the
    // string `"scope": "unscoped"`; Keystone's schema takes a string or an object.
    if let Some(s) = scope.as_str() {
        return if s == "unscoped" { Ok(Scope::Unscoped) } else { Err(expecting()) };
    }
    if KEYS.iter().filter(|k| scope.get(**k).is_some()).count() != 1 {
        return Err(expecting());
    }
    if let Some(p) = scope.get("project") {
        return Ok(Scope::Project(parse_ref(p, "project")?));
    }
    if let Some(d) = scope.get("domain") {
        return Ok(Scope::Domain(parse_domain(d, "scope")?));
    }
    if let Some(s) = scope.get("system") {
        return match s.get("all") {
            Some(Value::Bool(true)) => Ok(Scope::System),
            _ => Err(ApiError::keystone_expecting("all", "system")),
        };
    }
    if let Some(t) = scope.get("OS-TRUST:trust") {
        // No trust exists here, so any trust id is unknown, as Keystone answers it.
        let id = t.get("id").and_then(Value::as_str).unwrap_or_default();
        return Err(ApiError::keystone_not_found("trust", id));
    }
    Ok(Scope::Unscoped)
}

/// Parses the body clients send: exactly one supported method, at most one scope.
pub fn parse_auth(body: &Value) -> Result<AuthRequest, ApiError> {
    let auth = body
        .get("auth")
        .filter(|a| a.is_object())
        .ok_or_else(|| ApiError::keystone_expecting("auth", "request body"))?;
    let identity = auth.get("identity").ok_or_else(|| ApiError::keystone_expecting("identity", "auth"))?;
    let mut methods: Vec<&str> =
        identity["methods"].as_array().map(|m| m.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    methods.dedup();
    // Multi-factor combinations are not offered: one method per request.
    let [method] = methods[..] else {
        return Err(ApiError::keystone_unsupported_method());
    };
    let method = parse_method(identity, method)?;
    let scope = auth.get("scope");
    if matches!(method, AuthMethod::ApplicationCredential { .. }) && scope.is_some() {
        return Err(ApiError::keystone_app_cred_auth("Application credentials cannot request a scope."));
    }
    Ok(AuthRequest { method, scope: parse_scope(scope)? })
}

pub(super) fn resolve_domain(tx: &mut dyn Tx, d: &DomainRef) -> Result<Option<Domain>, StoreError> {
    match d {
        DomainRef::Id(id) => tx.domain_get(id),
        DomainRef::Name(n) => tx.domain_get_by_name(n),
    }
}

pub(super) fn resolve_user(tx: &mut dyn Tx, r: &Ref) -> Result<Option<User>, StoreError> {
    match r {
        Ref::Id(id) => tx.user_get(id),
        Ref::Name { name, domain } => match resolve_domain(tx, domain)? {
            Some(d) => tx.user_get_by_name(&d.id, name),
            None => Ok(None),
        },
    }
}

fn resolve_project(tx: &mut dyn Tx, r: &Ref) -> Result<Option<Project>, StoreError> {
    match r {
        Ref::Id(id) => tx.project_get(id),
        Ref::Name { name, domain } => match resolve_domain(tx, domain)? {
            Some(d) => tx.project_get_by_name(&d.id, name),
            None => Ok(None),
        },
    }
}

/// Who authenticated, and what the method itself fixes about the token.
pub(super) struct Identified {
    pub user: User,
    pub user_domain: Domain,
    pub methods: Vec<String>,
    /// The new token expires no later than this (the rescoped token's, the credential's).
    pub expires_cap: Option<i64>,
    pub audit_chain_id: Option<String>,
    /// Application credential logins: the credential and its project, which is the scope.
    pub app_cred: Option<(AppCredRef, String, Vec<Role>)>,
    /// Unix microseconds, taken before anything the claims say was read.
    pub issued_at_us: i64,
}

/// What a token is scoped to, with the roles it carries.
enum Scoped {
    None,
    Project(Project, Option<Domain>, Vec<Role>),
    Domain(Domain, Vec<Role>),
    System(Vec<Role>),
}

/// Resolves the requested scope for a user: 401 for a scope that does not exist, is
/// disabled, or on which the user holds no role.
fn resolve_scope(tx: &mut dyn Tx, user: &User, scope: &Scope) -> Result<Scoped, ApiError> {
    let nonempty = |roles: Vec<Role>| if roles.is_empty() { Err(unauthorized()) } else { Ok(roles) };
    match scope {
        Scope::Unscoped => Ok(Scoped::None),
        Scope::Project(r) => {
            let project = resolve_project(tx, r)?.filter(|p| p.enabled).ok_or_else(unauthorized)?;
            let domain = tx.domain_get(&project.domain_id)?;
            if domain.as_ref().is_some_and(|d| !d.enabled) {
                return Err(unauthorized());
            }
            let roles = nonempty(tx.role_assignment_roles(&project.id, &user.id)?)?;
            Ok(Scoped::Project(project, domain, roles))
        }
        Scope::Domain(d) => {
            let domain = resolve_domain(tx, d)?.filter(|d| d.enabled).ok_or_else(unauthorized)?;
            let target = AssignmentTarget::Domain(domain.id.clone());
            let roles = nonempty(tx.scoped_assignment_roles(&target, &user.id)?)?;
            Ok(Scoped::Domain(domain, roles))
        }
        Scope::System => {
            Ok(Scoped::System(nonempty(tx.scoped_assignment_roles(&AssignmentTarget::System, &user.id)?)?))
        }
    }
}

/// The scope of an application credential login: its project, with the credential's roles
/// the user still holds there (401 when none is left or the project is disabled).
fn app_cred_scope(tx: &mut dyn Tx, user: &User, project_id: &str, roles: &[Role]) -> Result<Scoped, ApiError> {
    let project = tx.project_get(project_id)?.filter(|p| p.enabled).ok_or_else(unauthorized)?;
    let held = tx.role_assignment_roles(&project.id, &user.id)?;
    let roles: Vec<Role> = roles.iter().filter(|r| held.iter().any(|h| h.id == r.id)).cloned().collect();
    if roles.is_empty() {
        return Err(unauthorized());
    }
    let domain = tx.domain_get(&project.domain_id)?;
    Ok(Scoped::Project(project, domain, roles))
}

/// Authenticates a token request and builds the claims of the token to issue, with the
/// issue time (Unix microseconds) to sign into it.
pub async fn authenticate(
    app: &Arc<App>,
    req: AuthRequest,
    client: Option<IpAddr>,
) -> Result<(Claims, i64), LoginRefused> {
    let who = match req.method {
        AuthMethod::Password { user, password } => password_identify(app, user, password, client).await?,
        AuthMethod::Token { id } => token_identify(app, &id, &req.scope).await?,
        AuthMethod::ApplicationCredential { cred, secret } => app_creds::identify(app, cred, secret, client).await?,
    };
    let scope = req.scope;
    let (who, scoped) = app
        .store
        .read(move |tx| -> Result<_, ApiError> {
            let scoped = match &who.app_cred {
                Some((_, project_id, roles)) => app_cred_scope(tx, &who.user, project_id, roles)?,
                None => resolve_scope(tx, &who.user, &scope)?,
            };
            Ok((who, scoped))
        })
        .await?;
    Ok(claims(who, scoped, app.config.identity.token_ttl_seconds))
}

fn claims(who: Identified, scoped: Scoped, ttl: i64) -> (Claims, i64) {
    let now = who.issued_at_us.div_euclid(1_000_000);
    let expires_at = who.expires_cap.map_or(now + ttl, |cap| cap.min(now + ttl));
    let mut c = Claims {
        user_id: who.user.id,
        user_name: who.user.name,
        user_domain_id: who.user_domain.id,
        user_domain_name: who.user_domain.name,
        methods: who.methods,
        issued_at: now,
        expires_at,
        audit_id: uuid::Uuid::new_v4().simple().to_string(),
        audit_chain_id: who.audit_chain_id,
        app_cred: who.app_cred.map(|(r, _, _)| r),
        ..Claims::default()
    };
    let roles = match scoped {
        Scoped::None => vec![],
        Scoped::Project(p, d, roles) => {
            c.project_id = Some(p.id);
            c.project_name = Some(p.name);
            c.project_domain_id = d.as_ref().map(|d| d.id.clone());
            c.project_domain_name = d.map(|d| d.name);
            roles
        }
        Scoped::Domain(d, roles) => {
            c.domain_id = Some(d.id);
            c.domain_name = Some(d.name);
            roles
        }
        Scoped::System(roles) => {
            c.system = true;
            roles
        }
    };
    c.roles = roles.into_iter().map(|r| RoleRef { id: r.id, name: r.name }).collect();
    (c, who.issued_at_us)
}

/// The throttling key of the user a request names: its id once resolved, else the name as
/// given (so spelling one user three ways does not triple an attacker's attempts).
fn user_key(named: &Ref, resolved: Option<&User>) -> String {
    match (resolved, named) {
        (Some(u), _) => format!("id:{}", u.id),
        (None, Ref::Id(id)) => format!("id:{id}"),
        (None, Ref::Name { name, domain: DomainRef::Id(d) }) => format!("name:{d}/{name}"),
        (None, Ref::Name { name, domain: DomainRef::Name(d) }) => format!("name:@{d}/{name}"),
    }
}

/// Checks a password. At most `max_concurrent_password_hashes` logins hash at once, on
/// blocking threads and with no store transaction open; an unknown user costs the same
/// hash as a known one; failures are counted per user and per `client` address and refused
/// with 429 past their limits.
async fn password_identify(
    app: &Arc<App>,
    named: Ref,
    password: String,
    client: Option<IpAddr>,
) -> Result<Identified, LoginRefused> {
    let guard = app.identity.login_guard(&app.config.identity);
    let address = client.map(address_key);
    if let Some(wait) = address.as_deref().and_then(|a| guard.addresses.blocked(a, Instant::now())) {
        return Err(too_many(wait));
    }
    // Keystone never matches an empty password; refusing it costs no hash.
    if password.is_empty() {
        return Err(unauthorized().into());
    }
    let slot = guard.slot().await?;
    let issued_at_us = chrono::Utc::now().timestamp_micros();
    let (user, user_domain) = {
        let named = named.clone();
        app.store
            .read(move |tx| -> Result<_, StoreError> {
                let user = resolve_user(tx, &named)?;
                let domain = match &user {
                    Some(u) => tx.domain_get(&u.domain_id)?,
                    None => None,
                };
                Ok((user, domain))
            })
            .await?
    };
    let key = user_key(&named, user.as_ref());
    let now = Instant::now();
    if let Some(wait) = guard.users.blocked(&key, now) {
        return Err(too_many(wait));
    }
    if let Some(wait) = address.as_deref().and_then(|a| guard.addresses.blocked(a, now)) {
        return Err(too_many(wait));
    }
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let matched = guard.verify(password, stored).await?;
    drop(slot);
    let user = match user {
        Some(u) if matched => u,
        _ => {
            guard.failed(&key, address.as_deref());
            return Err(unauthorized().into());
        }
    };
    guard.users.clear(&key);
    let user_domain = user_domain.filter(|d| d.enabled).ok_or_else(unauthorized)?;
    if !user.enabled {
        return Err(unauthorized().into());
    }
    Ok(Identified {
        user,
        user_domain,
        methods: vec!["password".into()],
        expires_cap: None,
        audit_chain_id: None,
        app_cred: None,
        issued_at_us,
    })
}

/// The `token` method: an existing, valid token of an enabled user. The new token keeps
/// the original's expiry (no endless renewal without re-authenticating) and audit chain.
async fn token_identify(app: &Arc<App>, token: &str, scope: &Scope) -> Result<Identified, LoginRefused> {
    let issued_at_us = chrono::Utc::now().timestamp_micros();
    let original = app.identity.validate(token).map_err(|_| unauthorized())?;
    let scoped_request = matches!(scope, Scope::Project(_) | Scope::Domain(_));
    if original.system && scoped_request {
        return Err(ApiError::keystone_forbidden(
            "Using a system-scoped token to create a project-scoped or domain-scoped token is not allowed",
        )
        .into());
    }
    if original.app_cred.is_some() && !matches!(scope, Scope::Unscoped) {
        return Err(ApiError::keystone_forbidden(
            "Using an application credential token to create a scoped token is not allowed",
        )
        .into());
    }
    let user_id = original.user_id.clone();
    let cred_id = original.app_cred.as_ref().map(|c| c.id.clone());
    let (user, domain, cred) = app
        .store
        .read(move |tx| -> Result<_, StoreError> {
            let user = tx.user_get(&user_id)?;
            let domain = match &user {
                Some(u) => tx.domain_get(&u.domain_id)?,
                None => None,
            };
            let cred = match cred_id {
                Some(id) => Some(tx.app_cred_get(&id)?),
                None => None,
            };
            Ok((user, domain, cred))
        })
        .await?;
    let user = user.filter(|u| u.enabled).ok_or_else(unauthorized)?;
    let user_domain = domain.filter(|d| d.enabled).ok_or_else(unauthorized)?;
    let mut methods = vec!["token".to_string()];
    methods.extend(original.methods.iter().filter(|m| *m != "token").cloned());
    // A credential's token renews within the credential: its project and roles again.
    let app_cred = match (cred, original.app_cred) {
        (None, _) => None,
        (Some(None), _) => return Err(unauthorized().into()),
        (Some(Some(c)), Some(r)) => Some((r, c.project_id, c.roles)),
        (Some(Some(_)), None) => None,
    };
    Ok(Identified {
        user,
        user_domain,
        methods,
        expires_cap: Some(original.expires_at),
        audit_chain_id: Some(original.audit_chain_id.unwrap_or(original.audit_id)),
        app_cred,
        issued_at_us,
    })
}
