//! RBAC policies on subnet pools, address scopes, security groups and address groups
//! (`rbac-subnetpool`, `rbac-address-scope`, `rbac-security-groups`, `rbac-address-group`,
//! Neutron's `NeutronRbacObject`): only `access_as_shared`. A `*` policy is a pool's, scope's
//! or security group's `shared` flag (kept in step both ways, as for networks; an address
//! group keeps no flag); a targeted one lets that project see the object and use it
//! (allocate subnets from the pool, put its pools in the scope, put its ports in the
//! security group, name the address group in its rules). A policy the target depends on is
//! kept.

use super::sharing::{self, ADDRESS_GROUP, ADDRESS_SCOPE, SECURITY_GROUP, SUBNETPOOL};
use super::{load, subnet_alloc, RequestContext};
use neutrino_model::types::{AddressGroup, AddressScope, Port, SecurityGroup, SecurityGroupRule, SubnetPool};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, IndexFilter, Tx};
use std::collections::BTreeSet;

/// The owner and address scope of a pool, scope or group (`None` when it does not exist).
fn owner_of(tx: &mut dyn Tx, object_type: &str, id: &str) -> Result<Option<(String, Option<String>)>, ApiError> {
    Ok(match resource_of(object_type) {
        Resource::SubnetPool => {
            load::<SubnetPool>(tx, Resource::SubnetPool, id)?.map(|p| (p.project_id, p.address_scope_id))
        }
        Resource::SecurityGroup => {
            load::<SecurityGroup>(tx, Resource::SecurityGroup, id)?.map(|g| (g.project_id, None))
        }
        Resource::AddressGroup => load::<AddressGroup>(tx, Resource::AddressGroup, id)?.map(|g| (g.project_id, None)),
        _ => load::<AddressScope>(tx, Resource::AddressScope, id)?.map(|s| (s.project_id, None)),
    })
}

fn resource_of(object_type: &str) -> Resource {
    match object_type {
        SUBNETPOOL => Resource::SubnetPool,
        SECURITY_GROUP => Resource::SecurityGroup,
        ADDRESS_GROUP => Resource::AddressGroup,
        _ => Resource::AddressScope,
    }
}

/// `validate_rbac_policy_change` on create: the object is the caller's (or the caller an
/// admin), and a pool's address scope is shared with the target (`*` or by name).
pub(crate) fn check_create(
    tx: &mut dyn Tx,
    ctx: &RequestContext,
    object_type: &str,
    object_id: &str,
    target: &str,
) -> Result<(), ApiError> {
    let (owner, scope) = owner_of(tx, object_type, object_id)?
        .ok_or_else(|| ApiError::not_found(resource_of(object_type), object_id))?;
    if !ctx.is_admin && owner != ctx.project_id {
        return Err(ApiError::rbac_policy_on_unowned_object());
    }
    if let Some(scope_id) = scope {
        let shared = tx
            .rbac_policy_list(Some(&scope_id))?
            .iter()
            .any(|p| p.action == sharing::SHARED && (p.target_project == "*" || p.target_project == target));
        if !shared {
            return Err(ApiError::rbac_policy_init_error(
                object_id,
                "target project doesn't have access to associated address scope",
            ));
        }
    }
    Ok(())
}

/// `get_bound_project_ids`: the projects with subnets from the pool, pools in the scope, or
/// ports in the security group, security group rules naming the address group.
fn bound_projects(tx: &mut dyn Tx, object_type: &str, id: &str) -> Result<BTreeSet<String>, ApiError> {
    if object_type == SUBNETPOOL {
        return Ok(subnet_alloc::pool_subnets(tx, id)?.into_iter().map(|s| s.project_id).collect());
    }
    if object_type == SECURITY_GROUP {
        let ids = tx.port_security_group_ports(id)?;
        if ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let filter = IndexFilter { ids: Some(ids), ..Default::default() };
        let mut out = BTreeSet::new();
        for body in tx.doc_list(Resource::Port, &filter)? {
            out.insert(super::decode::<Port>(Resource::Port, id, &body)?.project_id);
        }
        return Ok(out);
    }
    if object_type == ADDRESS_GROUP {
        let users = IndexFilter { remote_address_group_ids: Some(vec![id.to_string()]), ..Default::default() };
        let mut out = BTreeSet::new();
        for body in tx.doc_list(Resource::SecurityGroupRule, &users)? {
            out.insert(super::decode::<SecurityGroupRule>(Resource::SecurityGroupRule, "?", &body)?.project_id);
        }
        return Ok(out);
    }
    let mut out = BTreeSet::new();
    for body in tx.doc_list(Resource::SubnetPool, &IndexFilter::default())? {
        let p: SubnetPool = super::decode(Resource::SubnetPool, "?", &body)?;
        if p.address_scope_id.as_deref() == Some(id) {
            out.insert(p.project_id);
        }
    }
    Ok(out)
}

/// `validate_rbac_policy_delete`: removing the share with `target` (a policy deleted, or
/// retargeted) is refused while that project still depends on it; a `*` share, while a
/// project with subnets (pools) is named by no other policy.
pub(crate) fn check_release(
    tx: &mut dyn Tx,
    object_type: &str,
    object_id: &str,
    target: &str,
    policy_id: &str,
) -> Result<(), ApiError> {
    let Some((owner, _)) = owner_of(tx, object_type, object_id)? else { return Ok(()) };
    if owner == target {
        return Ok(());
    }
    let bound = bound_projects(tx, object_type, object_id)?;
    let shares: Vec<_> = tx
        .rbac_policy_list(Some(object_id))?
        .into_iter()
        .filter(|p| p.action == sharing::SHARED && p.id != policy_id)
        .collect();
    let in_use = if target != "*" {
        !shares.iter().any(|p| p.target_project == "*") && bound.contains(target)
    } else {
        let others: BTreeSet<&str> = shares.iter().map(|p| p.target_project.as_str()).collect();
        !bound.iter().all(|b| others.contains(b.as_str()))
    };
    if in_use {
        return Err(ApiError::rbac_policy_in_use_by_project(object_id, target));
    }
    Ok(())
}

/// Sets the pool's, scope's or security group's `shared` flag, which a `*` policy stands
/// for (an address group has none: its policies are read directly).
pub(crate) fn set_shared(
    tx: &mut dyn Tx,
    object_type: &str,
    id: &str,
    value: bool,
    now: String,
) -> Result<(), ApiError> {
    if object_type == SUBNETPOOL {
        if let Some(mut p) = load::<SubnetPool>(tx, Resource::SubnetPool, id)? {
            if p.shared != value {
                p.shared = value;
                super::save_update(tx, &mut p, now)?;
            }
        }
        return Ok(());
    }
    if object_type == SECURITY_GROUP {
        if let Some(mut g) = load::<SecurityGroup>(tx, Resource::SecurityGroup, id)? {
            if g.shared != value {
                g.shared = value;
                super::save_update(tx, &mut g, now)?;
            }
        }
        return Ok(());
    }
    if object_type == ADDRESS_GROUP {
        return Ok(());
    }
    debug_assert_eq!(object_type, ADDRESS_SCOPE);
    if let Some(mut s) = load::<AddressScope>(tx, Resource::AddressScope, id)? {
        if s.shared != value {
            s.shared = value;
            tx.doc_update(Resource::AddressScope, &super::address_scopes::doc(&s)?)?;
            tx.change_record(Resource::AddressScope, id, ChangeOp::Update, &s.project_id)?;
        }
    }
    Ok(())
}
