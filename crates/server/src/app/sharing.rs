//! Who shares a network: the RBAC policies (`access_as_shared`, `access_as_external`) read
//! and kept in step with a network's `shared` and `router:external` flags. The visibility
//! rule of networks, and so of their subnets and ports, is built on these; the
//! `rbac-policies` API itself lives in [`super::rbac`], above the resources.

use super::{decode, policy, RequestContext, Stored};
use neutrino_model::types::{Network, Port, Router, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::identity::RbacPolicy;
use neutrino_store::{IndexFilter, Tx};

/// Share with the target: it sees the network and may create ports on it.
pub const SHARED: &str = neutrino_model::bodies::rbac::ACCESS_AS_SHARED;
/// External to the target: it sees the network and may use it for gateways.
pub const EXTERNAL: &str = neutrino_model::bodies::rbac::ACCESS_AS_EXTERNAL;
pub(crate) const NETWORK: &str = "network";
/// The RBAC object type of subnet pools (`rbac-subnetpool`).
pub(crate) const SUBNETPOOL: &str = "subnetpool";
/// The RBAC object type of address scopes (`rbac-address-scope`).
pub(crate) const ADDRESS_SCOPE: &str = "address_scope";
/// The RBAC object type of security groups (`rbac-security-groups`).
pub(crate) const SECURITY_GROUP: &str = "security_group";
/// The RBAC object type of address groups (`rbac-address-group`).
pub(crate) const ADDRESS_GROUP: &str = "address_group";
const ROUTER_GATEWAY: &str = "network:router_gateway";

/// Whether the caller may see the network: owner, admin, shared, external, or an RBAC
/// policy that names its project.
/// `router:external` alone does not make a network visible: a network external only to
/// the projects its `access_as_external` policies name is hidden from the others, as in
/// Neutron (whose RBAC query reads the policies, not the flag).
pub fn network_visible(tx: &mut dyn Tx, ctx: &RequestContext, net: &Network) -> Result<bool, ApiError> {
    if policy::can_see(ctx, &net.project_id, net.shared) {
        return Ok(true);
    }
    Ok(tx.rbac_policy_list(Some(&net.id))?.iter().any(|p| {
        (p.action == SHARED || p.action == EXTERNAL) && (p.target_project == "*" || p.target_project == ctx.project_id)
    }))
}

/// Whether the network is shared with `project` (Neutron's per-project `shared` value, which
/// its `rule:shared` reads): shared with everyone, or an `access_as_shared` policy naming the
/// project or `*`. Being external to a project does not share a network with it.
pub fn shared_with(tx: &mut dyn Tx, net: &Network, project: &str) -> Result<bool, ApiError> {
    if net.shared {
        return Ok(true);
    }
    Ok(tx
        .rbac_policy_list(Some(&net.id))?
        .iter()
        .any(|p| p.action == SHARED && (p.target_project == "*" || p.target_project == project)))
}

/// Whether an `access_as_shared` policy names `project` itself (not `*`): what Neutron's
/// `add_router_interface` accepts for a subnet another project owns.
pub fn shared_by_policy_with(tx: &mut dyn Tx, network_id: &str, project: &str) -> Result<bool, ApiError> {
    Ok(tx.rbac_policy_list(Some(network_id))?.iter().any(|p| p.action == SHARED && p.target_project == project))
}

/// Network ids the caller may see through RBAC policies (targeted or `*`).
pub fn networks_shared_with(tx: &mut dyn Tx, project: &str) -> Result<Vec<String>, ApiError> {
    let mut ids = tx.rbac_objects_for(NETWORK, SHARED, project)?;
    ids.extend(tx.rbac_objects_for(NETWORK, EXTERNAL, project)?);
    ids.sort();
    ids.dedup();
    Ok(ids)
}

fn wildcard(tx: &mut dyn Tx, network_id: &str, action: &str) -> Result<Option<RbacPolicy>, ApiError> {
    Ok(tx.rbac_policy_list(Some(network_id))?.into_iter().find(|p| p.action == action && p.target_project == "*"))
}

/// Records the `*` policy that a network flag stands for (no-op when present).
pub fn ensure_wildcard(tx: &mut dyn Tx, net: &Network, action: &str) -> Result<(), ApiError> {
    ensure_wildcard_of(tx, NETWORK, &net.id, &net.project_id, action)
}

/// Records the `*` policy that an object's flag stands for (no-op when present): the
/// `shared` flag of a network, a subnet pool or an address scope.
pub fn ensure_wildcard_of(
    tx: &mut dyn Tx,
    object_type: &str,
    object_id: &str,
    owner: &str,
    action: &str,
) -> Result<(), ApiError> {
    if wildcard(tx, object_id, action)?.is_none() {
        tx.rbac_policy_insert(&RbacPolicy {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: owner.into(),
            object_type: object_type.into(),
            object_id: object_id.into(),
            action: action.into(),
            target_project: "*".into(),
        })?;
    }
    Ok(())
}

/// Whether an `access_as_shared` policy shares the object (a subnet pool, an address scope,
/// a security group or an address group) with `project` or with everyone: what makes it
/// visible and usable to a project
/// other than its owner (Neutron's `NeutronRbacObject.is_accessible`).
pub fn object_shared_with(tx: &mut dyn Tx, object_id: &str, project: &str) -> Result<bool, ApiError> {
    Ok(tx
        .rbac_policy_list(Some(object_id))?
        .iter()
        .any(|p| p.action == SHARED && (p.target_project == "*" || p.target_project == project)))
}

/// Whether ports of projects other than the owner (and not covered by `keep_targets`)
/// would lose access if sharing to `target` ended.
pub(crate) fn sharing_in_use(tx: &mut dyn Tx, net: &Network, target: &str, removing: &str) -> Result<bool, ApiError> {
    let remaining: Vec<RbacPolicy> =
        tx.rbac_policy_list(Some(&net.id))?.into_iter().filter(|p| p.action == SHARED && p.id != removing).collect();
    if remaining.iter().any(|p| p.target_project == "*") {
        return Ok(false);
    }
    let ports =
        tx.doc_list(Resource::Port, &IndexFilter { network_ids: Some(vec![net.id.clone()]), ..Default::default() })?;
    for body in ports {
        let port: Port = decode(Resource::Port, &net.id, &body)?;
        let affected = port.project_id != net.project_id
            && (target == "*" || port.project_id == target)
            && !remaining.iter().any(|p| p.target_project == port.project_id);
        if affected && !port.device_owner.starts_with("network:") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Ends `*` sharing of a network (its `shared` flag going false); 409 while other
/// projects' ports depend on it.
pub fn remove_wildcard(tx: &mut dyn Tx, net: &Network, action: &str) -> Result<(), ApiError> {
    if let Some(p) = wildcard(tx, &net.id, action)? {
        if action == SHARED && sharing_in_use(tx, net, "*", &p.id)? {
            return Err(ApiError::invalid_shared_setting(&net.id));
        }
        tx.rbac_policy_delete(&p.id)?;
    }
    Ok(())
}

/// Whether a network is some router's gateway (it then cannot stop being external).
pub fn is_gateway_network(tx: &mut dyn Tx, network_id: &str) -> Result<bool, ApiError> {
    Ok(tx.doc_count(Resource::Port, &gateway_filter(network_id))? > 0)
}

fn gateway_filter(network_id: &str) -> IndexFilter {
    IndexFilter {
        network_ids: Some(vec![network_id.into()]),
        device_owners: Some(vec![ROUTER_GATEWAY.into()]),
        ..Default::default()
    }
}

/// The projects of the routers whose gateway is on the network.
fn gateway_router_projects(tx: &mut dyn Tx, network_id: &str) -> Result<Vec<String>, ApiError> {
    let mut projects = Vec::new();
    for body in tx.doc_list(Resource::Port, &gateway_filter(network_id))? {
        let port: Port = decode(Resource::Port, network_id, &body)?;
        if let Some(r) = super::load::<Router>(tx, Resource::Router, &port.device_id)? {
            projects.push(r.project_id);
        }
    }
    Ok(projects)
}

/// Neutron's `_validate_ext_not_in_use_by_project`: an `access_as_external` policy may not
/// be deleted (`new_target` `None`) or moved to `new_target` while a router of a project
/// it lets in has its gateway on the network and no other policy lets that project in.
/// The `*` policy of the default external network (`is_default`) may not go or narrow at
/// all: auto-allocated topologies of every project have their gateways there.
pub fn check_external_access_kept(tx: &mut dyn Tx, p: &RbacPolicy, new_target: Option<&str>) -> Result<(), ApiError> {
    if p.action != EXTERNAL || new_target == Some(p.target_project.as_str()) {
        return Ok(());
    }
    if p.target_project == "*" && tx.default_external_network_get()?.as_deref() == Some(p.object_id.as_str()) {
        return Err(ApiError::rbac_policy_in_use_by_default_external(&p.object_id));
    }
    let targets: Vec<String> = tx
        .rbac_policy_list(Some(&p.object_id))?
        .into_iter()
        .filter(|q| q.action == EXTERNAL)
        .map(|q| q.target_project)
        .collect();
    let routers = gateway_router_projects(tx, &p.object_id)?;
    let in_use = if p.target_project == "*" {
        let mut allowed: Vec<&str> = targets.iter().map(String::as_str).filter(|t| *t != "*").collect();
        allowed.extend(new_target);
        routers.iter().any(|r| !allowed.contains(&r.as_str()))
    } else {
        !targets.iter().any(|t| t == "*") && routers.contains(&p.target_project)
    };
    if in_use {
        return Err(ApiError::rbac_policy_in_use_by_routers(&p.object_id));
    }
    Ok(())
}

/// Ends a network's being external (Neutron's `_process_l3_update` to false): every
/// `access_as_external` policy goes; 409 while a router has its gateway there.
pub fn remove_external(tx: &mut dyn Tx, net: &mut Network) -> Result<(), ApiError> {
    if !net.router_external {
        return Ok(());
    }
    if is_gateway_network(tx, &net.id)? {
        return Err(ApiError::external_network_in_use(&net.id));
    }
    for p in tx.rbac_policy_list(Some(&net.id))? {
        if p.action == EXTERNAL {
            tx.rbac_policy_delete(&p.id)?;
        }
    }
    set_router_external(tx, net, false)
}

/// Sets a network's `router:external` and mirrors it on its subnets' read-only
/// `router:external` (`subnet-external-network`). The subnets keep their revision: Neutron
/// reads the flag through the network, so flipping it revises no subnet.
pub(crate) fn set_router_external(tx: &mut dyn Tx, net: &mut Network, value: bool) -> Result<(), ApiError> {
    net.router_external = value;
    // `is_default` lives with being external (Neutron's external-network row): a new
    // external network is not the default, an internal one has no `is_default` at all.
    if value {
        net.is_default.get_or_insert(false);
    } else if net.is_default.take() == Some(true) {
        tx.default_external_network_set(None)?;
    }
    for id in &net.subnets {
        let Some(mut subnet) = super::load::<Subnet>(tx, Resource::Subnet, id)? else { continue };
        if subnet.router_external != value {
            subnet.router_external = value;
            tx.doc_update(Resource::Subnet, &subnet.to_doc()?)?;
        }
    }
    Ok(())
}
