//! The embedded identity service: users, projects, roles and tokens (Keystone v3 subset).
//!
//! Tokens are signed by `neutrino-identity` with keys in `<data_dir>/keys`; validation is a
//! signature check plus an in-memory revocation lookup, so authenticating an API request
//! never reads the store. Revocations are persisted and reloaded at start.

use super::App;
use neutrino_identity::{password, Claims, KeyRepository, RoleRef, TokenError, TokenSigner};
use neutrino_model::ApiError;
use neutrino_store::identity::{Domain, Project, Role, User};
use neutrino_store::{Store, StoreError, Tx};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

/// The domain every deployment has.
pub const DEFAULT_DOMAIN_ID: &str = "default";
/// The roles bootstrap creates, Neutron's policy vocabulary.
pub const BOOTSTRAP_ROLES: &[&str] = &["admin", "member", "reader", "service"];

/// A Keystone-format error (`{"error": {"code", "title", "message"}}`).
pub fn keystone_error(code: u16, message: impl Into<String>) -> ApiError {
    let title = match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        _ => "Internal Server Error",
    };
    ApiError::new(code, format!("Keystone:{title}"), message)
}

/// The 401 every authentication failure gets (no detail: nothing to probe).
pub fn unauthorized() -> ApiError {
    keystone_error(401, "The request you have made requires authentication.")
}

/// Token machinery shared by every request.
pub struct Identity {
    pub signer: TokenSigner,
    /// Set when tokens come from an external Keystone instead.
    pub external: Option<super::external::ExternalKeystone>,
}

impl Identity {
    /// Opens the key repository (creating it) and loads revocations.
    pub fn open(data_dir: &Path, revoked: Vec<String>) -> Result<Self, neutrino_identity::KeyError> {
        let keys = KeyRepository::open_or_create(&data_dir.join("keys"))?;
        Ok(Self { signer: TokenSigner::new(keys, revoked), external: None })
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
                    ApiError::new(503, "ServiceUnavailable", "The identity service is unavailable.")
                }
            }),
        }
    }
}

/// Loads the revocation list for [`Identity::open`].
pub async fn load_revoked(store: &Store) -> Result<Vec<String>, ApiError> {
    let now = chrono::Utc::now().timestamp();
    store.read(move |tx| Ok(tx.revoked_token_list(now)?)).await
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
        .ok_or_else(|| keystone_error(400, format!("{what} requires an id or a name")))?;
    let domain = match v.get("domain") {
        Some(d) => match (d.get("id").and_then(Value::as_str), d.get("name").and_then(Value::as_str)) {
            (Some(id), _) => DomainRef::Id(id.into()),
            (None, Some(n)) => DomainRef::Name(n.into()),
            _ => return Err(keystone_error(400, format!("{what} domain requires an id or a name"))),
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
        return Err(keystone_error(401, "The request you have made requires authentication."));
    }
    let user = &identity["password"]["user"];
    let password =
        user.get("password").and_then(Value::as_str).ok_or_else(|| keystone_error(400, "password is required"))?;
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

/// Checks the password and builds the claims of the token to issue.
pub async fn authenticate(app: &Arc<App>, req: AuthRequest) -> Result<Claims, ApiError> {
    let ttl = app.config.identity.token_ttl_seconds;
    app.store
        .read(move |tx| {
            let user = resolve_user(tx, &req.user)?.filter(|u| u.enabled).ok_or_else(unauthorized)?;
            if !password::verify(&req.password, &user.password_hash) {
                return Err(unauthorized());
            }
            let user_domain = tx.domain_get(&user.domain_id)?.ok_or_else(unauthorized)?;
            let project = match &req.project {
                Some(r) => Some(resolve_project(tx, r)?.filter(|p| p.enabled).ok_or_else(unauthorized)?),
                None => None,
            };
            let (roles, project_domain) = match &project {
                Some(p) => {
                    let roles = tx.role_assignment_roles(&p.id, &user.id)?;
                    if roles.is_empty() {
                        return Err(unauthorized());
                    }
                    (roles, tx.domain_get(&p.domain_id)?)
                }
                None => (vec![], None),
            };
            let now = chrono::Utc::now().timestamp();
            Ok(Claims {
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
            })
        })
        .await
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

/// Revokes a token (persisted, then effective in memory).
pub async fn revoke(app: &Arc<App>, claims: &Claims) -> Result<(), ApiError> {
    let audit = claims.audit_id.clone();
    let expires = claims.expires_at;
    app.store.write(move |tx| -> Result<(), ApiError> { Ok(tx.revoked_token_insert(&audit, expires)?) }).await?;
    app.identity.signer.revoke(&claims.audit_id);
    Ok(())
}
