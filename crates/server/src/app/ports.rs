//! Ports (`ports`): the API verbs. Creation and address allocation are
//! [`super::port_alloc`]'s, shared with the server's service ports; an update reconciles
//! addresses through it, and a delete takes the port's floating IP associations with it.

use super::lookup;
use super::policy::{self, Action};
use super::port_alloc::{
    allocate, create_one, default_pair_macs, delete_in_tx, enforce_router_claim, mac_in_use, network_subnets,
    parse_dhcp_opts, parse_pairs, port_target, resolve_requests, security_requirements, Maker, L3_OWNERS, MAC_RETRIES,
};
use super::{attr, check_revision, load_required, subnets, App, Change, RequestContext};
use neutrino_model::types::{vif_type, ExtraDhcpOpt, Network, Port};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{IndexFilter, Tx};
use rand::Rng;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Loads a port for an update: what [`lookup::visible`] shows, and for the service role (Nova
/// binding its instances' ports) every port, as Neutron's `get_port` lets the service see
/// them; the update rules then decide what it may change.
fn load_for_update(tx: &mut dyn Tx, ctx: &RequestContext, id: &str) -> Result<Port, ApiError> {
    if ctx.has_role("service") {
        return load_required(tx, Resource::Port, id);
    }
    lookup::visible::<Port>(tx, ctx, id)
}

/// Creates ports (bulk is atomic).
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Map<String, Value>>,
) -> Result<Vec<Port>, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    // Random bytes are drawn outside the transaction so the writer does not wait on them.
    let macs: Vec<[u8; 3]> = {
        let mut rng = rand::rng();
        (0..items.len() * MAC_RETRIES).map(|_| rng.random()).collect()
    };
    app.store
        .write(move |tx| {
            let now = app2.clock.now();
            let mut macs = macs.into_iter();
            items.iter().map(|a| create_one(tx, &app2, &ctx, a, &now, &mut macs, Maker::Api)).collect()
        })
        .await
}

/// Updates one port: addresses are reconciled (kept, released, newly allocated).
pub async fn update(app: &Arc<App>, ctx: &RequestContext, id: String, change: Change) -> Result<Port, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut port = load_for_update(tx, &ctx, &id)?;
            let net: Network = load_required(tx, Resource::Network, &port.network_id)?;
            let shared = super::sharing::shared_with(tx, &net, &port.project_id)?;
            // Neutron checks the port as it would be after the update.
            let mut after = match serde_json::to_value(&port) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            after.extend(change.attrs.iter().map(|(k, v)| (k.clone(), v.clone())));
            let target = port_target(&port.project_id, &net, shared, &after);
            policy::authorize_target(&ctx, Resource::Port, Action::Update, &target, Some(&change.attrs))?;
            check_revision(change.if_match, port.revision_number)?;
            let a = &change.attrs;
            if a.contains_key("device_owner") || a.contains_key("device_id") {
                let owner = attr::str_of(a, "device_owner").unwrap_or_else(|| port.device_owner.clone());
                let device = attr::str_of(a, "device_id").unwrap_or_else(|| port.device_id.clone());
                enforce_router_claim(tx, &ctx, &owner, &device, &port.project_id)?;
            }
            let previous_host = port.binding_host_id.clone();
            apply_fields(&mut port, a)?;
            if let Some(groups) = attr::strings_of(a, "security_groups") {
                let now = app2.clock.now();
                port.security_groups = super::security_groups::port_groups(
                    tx,
                    &ctx,
                    Some(groups),
                    &port.project_id.clone(),
                    port.port_security_enabled,
                    false,
                    &now,
                )?;
                tx.port_security_group_set(&port.id, &port.security_groups)?;
            } else if !port.port_security_enabled && !port.security_groups.is_empty() {
                return Err(ApiError::conflict(
                    "PortSecurityPortHasSecurityGroup",
                    "Port has security group associated. Cannot disable port security or ip address until security group is removed",
                ));
            }
            security_requirements(&port)?;
            let binding = super::binding::decide(tx, &app2, &mut port, &previous_host)?;
            super::binding::record(tx, &port.id, binding)?;
            if let Some(mac) = attr::str_of(a, "mac_address") {
                change_mac(tx, &mut port, mac)?;
            }
            if let Some(Value::Array(list)) = a.get("fixed_ips") {
                reconcile_fixed_ips(tx, &app2, &mut port, &net, list)?;
            }
            default_pair_macs(&mut port);
            super::save_update(tx, &mut port, app2.clock.now())?;
            Ok(port)
        })
        .await
}

/// The attributes an update copies onto the port as given.
fn apply_fields(port: &mut Port, a: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(v) = attr::str_of(a, "name") {
        port.name = v;
    }
    if let Some(v) = attr::str_of(a, "description") {
        port.description = v;
    }
    if let Some(v) = attr::bool_of(a, "admin_state_up") {
        port.admin_state_up = v;
    }
    if let Some(v) = attr::str_of(a, "device_id") {
        port.device_id = v;
    }
    if let Some(v) = attr::str_of(a, "device_owner") {
        port.device_owner = v;
    }
    if let Some(v) = attr::bool_of(a, "port_security_enabled") {
        port.port_security_enabled = v;
    }
    if let Some(v) = a.get("allowed_address_pairs") {
        port.allowed_address_pairs = parse_pairs(v)?;
    }
    if let Some(v) = a.get("extra_dhcp_opts") {
        merge_dhcp_opts(&mut port.extra_dhcp_opts, parse_dhcp_opts(v)?);
    }
    if let Some(v) = attr::str_of(a, "binding:vnic_type") {
        port.binding_vnic_type = v;
    }
    if let Some(v) = a.get("binding:profile") {
        port.binding_profile = v.as_object().cloned().unwrap_or_default();
    }
    if let Some(v) = attr::str_of(a, "binding:host_id") {
        port.binding_host_id = v;
    }
    Ok(())
}

/// A new MAC: only while the port is unbound, and unique on its network.
fn change_mac(tx: &mut dyn Tx, port: &mut Port, mac: String) -> Result<(), ApiError> {
    if mac != port.mac_address {
        if port.binding_vif_type != vif_type::UNBOUND && port.binding_vif_type != vif_type::BINDING_FAILED {
            return Err(ApiError::conflict("PortBound", format!(
                "Unable to complete operation on port {}, port is already bound, port type: {}, old_mac {}, new_mac {mac}.",
                port.id, port.binding_vif_type, port.mac_address
            )));
        }
        let taken = tx.doc_count(
            Resource::Port,
            &IndexFilter {
                network_ids: Some(vec![port.network_id.clone()]),
                mac_addresses: Some(vec![mac.clone()]),
                ..Default::default()
            },
        )?;
        if taken > 0 {
            return Err(mac_in_use(&port.network_id, &mac));
        }
        port.mac_address = mac;
    }
    Ok(())
}

/// The update's `fixed_ips`: keep addresses asked for again, release the rest, then
/// allocate the new ones.
fn reconcile_fixed_ips(
    tx: &mut dyn Tx,
    app: &App,
    port: &mut Port,
    net: &Network,
    list: &[Value],
) -> Result<(), ApiError> {
    if list.len() > app.config.max_fixed_ips_per_port {
        return Err(ApiError::invalid_input("Exceeded maximum amount of fixed ips per port."));
    }
    let subnets = network_subnets(tx, net)?;
    let requests = resolve_requests(net, &subnets, list)?;
    // Keep addresses asked for again, release the rest, then allocate the new ones.
    let mut keep = Vec::new();
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
    // Automatic (SLAAC) addresses stay unless the port is a router interface.
    if !port.device_owner.starts_with("network:router_interface") {
        for f in &port.fixed_ips {
            let auto = subnets.iter().any(|s| s.id == f.subnet_id && subnets::is_auto_address(s));
            if auto && !keep.contains(f) && !fresh.iter().any(|r| r.subnet.id == f.subnet_id) {
                keep.push(f.clone());
            }
        }
    }
    for old in port.fixed_ips.iter().filter(|f| !keep.contains(f)) {
        tx.ip_allocation_delete(&old.subnet_id, &old.ip_address)?;
    }
    let mac = port.mac_address.parse::<neutrino_ipam::MacAddress>().map(|m| m.octets()).unwrap_or_default();
    let added = allocate(tx, port, mac, fresh, &[], Maker::Api)?;
    port.fixed_ips = keep.into_iter().chain(added).collect();
    Ok(())
}

/// extra_dhcp_opts update semantics: options are replaced by name, a null value removes one.
fn merge_dhcp_opts(current: &mut Vec<ExtraDhcpOpt>, updates: Vec<ExtraDhcpOpt>) {
    for u in updates {
        current.retain(|c| !(c.opt_name == u.opt_name && c.ip_version == u.ip_version));
        if u.opt_value.is_some() {
            current.push(u);
        }
    }
}

/// Deletes one port and releases its addresses.
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, id: String, if_match: Option<u64>) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    let app2 = app.clone();
    app.store
        .write(move |tx| {
            let port = lookup::visible::<Port>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Port, Action::Delete, &port.project_id, None)?;
            check_revision(if_match, port.revision_number)?;
            // Router ports belong to their router (Neutron's prevent_l3_port_deletion).
            if L3_OWNERS.contains(&port.device_owner.as_str())
                && tx.doc_get(Resource::Router, &port.device_id)?.is_some()
            {
                return Err(ApiError::conflict(
                    "L3PortInUse",
                    format!(
                        "Port {id} cannot be deleted directly via the port API: has device owner {}.",
                        port.device_owner
                    ),
                ));
            }
            super::floatingips::release_port(tx, &port.id, &app2.clock.now())?;
            delete_in_tx(tx, &port)
        })
        .await
}
