//! Port allocation, below every module that makes ports: MAC generation, fixed IP
//! allocation (auto and explicit), port security and binding attributes, and the one
//! create path that the ports API and the server's own service ports (router interfaces
//! and gateways, DHCP ports, floating IPs) share. Allocation runs inside the write
//! transaction over the subnet's ledger, and the ledger's primary key rejects any address
//! handed out twice.
//!
//! [`delete_in_tx`] is the bare primitive (release the addresses, drop the row); what else
//! a port's deletion takes with it (its floating IPs' association) is the caller's, in
//! [`super::ports::delete`].

use super::lookup;
use super::{encode, load_required, subnets, App, RequestContext};
use ipnet::IpNet;
use neutrino_ipam::MacAddress;
use neutrino_model::bodies::ports::{AddressPairRequest, FixedIpRequest, PortCreate};
use neutrino_model::types::{status, AddressPair, FixedIp, Network, Port, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, IndexFilter, IpAllocation, StoreError, Tx};
use rand::Rng;
use serde_json::Map;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

/// neutron-lib's `ROUTER_INTERFACE_OWNERS`: ports that may hold any address of a SLAAC
/// subnet (a router interface takes the subnet's gateway there, not its EUI-64 address).
pub(crate) const ROUTER_INTERFACE_OWNERS: &[&str] =
    &["network:router_interface", "network:ha_router_replicated_interface", "network:router_interface_distributed"];

/// Whether `owner` is in neutron-lib's `ROUTER_INTERFACE_OWNERS_SNAT`: router interfaces and
/// DVR's centralized SNAT port, which get no automatic (EUI-64) addresses and keep none.
pub(crate) fn is_router_interface_snat(owner: &str) -> bool {
    ROUTER_INTERFACE_OWNERS.contains(&owner) || owner == "network:router_centralized_snat"
}

/// Device owners of ports a router owns.
pub(crate) const L3_OWNERS: &[&str] = &["network:router_interface", "network:router_gateway"];

/// Owners that claim a router through `device_id`: Neutron's `ROUTER_INTERFACE_OWNERS`, plus
/// the gateway, because a router's ports are found by `device_id` here (Neutron keeps them
/// in a table of their own).
const ROUTER_CLAIMING_OWNERS: &[&str] = &[
    "network:router_interface",
    "network:ha_router_replicated_interface",
    "network:router_interface_distributed",
    "network:router_gateway",
];

/// Neutron's `_enforce_device_owner_not_router_intf_or_device_id`: a port may name a router
/// as its device with a router owner only when the port's project owns that router (admins
/// excepted), so nobody plugs a port into another project's router.
pub(crate) fn enforce_router_claim(
    tx: &mut dyn Tx,
    ctx: &RequestContext,
    device_owner: &str,
    device_id: &str,
    port_project: &str,
) -> Result<(), ApiError> {
    if ctx.is_admin || device_id.is_empty() || !ROUTER_CLAIMING_OWNERS.contains(&device_owner) {
        return Ok(());
    }
    let Some(router) = super::load::<neutrino_model::types::Router>(tx, Resource::Router, device_id)? else {
        return Ok(());
    };
    if router.project_id != port_project {
        return Err(ApiError::device_id_not_owned_by_tenant(device_id));
    }
    Ok(())
}

/// Deletes a port and releases its addresses, inside a transaction.
pub(crate) fn delete_in_tx(tx: &mut dyn Tx, port: &Port) -> Result<(), ApiError> {
    tx.ip_allocation_delete_by_port(&port.id)?;
    tx.doc_delete(Resource::Port, &port.id)?;
    tx.change_record(Resource::Port, &port.id, ChangeOp::Delete, &port.project_id)?;
    Ok(())
}

/// A port a service (router interface or gateway, DHCP, floating IP) owns.
pub(crate) struct ServicePort<'a> {
    pub project: &'a str,
    pub network_id: &'a str,
    pub device_owner: &'a str,
    pub device_id: &'a str,
    /// Requested addresses, or automatic.
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    /// `binding:host_id` (DHCP ports are bound to their agent's host).
    pub host: Option<&'a str>,
}

/// Creates a service port inside a transaction. The server acts for itself, so no policy
/// applies (Neutron's plugin calls with an elevated context), but the quota does.
pub(crate) fn create_service_port(tx: &mut dyn Tx, app: &App, spec: ServicePort, now: &str) -> Result<Port, ApiError> {
    let mut body = PortCreate {
        fixed_ips: spec.fixed_ips,
        ..PortCreate::service(spec.project, spec.network_id, spec.device_owner, spec.device_id)
    };
    if let Some(host) = spec.host {
        body.binding_host_id = host.into();
    }
    let ctx = RequestContext::noauth(spec.project.into(), app.rules.clone());
    let net = lookup::visible::<Network>(tx, &ctx, spec.network_id)?;
    let mut rng = rand::rng();
    let mut macs = std::iter::repeat_with(move || rng.random::<[u8; 3]>()).take(MAC_RETRIES);
    create_one(tx, app, &ctx, &body, &net, now, &mut macs, Maker::Server)
}

/// Attempts at a random MAC before giving up (Neutron's `mac_generation_retries`).
pub(crate) const MAC_RETRIES: usize = 16;

pub(crate) fn doc(p: &Port) -> Result<Doc, ApiError> {
    debug_assert!(
        p.dns_assignment.iter().map(|d| &d.ip_address).eq(p.fixed_ips.iter().map(|f| &f.ip_address)),
        "port {} is saved with a dns_assignment out of step with its fixed_ips",
        p.id
    );
    Ok(Doc {
        id: p.id.clone(),
        project_id: p.project_id.clone(),
        name: p.name.clone(),
        network_id: Some(p.network_id.clone()),
        device_id: Some(p.device_id.clone()),
        device_owner: Some(p.device_owner.clone()),
        mac_address: Some(p.mac_address.clone()),
        body: encode(p)?,
        ..Doc::default()
    })
}

/// Renames every port whose stored `dns_assignment` is not what the configured domain gives
/// (documents from before dns-integration, or a server restarted with another
/// `dns_domain`), so the documents stay the wire form. Run once at start; only the
/// computed names change, so neither the revision nor the change feed moves (Neutron
/// computes them on every read). Returns how many ports were rewritten.
pub async fn refresh_dns_assignments(app: &Arc<App>) -> Result<usize, ApiError> {
    let domain = app.dns_domain.clone();
    app.store
        .write(move |tx| {
            let mut renamed = 0;
            for body in tx.doc_list(Resource::Port, &IndexFilter::default())? {
                let mut port: Port = super::decode(Resource::Port, "?", &body)?;
                let names = domain.assignment(&port.dns_name, &port.fixed_ips);
                if names != port.dns_assignment {
                    port.dns_assignment = names;
                    tx.doc_update(Resource::Port, &doc(&port)?)?;
                    renamed += 1;
                }
            }
            Ok(renamed)
        })
        .await
}

/// A requested fixed IP after resolution against the network's subnets.
#[derive(Debug)]
pub(crate) struct IpRequest {
    pub(crate) subnet: Subnet,
    pub(crate) ip: Option<IpAddr>,
}

pub(crate) fn network_subnets(tx: &mut dyn Tx, net: &Network) -> Result<Vec<Subnet>, ApiError> {
    net.subnets.iter().map(|id| load_required(tx, Resource::Subnet, id)).collect()
}

/// The subnets a new port may take addresses from (Neutron's `_ipam_get_subnets`): those
/// without service types, those whose types name the port's device owner, and, for a DHCP
/// port, any with DHCP enabled. Typed subnets come first, so a port takes its address from
/// its service's subnet while that has room. A network whose subnets all serve other owners
/// is an error; one with no subnets is not.
pub(crate) fn service_subnets(subnets: Vec<Subnet>, port: &Port) -> Result<Vec<Subnet>, ApiError> {
    let owner = port.device_owner.as_str();
    let total = subnets.len();
    let mut eligible: Vec<Subnet> = subnets
        .into_iter()
        .filter(|s| {
            s.service_types.is_empty()
                || s.service_types.iter().any(|t| t == owner)
                || (s.enable_dhcp && owner == "network:dhcp")
        })
        .collect();
    if eligible.is_empty() && total > 0 {
        return Err(ApiError::ip_address_generation_failure_no_matching_subnet(&port.network_id, owner));
    }
    eligible.sort_by_key(|s| s.service_types.is_empty());
    Ok(eligible)
}

/// What Neutron's `_get_subnet_for_fixed_ip` checks before matching: a network without
/// subnets cannot allocate at all, and a named subnet the caller cannot see (or that does not
/// exist) is 404 SubnetNotFound; one that exists on another network stays the 400 of
/// [`resolve_requests`].
pub(crate) fn check_named_subnets(
    tx: &mut dyn Tx,
    ctx: &RequestContext,
    subnets: &[Subnet],
    requested: &[FixedIpRequest],
) -> Result<(), ApiError> {
    if requested.is_empty() {
        return Ok(());
    }
    if subnets.is_empty() {
        return Err(ApiError::invalid_input("IP allocation requires subnets for network"));
    }
    for sid in requested.iter().filter_map(|r| r.subnet_id.as_ref()) {
        if !subnets.iter().any(|s| &s.id == sid) {
            lookup::visible::<Subnet>(tx, ctx, sid)?;
        }
    }
    Ok(())
}

/// Resolves the `fixed_ips` of a request: each entry names a subnet, an address or both.
/// Whether an address is valid depends on the port's owner (Neutron's `check_subnet_ip`:
/// an IPv6 subnet's network address is for router ports only).
pub(crate) fn resolve_requests(
    net: &Network,
    subnets: &[Subnet],
    requested: &[FixedIpRequest],
    device_owner: &str,
) -> Result<Vec<IpRequest>, ApiError> {
    requested.iter().map(|r| resolve_request(net, subnets, r, device_owner)).collect()
}

/// Neutron's `_get_subnet_for_fixed_ip`.
fn resolve_request(net: &Network, subnets: &[Subnet], r: &FixedIpRequest, owner: &str) -> Result<IpRequest, ApiError> {
    let valid_in = |s: &Subnet, ip: IpAddr| {
        s.cidr.parse::<IpNet>().is_ok_and(|c| neutrino_ipam::validate_ip_for_port(&c, ip, owner).is_ok())
    };
    let subnet = match (&r.subnet_id, r.ip_address) {
        (Some(sid), _) => subnets.iter().find(|s| &s.id == sid).ok_or_else(|| {
            ApiError::invalid_input(format!(
                "Failed to create port on network {}, because fixed_ips included invalid subnet {sid}",
                net.id
            ))
        })?,
        // The first subnet on which the address is valid, not merely inside.
        (None, Some(ip)) => {
            subnets.iter().find(|s| valid_in(s, ip)).ok_or_else(|| ApiError::invalid_ip_for_network(&ip.to_string()))?
        }
        (None, None) => return Err(ApiError::invalid_input("IP allocation requires subnet_id or ip_address")),
    };
    if let Some(ip) = r.ip_address {
        if !valid_in(subnet, ip) {
            return Err(ApiError::invalid_ip_for_subnet(&ip.to_string()));
        }
    }
    Ok(IpRequest { subnet: subnet.clone(), ip: r.ip_address })
}

/// Default requests when none were given: one address from the first IPv4 subnet with room
/// (Neutron tries each), every SLAAC subnet, and one stateful IPv6 subnet.
fn default_requests(subnets: &[Subnet]) -> Vec<IpRequest> {
    let mut out = Vec::new();
    let v4: Vec<&Subnet> = subnets.iter().filter(|s| s.ip_version == 4).collect();
    if !v4.is_empty() {
        out.push(IpRequest { subnet: v4[0].clone(), ip: None });
    }
    let mut stateful_v6 = false;
    for s in subnets.iter().filter(|s| s.ip_version == 6) {
        if subnets::is_auto_address(s) {
            out.push(IpRequest { subnet: s.clone(), ip: None });
        } else if !stateful_v6 {
            stateful_v6 = true;
            out.push(IpRequest { subnet: s.clone(), ip: None });
        }
    }
    out
}

/// Who makes a port: the API on a caller's behalf, or the server for one of its services
/// (router interfaces and gateways, DHCP, floating IPs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Maker {
    Api,
    Server,
}

/// Allocates the requested addresses for `port`, writing the ledger rows. Only a router
/// port the server makes takes a subnet's gateway address: a port claiming a router owner
/// through the API does not.
pub(crate) fn allocate(
    tx: &mut dyn Tx,
    port: &Port,
    mac: [u8; 6],
    requests: Vec<IpRequest>,
    v4_fallback: &[Subnet],
    maker: Maker,
) -> Result<Vec<FixedIp>, ApiError> {
    let is_router =
        port.device_owner.starts_with("network:router_interface") || port.device_owner == "network:router_gateway";
    let takes_gateway = is_router && maker == Maker::Server;
    check_auto_address_requests(port, mac, &requests)?;
    let mut out = Vec::with_capacity(requests.len());
    for (index, req) in requests.into_iter().enumerate() {
        let cidr = subnets::cidr_of(&req.subnet)?;
        let address = match req.ip {
            Some(ip) => {
                if !takes_gateway && req.subnet.gateway_ip.as_deref() == Some(ip.to_string().as_str()) {
                    return Err(ApiError::ip_address_already_allocated(&ip.to_string(), &req.subnet.id));
                }
                ip
            }
            None if subnets::is_auto_address(&req.subnet) && !is_router_interface_snat(&port.device_owner) => {
                match cidr {
                    IpNet::V6(prefix) => IpAddr::V6(
                        neutrino_ipam::eui64_address(&prefix, mac)
                            .ok_or_else(|| ApiError::ip_address_generation_failure(&port.network_id))?,
                    ),
                    IpNet::V4(_) => return Err(ApiError::ip_address_generation_failure(&port.network_id)),
                }
            }
            None => {
                // The first default IPv4 request may spill over to the network's other v4 subnets.
                let candidates: Vec<&Subnet> = if index == 0 && req.subnet.ip_version == 4 && !v4_fallback.is_empty() {
                    v4_fallback.iter().collect()
                } else {
                    vec![&req.subnet]
                };
                let mut found = None;
                for s in candidates {
                    if let Some(ip) = first_free(tx, s)? {
                        found = Some((s.clone(), ip));
                        break;
                    }
                }
                let (subnet, ip) = found.ok_or_else(|| ApiError::ip_address_generation_failure(&port.network_id))?;
                insert_allocation(tx, &subnet.id, ip, port)?;
                out.push(FixedIp { subnet_id: subnet.id, ip_address: ip.to_string() });
                continue;
            }
        };
        insert_allocation(tx, &req.subnet.id, address, port)?;
        out.push(FixedIp { subnet_id: req.subnet.id.clone(), ip_address: address.to_string() });
    }
    Ok(out)
}

/// Neutron's check in `_test_fixed_ips_for_port`, over all requests before any is
/// allocated: on a SLAAC/stateless subnet a port that is no router interface may name only
/// its own EUI-64 address.
fn check_auto_address_requests(port: &Port, mac: [u8; 6], requests: &[IpRequest]) -> Result<(), ApiError> {
    if ROUTER_INTERFACE_OWNERS.contains(&port.device_owner.as_str()) {
        return Ok(());
    }
    for req in requests.iter().filter(|r| subnets::is_auto_address(&r.subnet)) {
        let (Some(ip), IpNet::V6(prefix)) = (req.ip, subnets::cidr_of(&req.subnet)?) else { continue };
        if neutrino_ipam::eui64_address(&prefix, mac).map(IpAddr::V6) != Some(ip) {
            return Err(ApiError::allocation_on_auto_address_subnet(&ip.to_string(), &req.subnet.id));
        }
    }
    Ok(())
}

/// Whether a port asking `s` for an automatic address would get one now: an auto-address
/// (SLAAC) subnet derives it from the MAC, any other needs a free address in its pools
/// (a subnet made with `allocation_pools: []` never has one).
pub(crate) fn has_free_address(tx: &mut dyn Tx, s: &Subnet) -> Result<bool, ApiError> {
    Ok(subnets::is_auto_address(s) || first_free(tx, s)?.is_some())
}

fn first_free(tx: &mut dyn Tx, s: &Subnet) -> Result<Option<IpAddr>, ApiError> {
    let used: BTreeSet<IpAddr> =
        tx.ip_allocation_list_by_subnet(&s.id)?.into_iter().filter_map(|a| a.ip_address.parse().ok()).collect();
    Ok(neutrino_ipam::first_free(&s.allocation_pools, &used))
}

fn insert_allocation(tx: &mut dyn Tx, subnet_id: &str, ip: IpAddr, port: &Port) -> Result<(), ApiError> {
    let alloc = IpAllocation {
        subnet_id: subnet_id.into(),
        ip_address: ip.to_string(),
        port_id: port.id.clone(),
        network_id: port.network_id.clone(),
    };
    match tx.ip_allocation_insert(&alloc) {
        Ok(()) => Ok(()),
        Err(StoreError::UniqueViolation { .. }) => {
            Err(ApiError::ip_address_already_allocated(&alloc.ip_address, subnet_id))
        }
        Err(e) => Err(e.into()),
    }
}

/// Port security off forbids address pairs (they are anti-spoofing exceptions).
pub(crate) fn security_requirements(port_security: bool, has_pairs: bool) -> Result<(), ApiError> {
    if !port_security && has_pairs {
        return Err(ApiError::address_pair_and_port_security_required());
    }
    Ok(())
}

/// Creates one port inside a transaction, after the caller's policy check: quota, router
/// claim, port row with its MAC, addresses, security groups and binding.
#[allow(clippy::too_many_arguments)]
pub(crate) fn create_one(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    p: &PortCreate,
    net: &Network,
    now: &str,
    macs: &mut impl Iterator<Item = [u8; 3]>,
    maker: Maker,
) -> Result<Port, ApiError> {
    super::quotas::check(tx, Resource::Port, &p.project_id)?;
    enforce_router_claim(tx, ctx, &p.device_owner, &p.device_id, &p.project_id)?;
    let mut port = new_port(p, net, now);
    if app.dns_domain.takes_port_names() {
        // Neutron's `process_create_port`: kept only under a real domain.
        port.dns_name.clone_from(&p.dns_name);
        port.dns_domain.clone_from(&p.dns_domain);
    }
    security_requirements(port.port_security_enabled, !p.allowed_address_pairs.is_empty())?;
    let binding = super::binding::decide(tx, app, &mut port, "")?;
    let all_subnets = network_subnets(tx, net)?;
    if let Some(list) = &p.fixed_ips {
        check_named_subnets(tx, ctx, &all_subnets, list)?;
    }
    let subnets = service_subnets(all_subnets, &port)?;
    let requests = create_requests(app, p, &port, net, &subnets)?;
    let v4_fallback: Vec<Subnet> = match p.fixed_ips {
        None => subnets.iter().filter(|s| s.ip_version == 4).cloned().collect(),
        Some(_) => vec![],
    };
    let mac = insert_with_mac(tx, app, &mut port, p.mac_address.as_deref(), macs)?;
    port.fixed_ips = allocate(tx, &port, mac.octets(), requests, &v4_fallback, maker)?;
    port.allowed_address_pairs = with_port_mac(&p.allowed_address_pairs, &port.mac_address);
    port.security_groups = super::security_groups::port_groups(
        tx,
        ctx,
        p.security_groups.clone(),
        &p.project_id,
        port.port_security_enabled,
        maker == Maker::Server,
        now,
    )?;
    tx.port_security_group_set(&port.id, &port.security_groups)?;
    super::binding::record(tx, &port.id, binding)?;
    port.name_addresses(&app.dns_domain);
    tx.doc_update(Resource::Port, &doc(&port)?)?;
    tx.change_record(Resource::Port, &port.id, ChangeOp::Create, &p.project_id)?;
    Ok(port)
}

/// The port a create asks for, before its MAC, addresses, address pairs and groups.
fn new_port(p: &PortCreate, net: &Network, now: &str) -> Port {
    Port {
        id: uuid::Uuid::new_v4().to_string(),
        name: p.name.clone(),
        tenant_id: p.project_id.clone(),
        project_id: p.project_id.clone(),
        network_id: net.id.clone(),
        admin_state_up: p.admin_state_up,
        mac_address: String::new(),
        fixed_ips: vec![],
        device_id: p.device_id.clone(),
        device_owner: p.device_owner.clone(),
        status: status::DOWN.into(),
        port_security_enabled: p.port_security_enabled.unwrap_or(net.port_security_enabled),
        allowed_address_pairs: vec![],
        extra_dhcp_opts: p.extra_dhcp_opts.clone(),
        binding_host_id: p.binding_host_id.clone(),
        binding_vif_type: String::new(),
        binding_vif_details: Map::new(),
        binding_vnic_type: p.binding_vnic_type.clone(),
        binding_profile: p.binding_profile.clone(),
        ip_allocation: "immediate".into(),
        security_groups: vec![],
        dns_name: String::new(),
        dns_domain: String::new(),
        dns_assignment: vec![],
        description: p.description.clone(),
        tags: super::sorted_tags(p.tags.clone()),
        created_at: now.into(),
        updated_at: now.into(),
        revision_number: 0,
    }
}

/// Refuses more `fixed_ips` than a port may have.
pub(crate) fn check_fixed_ips_count(app: &App, requested: &[FixedIpRequest]) -> Result<(), ApiError> {
    if requested.len() > app.config.max_fixed_ips_per_port {
        return Err(ApiError::invalid_input("Exceeded maximum amount of fixed ips per port."));
    }
    Ok(())
}

/// The addresses a create asks for: the named ones plus every SLAAC subnet's, or the
/// defaults when `fixed_ips` is not given.
fn create_requests(
    app: &App,
    p: &PortCreate,
    port: &Port,
    net: &Network,
    subnets: &[Subnet],
) -> Result<Vec<IpRequest>, ApiError> {
    let Some(list) = &p.fixed_ips else { return Ok(default_requests(subnets)) };
    check_fixed_ips_count(app, list)?;
    let mut explicit = resolve_requests(net, subnets, list, &p.device_owner)?;
    // SLAAC/stateless subnets address every port, named or not (Neutron's
    // `_get_auto_address_ips`).
    let router_port = is_router_interface_snat(&port.device_owner);
    for s in subnets.iter().filter(|s| subnets::is_auto_address(s) && !router_port) {
        if !explicit.iter().any(|r| r.subnet.id == s.id) {
            explicit.push(IpRequest { subnet: s.clone(), ip: None });
        }
    }
    Ok(explicit)
}

/// Inserts the port with its MAC: the given one (which must be free on the network) or
/// generated ones until one is free. Returns the MAC.
fn insert_with_mac(
    tx: &mut dyn Tx,
    app: &App,
    port: &mut Port,
    explicit_mac: Option<&str>,
    macs: &mut impl Iterator<Item = [u8; 3]>,
) -> Result<MacAddress, ApiError> {
    if let Some(m) = explicit_mac {
        let mac = m
            .parse::<MacAddress>()
            .map_err(|_| ApiError::invalid_input(format!("'{m}' is not a valid MAC address")))?;
        port.mac_address = mac.to_string();
        return match tx.doc_insert(Resource::Port, &doc(port)?) {
            Ok(()) => Ok(mac),
            Err(StoreError::UniqueViolation { .. }) => {
                Err(ApiError::mac_address_in_use(&port.network_id, &port.mac_address))
            }
            Err(e) => Err(e.into()),
        };
    }
    for tail in macs.take(MAC_RETRIES) {
        let mac = neutrino_ipam::generate_mac(app.base_mac, tail);
        port.mac_address = mac.to_string();
        match tx.doc_insert(Resource::Port, &doc(port)?) {
            Ok(()) => return Ok(mac),
            Err(StoreError::UniqueViolation { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::mac_address_generation_failure(&port.network_id))
}

/// The requested address pairs as stored: a pair without a MAC uses the port's own.
pub(crate) fn with_port_mac(requested: &[AddressPairRequest], port_mac: &str) -> Vec<AddressPair> {
    requested
        .iter()
        .map(|r| AddressPair {
            ip_address: r.ip_address.clone(),
            mac_address: r.mac_address.clone().unwrap_or_else(|| port_mac.to_string()),
        })
        .collect()
}

/// The six octets of a stored port's MAC (EUI-64 addresses derive from it).
pub(crate) fn mac_octets(port: &Port) -> Result<[u8; 6], ApiError> {
    port.mac_address.parse::<MacAddress>().map(|m| m.octets()).map_err(|_| {
        tracing::error!(port = %port.id, mac = %port.mac_address, "stored port has an invalid MAC");
        ApiError::internal()
    })
}

#[cfg(test)]
pub(crate) mod tests;
