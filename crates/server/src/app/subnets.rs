//! Subnets: CIDR, gateway and pool validation (via the ipam crate), overlap checks within the
//! network, and deletion refused while ports hold addresses.

use super::lookup;
use super::policy::{self, Action};
use super::subnet_alloc::FromPool;
use super::{check_revision, decode, encode, load_required, networks, App, RequestContext};
use crate::config::Config;
use ipnet::IpNet;
use neutrino_ipam::AllocationPool;
use neutrino_model::bodies::subnets::{SubnetCreate, SubnetUpdate};
use neutrino_model::bodies::{Body, Update};
use neutrino_model::types::{FixedIp, HostRoute, Network, Port, Subnet, AUTO_DELETE_PORT_OWNERS};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, IndexFilter, IpAllocation, Tx};
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
        subnetpool_id: s.subnetpool_id.clone(),
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

fn parse_ip(v: &str) -> Result<IpAddr, ApiError> {
    v.parse().map_err(|_| ApiError::invalid_input(format!("'{v}' is not a valid IP address")))
}

/// The configured caps on nameservers and host routes (`id` names the subnet, or
/// `new subnet`).
fn check_limits(
    config: &Config,
    dns: Option<&[String]>,
    routes: Option<&[HostRoute]>,
    id: &str,
) -> Result<(), ApiError> {
    if dns.is_some_and(|ns| ns.len() > config.max_dns_nameservers) {
        return Err(ApiError::dns_nameservers_exhausted(id, config.max_dns_nameservers));
    }
    if routes.is_some_and(|rs| rs.len() > config.max_subnet_host_routes) {
        return Err(ApiError::host_routes_exhausted(id, config.max_subnet_host_routes));
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

/// A gateway may not be inside an allocation pool.
fn check_gateway_outside_pools(gateway: Option<IpAddr>, pools: &[AllocationPool]) -> Result<(), ApiError> {
    let Some(gw) = gateway else { return Ok(()) };
    match pools.iter().find(|p| p.contains(gw)) {
        Some(p) => Err(ApiError::gateway_conflict_with_allocation_pools(gw, p.start, p.end)),
        None => Ok(()),
    }
}

/// Creates subnets (bulk is atomic).
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Body<SubnetCreate>>,
) -> Result<Vec<Subnet>, ApiError> {
    super::bulk_create(app, ctx, items, create_one).await
}

fn create_one(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    body: &Body<SubnetCreate>,
    now: &str,
) -> Result<Subnet, ApiError> {
    let a = &body.fields;
    // Neutron's `_create` prologue: the network (policy's target), policy, then quota.
    let net = lookup::visible::<Network>(tx, ctx, &a.network_id)?;
    policy::authorize(ctx, Resource::Subnet, Action::Create, &net.project_id, Some(&body.attrs))?;
    insert(tx, app, ctx, net, a, now)
}

/// One subnet on `net`, from the quota on (the caller checked the policy, or the server
/// acts for itself).
pub(crate) fn insert(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    mut net: Network,
    a: &SubnetCreate,
    now: &str,
) -> Result<Subnet, ApiError> {
    super::quotas::check(tx, Resource::Subnet, &a.project_id)?;
    let from_pool = super::subnet_alloc::allocate(tx, ctx, a)?;
    let plan = plan_create(&app.config, a, &net, from_pool.as_ref())?;
    check_overlap(tx, &net, &plan.cidr)?;
    super::subnet_alloc::check_network_affinity(tx, &net, from_pool.as_ref().map(|f| &f.pool), a.ip_version)?;
    let pool_scope = from_pool.as_ref().map(|f| f.pool.address_scope_id.clone());
    let subnet = Subnet {
        id: uuid::Uuid::new_v4().to_string(),
        name: a.name.clone(),
        tenant_id: a.project_id.clone(),
        project_id: a.project_id.clone(),
        network_id: a.network_id.clone(),
        ip_version: a.ip_version,
        subnetpool_id: from_pool.map(|f| f.pool.id),
        cidr: plan.cidr.to_string(),
        gateway_ip: plan.gateway.map(|g| g.to_string()),
        allocation_pools: plan.pools,
        dns_nameservers: a.dns_nameservers.clone().unwrap_or_default(),
        host_routes: plan.routes,
        enable_dhcp: a.enable_dhcp,
        ipv6_ra_mode: a.ipv6_ra_mode.clone(),
        ipv6_address_mode: a.ipv6_address_mode.clone(),
        router_external: net.router_external,
        service_types: a.service_types.clone().unwrap_or_default(),
        description: a.description.clone(),
        tags: super::sorted_tags(a.tags.clone()),
        created_at: now.into(),
        updated_at: now.into(),
        revision_number: 0,
    };
    tx.doc_insert(Resource::Subnet, &doc(&subnet)?)?;
    tx.change_record(Resource::Subnet, &subnet.id, ChangeOp::Create, &subnet.project_id)?;
    net.subnets.push(subnet.id.clone());
    if let Some(scope) = pool_scope {
        super::subnet_alloc::set_network_scope(&mut net, subnet.ip_version, scope);
    }
    // A subnet revises its network (Neutron's `revises_on_change`): created, updated or gone.
    super::save_update(tx, &mut net, now.into())?;
    if is_auto_address(&subnet) {
        add_auto_addresses(tx, &app.dns_domain, &subnet, now)?;
    }
    Ok(subnet)
}

/// What a new subnet's addressing comes to, every check passed but the overlap with the
/// network's other subnets (which needs the store).
#[derive(Debug, PartialEq)]
struct AddressPlan {
    cidr: IpNet,
    gateway: Option<IpAddr>,
    pools: Vec<AllocationPool>,
    routes: Vec<HostRoute>,
}

/// Validates a new subnet's addressing in Neutron's order: pool, CIDR, MTU, limits, DHCP,
/// IPv6 modes, gateway, pools, routes. A subnet from a pool has the CIDR (and, when the pool
/// chose it, the gateway) the pool gave it.
fn plan_create(
    config: &Config,
    a: &SubnetCreate,
    net: &Network,
    from_pool: Option<&FromPool>,
) -> Result<AddressPlan, ApiError> {
    let pool_cidr = from_pool.map(|f| f.cidr.to_string());
    let Some(cidr_text) = pool_cidr.as_ref().or(a.cidr.as_ref()) else {
        return Err(ApiError::bad_request_for("subnets", "a subnetpool must be specified in the absence of a cidr"));
    };
    let version = a.ip_version;
    check_ip_version(cidr_text, version, "cidr")?;
    networks::check_subnet_mtu(net, version)?;
    let cidr = neutrino_ipam::validate_cidr(cidr_text, version)?;
    check_limits(config, a.dns_nameservers.as_deref(), a.host_routes.as_deref(), "new subnet")?;
    if a.enable_dhcp {
        neutrino_ipam::validate_dhcp_cidr(&cidr)?;
    }
    check_ipv6_modes(version, a.ipv6_ra_mode.as_deref(), a.ipv6_address_mode.as_deref(), a.enable_dhcp, &cidr)?;
    let gateway = create_gateway(from_pool.and_then(|f| f.gateway).or(a.gateway_ip), &cidr, version)?;
    let pools = create_pools(a.allocation_pools.as_deref(), &cidr, version, gateway)?;
    let routes = a.host_routes.clone().unwrap_or_default();
    check_route_versions(&routes, version)?;
    Ok(AddressPlan { cidr, gateway, pools, routes })
}

/// The gateway of a new subnet: given (or `null`), else the CIDR's first address.
fn create_gateway(given: Option<Option<IpAddr>>, cidr: &IpNet, version: u8) -> Result<Option<IpAddr>, ApiError> {
    Ok(match given {
        // IPAM's own check of the defaulted gateway (a /31's first address): 409.
        None => match neutrino_ipam::default_gateway(cidr) {
            Some(gw) => {
                neutrino_ipam::validate_ipam_gateway(cidr, gw)?;
                Some(gw)
            }
            None => None,
        },
        Some(None) => None,
        Some(Some(gw)) => Some(checked_gateway(gw, cidr, version)?),
    })
}

/// A gateway given in a request: of the subnet's IP version and valid for its CIDR.
fn checked_gateway(gw: IpAddr, cidr: &IpNet, version: u8) -> Result<IpAddr, ApiError> {
    check_ip_version(&gw.to_string(), version, "gateway_ip")?;
    neutrino_ipam::validate_gateway(cidr, gw)?;
    Ok(gw)
}

/// The allocation pools of a new subnet: given (checked against the gateway), else the
/// CIDR minus the gateway. An empty list is a subnet without pools, as in Neutron's
/// `_prepare_allocation_pools` (only an absent attribute gets the default): it hands out
/// no automatic address, only explicit ones.
fn create_pools(
    given: Option<&[AllocationPool]>,
    cidr: &IpNet,
    version: u8,
    gateway: Option<IpAddr>,
) -> Result<Vec<AllocationPool>, ApiError> {
    let Some(pools) = given else {
        return Ok(neutrino_ipam::default_allocation_pools(cidr, gateway));
    };
    for p in pools {
        check_ip_version(&p.start.to_string(), version, "allocation_pools")?;
        check_ip_version(&p.end.to_string(), version, "allocation_pools")?;
    }
    check_gateway_outside_pools(gateway, pools)?;
    neutrino_ipam::validate_allocation_pools(cidr, pools, gateway)?;
    Ok(pools.to_vec())
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

/// The host routes of a new subnet are each of the subnet's IP version.
fn check_route_versions(routes: &[HostRoute], version: u8) -> Result<(), ApiError> {
    for r in routes {
        check_ip_version(&r.nexthop, version, "host_routes")?;
        check_ip_version(&r.destination, version, "host_routes")?;
    }
    Ok(())
}

/// Gives every existing (non-router) port of the network its SLAAC address on a new subnet,
/// as Neutron does.
fn add_auto_addresses(
    tx: &mut dyn Tx,
    domain: &neutrino_model::dns::DnsDomain,
    subnet: &Subnet,
    now: &str,
) -> Result<(), ApiError> {
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
        port.name_addresses(domain);
        super::save_update(tx, &mut port, now.into())?;
    }
    Ok(())
}

/// Updates one subnet.
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    change: Update<SubnetUpdate>,
) -> Result<Subnet, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut s = lookup::visible::<Subnet>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Subnet, Action::Update, &s.project_id, Some(&change.body.attrs))?;
            check_revision(change.if_match, s.revision_number)?;
            let a = change.body.fields;
            check_limits(&app2.config, a.dns_nameservers.as_deref(), a.host_routes.as_deref(), &id)?;
            let cidr = cidr_of(&s)?;
            let mut gateway: Option<IpAddr> = s.gateway_ip.as_deref().map(parse_ip).transpose()?;
            if let Some(given) = a.gateway_ip {
                let current = gateway;
                gateway = given.map(|gw| checked_gateway(gw, &cidr, s.ip_version)).transpose()?;
                if gateway != current {
                    check_gateway_not_routed(tx, &id, current)?;
                }
                if let Some(gw) = gateway {
                    check_gateway_unused(tx, &id, gw)?;
                }
            }
            let pools = match a.allocation_pools {
                Some(pools) => {
                    neutrino_ipam::validate_allocation_pools(&cidr, &pools, None)?;
                    pools
                }
                None => s.allocation_pools.clone(),
            };
            check_gateway_outside_pools(gateway, &pools)?;
            s.gateway_ip = gateway.map(|g| g.to_string());
            s.allocation_pools = pools;
            if let Some(v) = a.dns_nameservers {
                s.dns_nameservers = v;
            }
            if let Some(v) = a.host_routes {
                s.host_routes = v;
            }
            if let Some(v) = a.enable_dhcp {
                set_enable_dhcp(&mut s, &cidr, v)?;
            }
            if let Some(v) = a.service_types {
                s.service_types = v;
            }
            if let Some(v) = a.name {
                s.name = v;
            }
            if let Some(v) = a.description {
                s.description = v;
            }
            let now = app2.clock.now();
            super::save_update(tx, &mut s, now.clone())?;
            let mut net: Network = load_required(tx, Resource::Network, &s.network_id)?;
            super::save_update(tx, &mut net, now)?;
            Ok(s)
        })
        .await
}

/// The current gateway may not move (or go) while a router port holds it: Neutron's
/// `GatewayIpInUse` in `_validate_subnet`.
fn check_gateway_not_routed(tx: &mut dyn Tx, subnet_id: &str, current: Option<IpAddr>) -> Result<(), ApiError> {
    let Some(current) = current else { return Ok(()) };
    let holder =
        tx.ip_allocation_list_by_subnet(subnet_id)?.into_iter().find(|al| al.ip_address == current.to_string());
    let Some(al) = holder else { return Ok(()) };
    let p: Option<Port> = super::load(tx, Resource::Port, &al.port_id)?;
    let routed = p.is_some_and(|p| {
        p.device_owner.starts_with("network:router_interface") || p.device_owner == "network:router_gateway"
    });
    if routed {
        return Err(ApiError::gateway_ip_in_use(current, &al.port_id));
    }
    Ok(())
}

/// A new gateway may be a router interface's address, never another port's.
fn check_gateway_unused(tx: &mut dyn Tx, subnet_id: &str, gw: IpAddr) -> Result<(), ApiError> {
    let owner = tx.ip_allocation_list_by_subnet(subnet_id)?.into_iter().find(|al| al.ip_address == gw.to_string());
    if let Some(al) = owner {
        let p: Option<Port> = super::load(tx, Resource::Port, &al.port_id)?;
        if !p.is_some_and(|p| p.device_owner.starts_with("network:router_interface")) {
            return Err(ApiError::gateway_ip_in_use(gw, &al.port_id));
        }
    }
    Ok(())
}

/// DHCP may not be turned off under IPv6 modes, nor on for a CIDR DHCP cannot serve.
fn set_enable_dhcp(s: &mut Subnet, cidr: &IpNet, enable: bool) -> Result<(), ApiError> {
    if !enable && (s.ipv6_ra_mode.is_some() || s.ipv6_address_mode.is_some()) {
        return Err(ApiError::invalid_input("Cannot disable enable_dhcp with ipv6 attributes set"));
    }
    if enable && !s.enable_dhcp {
        neutrino_ipam::validate_dhcp_cidr(cidr)?;
    }
    s.enable_dhcp = enable;
    Ok(())
}

/// Deletes a subnet; refused while non-service ports hold addresses on it.
pub async fn delete(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    if_match: Option<super::IfMatch>,
) -> Result<(), ApiError> {
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
                return Err(ApiError::subnet_in_use(&id));
            }
            let now = app2.clock.now();
            for al in tx.ip_allocation_list_by_subnet(&id)? {
                let mut port: Port = load_required(tx, Resource::Port, &al.port_id)?;
                if ROUTER_INTERFACE_OWNERS.contains(&port.device_owner.as_str()) {
                    return Err(ApiError::subnet_in_use(&id));
                }
                port.fixed_ips.retain(|f| f.subnet_id != id);
                port.forget_released_names();
                tx.ip_allocation_delete(&id, &al.ip_address)?;
                super::save_update(tx, &mut port, now.clone())?;
            }
            let mut net: Network = load_required(tx, Resource::Network, &s.network_id)?;
            net.subnets.retain(|sid| *sid != id);
            if s.subnetpool_id.is_some() {
                super::subnet_alloc::refresh_network_scope(tx, &mut net, s.ip_version)?;
            }
            super::save_update(tx, &mut net, now)?;
            tx.doc_delete(Resource::Subnet, &id)?;
            tx.change_record(Resource::Subnet, &id, ChangeOp::Delete, &s.project_id)?;
            Ok(())
        })
        .await
}

#[cfg(test)]
mod tests;
