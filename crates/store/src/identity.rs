//! Identity records as the store keeps them (the API renders them in Keystone's shapes).

/// A Keystone domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

/// A project (tenant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: String,
    pub domain_id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

/// A user with its password hash (never rendered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub domain_id: String,
    pub name: String,
    pub password_hash: String,
    pub enabled: bool,
    pub default_project_id: Option<String>,
    /// Keystone keeps these as extra attributes; rendered only when set.
    pub email: Option<String>,
    pub description: Option<String>,
}

/// A role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: String,
    pub name: String,
}

/// An application credential: its secret's hash, never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCredential {
    pub id: String,
    pub user_id: String,
    pub project_id: String,
    pub name: String,
    pub description: Option<String>,
    pub secret_hash: String,
    /// Unix seconds; `None` = never expires.
    pub expires_at: Option<i64>,
    pub unrestricted: bool,
    /// The roles it delegates, by name.
    pub roles: Vec<Role>,
}

/// What a role assignment is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AssignmentTarget {
    Project(String),
    Domain(String),
    /// The whole deployment (Keystone's `system: all`).
    System,
}

/// One role assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    pub target: AssignmentTarget,
    pub user_id: String,
    pub role_id: String,
}

/// A catalog service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

/// A catalog endpoint of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: String,
    pub service_id: String,
    /// `public`, `internal` or `admin`.
    pub interface: String,
    pub region_id: Option<String>,
    pub url: String,
    pub enabled: bool,
}

/// A token signing key as the database keeps it (servers sharing a database share keys).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub id: u32,
    /// 32 bytes, base64url without padding.
    pub key: String,
    /// Validates but does not sign yet (the next rotation's primary).
    pub staged: bool,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey").field("id", &self.id).field("staged", &self.staged).finish_non_exhaustive()
    }
}

/// A token revocation event as stored (Keystone's `revocation_event`): tokens issued at or
/// before `issued_before_us` whose claims match every named field are revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRecord {
    /// Assigned by the store; events are read back in this order.
    pub id: i64,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub role_id: Option<String>,
    /// Tokens issued with this application credential (it was deleted).
    pub app_cred_id: Option<String>,
    /// Unix microseconds.
    pub issued_before_us: i64,
    /// Unix microseconds.
    pub revoked_at_us: i64,
    /// Unix seconds after which no token the event matches is still valid.
    pub prune_after: i64,
}

/// One quota override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaLimit {
    pub project_id: String,
    pub resource: String,
    pub hard_limit: i64,
}

/// An RBAC policy: `target_project` (or `*`) may use `object_id` as `action` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacPolicy {
    pub id: String,
    pub project_id: String,
    pub object_type: String,
    pub object_id: String,
    pub action: String,
    pub target_project: String,
}
