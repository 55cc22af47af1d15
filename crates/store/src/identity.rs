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
}

/// A role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: String,
    pub name: String,
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
