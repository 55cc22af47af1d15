//! [`Tx`] over one PostgreSQL transaction. The SQL is the SQLite backend's, written with
//! `?N` placeholders and rewritten to `$N` once per statement (`sql::dollar`); prepared
//! statements are cached per connection.
//!
//! Every method is implemented; `tests/backends.rs` runs the store's tests on SQLite and on
//! PostgreSQL alike.

mod access;
mod agents;
mod documents;
mod feed;
mod identity;
mod inactive_bindings;
mod keystone;
mod ledger;
mod ports;
mod questions;
mod records;
mod sql;

use sql::Param;
pub(crate) use sql::Statements;

use crate::identity::{
    AppCredential, AssignmentTarget, Domain, Endpoint, Project, QuotaLimit, RbacPolicy, RevocationRecord, Role,
    RoleAssignment, Service, SigningKey, User,
};
use crate::{
    AgentRow, Assignment, AutoAllocation, Change, ChangeKind, ChangeOp, Doc, HostQuestionRow, InactiveBinding,
    IndexFilter, IpAllocation, PortBinding, Segment, StoreError, Tx,
};
use neutrino_model::Resource;
use postgres::Transaction;

/// A transaction in progress (the caller began it and commits or rolls it back).
pub(crate) struct PgTx<'t, 'c> {
    txn: &'t mut Transaction<'c>,
    statements: &'t mut Statements,
    /// The highest change sequence this transaction recorded, for the commit's notification.
    pub(crate) last_change: u64,
}

impl Tx for PgTx<'_, '_> {
    fn doc_get(&mut self, resource: Resource, id: &str) -> Result<Option<String>, StoreError> {
        documents::get(self, resource, id)
    }

    fn doc_list(&mut self, resource: Resource, filter: &IndexFilter) -> Result<Vec<String>, StoreError> {
        documents::list(self, resource, filter)
    }

    fn doc_insert(&mut self, resource: Resource, doc: &Doc) -> Result<(), StoreError> {
        documents::insert(self, resource, doc)
    }

    fn doc_update(&mut self, resource: Resource, doc: &Doc) -> Result<bool, StoreError> {
        documents::update(self, resource, doc)
    }

    fn doc_delete(&mut self, resource: Resource, id: &str) -> Result<bool, StoreError> {
        documents::delete(self, resource, id)
    }

    fn doc_count(&mut self, resource: Resource, filter: &IndexFilter) -> Result<u64, StoreError> {
        documents::count(self, resource, filter)
    }

    fn ip_allocation_list_by_subnet(&mut self, subnet_id: &str) -> Result<Vec<IpAllocation>, StoreError> {
        ledger::ip_allocation_list_by_subnet(self, subnet_id)
    }

    fn ip_allocation_insert(&mut self, alloc: &IpAllocation) -> Result<(), StoreError> {
        ledger::ip_allocation_insert(self, alloc)
    }

    fn ip_allocation_delete_by_port(&mut self, port_id: &str) -> Result<(), StoreError> {
        ledger::ip_allocation_delete_by_port(self, port_id)
    }

    fn ip_allocation_delete(&mut self, subnet_id: &str, ip_address: &str) -> Result<(), StoreError> {
        ledger::ip_allocation_delete(self, subnet_id, ip_address)
    }

    fn ip_allocation_count_by_subnet(&mut self, subnet_id: &str, except_owners: &[&str]) -> Result<u64, StoreError> {
        ledger::ip_allocation_count_by_subnet(self, subnet_id, except_owners)
    }

    fn segment_ids_in_use(
        &mut self,
        network_type: &str,
        physical_network: Option<&str>,
    ) -> Result<Vec<u32>, StoreError> {
        ledger::segment_ids_in_use(self, network_type, physical_network)
    }

    fn segment_insert(&mut self, segment: &Segment) -> Result<(), StoreError> {
        ledger::segment_insert(self, segment)
    }

    fn segment_list_by_network(&mut self, network_id: &str) -> Result<Vec<Segment>, StoreError> {
        ledger::segment_list_by_network(self, network_id)
    }

    fn segment_delete_by_network(&mut self, network_id: &str) -> Result<(), StoreError> {
        ledger::segment_delete_by_network(self, network_id)
    }

    fn change_record(
        &mut self,
        resource: Resource,
        id: &str,
        op: ChangeOp,
        project_id: &str,
    ) -> Result<u64, StoreError> {
        feed::record(self, resource.into(), id, op, project_id)
    }

    fn change_latest(&mut self) -> Result<u64, StoreError> {
        feed::latest(self)
    }

    fn change_compact(&mut self, keep: u64) -> Result<u64, StoreError> {
        feed::compact(self, keep)
    }

    fn change_record_agent(&mut self, id: &str, op: ChangeOp) -> Result<u64, StoreError> {
        feed::record(self, ChangeKind::Agent, id, op, "")
    }

    fn change_record_kind(&mut self, kind: ChangeKind, id: &str, op: ChangeOp) -> Result<u64, StoreError> {
        feed::record(self, kind, id, op, "")
    }

    fn port_security_group_ports(&mut self, security_group_id: &str) -> Result<Vec<String>, StoreError> {
        ports::port_security_group_ports(self, security_group_id)
    }

    fn change_list_since(&mut self, seq: u64, limit: u64) -> Result<Vec<Change>, StoreError> {
        feed::list_since(self, seq, limit)
    }

    fn port_binding_set(&mut self, binding: &PortBinding) -> Result<(), StoreError> {
        ports::port_binding_set(self, binding)
    }

    fn port_binding_clear(&mut self, port_id: &str) -> Result<(), StoreError> {
        ports::port_binding_clear(self, port_id)
    }

    fn port_binding_list_by_host(&mut self, host: &str) -> Result<Vec<PortBinding>, StoreError> {
        ports::port_binding_list_by_host(self, host)
    }

    fn port_binding_list_by_network(&mut self, network_id: &str) -> Result<Vec<PortBinding>, StoreError> {
        ports::port_binding_list_by_network(self, network_id)
    }

    fn port_binding_get(&mut self, port_id: &str) -> Result<Option<PortBinding>, StoreError> {
        ports::port_binding_get(self, port_id)
    }

    fn port_security_group_set(&mut self, port_id: &str, groups: &[String]) -> Result<(), StoreError> {
        ports::port_security_group_set(self, port_id, groups)
    }

    fn port_security_group_count(&mut self, security_group_id: &str) -> Result<u64, StoreError> {
        ports::port_security_group_count(self, security_group_id)
    }

    fn revoked_token_insert(&mut self, audit_id: &str, expires_at: i64) -> Result<(), StoreError> {
        access::revoked_token_insert(self, audit_id, expires_at)
    }

    fn revoked_token_list(&mut self, now: i64) -> Result<Vec<String>, StoreError> {
        Ok(access::revoked_token_list_expiring(self, now)?.into_iter().map(|(id, _)| id).collect())
    }

    fn revoked_token_list_expiring(&mut self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        access::revoked_token_list_expiring(self, now)
    }

    fn revoked_token_expiry(&mut self, audit_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.one("SELECT expires_at FROM revoked_tokens WHERE audit_id = ?1", &[&audit_id])?.map(|r| r.get(0)))
    }

    fn signing_key_list(&mut self) -> Result<Vec<SigningKey>, StoreError> {
        access::signing_key_list(self)
    }

    fn signing_key_replace(&mut self, keys: &[SigningKey]) -> Result<(), StoreError> {
        access::signing_key_replace(self, keys)
    }

    fn revocation_event_insert(&mut self, e: &RevocationRecord) -> Result<i64, StoreError> {
        access::revocation_event_insert(self, e)
    }

    fn revocation_event_list(&mut self, after_id: i64, now: i64) -> Result<Vec<RevocationRecord>, StoreError> {
        access::revocation_event_list(self, after_id, now)
    }

    fn revocation_prune(&mut self, now: i64) -> Result<u64, StoreError> {
        access::revocation_prune(self, now)
    }

    fn quota_list(&mut self, project_id: Option<&str>) -> Result<Vec<QuotaLimit>, StoreError> {
        access::quota_list(self, project_id)
    }

    fn quota_set(&mut self, q: &QuotaLimit) -> Result<(), StoreError> {
        access::quota_set(self, q)
    }

    fn quota_delete_project(&mut self, project_id: &str) -> Result<(), StoreError> {
        access::quota_delete_project(self, project_id)
    }

    fn rbac_policy_insert(&mut self, p: &RbacPolicy) -> Result<(), StoreError> {
        access::rbac_policy_insert(self, p)
    }

    fn rbac_policy_get(&mut self, id: &str) -> Result<Option<RbacPolicy>, StoreError> {
        access::rbac_policy_get(self, id)
    }

    fn rbac_policy_list(&mut self, object_id: Option<&str>) -> Result<Vec<RbacPolicy>, StoreError> {
        access::rbac_policy_list(self, object_id)
    }

    fn rbac_objects_for(&mut self, object_type: &str, action: &str, project: &str) -> Result<Vec<String>, StoreError> {
        access::rbac_objects_for(self, object_type, action, project)
    }

    fn rbac_policy_update_target(&mut self, id: &str, target_project: &str) -> Result<bool, StoreError> {
        access::rbac_policy_update_target(self, id, target_project)
    }

    fn rbac_policy_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        access::rbac_policy_delete(self, id)
    }

    fn rbac_policy_delete_by_object(&mut self, object_id: &str) -> Result<(), StoreError> {
        access::rbac_policy_delete_by_object(self, object_id)
    }

    fn host_question_insert(&mut self, q: &HostQuestionRow) -> Result<u64, StoreError> {
        questions::insert(self, q)
    }

    fn host_question_pending(&mut self, host: &str, limit: u64) -> Result<Vec<HostQuestionRow>, StoreError> {
        questions::pending(self, host, limit)
    }

    fn host_question_get(&mut self, id: &str) -> Result<Option<HostQuestionRow>, StoreError> {
        questions::get(self, id)
    }

    fn host_question_answer(&mut self, id: &str, host: &str, answer: &str, at_ms: i64) -> Result<bool, StoreError> {
        questions::answer(self, id, host, answer, at_ms)
    }

    fn host_question_delete(&mut self, before_ms: i64, ids: &[String]) -> Result<u64, StoreError> {
        questions::delete(self, before_ms, ids)
    }

    fn agent_get(&mut self, id: &str) -> Result<Option<AgentRow>, StoreError> {
        agents::agent_get(self, id)
    }

    fn agent_find(&mut self, agent_type: &str, host: &str) -> Result<Option<AgentRow>, StoreError> {
        agents::agent_find(self, agent_type, host)
    }

    fn agent_list(&mut self) -> Result<Vec<AgentRow>, StoreError> {
        agents::agent_list(self)
    }

    fn agent_upsert(&mut self, agent: &AgentRow) -> Result<(), StoreError> {
        agents::agent_upsert(self, agent)
    }

    fn agent_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        agents::agent_delete(self, id)
    }

    fn assignment_list(&mut self, kind: Assignment) -> Result<Vec<(String, String)>, StoreError> {
        agents::assignment_list(self, kind)
    }

    fn assignment_add(&mut self, kind: Assignment, resource_id: &str, agent_id: &str) -> Result<bool, StoreError> {
        agents::assignment_add(self, kind, resource_id, agent_id)
    }

    fn assignment_remove(&mut self, kind: Assignment, resource_id: &str, agent_id: &str) -> Result<bool, StoreError> {
        agents::assignment_remove(self, kind, resource_id, agent_id)
    }

    fn port_inactive_binding_insert(&mut self, binding: &InactiveBinding) -> Result<(), StoreError> {
        inactive_bindings::insert(self, binding)
    }

    fn port_inactive_binding_get(&mut self, port_id: &str, host: &str) -> Result<Option<InactiveBinding>, StoreError> {
        inactive_bindings::get(self, port_id, host)
    }

    fn port_inactive_binding_list(&mut self, port_id: &str) -> Result<Vec<InactiveBinding>, StoreError> {
        inactive_bindings::list_by_port(self, port_id)
    }

    fn port_inactive_binding_list_by_host(&mut self, host: &str) -> Result<Vec<InactiveBinding>, StoreError> {
        inactive_bindings::list_by_host(self, host)
    }

    fn port_inactive_binding_set_wired(&mut self, port_id: &str, host: &str, wired: bool) -> Result<bool, StoreError> {
        inactive_bindings::set_wired(self, port_id, host, wired)
    }

    fn port_inactive_binding_delete(&mut self, port_id: &str, host: &str) -> Result<bool, StoreError> {
        inactive_bindings::delete(self, port_id, host)
    }

    fn port_forwarding_list(&mut self, floatingip_id: &str) -> Result<Vec<String>, StoreError> {
        records::port_forwarding_list(self, floatingip_id)
    }

    fn port_forwarding_put(&mut self, id: &str, floatingip_id: &str, body: &str) -> Result<(), StoreError> {
        records::port_forwarding_put(self, id, floatingip_id, body)
    }

    fn port_forwarding_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        records::port_forwarding_delete(self, id)
    }

    fn flavor_profile_add(&mut self, flavor_id: &str, profile_id: &str) -> Result<(), StoreError> {
        records::flavor_profile_add(self, flavor_id, profile_id)
    }

    fn flavor_profile_remove(&mut self, flavor_id: &str, profile_id: &str) -> Result<bool, StoreError> {
        records::flavor_profile_remove(self, flavor_id, profile_id)
    }

    fn flavor_profile_list(&mut self, flavor_id: &str) -> Result<Vec<String>, StoreError> {
        records::flavor_profile_list(self, flavor_id)
    }

    fn flavor_profile_count_by_profile(&mut self, profile_id: &str) -> Result<u64, StoreError> {
        records::flavor_profile_count_by_profile(self, profile_id)
    }

    fn router_flavor_set(&mut self, router_id: &str, flavor_id: &str) -> Result<(), StoreError> {
        records::router_flavor_set(self, router_id, flavor_id)
    }

    fn router_flavor_count(&mut self, flavor_id: &str) -> Result<u64, StoreError> {
        records::router_flavor_count(self, flavor_id)
    }

    fn auto_allocation_get(&mut self, project_id: &str) -> Result<Option<AutoAllocation>, StoreError> {
        records::auto_allocation_get(self, project_id)
    }

    fn auto_allocation_insert(&mut self, a: &AutoAllocation) -> Result<(), StoreError> {
        records::auto_allocation_insert(self, a)
    }

    fn auto_allocation_delete(&mut self, project_id: &str) -> Result<bool, StoreError> {
        records::auto_allocation_delete(self, project_id)
    }

    fn auto_allocation_delete_by_network(&mut self, network_id: &str) -> Result<(), StoreError> {
        records::auto_allocation_delete_by_network(self, network_id)
    }

    fn default_external_network_get(&mut self) -> Result<Option<String>, StoreError> {
        records::default_external_network_get(self)
    }

    fn default_external_network_set(&mut self, network_id: Option<&str>) -> Result<(), StoreError> {
        records::default_external_network_set(self, network_id)
    }

    fn domain_get(&mut self, id: &str) -> Result<Option<Domain>, StoreError> {
        identity::domain_get(self, id)
    }

    fn domain_get_by_name(&mut self, name: &str) -> Result<Option<Domain>, StoreError> {
        identity::domain_get_by_name(self, name)
    }

    fn domain_list(&mut self) -> Result<Vec<Domain>, StoreError> {
        identity::domain_list(self)
    }

    fn domain_insert(&mut self, d: &Domain) -> Result<(), StoreError> {
        identity::domain_insert(self, d)
    }

    fn project_get(&mut self, id: &str) -> Result<Option<Project>, StoreError> {
        identity::project_get(self, id)
    }

    fn project_get_by_name(&mut self, domain_id: &str, name: &str) -> Result<Option<Project>, StoreError> {
        identity::project_get_by_name(self, domain_id, name)
    }

    fn project_list(&mut self, name: Option<&str>) -> Result<Vec<Project>, StoreError> {
        identity::project_list(self, name)
    }

    fn project_insert(&mut self, p: &Project) -> Result<(), StoreError> {
        identity::project_insert(self, p)
    }

    fn project_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        identity::project_delete(self, id)
    }

    fn project_update(&mut self, p: &Project) -> Result<bool, StoreError> {
        identity::project_update(self, p)
    }

    fn user_get(&mut self, id: &str) -> Result<Option<User>, StoreError> {
        identity::user_get(self, id)
    }

    fn user_get_by_name(&mut self, domain_id: &str, name: &str) -> Result<Option<User>, StoreError> {
        identity::user_get_by_name(self, domain_id, name)
    }

    fn user_list(&mut self, name: Option<&str>) -> Result<Vec<User>, StoreError> {
        identity::user_list(self, name)
    }

    fn user_insert(&mut self, u: &User) -> Result<(), StoreError> {
        identity::user_insert(self, u)
    }

    fn user_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        identity::user_delete(self, id)
    }

    fn user_update(&mut self, u: &User) -> Result<bool, StoreError> {
        identity::user_update(self, u)
    }

    fn role_get(&mut self, id: &str) -> Result<Option<Role>, StoreError> {
        identity::role_get(self, id)
    }

    fn role_get_by_name(&mut self, name: &str) -> Result<Option<Role>, StoreError> {
        identity::role_get_by_name(self, name)
    }

    fn role_list(&mut self, name: Option<&str>) -> Result<Vec<Role>, StoreError> {
        identity::role_list(self, name)
    }

    fn role_insert(&mut self, r: &Role) -> Result<(), StoreError> {
        identity::role_insert(self, r)
    }

    fn role_assignment_insert(&mut self, project_id: &str, user_id: &str, role_id: &str) -> Result<(), StoreError> {
        identity::role_assignment_insert(self, project_id, user_id, role_id)
    }

    fn role_assignment_delete(&mut self, project_id: &str, user_id: &str, role_id: &str) -> Result<bool, StoreError> {
        identity::role_assignment_delete(self, project_id, user_id, role_id)
    }

    fn role_assignment_roles(&mut self, project_id: &str, user_id: &str) -> Result<Vec<Role>, StoreError> {
        identity::role_assignment_roles(self, project_id, user_id)
    }

    fn scoped_assignment_roles(&mut self, target: &AssignmentTarget, user_id: &str) -> Result<Vec<Role>, StoreError> {
        keystone::scoped_assignment_roles(self, target, user_id)
    }

    fn scoped_assignment_insert(&mut self, a: &RoleAssignment) -> Result<(), StoreError> {
        keystone::scoped_assignment_insert(self, a)
    }

    fn scoped_assignment_delete(&mut self, a: &RoleAssignment) -> Result<bool, StoreError> {
        keystone::scoped_assignment_delete(self, a)
    }

    fn role_assignment_list(
        &mut self,
        user_id: Option<&str>,
        role_id: Option<&str>,
    ) -> Result<Vec<RoleAssignment>, StoreError> {
        keystone::assignment_list(self, user_id, role_id)
    }

    fn app_cred_list(&mut self, user_id: &str, name: Option<&str>) -> Result<Vec<AppCredential>, StoreError> {
        keystone::app_cred_list(self, user_id, name)
    }

    fn app_cred_get(&mut self, id: &str) -> Result<Option<AppCredential>, StoreError> {
        keystone::app_cred_get(self, id)
    }

    fn app_cred_insert(&mut self, c: &AppCredential) -> Result<(), StoreError> {
        keystone::app_cred_insert(self, c)
    }

    fn app_cred_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        keystone::app_cred_delete(self, id)
    }

    fn app_cred_count(&mut self, user_id: &str) -> Result<u64, StoreError> {
        keystone::app_cred_count(self, user_id)
    }

    fn app_cred_ids_on_project(&mut self, user_id: &str, project_id: &str) -> Result<Vec<String>, StoreError> {
        keystone::app_cred_ids_on_project(self, user_id, project_id)
    }

    fn service_list(&mut self, kind: Option<&str>) -> Result<Vec<Service>, StoreError> {
        keystone::service_list(self, kind)
    }

    fn service_get(&mut self, id: &str) -> Result<Option<Service>, StoreError> {
        keystone::service_get(self, id)
    }

    fn service_insert(&mut self, s: &Service) -> Result<(), StoreError> {
        keystone::service_insert(self, s)
    }

    fn service_update(&mut self, s: &Service) -> Result<bool, StoreError> {
        keystone::service_update(self, s)
    }

    fn service_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        keystone::service_delete(self, id)
    }

    fn endpoint_list(&mut self) -> Result<Vec<Endpoint>, StoreError> {
        keystone::endpoint_list(self)
    }

    fn endpoint_get(&mut self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        keystone::endpoint_get(self, id)
    }

    fn endpoint_insert(&mut self, e: &Endpoint) -> Result<(), StoreError> {
        keystone::endpoint_insert(self, e)
    }

    fn endpoint_update(&mut self, e: &Endpoint) -> Result<bool, StoreError> {
        keystone::endpoint_update(self, e)
    }

    fn endpoint_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        keystone::endpoint_delete(self, id)
    }

    fn catalog_mark_seeded(&mut self) -> Result<bool, StoreError> {
        keystone::catalog_mark_seeded(self)
    }
}
