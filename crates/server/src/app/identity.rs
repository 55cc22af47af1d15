//! The embedded identity service: users, projects, roles and tokens (Keystone v3 subset).
//!
//! Tokens are signed by `neutrino-identity` with keys in `<data_dir>/keys`; validation is a
//! signature check plus an in-memory revocation lookup, so authenticating an API request
//! never reads the store. Revocations are persisted and reloaded at start.

mod revocation;
mod throttle;

use super::App;
use crate::config::IdentityConfig;
use neutrino_identity::password::HashPool;
use neutrino_identity::{password, Claims, KeyRepository, RoleRef, TokenError, TokenSigner};
use neutrino_model::ApiError;
use neutrino_store::identity::{Domain, Project, Role, User};
use neutrino_store::{StoreError, Tx};
pub use revocation::{
    apply_revocations, load_revoked, record_revocation, refresh_revocations, revoke, LoadedRevocations, RevocationScope,
};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
pub use throttle::{address_key, FailureTable};

/// The domain every deployment has.
pub const DEFAULT_DOMAIN_ID: &str = "default";
/// The roles bootstrap creates, Neutron's policy vocabulary.
pub const BOOTSTRAP_ROLES: &[&str] = &["admin", "member", "reader", "service"];

/// The 401 every authentication failure gets (no detail: nothing to probe).
pub fn unauthorized() -> ApiError {
    ApiError::keystone_unauthorized()
}

/// Token machinery shared by every request.
pub struct Identity {
    pub signer: TokenSigner,
    /// Set when tokens come from an external Keystone instead.
    pub external: Option<super::external::ExternalKeystone>,
    /// The highest revocation event id read from the store (for incremental refreshes).
    last_event_id: AtomicI64,
    /// Built from the configuration at the first login.
    login: OnceLock<LoginGuard>,
}

impl Identity {
    /// Opens the key repository (creating it) with the revocations loaded from the store.
    pub fn open(data_dir: &Path, revoked: LoadedRevocations) -> Result<Self, neutrino_identity::KeyError> {
        let keys = KeyRepository::open_or_create(&data_dir.join("keys"))?;
        Ok(Self {
            signer: TokenSigner::with_revocations(keys, revoked.revocations),
            external: None,
            last_event_id: AtomicI64::new(revoked.last_event_id),
            login: OnceLock::new(),
        })
    }

    /// The login limits, built from `config` the first time.
    pub fn login_guard(&self, config: &IdentityConfig) -> &LoginGuard {
        self.login.get_or_init(|| LoginGuard::new(config))
    }

    /// Re-reads the key repository, so a rotation (`neutrino keys rotate`, or keys copied
    /// in from another replica) takes effect without a restart.
    pub fn reload_keys(&self, data_dir: &Path) -> Result<(), neutrino_identity::KeyError> {
        let keys = KeyRepository::load(&data_dir.join("keys"))?;
        keys.primary()?;
        self.signer.reload_keys(keys);
        Ok(())
    }

    /// Validates one of our own tokens now.
    pub fn validate(&self, token: &str) -> Result<Claims, TokenError> {
        self.signer.validate(token, chrono::Utc::now().timestamp())
    }

    /// Validates a token from wherever tokens come from (ours, or the external Keystone).
    pub async fn authenticate(&self, token: &str) -> Result<Claims, ApiError> {
        match &self.external {
            None => self.validate(token).map_err(|_| unauthorized()),
            Some(ext) => ext.validate(token, chrono::Utc::now().timestamp()).await.map_err(|e| match e {
                super::external::ExternalError::Rejected => unauthorized(),
                other => {
                    tracing::error!(error = %other, "cannot validate a token with the external Keystone");
                    ApiError::identity_unavailable()
                }
            }),
        }
    }
}

/// Bounds on logins: how many password hashes run at once (each holds 19 MiB of Argon2
/// working memory, reused from a pool of that many buffers), how many logins may wait for
/// one, and failed-login throttling per user and per client address.
pub struct LoginGuard {
    hashes: tokio::sync::Semaphore,
    waiting: AtomicUsize,
    max_waiting: usize,
    pool: Arc<HashPool>,
    users: FailureTable,
    addresses: FailureTable,
}

/// A refused login: the error, and the `Retry-After` seconds for a 429 or 503.
#[derive(Debug)]
pub struct LoginRefused {
    pub error: ApiError,
    pub retry_after: Option<u64>,
}

impl From<ApiError> for LoginRefused {
    fn from(error: ApiError) -> Self {
        Self { error, retry_after: None }
    }
}

impl From<StoreError> for LoginRefused {
    fn from(e: StoreError) -> Self {
        Self { error: e.into(), retry_after: None }
    }
}

fn too_many(retry_after: u64) -> LoginRefused {
    LoginRefused { error: ApiError::keystone_too_many_failures(retry_after), retry_after: Some(retry_after) }
}

/// Decrements the waiting count when a login stops waiting (however it ends).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl LoginGuard {
    /// Limits from the identity configuration.
    pub fn new(config: &IdentityConfig) -> Self {
        let slots = match config.max_concurrent_password_hashes {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        let window = Duration::from_secs(config.login_failure_window_seconds.max(1));
        Self {
            hashes: tokio::sync::Semaphore::new(slots),
            waiting: AtomicUsize::new(0),
            max_waiting: config.max_waiting_logins,
            pool: Arc::new(HashPool::new(slots)),
            users: FailureTable::new(config.login_failures_per_user, window, config.login_throttle_max_entries),
            addresses: FailureTable::new(config.login_failures_per_address, window, config.login_throttle_max_entries),
        }
    }

    /// Waits for a hashing slot, or refuses at once (503) when too many already wait.
    async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, LoginRefused> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(LoginRefused { error: ApiError::keystone_busy(), retry_after: Some(1) });
        }
        let _waiting = Waiting(&self.waiting);
        self.hashes.acquire().await.map_err(|_| LoginRefused::from(ApiError::internal()))
    }

    /// Hashes a new password on a blocking thread, within the hashing bound.
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let _slot = self.slot().await.map_err(|r| r.error)?;
        let pool = self.pool.clone();
        let password = password.to_string();
        tokio::task::spawn_blocking(move || pool.hash(&password)).await.map_err(|_| ApiError::internal())?.map_err(
            |e| {
                tracing::error!(error = %e, "cannot hash a password");
                ApiError::internal()
            },
        )
    }

    /// Checks a password against a stored hash (or, for no hash, the dummy one) on a
    /// blocking thread. The caller holds a slot.
    async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || match stored {
            Some(hash) => pool.verify(&password, &hash),
            None => {
                pool.verify_dummy(&password);
                false
            }
        })
        .await
        .map_err(|_| ApiError::internal())
    }

    fn failed(&self, user_key: &str, address: Option<&str>) {
        let now = Instant::now();
        self.users.record_failure(user_key, now);
        if let Some(a) = address {
            self.addresses.record_failure(a, now);
        }
    }

    /// Users and addresses whose failures are tracked now.
    pub fn tracked(&self) -> (usize, usize) {
        (self.users.len(), self.addresses.len())
    }
}

/// What bootstrap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrapped {
    /// Whether the admin user was created now (false: it existed).
    pub created_admin: bool,
    pub admin_project_id: String,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Creates domain Default, project and user `admin`, the standard roles and the admin's
/// role; whatever exists is kept (the password of an existing admin is not changed).
pub fn bootstrap(tx: &mut dyn Tx, admin_password: &str) -> Result<Bootstrapped, ApiError> {
    if tx.domain_get(DEFAULT_DOMAIN_ID)?.is_none() {
        tx.domain_insert(&Domain {
            id: DEFAULT_DOMAIN_ID.into(),
            name: "Default".into(),
            description: "The default domain".into(),
            enabled: true,
        })?;
    }
    let project = match tx.project_get_by_name(DEFAULT_DOMAIN_ID, "admin")? {
        Some(p) => p,
        None => {
            let p = Project {
                id: new_id(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                name: "admin".into(),
                description: "Bootstrap project for initializing the cloud.".into(),
                enabled: true,
            };
            tx.project_insert(&p)?;
            p
        }
    };
    let mut roles = Vec::new();
    for name in BOOTSTRAP_ROLES {
        let role = match tx.role_get_by_name(name)? {
            Some(r) => r,
            None => {
                let r = Role { id: new_id(), name: (*name).into() };
                tx.role_insert(&r)?;
                r
            }
        };
        roles.push(role);
    }
    let (user, created_admin) = match tx.user_get_by_name(DEFAULT_DOMAIN_ID, "admin")? {
        Some(u) => (u, false),
        None => {
            if admin_password.is_empty() {
                return Err(ApiError::keystone_validation("The bootstrap password must not be empty."));
            }
            let hash = password::hash(admin_password).map_err(|e| {
                tracing::error!(error = %e, "cannot hash the bootstrap password");
                ApiError::internal()
            })?;
            let u = User {
                id: new_id(),
                domain_id: DEFAULT_DOMAIN_ID.into(),
                name: "admin".into(),
                password_hash: hash,
                enabled: true,
                default_project_id: Some(project.id.clone()),
            };
            tx.user_insert(&u)?;
            (u, true)
        }
    };
    for role in roles.iter().filter(|r| r.name == "admin" || r.name == "member" || r.name == "reader") {
        tx.role_assignment_insert(&project.id, &user.id, &role.id)?;
    }
    Ok(Bootstrapped { created_admin, admin_project_id: project.id })
}

/// The clouds.yaml an operator can use right away.
pub fn clouds_yaml(auth_url: &str, region: &str, password: &str) -> String {
    format!(
        "clouds:\n  neutrino:\n    auth:\n      auth_url: {auth_url}/v3\n      username: admin\n      password: {password}\n      \
         project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: {region}\n    \
         identity_api_version: 3\n    interface: public\n"
    )
}

/// A parsed `POST /v3/auth/tokens` body.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    pub user: Ref,
    pub password: String,
    pub project: Option<Ref>,
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

fn parse_ref(v: &Value, what: &str) -> Result<Ref, ApiError> {
    if let Some(id) = v.get("id").and_then(Value::as_str) {
        return Ok(Ref::Id(id.into()));
    }
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::keystone_validation(format!("{what} requires an id or a name")))?;
    let domain = match v.get("domain") {
        Some(d) => match (d.get("id").and_then(Value::as_str), d.get("name").and_then(Value::as_str)) {
            (Some(id), _) => DomainRef::Id(id.into()),
            (None, Some(n)) => DomainRef::Name(n.into()),
            _ => return Err(ApiError::keystone_validation(format!("{what} domain requires an id or a name"))),
        },
        None => DomainRef::Id(DEFAULT_DOMAIN_ID.into()),
    };
    Ok(Ref::Name { name: name.into(), domain })
}

/// Parses the password-method body clients send.
pub fn parse_auth(body: &Value) -> Result<AuthRequest, ApiError> {
    let identity = &body["auth"]["identity"];
    let methods: Vec<&str> =
        identity["methods"].as_array().map(|m| m.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    if !methods.contains(&"password") {
        return Err(ApiError::keystone_unauthorized());
    }
    let user = &identity["password"]["user"];
    let password = user
        .get("password")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::keystone_validation("password is required"))?;
    let scope = &body["auth"]["scope"];
    let project = match scope.get("project") {
        Some(p) => Some(parse_ref(p, "project")?),
        None => None,
    };
    Ok(AuthRequest { user: parse_ref(user, "user")?, password: password.into(), project })
}

fn resolve_domain(tx: &mut dyn Tx, d: &DomainRef) -> Result<Option<Domain>, StoreError> {
    match d {
        DomainRef::Id(id) => tx.domain_get(id),
        DomainRef::Name(n) => tx.domain_get_by_name(n),
    }
}

fn resolve_user(tx: &mut dyn Tx, r: &Ref) -> Result<Option<User>, StoreError> {
    match r {
        Ref::Id(id) => tx.user_get(id),
        Ref::Name { name, domain } => match resolve_domain(tx, domain)? {
            Some(d) => tx.user_get_by_name(&d.id, name),
            None => Ok(None),
        },
    }
}

/// Resolves a project reference.
pub fn resolve_project(tx: &mut dyn Tx, r: &Ref) -> Result<Option<Project>, StoreError> {
    match r {
        Ref::Id(id) => tx.project_get(id),
        Ref::Name { name, domain } => match resolve_domain(tx, domain)? {
            Some(d) => tx.project_get_by_name(&d.id, name),
            None => Ok(None),
        },
    }
}

/// What a login needs from the store, read in one short transaction before hashing.
struct LoginFacts {
    user: Option<User>,
    user_domain: Option<Domain>,
    /// The requested project when it exists and is enabled, with its domain and the roles
    /// the user holds on it.
    project: Option<(Project, Option<Domain>, Vec<Role>)>,
}

fn read_login_facts(tx: &mut dyn Tx, req: &AuthRequest) -> Result<LoginFacts, StoreError> {
    let user = resolve_user(tx, &req.user)?;
    let user_domain = match &user {
        Some(u) => tx.domain_get(&u.domain_id)?,
        None => None,
    };
    let project = match (&req.project, &user) {
        (Some(r), Some(u)) => match resolve_project(tx, r)?.filter(|p| p.enabled) {
            Some(p) => {
                let roles = tx.role_assignment_roles(&p.id, &u.id)?;
                let domain = tx.domain_get(&p.domain_id)?;
                Some((p, domain, roles))
            }
            None => None,
        },
        _ => None,
    };
    Ok(LoginFacts { user, user_domain, project })
}

/// The throttling key of the user a request names: its id once resolved, else the name as
/// given (so spelling one user three ways does not triple an attacker's attempts).
fn user_key(req: &AuthRequest, resolved: Option<&User>) -> String {
    match (resolved, &req.user) {
        (Some(u), _) => format!("id:{}", u.id),
        (None, Ref::Id(id)) => format!("id:{id}"),
        (None, Ref::Name { name, domain: DomainRef::Id(d) }) => format!("name:{d}/{name}"),
        (None, Ref::Name { name, domain: DomainRef::Name(d) }) => format!("name:@{d}/{name}"),
    }
}

/// Checks the password and builds the claims of the token to issue, with the issue time
/// (Unix microseconds, taken before anything was read) to sign into it.
///
/// At most `max_concurrent_password_hashes` logins hash at once, on blocking threads and with
/// no store transaction open; an unknown user costs the same hash as a known one; failures
/// are counted per user and per `client` address and refused with 429 past their limits.
pub async fn authenticate(
    app: &Arc<App>,
    req: AuthRequest,
    client: Option<IpAddr>,
) -> Result<(Claims, i64), LoginRefused> {
    let guard = app.identity.login_guard(&app.config.identity);
    let address = client.map(address_key);
    if let Some(wait) = address.as_deref().and_then(|a| guard.addresses.blocked(a, Instant::now())) {
        return Err(too_many(wait));
    }
    // Keystone never matches an empty password; refusing it costs no hash.
    if req.password.is_empty() {
        return Err(unauthorized().into());
    }
    let slot = guard.slot().await?;
    let issued_at_us = chrono::Utc::now().timestamp_micros();
    let facts = {
        let req = req.clone();
        app.store.read(move |tx| read_login_facts(tx, &req)).await?
    };
    let key = user_key(&req, facts.user.as_ref());
    let now = Instant::now();
    if let Some(wait) = guard.users.blocked(&key, now) {
        return Err(too_many(wait));
    }
    if let Some(wait) = address.as_deref().and_then(|a| guard.addresses.blocked(a, now)) {
        return Err(too_many(wait));
    }
    let stored = facts.user.as_ref().map(|u| u.password_hash.clone());
    let matched = guard.verify(req.password.clone(), stored).await?;
    drop(slot);
    let user = match facts.user {
        Some(u) if matched => u,
        _ => {
            guard.failed(&key, address.as_deref());
            return Err(unauthorized().into());
        }
    };
    guard.users.clear(&key);
    if !user.enabled {
        return Err(unauthorized().into());
    }
    let user_domain = facts.user_domain.ok_or_else(unauthorized)?;
    let (project, project_domain, roles) = match (&req.project, facts.project) {
        (None, _) => (None, None, vec![]),
        (Some(_), None) => return Err(unauthorized().into()),
        (Some(_), Some((_, _, roles))) if roles.is_empty() => return Err(unauthorized().into()),
        (Some(_), Some((p, d, roles))) => (Some(p), d, roles),
    };
    let ttl = app.config.identity.token_ttl_seconds;
    let now = issued_at_us.div_euclid(1_000_000);
    let claims = Claims {
        user_id: user.id,
        user_name: user.name,
        user_domain_id: user_domain.id,
        user_domain_name: user_domain.name,
        project_id: project.as_ref().map(|p| p.id.clone()),
        project_name: project.as_ref().map(|p| p.name.clone()),
        project_domain_id: project_domain.as_ref().map(|d| d.id.clone()),
        project_domain_name: project_domain.map(|d| d.name),
        roles: roles.into_iter().map(|r| RoleRef { id: r.id, name: r.name }).collect(),
        methods: vec!["password".into()],
        issued_at: now,
        expires_at: now + ttl,
        audit_id: uuid::Uuid::new_v4().simple().to_string(),
    };
    Ok((claims, issued_at_us))
}

/// Checks a user's current password for a self-service change, within the same hashing
/// bound and failure throttling as logins.
pub async fn check_password(
    app: &Arc<App>,
    user: &User,
    password: &str,
    client: Option<IpAddr>,
) -> Result<(), LoginRefused> {
    let guard = app.identity.login_guard(&app.config.identity);
    let address = client.map(address_key);
    let key = format!("id:{}", user.id);
    let now = Instant::now();
    if let Some(wait) =
        guard.users.blocked(&key, now).or_else(|| address.as_deref().and_then(|a| guard.addresses.blocked(a, now)))
    {
        return Err(too_many(wait));
    }
    if password.is_empty() {
        return Err(unauthorized().into());
    }
    let _slot = guard.slot().await?;
    if guard.verify(password.to_string(), Some(user.password_hash.clone())).await? {
        guard.users.clear(&key);
        Ok(())
    } else {
        guard.failed(&key, address.as_deref());
        Err(unauthorized().into())
    }
}

fn iso(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S.000000Z").to_string()
}

/// The service catalog: this server is both the identity and the network endpoint.
pub fn catalog(app: &App) -> Value {
    let url = app.config.public_url();
    let region = &app.config.identity.region;
    let endpoints = |base: &str, service: &str| -> Vec<Value> {
        ["public", "internal", "admin"]
            .iter()
            .map(|iface| json!({"id": format!("{service}-{iface}"), "interface": iface, "region": region, "region_id": region, "url": base}))
            .collect()
    };
    json!([
        {"id": "network", "type": "network", "name": "neutron", "endpoints": endpoints(&url, "network")},
        {"id": "identity", "type": "identity", "name": "keystone", "endpoints": endpoints(&format!("{url}/v3"), "identity")},
    ])
}

/// The Keystone token body for claims.
pub fn token_body(app: &App, c: &Claims) -> Value {
    let mut token = json!({
        "methods": c.methods,
        "user": {"id": c.user_id, "name": c.user_name, "domain": {"id": c.user_domain_id, "name": c.user_domain_name}, "password_expires_at": null},
        "audit_ids": [c.audit_id],
        "issued_at": iso(c.issued_at),
        "expires_at": iso(c.expires_at),
        "is_domain": false,
    });
    if let (Some(id), Some(name)) = (&c.project_id, &c.project_name) {
        token["project"] = json!({"id": id, "name": name,
            "domain": {"id": c.project_domain_id, "name": c.project_domain_name}});
        token["roles"] = json!(c.roles.iter().map(|r| json!({"id": r.id, "name": r.name})).collect::<Vec<_>>());
        token["catalog"] = catalog(app);
    }
    json!({ "token": token })
}
