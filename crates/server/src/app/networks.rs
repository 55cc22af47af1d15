//! Networks: create with a segment from the type drivers, update, delete with its subnets.

use super::lookup;
use super::policy::{self, Action};
use super::{check_revision, encode, load_required, App, RequestContext};
use crate::app::segments::{SegmentPlan, TypeDrivers};
use neutrino_model::bodies::networks::{NetworkCreate, NetworkUpdate};
use neutrino_model::bodies::{Body, Update};
use neutrino_model::types::{status, FloatingIp, Network, Port, AUTO_DELETE_PORT_OWNERS};
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
fn plan_segment(drivers: &TypeDrivers, n: &NetworkCreate) -> Result<SegmentPlan, ApiError> {
    match &n.network_type {
        Some(t) => drivers.provider_plan(t, n.physical_network.as_deref(), n.segmentation_id),
        None if n.physical_network.is_some() || n.segmentation_id.is_some() => {
            Err(ApiError::invalid_input("provider:network_type required"))
        }
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
    items: Vec<Body<NetworkCreate>>,
) -> Result<Vec<Network>, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            // Neutron's `_create`: the policy for every item, then the quota, then the plugin.
            for b in &items {
                policy::authorize(&ctx, Resource::Network, Action::Create, &b.fields.project_id, Some(&b.attrs))?;
            }
            let now = app2.clock.now();
            items.iter().map(|b| create_one(tx, &app2, &b.fields, &now)).collect()
        })
        .await
}

/// One network, without the policy (the caller checked it, or the server acts for itself).
/// Neutron's create answer shows the `is_default` asked for even on an internal network,
/// whose stored document (and every later answer) has none.
pub(crate) fn create_one(tx: &mut dyn Tx, app: &App, n: &NetworkCreate, now: &str) -> Result<Network, ApiError> {
    super::quotas::check(tx, Resource::Network, &n.project_id)?;
    super::zones::check_hints(tx, super::zones::ZoneResource::Network, &n.availability_zone_hints)?;
    let is_default = n.router_external.then_some(n.is_default);
    if is_default == Some(true) {
        check_no_other_default(tx, None)?;
    }
    let plan = plan_segment(&app.drivers, n)?;
    let mtu = create_mtu(app.drivers.max_mtu(&plan), n.mtu)?;
    let id = uuid::Uuid::new_v4().to_string();
    let seg_id = allocate_segment(tx, &app.drivers, &plan, &id)?;
    let net = Network {
        id,
        name: n.name.clone(),
        tenant_id: n.project_id.clone(),
        project_id: n.project_id.clone(),
        admin_state_up: n.admin_state_up,
        status: status::ACTIVE.into(),
        shared: n.shared,
        mtu,
        router_external: n.router_external,
        port_security_enabled: n.port_security_enabled,
        network_type: Some(plan.network_type.clone()),
        physical_network: plan.physical_network.clone(),
        segmentation_id: (plan.network_type != "flat").then_some(seg_id),
        subnets: vec![],
        ipv4_address_scope: None,
        ipv6_address_scope: None,
        is_default,
        availability_zone_hints: n.availability_zone_hints.clone(),
        availability_zones: vec![],
        dns_domain: n.dns_domain.clone(),
        description: n.description.clone(),
        tags: super::sorted_tags(n.tags.clone()),
        created_at: now.into(),
        updated_at: now.into(),
        revision_number: 0,
    };
    tx.doc_insert(Resource::Network, &doc(&net)?)?;
    tx.change_record(Resource::Network, &net.id, ChangeOp::Create, &net.project_id)?;
    if net.shared {
        super::sharing::ensure_wildcard(tx, &net, super::sharing::SHARED)?;
    }
    if net.router_external {
        super::sharing::ensure_wildcard(tx, &net, super::sharing::EXTERNAL)?;
    }
    if net.is_default == Some(true) {
        tx.default_external_network_set(Some(&net.id))?;
    }
    Ok(Network { is_default: Some(n.is_default), ..net })
}

/// `DefaultExternalNetworkExists` (409) when a network other than `this` is the default
/// external network: there is only one.
fn check_no_other_default(tx: &mut dyn Tx, this: Option<&str>) -> Result<(), ApiError> {
    match tx.default_external_network_get()? {
        Some(other) if Some(other.as_str()) != this => Err(ApiError::default_external_network_exists(&other)),
        _ => Ok(()),
    }
}

/// auto-allocated-topology's `_ensure_external_network_default_value_callback`, after
/// `router:external` is applied: an `is_default` in the request is checked for
/// uniqueness when the request names `router:external` or the network is external, and
/// kept only on an external network.
fn apply_is_default(tx: &mut dyn Tx, net: &mut Network, u: &NetworkUpdate) -> Result<(), ApiError> {
    let Some(wanted) = u.is_default else { return Ok(()) };
    if u.router_external.is_none() && !net.router_external {
        return Ok(());
    }
    if wanted {
        check_no_other_default(tx, Some(&net.id))?;
    }
    if net.is_default.is_none() || net.is_default == Some(wanted) {
        return Ok(());
    }
    net.is_default = Some(wanted);
    if wanted {
        tx.default_external_network_set(Some(&net.id))?;
    } else if tx.default_external_network_get()?.as_deref() == Some(net.id.as_str()) {
        tx.default_external_network_set(None)?;
    }
    Ok(())
}

/// The MTU a create asks for: none or 0 is the segment's largest, else up to the largest.
/// A value too small for IP is taken, as ML2 takes it: the first subnet is refused then
/// ([`check_subnet_mtu`]), so no address is ever served on such a network.
fn create_mtu(max_mtu: u32, requested: Option<i64>) -> Result<u32, ApiError> {
    match requested {
        None | Some(0) => Ok(max_mtu),
        Some(m) => match u32::try_from(m) {
            Ok(m) if m <= max_mtu => Ok(m),
            _ => Err(ApiError::invalid_input(format!("Requested MTU is too big, maximum is {max_mtu}"))),
        },
    }
}

/// The smallest MTU an IPv4 subnet works with (RFC 791), Neutron's `IPV4_MIN_MTU`.
const IPV4_MIN_MTU: u32 = 68;
/// The smallest MTU an IPv6 subnet works with (RFC 8200), Neutron's `IPV6_MIN_MTU`.
const IPV6_MIN_MTU: u32 = 1280;

/// Neutron's `_validate_change_network_mtu`: with subnets, at least 68, and at least 1280
/// when one of them is IPv6 (409). Without subnets any value is taken.
fn check_mtu_change(tx: &mut dyn Tx, net: &Network, mtu: u32) -> Result<(), ApiError> {
    if mtu >= IPV6_MIN_MTU || net.subnets.is_empty() {
        return Ok(());
    }
    if mtu < IPV4_MIN_MTU {
        return Err(ApiError::network_mtu_subnet_conflict(&net.id, IPV4_MIN_MTU));
    }
    for id in &net.subnets {
        let subnet: neutrino_model::types::Subnet = load_required(tx, Resource::Subnet, id)?;
        if subnet.ip_version == 6 {
            return Err(ApiError::network_mtu_subnet_conflict(&net.id, IPV6_MIN_MTU));
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
        return Err(ApiError::network_mtu_subnet_conflict(&net.id, IPV4_MIN_MTU));
    }
    if ip_version == 6 {
        return Err(ApiError::network_mtu_subnet_conflict(&net.id, IPV6_MIN_MTU));
    }
    Ok(())
}

/// Updates one network.
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    change: Update<NetworkUpdate>,
) -> Result<Network, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut net = lookup::visible::<Network>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Network, Action::Update, &net.project_id, Some(&change.body.attrs))?;
            check_revision(change.if_match, net.revision_number)?;
            let u = &change.body.fields;
            check_provider_unchanged(&net, u)?;
            if let Some(m) = u.mtu {
                let mtu = update_mtu(&app2.drivers, &net, m)?;
                check_mtu_change(tx, &net, mtu)?;
                net.mtu = mtu;
            }
            apply_fields(&mut net, u);
            apply_flags(tx, &mut net, u)?;
            apply_is_default(tx, &mut net, u)?;
            super::save_update(tx, &mut net, app2.clock.now())?;
            Ok(net)
        })
        .await
}

/// Provider attributes may be named in an update only with their current values.
fn check_provider_unchanged(net: &Network, u: &NetworkUpdate) -> Result<(), ApiError> {
    let changed = u.network_type.as_ref().is_some_and(|t| net.network_type.as_ref() != Some(t))
        || u.physical_network.as_ref().is_some_and(|p| net.physical_network.as_ref() != Some(p))
        || u.segmentation_id.is_some_and(|s| s != net.segmentation_id.map(i64::from));
    if changed {
        return Err(ApiError::invalid_input("Plugin does not support updating provider attributes"));
    }
    Ok(())
}

/// The MTU an update asks for: 0 is the segment's largest; above the largest is refused.
fn update_mtu(drivers: &TypeDrivers, net: &Network, requested: i64) -> Result<u32, ApiError> {
    let plan = SegmentPlan {
        network_type: net.network_type.clone().unwrap_or_default(),
        physical_network: net.physical_network.clone(),
        segmentation_id: net.segmentation_id,
    };
    let max = drivers.max_mtu(&plan);
    match u32::try_from(requested) {
        Ok(0) => Ok(max),
        Ok(m) if m <= max => Ok(m),
        _ => Err(ApiError::invalid_input(format!("Requested MTU is too big, maximum is {max}"))),
    }
}

/// The attributes an update copies onto the network as given.
fn apply_fields(net: &mut Network, u: &NetworkUpdate) {
    if let Some(v) = &u.name {
        net.name.clone_from(v);
    }
    if let Some(v) = &u.description {
        net.description.clone_from(v);
    }
    if let Some(v) = u.admin_state_up {
        net.admin_state_up = v;
    }
    if let Some(v) = u.port_security_enabled {
        net.port_security_enabled = v;
    }
    if let Some(v) = &u.dns_domain {
        net.dns_domain.clone_from(v);
    }
}

/// `shared` and `router:external`: the flags stand for RBAC policies; keep both in step.
fn apply_flags(tx: &mut dyn Tx, net: &mut Network, u: &NetworkUpdate) -> Result<(), ApiError> {
    if let Some(v) = u.shared {
        if v {
            super::sharing::ensure_wildcard(tx, net, super::sharing::SHARED)?;
        } else {
            super::sharing::remove_wildcard(tx, net, super::sharing::SHARED)?;
        }
        net.shared = v;
    }
    // Neutron's `_process_l3_update`: no change when the value is the same (a network
    // external through targeted policies gets no `*` one); false drops every
    // `access_as_external` policy.
    match u.router_external {
        Some(true) if !net.router_external => {
            super::sharing::ensure_wildcard(tx, net, super::sharing::EXTERNAL)?;
            super::sharing::set_router_external(tx, net, true)?;
        }
        Some(false) => super::sharing::remove_external(tx, net)?,
        _ => {}
    }
    Ok(())
}

const FIP_OWNER: &str = "network:floatingip";

/// Neutron's `_process_l3_delete`: deleting an external network releases its floating IPs
/// that no port uses (their address ports go with the network's); an associated one keeps
/// the network in use. Returns the ids released. Found through their address ports (indexed
/// by network and owner), not by reading every floating IP of the cloud.
fn delete_disassociated_floatingips(tx: &mut dyn Tx, network_id: &str) -> Result<Vec<String>, ApiError> {
    let address_ports = IndexFilter {
        network_ids: Some(vec![network_id.to_string()]),
        device_owners: Some(vec![FIP_OWNER.to_string()]),
        ..Default::default()
    };
    let mut released = Vec::new();
    for body in tx.doc_list(Resource::Port, &address_ports)? {
        let port: Port = super::decode(Resource::Port, network_id, &body)?;
        let Some(f) = super::load::<FloatingIp>(tx, Resource::FloatingIp, &port.device_id)? else { continue };
        if f.floating_network_id != network_id || f.port_id.is_some() {
            continue;
        }
        if !f.port_forwardings.is_empty() {
            return Err(ApiError::fip_in_use_by_port_forwarding(&f.id));
        }
        tx.doc_delete(Resource::FloatingIp, &f.id)?;
        tx.change_record(Resource::FloatingIp, &f.id, ChangeOp::Delete, &f.project_id)?;
        released.push(f.id);
    }
    Ok(released)
}

/// Deletes a network with its subnets and unused floating IPs; refused while non-service
/// ports remain.
pub async fn delete(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    if_match: Option<super::IfMatch>,
) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let net = lookup::visible::<Network>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Network, Action::Delete, &net.project_id, None)?;
            check_revision(if_match, net.revision_number)?;
            delete_in_tx(tx, &net)
        })
        .await
}

/// Deletes a network with its subnets, service ports and unused floating IPs (no policy:
/// the caller checked it); 409 `NetworkInUse` while other ports remain. An auto-allocated
/// topology on it, and its being the default external network, go with it.
pub(crate) fn delete_in_tx(tx: &mut dyn Tx, net: &Network) -> Result<(), ApiError> {
    let id = net.id.clone();
    let released = delete_disassociated_floatingips(tx, &id)?;
    let ports =
        tx.doc_list(Resource::Port, &IndexFilter { network_ids: Some(vec![id.clone()]), ..Default::default() })?;
    let ports: Vec<Port> = ports.iter().map(|b| super::decode(Resource::Port, &id, b)).collect::<Result<_, _>>()?;
    for port in &ports {
        let released_address = port.device_owner == FIP_OWNER && released.contains(&port.device_id);
        if !released_address && !AUTO_DELETE_PORT_OWNERS.contains(&port.device_owner.as_str()) {
            return Err(ApiError::network_in_use(&id));
        }
    }
    for port in &ports {
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
    if tx.default_external_network_get()?.as_deref() == Some(id.as_str()) {
        tx.default_external_network_set(None)?;
    }
    tx.auto_allocation_delete_by_network(&id)?;
    Ok(())
}
