//! Ports (`ports`): the API verbs. Creation and address allocation are
//! [`super::port_alloc`]'s, shared with the server's service ports; an update reconciles
//! addresses through it, and a delete takes the port's floating IP associations with it.

use super::lookup;
use super::policy::{self, Action, NetworkFacts, Target};
use super::port_alloc::{
    allocate, check_fixed_ips_count, check_named_subnets, create_one, delete_in_tx, enforce_router_claim, mac_octets,
    network_subnets, resolve_requests, security_requirements, with_port_mac, IpRequest, Maker, L3_OWNERS, MAC_RETRIES,
};
use super::{check_revision, load_required, nova_events, subnets, App, RequestContext};
use neutrino_model::bodies::ports::{FixedIpRequest, PortCreate, PortUpdate};
use neutrino_model::bodies::{Body, Update};
use neutrino_model::dns::DnsDomain;
use neutrino_model::types::{vif_type, ExtraDhcpOpt, FixedIp, Network, Port, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{IndexFilter, Tx};
use rand::Rng;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The policy target of a port: its owner, its network's owner and sharing, and its
/// attributes as they will be (`field:port:device_owner` reads the new owner).
fn port_target<'a>(port_project: &'a str, net: &'a Network, shared: bool, attrs: &'a Map<String, Value>) -> Target<'a> {
    Target {
        project_id: port_project,
        network: Some(NetworkFacts { project_id: &net.project_id, shared }),
        attrs: Some(attrs),
    }
}

/// Loads a port for an update: what [`lookup::visible`] shows, and for the service role (Nova
/// binding its instances' ports) every port, as Neutron's `get_port` lets the service see
/// them; the update rules then decide what it may change.
pub(crate) fn load_for_update(tx: &mut dyn Tx, ctx: &RequestContext, id: &str) -> Result<Port, ApiError> {
    if ctx.has_role("service") {
        return load_required(tx, Resource::Port, id);
    }
    lookup::visible::<Port>(tx, ctx, id)
}

/// The policy check of one create item: the network must be visible to the caller, and the
/// rules see the network's owner and sharing. Returns the network.
fn authorize_create(tx: &mut dyn Tx, ctx: &RequestContext, b: &Body<PortCreate>) -> Result<Network, ApiError> {
    let project = &b.fields.project_id;
    let net = lookup::visible::<Network>(tx, ctx, &b.fields.network_id)?;
    let shared = super::sharing::shared_with(tx, &net, project)?;
    let target = port_target(project, &net, shared, &b.attrs);
    policy::authorize_target(ctx, Resource::Port, Action::Create, &target, Some(&b.attrs))?;
    Ok(net)
}

/// Creates ports (bulk is atomic).
pub async fn create(app: &Arc<App>, ctx: &RequestContext, items: Vec<Body<PortCreate>>) -> Result<Vec<Port>, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    // Random bytes are drawn outside the transaction so the writer does not wait on them.
    let macs: Vec<[u8; 3]> = {
        let mut rng = rand::rng();
        (0..items.len() * MAC_RETRIES).map(|_| rng.random()).collect()
    };
    nova_events::write(app, move |tx, events| {
        // Neutron's `_create`: the policy for every item, then the quota (in `create_one`).
        let nets = items.iter().map(|b| authorize_create(tx, &ctx, b)).collect::<Result<Vec<_>, _>>()?;
        let now = app2.clock.now();
        let mut macs = macs.into_iter();
        let ports = items
            .iter()
            .zip(&nets)
            .map(|(b, net)| create_one(tx, &app2, &ctx, &b.fields, net, &now, &mut macs, Maker::Api))
            .collect::<Result<Vec<Port>, ApiError>>()?;
        for port in ports.iter().filter(|p| p.binding_vif_type == vif_type::BINDING_FAILED) {
            nova_events::binding_failed(&app2, port, events);
        }
        Ok(ports)
    })
    .await
}

/// Loads the port and checks the update against the policy (on the port as it would be
/// after the update, as Neutron does) and the `If-Match` revision. Returns the port and
/// its network.
fn authorize_update(
    tx: &mut dyn Tx,
    ctx: &RequestContext,
    id: &str,
    change: &Update<PortUpdate>,
) -> Result<(Port, Network), ApiError> {
    let port = load_for_update(tx, ctx, id)?;
    let net: Network = load_required(tx, Resource::Network, &port.network_id)?;
    let shared = super::sharing::shared_with(tx, &net, &port.project_id)?;
    let attrs = &change.body.attrs;
    let mut after = match serde_json::to_value(&port) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    after.extend(attrs.iter().map(|(k, v)| (k.clone(), v.clone())));
    let target = port_target(&port.project_id, &net, shared, &after);
    policy::authorize_target(ctx, Resource::Port, Action::Update, &target, Some(attrs))?;
    check_revision(change.if_match.clone(), port.revision_number)?;
    Ok((port, net))
}

/// Updates one port: addresses are reconciled (kept, released, newly allocated).
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    change: Update<PortUpdate>,
) -> Result<Port, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    // `mac_address: null` asks for a new MAC (`port-mac-address-regenerate`; Neutron's
    // `convert_to_mac_if_none`).
    let fresh_mac = neutrino_ipam::generate_mac(app.base_mac, rand::rng().random()).to_string();
    nova_events::write(app, move |tx, events| {
        let (mut port, net) = authorize_update(tx, &ctx, &id, &change)?;
        let before = (port.status.clone(), port.fixed_ips.clone());
        let u = &change.body.fields;
        if u.device_owner.is_some() || u.device_id.is_some() {
            let owner = u.device_owner.as_ref().unwrap_or(&port.device_owner);
            let device = u.device_id.as_ref().unwrap_or(&port.device_id);
            enforce_router_claim(tx, &ctx, owner, device, &port.project_id)?;
        }
        let previous_host = port.binding_host_id.clone();
        apply_fields(&mut port, u);
        update_security_groups(tx, &app2, &ctx, &mut port, u)?;
        let has_pairs = match &u.allowed_address_pairs {
            Some(pairs) => !pairs.is_empty(),
            None => !port.allowed_address_pairs.is_empty(),
        };
        security_requirements(port.port_security_enabled, has_pairs)?;
        let binding = super::binding::decide(tx, &app2, &mut port, &previous_host)?;
        let bind_failed = matches!(binding, super::binding::Outcome::Failed(_));
        super::binding::record(tx, &port.id, binding)?;
        if let Some(mac) = &u.mac_address {
            change_mac(tx, &mut port, mac.as_deref().unwrap_or(&fresh_mac))?;
        }
        if let Some(list) = &u.fixed_ips {
            reconcile_fixed_ips(tx, &app2, &ctx, &mut port, &net, list)?;
        }
        apply_dns(&app2.dns_domain, &mut port, u);
        // After the MAC: a pair without one takes the port's (new) MAC.
        if let Some(pairs) = &u.allowed_address_pairs {
            port.allowed_address_pairs = with_port_mac(pairs, &port.mac_address);
        }
        super::save_update(tx, &mut port, app2.clock.now())?;
        if bind_failed {
            nova_events::binding_failed(&app2, &port, events);
        }
        nova_events::status_changed(&app2, Some(&before.0), &port, events);
        if nova_events::addresses_differ(&before.1, &port.fixed_ips) {
            nova_events::network_changed(&app2, &port, events);
        }
        Ok(port)
    })
    .await
}

/// The attributes an update copies onto the port as given.
fn apply_fields(port: &mut Port, u: &PortUpdate) {
    let copy = |to: &mut String, from: &Option<String>| {
        if let Some(v) = from {
            to.clone_from(v);
        }
    };
    copy(&mut port.name, &u.name);
    copy(&mut port.description, &u.description);
    copy(&mut port.device_id, &u.device_id);
    copy(&mut port.device_owner, &u.device_owner);
    copy(&mut port.binding_vnic_type, &u.binding_vnic_type);
    copy(&mut port.binding_host_id, &u.binding_host_id);
    if let Some(v) = u.admin_state_up {
        port.admin_state_up = v;
    }
    if let Some(v) = u.port_security_enabled {
        port.port_security_enabled = v;
    }
    if let Some(opts) = &u.extra_dhcp_opts {
        merge_dhcp_opts(&mut port.extra_dhcp_opts, opts);
    }
    if let Some(v) = &u.binding_profile {
        port.binding_profile.clone_from(v);
    }
}

/// dns-integration's update (Neutron's `process_update_port`): the name and domain given
/// are kept only under a real server domain; the addresses are named as they now are.
fn apply_dns(domain: &DnsDomain, port: &mut Port, u: &PortUpdate) {
    if domain.takes_port_names() {
        if let Some(name) = &u.dns_name {
            port.dns_name.clone_from(name);
        }
        if let Some(d) = &u.dns_domain {
            port.dns_domain.clone_from(d);
        }
    }
    port.name_addresses(domain);
}

/// New security groups when given; else port security may only be off without groups.
fn update_security_groups(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    port: &mut Port,
    u: &PortUpdate,
) -> Result<(), ApiError> {
    let Some(groups) = &u.security_groups else {
        if !port.port_security_enabled && !port.security_groups.is_empty() {
            return Err(ApiError::port_security_port_has_security_group());
        }
        return Ok(());
    };
    let now = app.clock.now();
    port.security_groups = super::security_groups::port_groups(
        tx,
        ctx,
        Some(groups.clone()),
        &port.project_id,
        port.port_security_enabled,
        false,
        &now,
    )?;
    tx.port_security_group_set(&port.id, &port.security_groups)?;
    Ok(())
}

/// A new MAC: only while the port is unbound, and unique on its network.
fn change_mac(tx: &mut dyn Tx, port: &mut Port, mac: &str) -> Result<(), ApiError> {
    if mac == port.mac_address {
        return Ok(());
    }
    if port.binding_vif_type != vif_type::UNBOUND && port.binding_vif_type != vif_type::BINDING_FAILED {
        return Err(ApiError::port_bound(&port.id, &port.binding_vif_type, &port.mac_address, mac));
    }
    let filter = IndexFilter {
        network_ids: Some(vec![port.network_id.clone()]),
        mac_addresses: Some(vec![mac.to_string()]),
        ..Default::default()
    };
    if tx.doc_count(Resource::Port, &filter)? > 0 {
        return Err(ApiError::mac_address_in_use(&port.network_id, mac));
    }
    port.mac_address = mac.to_string();
    Ok(())
}

/// The update's `fixed_ips`: keep addresses asked for again, release the rest, then
/// allocate the new ones.
fn reconcile_fixed_ips(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    port: &mut Port,
    net: &Network,
    list: &[FixedIpRequest],
) -> Result<(), ApiError> {
    check_fixed_ips_count(app, list)?;
    let subnets = network_subnets(tx, net)?;
    check_named_subnets(tx, ctx, &subnets, list)?;
    let requests = resolve_requests(net, &subnets, list, &port.device_owner)?;
    let (keep, fresh) = split_fixed_ips(port, requests, &subnets);
    for old in port.fixed_ips.iter().filter(|f| !keep.contains(f)) {
        tx.ip_allocation_delete(&old.subnet_id, &old.ip_address)?;
    }
    let added = allocate(tx, port, mac_octets(port)?, fresh, &[], Maker::Api)?;
    port.fixed_ips = keep.into_iter().chain(added).collect();
    Ok(())
}

/// Splits an update's resolved requests into the port's addresses to keep (asked for
/// again, by subnet or by address) and the requests to allocate. Automatic (SLAAC)
/// addresses stay unless the port is a router interface or the update names their subnet.
fn split_fixed_ips(port: &Port, requests: Vec<IpRequest>, subnets: &[Subnet]) -> (Vec<FixedIp>, Vec<IpRequest>) {
    let mut keep: Vec<FixedIp> = Vec::new();
    let mut fresh = Vec::new();
    for req in requests {
        let held = port
            .fixed_ips
            .iter()
            .find(|f| f.subnet_id == req.subnet.id && req.ip.is_none_or(|ip| f.ip_address == ip.to_string()));
        match held {
            Some(f) if !keep.contains(f) => keep.push(f.clone()),
            _ => fresh.push(req),
        }
    }
    if !super::port_alloc::is_router_interface_snat(&port.device_owner) {
        for f in &port.fixed_ips {
            let auto = subnets.iter().any(|s| s.id == f.subnet_id && subnets::is_auto_address(s));
            if auto && !keep.contains(f) && !fresh.iter().any(|r| r.subnet.id == f.subnet_id) {
                keep.push(f.clone());
            }
        }
    }
    (keep, fresh)
}

/// extra_dhcp_opts update semantics: options are replaced by name, a null value removes one.
fn merge_dhcp_opts(current: &mut Vec<ExtraDhcpOpt>, updates: &[ExtraDhcpOpt]) {
    for u in updates {
        current.retain(|c| !(c.opt_name == u.opt_name && c.ip_version == u.ip_version));
        if u.opt_value.is_some() {
            current.push(u.clone());
        }
    }
}

/// Deletes one port and releases its addresses.
pub async fn delete(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    if_match: Option<super::IfMatch>,
) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    let app2 = app.clone();
    nova_events::write(app, move |tx, events| {
        let port = lookup::visible::<Port>(tx, &ctx, &id)?;
        policy::authorize(&ctx, Resource::Port, Action::Delete, &port.project_id, None)?;
        check_revision(if_match, port.revision_number)?;
        // Router ports belong to their router (Neutron's prevent_l3_port_deletion).
        if L3_OWNERS.contains(&port.device_owner.as_str()) && tx.doc_get(Resource::Router, &port.device_id)?.is_some() {
            return Err(ApiError::l3_port_in_use(&id, &port.device_owner));
        }
        super::floatingips::release_port(tx, &port.id, &app2.clock.now())?;
        delete_in_tx(tx, &port)?;
        nova_events::port_deleted(&app2, &port, events);
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests;
