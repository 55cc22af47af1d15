//! The embedded identity service: users, projects, roles and tokens (Keystone v3 subset).
//!
//! Tokens are signed by `neutrino-identity` with keys in `<data_dir>/keys` (in the database
//! when servers share one: [`stored_keys`]); validation is a signature check plus an
//! in-memory revocation lookup, so authenticating an API request never reads the store.
//! Revocations are persisted and reloaded at start.

pub mod app_creds;
mod auth;
mod catalog;
pub mod replicas;
mod revocation;
pub mod stored_keys;
mod throttle;

use super::App;
use crate::config::IdentityConfig;
pub use auth::{authenticate, parse_auth, AppCredLookup, AuthMethod, AuthRequest, DomainRef, Ref, Scope};
pub use catalog::{catalog, render_url, seed_catalog, token_body, INTERFACES};
use neutrino_identity::password::HashPool;
use neutrino_identity::{password, Claims, KeyRepository, TokenError, TokenSigner};
use neutrino_model::ApiError;
use neutrino_store::identity::{AssignmentTarget, Domain, Project, Role, RoleAssignment, User};
use neutrino_store::{StoreError, Tx};
pub use revocation::{
    apply_revocations, load_revoked, record_revocation, refresh_revocations, refresh_revoked_tokens, revoke,
    LoadedRevocations, RevocationScope,
};
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

/// Whether a token makes its bearer a cloud admin: the admin role on a project or on the
/// system. A domain's admin administers nothing beyond it here, so gets no more than before.
pub fn is_cloud_admin(c: &Claims) -> bool {
    c.has_role("admin") && (c.project_id.is_some() || c.system)
}

/// Token machinery shared by every request.
pub struct Identity {
    pub signer: TokenSigner,
    /// Set when tokens come from an external Keystone instead.
    pub external: Option<super::external::ExternalKeystone>,
    /// The highest revocation event id read from the store (for incremental refreshes).
    last_event_id: AtomicI64,
    /// The change feed's position when the revocations were loaded.
    pub loaded_at_seq: u64,
    /// Built from the configuration at the first login.
    login: OnceLock<LoginGuard>,
}

impl Identity {
    /// Opens the key repository (creating it) with the revocations loaded from the store.
    pub fn open(data_dir: &Path, revoked: LoadedRevocations) -> Result<Self, neutrino_identity::KeyError> {
        Ok(Self::with_keys(KeyRepository::open_or_create(&data_dir.join("keys"))?, revoked))
    }

    /// Over keys loaded elsewhere (the database: [`stored_keys::open`]).
    pub fn with_keys(keys: KeyRepository, revoked: LoadedRevocations) -> Self {
        Self {
            signer: TokenSigner::with_revocations(keys, revoked.revocations),
            external: None,
            last_event_id: AtomicI64::new(revoked.last_event_id),
            loaded_at_seq: revoked.feed_seq,
            login: OnceLock::new(),
        }
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

/// Re-reads the signing keys wherever they live (the database when servers share one, else
/// `<data_dir>/keys`), so a rotation takes effect without a restart.
pub async fn reload_keys(app: &App) -> Result<(), ApiError> {
    if !app.config.database_url.is_empty() {
        return stored_keys::reload(app).await;
    }
    app.identity.reload_keys(&app.config.data_dir).map_err(|e| {
        tracing::error!(error = %e, "cannot reload signing keys");
        ApiError::internal()
    })
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
                email: None,
                description: None,
            };
            tx.user_insert(&u)?;
            (u, true)
        }
    };
    for role in roles.iter().filter(|r| r.name == "admin" || r.name == "member" || r.name == "reader") {
        tx.role_assignment_insert(&project.id, &user.id, &role.id)?;
    }
    // As keystone-manage bootstrap: the admin may also have system-scoped tokens.
    if let Some(admin) = roles.iter().find(|r| r.name == "admin") {
        tx.scoped_assignment_insert(&RoleAssignment {
            target: AssignmentTarget::System,
            user_id: user.id.clone(),
            role_id: admin.id.clone(),
        })?;
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

/// Checks a user's current password for a self-service change, within the same hashing
/// bound and failure throttling as logins.
pub async fn check_password(
    app: &Arc<App>,
    user: &User,
    password: &str,
    client: Option<IpAddr>,
) -> Result<(), LoginRefused> {
    check_secret(app, &format!("id:{}", user.id), &user.password_hash, password, client).await
}

/// Checks a secret against its stored hash, within the hashing bound, with failures
/// counted under `key` and the client's address (429 past their limits).
pub(crate) async fn check_secret(
    app: &Arc<App>,
    key: &str,
    stored_hash: &str,
    secret: &str,
    client: Option<IpAddr>,
) -> Result<(), LoginRefused> {
    let guard = app.identity.login_guard(&app.config.identity);
    let address = client.map(address_key);
    let now = Instant::now();
    if let Some(wait) =
        guard.users.blocked(key, now).or_else(|| address.as_deref().and_then(|a| guard.addresses.blocked(a, now)))
    {
        return Err(too_many(wait));
    }
    if secret.is_empty() {
        return Err(unauthorized().into());
    }
    let _slot = guard.slot().await?;
    if guard.verify(secret.to_string(), Some(stored_hash.to_string())).await? {
        guard.users.clear(key);
        Ok(())
    } else {
        guard.failed(key, address.as_deref());
        Err(unauthorized().into())
    }
}
