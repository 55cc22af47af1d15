//! The transaction interface resource logic is written against.

use crate::change::{Change, ChangeKind, ChangeOp};
use crate::identity::{
    AppCredential, AssignmentTarget, Domain, Endpoint, Project, QuotaLimit, RbacPolicy, RevocationRecord, Role,
    RoleAssignment, Service, SigningKey, User,
};
use crate::StoreError;
use neutrino_model::Resource;

/// A stored resource row: the indexed columns plus the wire document.
///
/// The optional columns exist only in some resources' tables; a resource sets those its
/// table has (a port's `device_id` is `Some("")` when it has no device) and leaves the
/// others `None`. A column the table has but the document leaves `None` is refused by the
/// table's `NOT NULL` constraint.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    pub id: String,
    pub project_id: String,
    /// The name; for security group rules, their signature (unique within the group).
    pub name: String,
    /// Subnets and ports: their network.
    pub network_id: Option<String>,
    /// Ports only.
    pub device_id: Option<String>,
    /// Ports only.
    pub device_owner: Option<String>,
    /// Ports only.
    pub mac_address: Option<String>,
    /// Security group rules only: their group.
    pub security_group_id: Option<String>,
    /// Subnets only: the pool the subnet was allocated from, if any.
    pub subnetpool_id: Option<String>,
    /// Security group rules only: the address group the rule names as its remote, if any.
    pub remote_address_group_id: Option<String>,
    /// The resource's JSON document.
    pub body: String,
}

/// Index-backed narrowing of a list; each set field is an `IN (...)` condition.
#[derive(Debug, Clone, Default)]
pub struct IndexFilter {
    pub ids: Option<Vec<String>>,
    pub project_ids: Option<Vec<String>>,
    pub names: Option<Vec<String>>,
    pub network_ids: Option<Vec<String>>,
    pub device_ids: Option<Vec<String>>,
    pub device_owners: Option<Vec<String>>,
    pub mac_addresses: Option<Vec<String>>,
    pub security_group_ids: Option<Vec<String>>,
    /// Subnets allocated from these pools.
    pub subnetpool_ids: Option<Vec<String>>,
    /// Security group rules naming one of these address groups as their remote.
    pub remote_address_group_ids: Option<Vec<String>>,
    /// Only the rows a caller who is not admin may see (pushed into the SQL, so a member's
    /// list never reads other projects' rows).
    pub visible_to: Option<Visibility>,
}

/// Which rows one project sees: its own, and for the resources RBAC shares (networks and
/// their subnets, security groups) also those of the objects an RBAC policy with one of
/// `rbac_actions` grants to it or to everyone (`*`). The policy (which actions share an
/// object) stays with the caller; the store only evaluates it.
#[derive(Debug, Clone, Default)]
pub struct Visibility {
    pub project_id: String,
    /// RBAC actions that make an object visible, e.g. `access_as_shared`,
    /// `access_as_external`; ignored for resources RBAC does not share.
    pub rbac_actions: Vec<String>,
}

/// One address held by a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpAllocation {
    pub subnet_id: String,
    pub ip_address: String,
    pub port_id: String,
    pub network_id: String,
}

/// One network segment (type driver allocation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub id: String,
    pub network_id: String,
    pub network_type: String,
    /// `None` when the type has none (vxlan).
    pub physical_network: Option<String>,
    /// `None` when the type has none (flat).
    pub segmentation_id: Option<u32>,
}

/// A host agent's row: its wire document without `alive` (computed when read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRow {
    pub id: String,
    pub agent_type: String,
    pub host: String,
    /// Unix seconds of the last report.
    pub heartbeat_at: i64,
    pub body: String,
}

/// A diagnosis's question to a host's agent, and the agent's answer once posted. The store
/// keeps both as JSON text: their shapes are the agent API's, not the store's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostQuestionRow {
    pub id: String,
    pub host: String,
    pub body: String,
    /// Unix milliseconds.
    pub created_ms: i64,
    pub answer: Option<String>,
    pub answered_ms: Option<i64>,
}

/// A port's binding to a host: bound to one of its network's segments there, or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBinding {
    pub port_id: String,
    pub host: String,
    pub network_id: String,
    pub result: BindingResult,
}

/// How binding a port to its host ended. A failed binding is kept (with its reason) so the
/// host's agent sees why a port meant for it is not in its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingResult {
    /// The segment the host wires the port on.
    Bound { segment_id: String },
    /// Why no segment of the network could be bound on the host.
    Failed { reason: String },
}

impl BindingResult {
    /// The stored `(segment_id, failure)` columns, one of them `''`. A failure without a
    /// reason is stored with a generic one: an empty `failure` would read back as a binding.
    pub(crate) fn columns(&self) -> (&str, &str) {
        match self {
            BindingResult::Bound { segment_id } => (segment_id, ""),
            BindingResult::Failed { reason } if reason.is_empty() => ("", "binding failed"),
            BindingResult::Failed { reason } => ("", reason),
        }
    }
}

/// A port's INACTIVE binding to a host (`binding-extended`). The ACTIVE binding is the
/// port's document (`binding:*`) and its [`PortBinding`]; a port has at most one binding per
/// host, and an inactive one is always a successful binding (a failed one is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InactiveBinding {
    pub port_id: String,
    pub host: String,
    pub network_id: String,
    /// The segment the host wires the port on; `None` only for the binding an activation
    /// left behind on a port that was not bound (`host` `''`, as Neutron keeps it).
    pub segment_id: Option<String>,
    pub vif_type: String,
    pub vnic_type: String,
    pub profile: serde_json::Map<String, serde_json::Value>,
    pub vif_details: serde_json::Map<String, serde_json::Value>,
    pub role: InactiveRole,
    /// The host's agent reported the port wired there (only a [`InactiveRole::Target`]'s
    /// agent wires it).
    pub wired: bool,
}

/// A JSON object column (an inactive binding's profile and VIF details); anything else
/// (never written) reads as empty.
pub(crate) fn json_object(text: &str) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// Why a port has an inactive binding on a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactiveRole {
    /// Made for a move to the host (Nova's live migration): its agent wires the port ahead
    /// of activation, so the tap is in the bridge when the instance arrives.
    Target,
    /// Left on the old host by an activation: its agent stops forwarding for the port (as
    /// ML2's `binding_deactivate` tells the linuxbridge agent), until the binding is deleted.
    Left,
}

/// What agents are assigned: networks to DHCP agents, routers to L3 agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    DhcpNetwork,
    L3Router,
}

impl Assignment {
    /// (table, resource column).
    pub(crate) fn table(self) -> (&'static str, &'static str) {
        match self {
            Assignment::DhcpNetwork => ("network_dhcp_agents", "network_id"),
            Assignment::L3Router => ("router_l3_agents", "router_id"),
        }
    }
}

/// A project's auto-allocated topology (`auto-allocated-topology`): the network it was
/// given and the router that connects it to the default external network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoAllocation {
    pub project_id: String,
    pub network_id: String,
    pub router_id: String,
}

/// Operations inside one transaction. Methods are named resource-first.
pub trait Tx {
    /// The document of one resource.
    fn doc_get(&mut self, resource: Resource, id: &str) -> Result<Option<String>, StoreError>;
    /// Documents matching the index filter, ordered by id.
    fn doc_list(&mut self, resource: Resource, filter: &IndexFilter) -> Result<Vec<String>, StoreError>;
    /// Inserts a new resource row.
    fn doc_insert(&mut self, resource: Resource, doc: &Doc) -> Result<(), StoreError>;
    /// Replaces a resource row; false when it does not exist.
    fn doc_update(&mut self, resource: Resource, doc: &Doc) -> Result<bool, StoreError>;
    /// Deletes a resource row; false when it does not exist.
    fn doc_delete(&mut self, resource: Resource, id: &str) -> Result<bool, StoreError>;
    /// Number of rows matching the index filter.
    fn doc_count(&mut self, resource: Resource, filter: &IndexFilter) -> Result<u64, StoreError>;

    /// Addresses allocated on a subnet.
    fn ip_allocation_list_by_subnet(&mut self, subnet_id: &str) -> Result<Vec<IpAllocation>, StoreError>;
    /// Records an allocation; [`StoreError::UniqueViolation`] if the address is taken.
    fn ip_allocation_insert(&mut self, alloc: &IpAllocation) -> Result<(), StoreError>;
    /// Releases every address of a port.
    fn ip_allocation_delete_by_port(&mut self, port_id: &str) -> Result<(), StoreError>;
    /// Releases one address.
    fn ip_allocation_delete(&mut self, subnet_id: &str, ip_address: &str) -> Result<(), StoreError>;
    /// Number of allocations on a subnet whose port's owner is not in `except_owners`.
    fn ip_allocation_count_by_subnet(&mut self, subnet_id: &str, except_owners: &[&str]) -> Result<u64, StoreError>;

    /// Segmentation ids in use for a type and physical network.
    fn segment_ids_in_use(
        &mut self,
        network_type: &str,
        physical_network: Option<&str>,
    ) -> Result<Vec<u32>, StoreError>;
    /// Records a segment; [`StoreError::UniqueViolation`] if its id is taken.
    fn segment_insert(&mut self, segment: &Segment) -> Result<(), StoreError>;
    /// Segments of a network.
    fn segment_list_by_network(&mut self, network_id: &str) -> Result<Vec<Segment>, StoreError>;
    /// Frees the segments of a network.
    fn segment_delete_by_network(&mut self, network_id: &str) -> Result<(), StoreError>;

    /// Appends to the change feed; returns the new sequence number. The backend publishes
    /// the highest committed sequence to [`crate::Store::changes`] watchers.
    fn change_record(
        &mut self,
        resource: Resource,
        id: &str,
        op: ChangeOp,
        project_id: &str,
    ) -> Result<u64, StoreError>;
    /// The latest sequence number (0 when empty).
    fn change_latest(&mut self) -> Result<u64, StoreError>;
    /// Drops all but the newest `keep` changes; returns how many were dropped. Agents read
    /// whole states, never history, so only the sequence itself must survive (it does:
    /// sequences are never reused).
    fn change_compact(&mut self, keep: u64) -> Result<u64, StoreError>;
    /// Appends a change of an agent (its registration, liveness or assignments), which is
    /// not an API resource and belongs to no project.
    fn change_record_agent(&mut self, id: &str, op: ChangeOp) -> Result<u64, StoreError>;
    /// Appends a change of something that is neither a resource nor an agent and belongs to
    /// no project (a revocation, a key rotation), so other servers hear of it.
    fn change_record_kind(&mut self, kind: ChangeKind, id: &str, op: ChangeOp) -> Result<u64, StoreError>;

    /// Records a question for its host and a change of kind `HostQuestion` whose id is the
    /// host (what wakes that host's question poll); returns the change's sequence.
    fn host_question_insert(&mut self, q: &HostQuestionRow) -> Result<u64, StoreError>;
    /// A host's unanswered questions, oldest first, at most `limit`.
    fn host_question_pending(&mut self, host: &str, limit: u64) -> Result<Vec<HostQuestionRow>, StoreError>;
    /// One question, answered or not.
    fn host_question_get(&mut self, id: &str) -> Result<Option<HostQuestionRow>, StoreError>;
    /// Records the answer to a pending question of `host` and a change of kind `HostAnswer`
    /// whose id is the question's; false when `host` has no such pending question.
    fn host_question_answer(&mut self, id: &str, host: &str, answer: &str, at_ms: i64) -> Result<bool, StoreError>;
    /// Deletes the questions created before `before_ms` and those named in `ids`; returns
    /// how many went.
    fn host_question_delete(&mut self, before_ms: i64, ids: &[String]) -> Result<u64, StoreError>;

    /// One agent by id.
    fn agent_get(&mut self, id: &str) -> Result<Option<AgentRow>, StoreError>;
    /// The agent of a type on a host.
    fn agent_find(&mut self, agent_type: &str, host: &str) -> Result<Option<AgentRow>, StoreError>;
    /// Every agent, by id.
    fn agent_list(&mut self) -> Result<Vec<AgentRow>, StoreError>;
    /// Inserts or replaces (by id) an agent.
    fn agent_upsert(&mut self, agent: &AgentRow) -> Result<(), StoreError>;
    /// Deletes an agent; false when it does not exist.
    fn agent_delete(&mut self, id: &str) -> Result<bool, StoreError>;

    /// Every (resource, agent) assignment of a kind, ordered.
    fn assignment_list(&mut self, kind: Assignment) -> Result<Vec<(String, String)>, StoreError>;
    /// Assigns a resource to an agent; false when it already was.
    fn assignment_add(&mut self, kind: Assignment, resource_id: &str, agent_id: &str) -> Result<bool, StoreError>;
    /// Takes a resource from an agent; false when it was not assigned.
    fn assignment_remove(&mut self, kind: Assignment, resource_id: &str, agent_id: &str) -> Result<bool, StoreError>;
    /// Ports using a security group.
    fn port_security_group_ports(&mut self, security_group_id: &str) -> Result<Vec<String>, StoreError>;
    /// Changes after `seq` (at most `limit`), oldest first.
    fn change_list_since(&mut self, seq: u64, limit: u64) -> Result<Vec<Change>, StoreError>;

    /// Records (or replaces) a port's binding.
    fn port_binding_set(&mut self, binding: &PortBinding) -> Result<(), StoreError>;
    /// Forgets a port's binding (unbound).
    fn port_binding_clear(&mut self, port_id: &str) -> Result<(), StoreError>;
    /// Bindings to one host (failed ones too), by port id.
    fn port_binding_list_by_host(&mut self, host: &str) -> Result<Vec<PortBinding>, StoreError>;
    /// Successful bindings of ports on one network, by port id.
    fn port_binding_list_by_network(&mut self, network_id: &str) -> Result<Vec<PortBinding>, StoreError>;
    /// A port's binding row (its ACTIVE binding's host and segment, or why it failed).
    fn port_binding_get(&mut self, port_id: &str) -> Result<Option<PortBinding>, StoreError>;
    /// Records a port's inactive binding on a host; [`StoreError::UniqueViolation`] when
    /// the port has one there already.
    fn port_inactive_binding_insert(&mut self, binding: &InactiveBinding) -> Result<(), StoreError>;
    /// A port's inactive binding on one host.
    fn port_inactive_binding_get(&mut self, port_id: &str, host: &str) -> Result<Option<InactiveBinding>, StoreError>;
    /// A port's inactive bindings, by host.
    fn port_inactive_binding_list(&mut self, port_id: &str) -> Result<Vec<InactiveBinding>, StoreError>;
    /// Inactive bindings on one host, by port id.
    fn port_inactive_binding_list_by_host(&mut self, host: &str) -> Result<Vec<InactiveBinding>, StoreError>;
    /// Records whether the host's agent has the port wired; false when there is no such binding.
    fn port_inactive_binding_set_wired(&mut self, port_id: &str, host: &str, wired: bool) -> Result<bool, StoreError>;
    /// Forgets a port's inactive binding on a host; false when there was none.
    fn port_inactive_binding_delete(&mut self, port_id: &str, host: &str) -> Result<bool, StoreError>;

    /// A domain by id.
    fn domain_get(&mut self, id: &str) -> Result<Option<Domain>, StoreError>;
    /// A domain by (unique) name.
    fn domain_get_by_name(&mut self, name: &str) -> Result<Option<Domain>, StoreError>;
    /// Every domain.
    fn domain_list(&mut self) -> Result<Vec<Domain>, StoreError>;
    /// Records a domain.
    fn domain_insert(&mut self, d: &Domain) -> Result<(), StoreError>;

    /// A project by id.
    fn project_get(&mut self, id: &str) -> Result<Option<Project>, StoreError>;
    /// A project by name within a domain.
    fn project_get_by_name(&mut self, domain_id: &str, name: &str) -> Result<Option<Project>, StoreError>;
    /// Projects, optionally by name.
    fn project_list(&mut self, name: Option<&str>) -> Result<Vec<Project>, StoreError>;
    /// Records a project; [`StoreError::UniqueViolation`] on a duplicate name.
    fn project_insert(&mut self, p: &Project) -> Result<(), StoreError>;
    /// Deletes a project (and its role assignments).
    fn project_delete(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Rewrites a project's name, description and enabled flag; false when it does not
    /// exist, [`StoreError::UniqueViolation`] on a duplicate name.
    fn project_update(&mut self, p: &Project) -> Result<bool, StoreError>;

    /// A user by id.
    fn user_get(&mut self, id: &str) -> Result<Option<User>, StoreError>;
    /// A user by name within a domain.
    fn user_get_by_name(&mut self, domain_id: &str, name: &str) -> Result<Option<User>, StoreError>;
    /// Users, optionally by name.
    fn user_list(&mut self, name: Option<&str>) -> Result<Vec<User>, StoreError>;
    /// Records a user; [`StoreError::UniqueViolation`] on a duplicate name.
    fn user_insert(&mut self, u: &User) -> Result<(), StoreError>;
    /// Deletes a user (and its role assignments).
    fn user_delete(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Rewrites a user's name, password hash, enabled flag and default project; false when
    /// it does not exist, [`StoreError::UniqueViolation`] on a duplicate name.
    fn user_update(&mut self, u: &User) -> Result<bool, StoreError>;

    /// A role by id.
    fn role_get(&mut self, id: &str) -> Result<Option<Role>, StoreError>;
    /// A role by name.
    fn role_get_by_name(&mut self, name: &str) -> Result<Option<Role>, StoreError>;
    /// Roles, optionally by name.
    fn role_list(&mut self, name: Option<&str>) -> Result<Vec<Role>, StoreError>;
    /// Records a role.
    fn role_insert(&mut self, r: &Role) -> Result<(), StoreError>;

    /// Grants a role on a project (idempotent).
    fn role_assignment_insert(&mut self, project_id: &str, user_id: &str, role_id: &str) -> Result<(), StoreError>;
    /// Revokes a role on a project; false when it was not granted.
    fn role_assignment_delete(&mut self, project_id: &str, user_id: &str, role_id: &str) -> Result<bool, StoreError>;
    /// The roles a user holds on a project.
    fn role_assignment_roles(&mut self, project_id: &str, user_id: &str) -> Result<Vec<Role>, StoreError>;

    /// The roles a user holds on a domain or the system (projects: [`Tx::role_assignment_roles`]).
    fn scoped_assignment_roles(&mut self, target: &AssignmentTarget, user_id: &str) -> Result<Vec<Role>, StoreError>;
    /// Grants a role on a domain or the system (idempotent).
    fn scoped_assignment_insert(&mut self, a: &RoleAssignment) -> Result<(), StoreError>;
    /// Revokes a role on a domain or the system; false when it was not granted.
    fn scoped_assignment_delete(&mut self, a: &RoleAssignment) -> Result<bool, StoreError>;
    /// Every role assignment (projects, domains, system), optionally of one user and/or role.
    fn role_assignment_list(
        &mut self,
        user_id: Option<&str>,
        role_id: Option<&str>,
    ) -> Result<Vec<RoleAssignment>, StoreError>;

    /// A user's application credentials, optionally by name, oldest name first.
    fn app_cred_list(&mut self, user_id: &str, name: Option<&str>) -> Result<Vec<AppCredential>, StoreError>;
    /// One application credential.
    fn app_cred_get(&mut self, id: &str) -> Result<Option<AppCredential>, StoreError>;
    /// Records an application credential and its roles; [`StoreError::UniqueViolation`] on
    /// a duplicate name for the user.
    fn app_cred_insert(&mut self, c: &AppCredential) -> Result<(), StoreError>;
    /// Deletes an application credential; false when it does not exist.
    fn app_cred_delete(&mut self, id: &str) -> Result<bool, StoreError>;
    /// How many application credentials a user has.
    fn app_cred_count(&mut self, user_id: &str) -> Result<u64, StoreError>;
    /// Ids of a user's application credentials on a project.
    fn app_cred_ids_on_project(&mut self, user_id: &str, project_id: &str) -> Result<Vec<String>, StoreError>;

    /// Catalog services, optionally of one type.
    fn service_list(&mut self, kind: Option<&str>) -> Result<Vec<Service>, StoreError>;
    /// One service.
    fn service_get(&mut self, id: &str) -> Result<Option<Service>, StoreError>;
    /// Records a service.
    fn service_insert(&mut self, s: &Service) -> Result<(), StoreError>;
    /// Rewrites a service; false when it does not exist.
    fn service_update(&mut self, s: &Service) -> Result<bool, StoreError>;
    /// Deletes a service and its endpoints; false when it does not exist.
    fn service_delete(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Catalog endpoints.
    fn endpoint_list(&mut self) -> Result<Vec<Endpoint>, StoreError>;
    /// One endpoint.
    fn endpoint_get(&mut self, id: &str) -> Result<Option<Endpoint>, StoreError>;
    /// Records an endpoint.
    fn endpoint_insert(&mut self, e: &Endpoint) -> Result<(), StoreError>;
    /// Rewrites an endpoint; false when it does not exist.
    fn endpoint_update(&mut self, e: &Endpoint) -> Result<bool, StoreError>;
    /// Deletes an endpoint; false when it does not exist.
    fn endpoint_delete(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Marks the default catalog seeded; false when it already was.
    fn catalog_mark_seeded(&mut self) -> Result<bool, StoreError>;

    /// Records a revoked token.
    fn revoked_token_insert(&mut self, audit_id: &str, expires_at: i64) -> Result<(), StoreError>;
    /// Revoked tokens not yet expired at `now`.
    fn revoked_token_list(&mut self, now: i64) -> Result<Vec<String>, StoreError>;
    /// When a revoked token expires, if it is revoked.
    fn revoked_token_expiry(&mut self, audit_id: &str) -> Result<Option<i64>, StoreError>;
    /// The token signing keys kept in the database, by id.
    fn signing_key_list(&mut self) -> Result<Vec<SigningKey>, StoreError>;
    /// Replaces every signing key with `keys` (a rotation, or the first keys).
    fn signing_key_replace(&mut self, keys: &[SigningKey]) -> Result<(), StoreError>;
    /// Revoked tokens not yet expired at `now`, with their expiry.
    fn revoked_token_list_expiring(&mut self, now: i64) -> Result<Vec<(String, i64)>, StoreError>;
    /// Records a revocation event (its `id` is ignored); returns the id assigned.
    fn revocation_event_insert(&mut self, e: &RevocationRecord) -> Result<i64, StoreError>;
    /// Events with an id above `after_id` still in force at `now` (Unix seconds), by id.
    fn revocation_event_list(&mut self, after_id: i64, now: i64) -> Result<Vec<RevocationRecord>, StoreError>;
    /// Deletes revocation events and revoked tokens that no unexpired token can match at
    /// `now` (Unix seconds); returns how many rows went.
    fn revocation_prune(&mut self, now: i64) -> Result<u64, StoreError>;

    /// Quota overrides, of one project or all.
    fn quota_list(&mut self, project_id: Option<&str>) -> Result<Vec<QuotaLimit>, StoreError>;
    /// Sets one override.
    fn quota_set(&mut self, q: &QuotaLimit) -> Result<(), StoreError>;
    /// Drops every override of a project.
    fn quota_delete_project(&mut self, project_id: &str) -> Result<(), StoreError>;

    /// Records an RBAC policy; [`StoreError::UniqueViolation`] for a duplicate.
    fn rbac_policy_insert(&mut self, p: &RbacPolicy) -> Result<(), StoreError>;
    /// One RBAC policy.
    fn rbac_policy_get(&mut self, id: &str) -> Result<Option<RbacPolicy>, StoreError>;
    /// RBAC policies, of one object or all.
    fn rbac_policy_list(&mut self, object_id: Option<&str>) -> Result<Vec<RbacPolicy>, StoreError>;
    /// Object ids that `project` (or everyone, `*`) may use with `action`.
    fn rbac_objects_for(&mut self, object_type: &str, action: &str, project: &str) -> Result<Vec<String>, StoreError>;
    /// Changes a policy's target.
    fn rbac_policy_update_target(&mut self, id: &str, target_project: &str) -> Result<bool, StoreError>;
    /// Deletes one policy.
    fn rbac_policy_delete(&mut self, id: &str) -> Result<bool, StoreError>;
    /// Deletes every policy on an object.
    fn rbac_policy_delete_by_object(&mut self, object_id: &str) -> Result<(), StoreError>;

    /// The port forwardings of a floating IP: their records (JSON), by id.
    fn port_forwarding_list(&mut self, floatingip_id: &str) -> Result<Vec<String>, StoreError>;
    /// Records a port forwarding of a floating IP, or replaces its record.
    fn port_forwarding_put(&mut self, id: &str, floatingip_id: &str, body: &str) -> Result<(), StoreError>;
    /// Deletes one port forwarding.
    fn port_forwarding_delete(&mut self, id: &str) -> Result<bool, StoreError>;

    /// Replaces the security groups a port uses.
    fn port_security_group_set(&mut self, port_id: &str, groups: &[String]) -> Result<(), StoreError>;
    /// Number of ports using a security group.
    fn port_security_group_count(&mut self, security_group_id: &str) -> Result<u64, StoreError>;

    /// Associates a service profile with a flavor (a repeat is a unique violation; an
    /// unknown flavor or profile a foreign-key one).
    fn flavor_profile_add(&mut self, flavor_id: &str, profile_id: &str) -> Result<(), StoreError>;
    /// Removes one association; whether it existed.
    fn flavor_profile_remove(&mut self, flavor_id: &str, profile_id: &str) -> Result<bool, StoreError>;
    /// The profiles associated with a flavor, in the order they were associated.
    fn flavor_profile_list(&mut self, flavor_id: &str) -> Result<Vec<String>, StoreError>;
    /// How many flavors a profile is associated with.
    fn flavor_profile_count_by_profile(&mut self, profile_id: &str) -> Result<u64, StoreError>;
    /// Records the flavor a router was created with (the row goes with the router).
    fn router_flavor_set(&mut self, router_id: &str, flavor_id: &str) -> Result<(), StoreError>;
    /// How many routers were created with a flavor.
    fn router_flavor_count(&mut self, flavor_id: &str) -> Result<u64, StoreError>;
    /// The project's auto-allocated topology, if it has one.
    fn auto_allocation_get(&mut self, project_id: &str) -> Result<Option<AutoAllocation>, StoreError>;
    /// Records a project's topology; [`StoreError::UniqueViolation`] if it has one.
    fn auto_allocation_insert(&mut self, a: &AutoAllocation) -> Result<(), StoreError>;
    /// Forgets the project's topology (its resources are the caller's to delete).
    fn auto_allocation_delete(&mut self, project_id: &str) -> Result<bool, StoreError>;
    /// Forgets the topology whose network this is (the network is being deleted).
    fn auto_allocation_delete_by_network(&mut self, network_id: &str) -> Result<(), StoreError>;
    /// The deployment's default external network, if one is set.
    fn default_external_network_get(&mut self) -> Result<Option<String>, StoreError>;
    /// Sets (`Some`) or clears (`None`) the default external network.
    fn default_external_network_set(&mut self, network_id: Option<&str>) -> Result<(), StoreError>;
}
