//! Networks: create with a segment from the type drivers, update, delete with its subnets.

use super::lookup;
use super::policy::{self, Action};
use super::{attr, check_revision, encode, load_required, App, Change, RequestContext};
use crate::app::segments::{SegmentPlan, TypeDrivers};
use neutrino_model::types::{status, Network, Port, AUTO_DELETE_PORT_OWNERS};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, IndexFilter, StoreError, Tx};
use std::sync::Arc;

pub(crate) fn doc(n: &Network) -> Result<Doc, ApiError> {
    Ok(Doc {
        id: n.id.clone(),
        project_id: n.project_id.clone(),
        name: n.name.clone(),
        body: encode(n)?,
        ..Doc::default()
    })
}

/// Builds the segment plan of a create request.
fn plan_segment(
    drivers: &TypeDrivers,
    a: &serde_json::Map<String, serde_json::Value>,
) -> Result<SegmentPlan, ApiError> {
    let net_type = attr::str_of(a, "provider:network_type");
    let physnet = attr::str_of(a, "provider:physical_network");
    let seg_id = attr::int_of(a, "provider:segmentation_id");
    match net_type {
        Some(t) => drivers.provider_plan(&t, physnet.as_deref(), seg_id),
        None if physnet.is_some() || seg_id.is_some() => Err(ApiError::invalid_input("provider:network_type required")),
        None => drivers.tenant_plan(),
    }
}

/// Records the segment, allocating its id when the plan leaves it open.
fn allocate_segment(
    tx: &mut dyn Tx,
    drivers: &TypeDrivers,
    plan: &SegmentPlan,
    network_id: &str,
) -> Result<u32, ApiError> {
    let id = match plan.segmentation_id {
        Some(id) => id,
        None => {
            let in_use = tx.segment_ids_in_use(&plan.network_type, plan.physical_network.as_deref())?;
            drivers.allocate(plan, &in_use)?
        }
    };
    match tx.segment_insert(&plan.segment(network_id, id)) {
        Ok(()) => Ok(id),
        Err(StoreError::UniqueViolation { .. }) => Err(TypeDrivers::in_use_error(plan, id)),
        Err(e) => Err(e.into()),
    }
}

/// Creates networks (one, or all of a bulk request, atomically).
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<serde_json::Map<String, serde_json::Value>>,
) -> Result<Vec<Network>, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let now = app2.clock.now();
            let mut out = Vec::with_capacity(items.len());
            for a in &items {
                out.push(create_one(tx, &app2, &ctx, a, &now)?);
            }
            Ok(out)
        })
        .await
}

fn create_one(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    a: &serde_json::Map<String, serde_json::Value>,
    now: &str,
) -> Result<Network, ApiError> {
    let owner = attr::str_of(a, "project_id").unwrap_or_default();
    policy::authorize(ctx, Resource::Network, Action::Create, &owner, Some(a))?;
    let plan = plan_segment(&app.drivers, a)?;
    super::quotas::check(tx, Resource::Network, &attr::str_of(a, "project_id").unwrap_or_default())?;

    let max_mtu = app.drivers.max_mtu(&plan);
    let mtu = match attr::int_of(a, "mtu") {
        None | Some(0) => max_mtu,
        Some(m) if m > i64::from(max_mtu) => {
            return Err(ApiError::invalid_input(format!("Requested MTU is too big, maximum is {max_mtu}")));
        }
        Some(m) if m < i64::from(IPV4_MIN_MTU) => {
            return Err(ApiError::invalid_input(format!("Requested MTU is too small, minimum is {IPV4_MIN_MTU}")))
        }
        Some(m) => u32::try_from(m).unwrap_or(max_mtu),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let seg_id = allocate_segment(tx, &app.drivers, &plan, &id)?;
    let project = attr::str_of(a, "project_id").unwrap_or_default();
    let net = Network {
        id: id.clone(),
        name: attr::str_of(a, "name").unwrap_or_default(),
        tenant_id: project.clone(),
        project_id: project.clone(),
        admin_state_up: attr::bool_of(a, "admin_state_up").unwrap_or(true),
        status: status::ACTIVE.into(),
        shared: attr::bool_of(a, "shared").unwrap_or(false),
        mtu,
        router_external: attr::bool_of(a, "router:external").unwrap_or(false),
        port_security_enabled: attr::bool_of(a, "port_security_enabled").unwrap_or(true),
        network_type: Some(plan.network_type.clone()),
        physical_network: plan.physical_network.clone(),
        segmentation_id: (plan.network_type != "flat").then_some(seg_id),
        subnets: vec![],
        description: attr::str_of(a, "description").unwrap_or_default(),
        tags: super::sorted_tags(attr::strings_of(a, "tags").unwrap_or_default()),
        created_at: now.into(),
        updated_at: now.into(),
        revision_number: 0,
    };
    tx.doc_insert(Resource::Network, &doc(&net)?)?;
    tx.change_record(Resource::Network, &net.id, ChangeOp::Create, &project)?;
    if net.shared {
        super::sharing::ensure_wildcard(tx, &net, super::sharing::SHARED)?;
    }
    if net.router_external {
        super::sharing::ensure_wildcard(tx, &net, super::sharing::EXTERNAL)?;
    }
    Ok(net)
}

/// The smallest MTU an IPv4 subnet works with (RFC 791), Neutron's `IPV4_MIN_MTU`.
const IPV4_MIN_MTU: u32 = 68;
/// The smallest MTU an IPv6 subnet works with (RFC 8200), Neutron's `IPV6_MIN_MTU`.
const IPV6_MIN_MTU: u32 = 1280;

fn mtu_conflict(network_id: &str, minimum: u32) -> ApiError {
    ApiError::conflict(
        "NetworkMTUSubnetConflict",
        format!("MTU of {network_id} is not valid, subnet requires a minimum of {minimum}"),
    )
}

/// Neutron's `_validate_change_network_mtu`: with subnets, at least 68, and at least 1280
/// when one of them is IPv6 (409). Without subnets Neutron takes any value and refuses the
/// first subnet later; here a value below 68 is refused at once, as on create, so nothing
/// smaller ever reaches DHCP's MTU option.
fn check_mtu_change(tx: &mut dyn Tx, net: &Network, mtu: u32) -> Result<(), ApiError> {
    if mtu >= IPV6_MIN_MTU {
        return Ok(());
    }
    if net.subnets.is_empty() {
        if mtu < IPV4_MIN_MTU {
            return Err(ApiError::invalid_input(format!("Requested MTU is too small, minimum is {IPV4_MIN_MTU}")));
        }
        return Ok(());
    }
    if mtu < IPV4_MIN_MTU {
        return Err(mtu_conflict(&net.id, IPV4_MIN_MTU));
    }
    for id in &net.subnets {
        let subnet: neutrino_model::types::Subnet = load_required(tx, Resource::Subnet, id)?;
        if subnet.ip_version == 6 {
            return Err(mtu_conflict(&net.id, IPV6_MIN_MTU));
        }
    }
    Ok(())
}

/// Neutron's `_validate_subnet_network_mtu`: a new subnet needs the network's MTU to be at
/// least 68, and at least 1280 for IPv6 (409).
pub(crate) fn check_subnet_mtu(net: &Network, ip_version: u8) -> Result<(), ApiError> {
    if net.mtu == 0 || net.mtu >= IPV6_MIN_MTU {
        return Ok(());
    }
    if net.mtu < IPV4_MIN_MTU {
        return Err(mtu_conflict(&net.id, IPV4_MIN_MTU));
    }
    if ip_version == 6 {
        return Err(mtu_conflict(&net.id, IPV6_MIN_MTU));
    }
    Ok(())
}

/// Updates one network.
pub async fn update(app: &Arc<App>, ctx: &RequestContext, id: String, change: Change) -> Result<Network, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut net = lookup::visible::<Network>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Network, Action::Update, &net.project_id, Some(&change.attrs))?;
            check_revision(change.if_match, net.revision_number)?;
            let a = &change.attrs;
            for key in ["provider:network_type", "provider:physical_network", "provider:segmentation_id"] {
                if let Some(v) = a.get(key) {
                    let current = serde_json::to_value(&net).ok().and_then(|n| n.get(key).cloned()).unwrap_or_default();
                    if *v != current {
                        return Err(ApiError::invalid_input("Plugin does not support updating provider attributes"));
                    }
                }
            }
            if let Some(m) = attr::int_of(a, "mtu") {
                let plan = SegmentPlan {
                    network_type: net.network_type.clone().unwrap_or_default(),
                    physical_network: net.physical_network.clone(),
                    segmentation_id: net.segmentation_id,
                };
                let max = app2.drivers.max_mtu(&plan);
                if m > i64::from(max) {
                    return Err(ApiError::invalid_input(format!("Requested MTU is too big, maximum is {max}")));
                }
                let mtu = if m == 0 { max } else { u32::try_from(m).unwrap_or(0) };
                check_mtu_change(tx, &net, mtu)?;
                net.mtu = mtu;
            }
            if let Some(v) = attr::str_of(a, "name") {
                net.name = v;
            }
            if let Some(v) = attr::str_of(a, "description") {
                net.description = v;
            }
            if let Some(v) = attr::bool_of(a, "admin_state_up") {
                net.admin_state_up = v;
            }
            // The flags are the `*` RBAC policies; keep both in step.
            if let Some(v) = attr::bool_of(a, "shared") {
                if v {
                    super::sharing::ensure_wildcard(tx, &net, super::sharing::SHARED)?;
                } else {
                    super::sharing::remove_wildcard(tx, &net, super::sharing::SHARED)?;
                }
                net.shared = v;
            }
            if let Some(v) = attr::bool_of(a, "router:external") {
                if v {
                    super::sharing::ensure_wildcard(tx, &net, super::sharing::EXTERNAL)?;
                } else if net.router_external && is_gateway_network(tx, &net.id)? {
                    return Err(ApiError::conflict(
                        "ExternalNetworkInUse",
                        format!("External network {} cannot be updated to be made non-external, since it has existing gateway ports.", net.id),
                    ));
                } else {
                    super::sharing::remove_wildcard(tx, &net, super::sharing::EXTERNAL)?;
                }
                net.router_external = v;
            }
            if let Some(v) = attr::bool_of(a, "port_security_enabled") {
                net.port_security_enabled = v;
            }
            super::save_update(tx, &mut net, app2.clock.now())?;
            Ok(net)
        })
        .await
}

/// Deletes a network with its subnets; refused while non-service ports remain.
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, id: String, if_match: Option<u64>) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let net = lookup::visible::<Network>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Network, Action::Delete, &net.project_id, None)?;
            check_revision(if_match, net.revision_number)?;
            let ports = tx.doc_list(Resource::Port, &IndexFilter { network_ids: Some(vec![id.clone()]), ..Default::default() })?;
            for body in &ports {
                let port: Port = super::decode(Resource::Port, &id, body)?;
                if !AUTO_DELETE_PORT_OWNERS.contains(&port.device_owner.as_str()) {
                    return Err(ApiError::conflict(
                        "NetworkInUse",
                        format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network."),
                    ));
                }
            }
            for body in &ports {
                let port: Port = super::decode(Resource::Port, &id, body)?;
                tx.ip_allocation_delete_by_port(&port.id)?;
                tx.doc_delete(Resource::Port, &port.id)?;
                tx.change_record(Resource::Port, &port.id, ChangeOp::Delete, &port.project_id)?;
            }
            for subnet_id in &net.subnets {
                tx.doc_delete(Resource::Subnet, subnet_id)?;
                tx.change_record(Resource::Subnet, subnet_id, ChangeOp::Delete, &net.project_id)?;
            }
            tx.segment_delete_by_network(&id)?;
            tx.rbac_policy_delete_by_object(&id)?;
            tx.doc_delete(Resource::Network, &id)?;
            tx.change_record(Resource::Network, &id, ChangeOp::Delete, &net.project_id)?;
            Ok(())
        })
        .await
}

/// Whether a network is some router's gateway (it then cannot stop being external).
fn is_gateway_network(tx: &mut dyn Tx, network_id: &str) -> Result<bool, ApiError> {
    let filter = IndexFilter {
        network_ids: Some(vec![network_id.into()]),
        device_owners: Some(vec!["network:router_gateway".into()]),
        ..Default::default()
    };
    Ok(tx.doc_count(Resource::Port, &filter)? > 0)
}
