//! Subnets: CIDR, gateway and pool validation (via the ipam crate), overlap checks within the
//! network, and deletion refused while ports hold addresses.

use super::lookup;
use super::policy::{self, Action};
use super::{attr, check_revision, decode, encode, load_required, networks, App, Change, RequestContext};
use ipnet::IpNet;
use neutrino_ipam::AllocationPool;
use neutrino_model::types::{FixedIp, HostRoute, Network, Port, Subnet, AUTO_DELETE_PORT_OWNERS};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, IndexFilter, IpAllocation, Tx};
use serde_json::{Map, Value};
use std::net::IpAddr;
use std::sync::Arc;

const EUI64_MODES: &[&str] = &["slaac", "dhcpv6-stateless"];

/// Device owners of router interfaces (neutron-lib's `ROUTER_INTERFACE_OWNERS`).
const ROUTER_INTERFACE_OWNERS: &[&str] =
    &["network:router_interface", "network:router_interface_distributed", "network:ha_router_replicated_interface"];

pub(crate) fn doc(s: &Subnet) -> Result<Doc, ApiError> {
    Ok(Doc {
        id: s.id.clone(),
        project_id: s.project_id.clone(),
        name: s.name.clone(),
        network_id: Some(s.network_id.clone()),
        body: encode(s)?,
        ..Doc::default()
    })
}

/// Whether ports get an address on this subnet from their MAC (SLAAC / stateless DHCPv6).
pub(crate) fn is_auto_address(s: &Subnet) -> bool {
    s.ipv6_address_mode.as_deref().is_some_and(|m| EUI64_MODES.contains(&m))
}

pub(crate) fn cidr_of(s: &Subnet) -> Result<IpNet, ApiError> {
    s.cidr.parse().map_err(|_| {
        tracing::error!(subnet = %s.id, cidr = %s.cidr, "stored subnet has an invalid cidr");
        ApiError::internal()
    })
}

fn parse_pools(v: &Value) -> Result<Vec<AllocationPool>, ApiError> {
    serde_json::from_value(v.clone()).map_err(|_| ApiError::invalid_input("Invalid data format for allocation pools"))
}

fn parse_ip(v: &str) -> Result<IpAddr, ApiError> {
    v.parse().map_err(|_| ApiError::invalid_input(format!("'{v}' is not a valid IP address")))
}

fn check_limits(app: &App, a: &Map<String, Value>, id: &str) -> Result<(), ApiError> {
    if let Some(Value::Array(ns)) = a.get("dns_nameservers") {
        if ns.len() > app.config.max_dns_nameservers {
            return Err(ApiError::new(
                400,
                "DNSNameServersExhausted",
                format!(
                    "Unable to complete operation for {id}. The number of DNS nameservers exceeds the limit {}.",
                    app.config.max_dns_nameservers
                ),
            ));
        }
    }
    if let Some(Value::Array(rs)) = a.get("host_routes") {
        if rs.len() > app.config.max_subnet_host_routes {
            return Err(ApiError::new(
                400,
                "HostRoutesExhausted",
                format!(
                    "Unable to complete operation for {id}. The number of host routes exceeds the limit {}.",
                    app.config.max_subnet_host_routes
                ),
            ));
        }
    }
    Ok(())
}

fn check_ip_version(value: &str, version: u8, attr_name: &str) -> Result<(), ApiError> {
    let is_v4 = value
        .parse::<IpAddr>()
        .map(|ip| ip.is_ipv4())
        .or_else(|_| value.parse::<IpNet>().map(|n| matches!(n, IpNet::V4(_))));
    match is_v4 {
        Ok(v4) if v4 == (version == 4) => Ok(()),
        _ => Err(ApiError::invalid_input(format!(
            "Invalid input for {attr_name}. Reason: '{value}' is not a valid IPv{version} address."
        ))),
    }
}

fn check_ipv6_modes(
    version: u8,
    ra: Option<&str>,
    addr: Option<&str>,
    dhcp: bool,
    cidr: &IpNet,
) -> Result<(), ApiError> {
    if ra.is_none() && addr.is_none() {
        return Ok(());
    }
    if version == 4 {
        let which = if ra.is_some() { "ipv6_ra_mode" } else { "ipv6_address_mode" };
        return Err(ApiError::invalid_input(format!("{which} is not valid when ip_version is 4")));
    }
    if !dhcp {
        return Err(ApiError::invalid_input(
            "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False",
        ));
    }
    if let (Some(r), Some(a)) = (ra, addr) {
        if r != a {
            return Err(ApiError::invalid_input(format!(
                "ipv6_ra_mode set to '{r}' with ipv6_address_mode set to '{a}' is not valid. If both attributes are set, they must be the same value"
            )));
        }
    }
    if addr.is_some_and(|m| EUI64_MODES.contains(&m)) && cidr.prefix_len() != 64 {
        return Err(ApiError::invalid_input(format!(
            "Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"
        )));
    }
    Ok(())
}

fn gateway_conflict(gw: IpAddr, pools: &[AllocationPool]) -> Option<ApiError> {
    pools.iter().find(|p| p.contains(gw)).map(|p| {
        ApiError::conflict(
            "GatewayConflictWithAllocationPools",
            format!("Gateway ip {gw} conflicts with allocation pool {}-{}", p.start, p.end),
        )
    })
}

/// Creates subnets (bulk is atomic).
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Map<String, Value>>,
) -> Result<Vec<Subnet>, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let now = app2.clock.now();
            items.iter().map(|a| create_one(tx, &app2, &ctx, a, &now)).collect()
        })
        .await
}

fn create_one(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    a: &Map<String, Value>,
    now: &str,
) -> Result<Subnet, ApiError> {
    super::quotas::check(tx, Resource::Subnet, &attr::str_of(a, "project_id").unwrap_or_default())?;
    let network_id = attr::str_of(a, "network_id").unwrap_or_default();
    let version = attr::int_of(a, "ip_version").unwrap_or(4) as u8;
    let mut net = lookup::visible::<Network>(tx, ctx, &network_id)?;
    policy::authorize(ctx, Resource::Subnet, Action::Create, &net.project_id, Some(a))?;
    if let Some(pool) = attr::str_of(a, "subnetpool_id") {
        return Err(ApiError::new(404, "SubnetPoolNotFound", format!("Subnet pool {pool} could not be found.")));
    }
    let Some(cidr_text) = attr::str_of(a, "cidr") else {
        return Err(ApiError::bad_request_for("subnets", "a subnetpool must be specified in the absence of a cidr"));
    };
    check_ip_version(&cidr_text, version, "cidr")?;
    networks::check_subnet_mtu(&net, version)?;
    let cidr = neutrino_ipam::validate_cidr(&cidr_text, version)?;
    check_limits(app, a, "new subnet")?;
    let dhcp = attr::bool_of(a, "enable_dhcp").unwrap_or(true);
    if dhcp {
        neutrino_ipam::validate_dhcp_cidr(&cidr)?;
    }
    let ra_mode = attr::str_of(a, "ipv6_ra_mode");
    let addr_mode = attr::str_of(a, "ipv6_address_mode");
    check_ipv6_modes(version, ra_mode.as_deref(), addr_mode.as_deref(), dhcp, &cidr)?;

    let gateway = create_gateway(a, &cidr, version)?;
    let pools = create_pools(a, &cidr, version, gateway)?;
    check_overlap(tx, &net, &cidr)?;
    let project = attr::str_of(a, "project_id").unwrap_or_default();
    let dns = attr::strings_of(a, "dns_nameservers").unwrap_or_default();
    let routes = create_routes(a, version)?;
    let subnet = Subnet {
        id: uuid::Uuid::new_v4().to_string(),
        name: attr::str_of(a, "name").unwrap_or_default(),
        tenant_id: project.clone(),
        project_id: project.clone(),
        network_id: network_id.clone(),
        ip_version: version,
        subnetpool_id: None,
        cidr: cidr.to_string(),
        gateway_ip: gateway.map(|g| g.to_string()),
        allocation_pools: pools,
        dns_nameservers: dns,
        host_routes: routes,
        enable_dhcp: dhcp,
        ipv6_ra_mode: ra_mode,
        ipv6_address_mode: addr_mode,
        description: attr::str_of(a, "description").unwrap_or_default(),
        tags: super::sorted_tags(attr::strings_of(a, "tags").unwrap_or_default()),
        created_at: now.into(),
        updated_at: now.into(),
        revision_number: 0,
    };
    tx.doc_insert(Resource::Subnet, &doc(&subnet)?)?;
    tx.change_record(Resource::Subnet, &subnet.id, ChangeOp::Create, &project)?;
    net.subnets.push(subnet.id.clone());
    tx.doc_update(Resource::Network, &networks::doc(&net)?)?;
    if is_auto_address(&subnet) {
        add_auto_addresses(tx, &subnet, now)?;
    }
    Ok(subnet)
}

/// The gateway of a new subnet: given (or `null`), else the CIDR's first address.
fn create_gateway(a: &Map<String, Value>, cidr: &IpNet, version: u8) -> Result<Option<IpAddr>, ApiError> {
    Ok(match a.get("gateway_ip") {
        // IPAM's own check of the defaulted gateway (a /31's first address): 409.
        None => match neutrino_ipam::default_gateway(cidr) {
            Some(gw) => {
                neutrino_ipam::validate_ipam_gateway(cidr, gw)?;
                Some(gw)
            }
            None => None,
        },
        Some(Value::Null) => None,
        Some(v) => {
            let text = v.as_str().unwrap_or_default();
            check_ip_version(text, version, "gateway_ip")?;
            let gw = parse_ip(text)?;
            neutrino_ipam::validate_gateway(cidr, gw)?;
            Some(gw)
        }
    })
}

/// The allocation pools of a new subnet: given (checked against the gateway), else the
/// CIDR minus the gateway.
fn create_pools(
    a: &Map<String, Value>,
    cidr: &IpNet,
    version: u8,
    gateway: Option<IpAddr>,
) -> Result<Vec<AllocationPool>, ApiError> {
    Ok(match a.get("allocation_pools") {
        Some(v) if !v.as_array().is_some_and(Vec::is_empty) => {
            let pools = parse_pools(v)?;
            for p in &pools {
                check_ip_version(&p.start.to_string(), version, "allocation_pools")?;
                check_ip_version(&p.end.to_string(), version, "allocation_pools")?;
            }
            if let Some(err) = gateway.and_then(|gw| gateway_conflict(gw, &pools)) {
                return Err(err);
            }
            neutrino_ipam::validate_allocation_pools(cidr, &pools, gateway)?;
            pools
        }
        _ => neutrino_ipam::default_allocation_pools(cidr, gateway),
    })
}

/// A new subnet may not overlap another subnet of its network.
fn check_overlap(tx: &mut dyn Tx, net: &Network, cidr: &IpNet) -> Result<(), ApiError> {
    for other_id in &net.subnets {
        let other: Subnet = load_required(tx, Resource::Subnet, other_id)?;
        let other_cidr = cidr_of(&other)?;
        if other_cidr.contains(&cidr.network()) || cidr.contains(&other_cidr.network()) {
            return Err(ApiError::invalid_input(format!(
                "Requested subnet with cidr: {cidr} for network: {} overlaps with another subnet",
                net.id
            )));
        }
    }
    Ok(())
}

/// The host routes of a new subnet, each of the subnet's IP version.
fn create_routes(a: &Map<String, Value>, version: u8) -> Result<Vec<HostRoute>, ApiError> {
    let routes: Vec<HostRoute> = a
        .get("host_routes")
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|_| ApiError::invalid_input("Invalid data format for hostroute"))?
        .unwrap_or_default();
    for r in &routes {
        check_ip_version(&r.nexthop, version, "host_routes")?;
        check_ip_version(&r.destination, version, "host_routes")?;
    }
    Ok(routes)
}

/// Gives every existing (non-router) port of the network its SLAAC address on a new subnet,
/// as Neutron does.
fn add_auto_addresses(tx: &mut dyn Tx, subnet: &Subnet, now: &str) -> Result<(), ApiError> {
    let prefix = match cidr_of(subnet)? {
        IpNet::V6(p) => p,
        IpNet::V4(_) => return Ok(()),
    };
    let bodies = tx.doc_list(
        Resource::Port,
        &IndexFilter { network_ids: Some(vec![subnet.network_id.clone()]), ..Default::default() },
    )?;
    for body in bodies {
        let mut port: Port = decode(Resource::Port, &subnet.network_id, &body)?;
        if port.device_owner.starts_with("network:router_interface") {
            continue;
        }
        let Ok(mac) = port.mac_address.parse::<neutrino_ipam::MacAddress>() else { continue };
        let Some(ip) = neutrino_ipam::eui64_address(&prefix, mac.octets()) else { continue };
        tx.ip_allocation_insert(&IpAllocation {
            subnet_id: subnet.id.clone(),
            ip_address: ip.to_string(),
            port_id: port.id.clone(),
            network_id: port.network_id.clone(),
        })?;
        port.fixed_ips.push(FixedIp { subnet_id: subnet.id.clone(), ip_address: ip.to_string() });
        super::save_update(tx, &mut port, now.into())?;
    }
    Ok(())
}

/// Updates one subnet.
pub async fn update(app: &Arc<App>, ctx: &RequestContext, id: String, change: Change) -> Result<Subnet, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut s = lookup::visible::<Subnet>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Subnet, Action::Update, &s.project_id, Some(&change.attrs))?;
            check_revision(change.if_match, s.revision_number)?;
            let a = &change.attrs;
            check_limits(&app2, a, &id)?;
            let cidr = cidr_of(&s)?;
            let mut gateway: Option<IpAddr> = s.gateway_ip.as_deref().map(parse_ip).transpose()?;
            if let Some(v) = a.get("gateway_ip") {
                gateway = match v {
                    Value::Null => None,
                    v => {
                        let text = v.as_str().unwrap_or_default();
                        check_ip_version(text, s.ip_version, "gateway_ip")?;
                        let gw = parse_ip(text)?;
                        neutrino_ipam::validate_gateway(&cidr, gw)?;
                        Some(gw)
                    }
                };
                if let Some(gw) = gateway {
                    let owner =
                        tx.ip_allocation_list_by_subnet(&id)?.into_iter().find(|al| al.ip_address == gw.to_string());
                    if let Some(al) = owner {
                        let p: Option<Port> = super::load(tx, Resource::Port, &al.port_id)?;
                        if !p.is_some_and(|p| p.device_owner.starts_with("network:router_interface")) {
                            return Err(ApiError::conflict(
                                "GatewayIpInUse",
                                format!(
                                    "Current gateway ip {gw} already in use by port {}. Unable to update.",
                                    al.port_id
                                ),
                            ));
                        }
                    }
                }
            }
            let pools = match a.get("allocation_pools") {
                Some(v) => {
                    let pools = parse_pools(v)?;
                    neutrino_ipam::validate_allocation_pools(&cidr, &pools, None)?;
                    pools
                }
                None => s.allocation_pools.clone(),
            };
            if let Some(err) = gateway.and_then(|gw| gateway_conflict(gw, &pools)) {
                return Err(err);
            }
            s.gateway_ip = gateway.map(|g| g.to_string());
            s.allocation_pools = pools;
            if let Some(v) = attr::strings_of(a, "dns_nameservers") {
                s.dns_nameservers = v;
            }
            if let Some(v) = a.get("host_routes") {
                s.host_routes = serde_json::from_value(v.clone())
                    .map_err(|_| ApiError::invalid_input("Invalid data format for hostroute"))?;
            }
            if let Some(v) = attr::bool_of(a, "enable_dhcp") {
                if !v && (s.ipv6_ra_mode.is_some() || s.ipv6_address_mode.is_some()) {
                    return Err(ApiError::invalid_input("Cannot disable enable_dhcp with ipv6 attributes set"));
                }
                if v && !s.enable_dhcp {
                    let cidr: ipnet::IpNet = s.cidr.parse().map_err(|_| ApiError::internal())?;
                    neutrino_ipam::validate_dhcp_cidr(&cidr)?;
                }
                s.enable_dhcp = v;
            }
            if let Some(v) = attr::str_of(a, "name") {
                s.name = v;
            }
            if let Some(v) = attr::str_of(a, "description") {
                s.description = v;
            }
            super::save_update(tx, &mut s, app2.clock.now())?;
            Ok(s)
        })
        .await
}

/// Deletes a subnet; refused while non-service ports hold addresses on it.
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, id: String, if_match: Option<u64>) -> Result<(), ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let s = lookup::visible::<Subnet>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Subnet, Action::Delete, &s.project_id, None)?;
            check_revision(if_match, s.revision_number)?;
            // Router interfaces always hold a subnet; user ports hold it unless its addresses
            // are automatic (SLAAC/stateless), which Neutron then simply removes.
            let in_use = tx.ip_allocation_count_by_subnet(&id, AUTO_DELETE_PORT_OWNERS)?;
            if in_use > 0 && !is_auto_address(&s) {
                return Err(subnet_in_use(&id));
            }
            let now = app2.clock.now();
            for al in tx.ip_allocation_list_by_subnet(&id)? {
                let mut port: Port = load_required(tx, Resource::Port, &al.port_id)?;
                if ROUTER_INTERFACE_OWNERS.contains(&port.device_owner.as_str()) {
                    return Err(subnet_in_use(&id));
                }
                port.fixed_ips.retain(|f| f.subnet_id != id);
                tx.ip_allocation_delete(&id, &al.ip_address)?;
                super::save_update(tx, &mut port, now.clone())?;
            }
            let mut net: Network = load_required(tx, Resource::Network, &s.network_id)?;
            net.subnets.retain(|sid| *sid != id);
            tx.doc_update(Resource::Network, &networks::doc(&net)?)?;
            tx.doc_delete(Resource::Subnet, &id)?;
            tx.change_record(Resource::Subnet, &id, ChangeOp::Delete, &s.project_id)?;
            Ok(())
        })
        .await
}

fn subnet_in_use(id: &str) -> ApiError {
    ApiError::conflict(
        "SubnetInUse",
        format!(
            "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
        ),
    )
}
