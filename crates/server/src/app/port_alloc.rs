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
use super::policy::{self, Action, NetworkFacts, Target};
use super::{attr, encode, load_required, subnets, App, RequestContext};
use ipnet::IpNet;
use neutrino_model::types::{status, AddressPair, ExtraDhcpOpt, FixedIp, Network, Port, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, IpAllocation, StoreError, Tx};
use rand::Rng;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::net::IpAddr;

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
        return Err(ApiError::conflict(
            "DeviceIDNotOwnedByTenant",
            format!(
                "The following device_id {device_id} is not owned by your tenant or matches another tenants router."
            ),
        ));
    }
    Ok(())
}

/// The policy target of a port: its owner, its network's owner and sharing, and its
/// attributes as they will be (`field:port:device_owner` reads the new owner).
pub(crate) fn port_target<'a>(
    port_project: &'a str,
    net: &'a Network,
    shared: bool,
    attrs: &'a Map<String, Value>,
) -> Target<'a> {
    Target {
        project_id: port_project,
        network: Some(NetworkFacts { project_id: &net.project_id, shared }),
        attrs: Some(attrs),
    }
}

/// Deletes a port and releases its addresses, inside a transaction.
pub(crate) fn delete_in_tx(tx: &mut dyn Tx, port: &Port) -> Result<(), ApiError> {
    tx.ip_allocation_delete_by_port(&port.id)?;
    tx.doc_delete(Resource::Port, &port.id)?;
    tx.change_record(Resource::Port, &port.id, ChangeOp::Delete, &port.project_id)?;
    Ok(())
}

/// A port a service (router interface or gateway) owns.
pub(crate) struct ServicePort<'a> {
    pub project: &'a str,
    pub network_id: &'a str,
    pub device_owner: &'a str,
    pub device_id: &'a str,
    /// Requested addresses (`fixed_ips` form), or automatic.
    pub fixed_ips: Option<Value>,
    /// `binding:host_id` (DHCP ports are bound to their agent's host).
    pub host: Option<&'a str>,
}

/// Creates a service port inside a transaction: no policy check, no security groups.
pub(crate) fn create_service_port(tx: &mut dyn Tx, app: &App, spec: ServicePort, now: &str) -> Result<Port, ApiError> {
    let mut a = Map::new();
    a.insert("network_id".into(), Value::String(spec.network_id.into()));
    a.insert("project_id".into(), Value::String(spec.project.into()));
    a.insert("tenant_id".into(), Value::String(spec.project.into()));
    a.insert("device_owner".into(), Value::String(spec.device_owner.into()));
    a.insert("device_id".into(), Value::String(spec.device_id.into()));
    if let Some(ips) = spec.fixed_ips {
        a.insert("fixed_ips".into(), ips);
    }
    if let Some(host) = spec.host {
        a.insert("binding:host_id".into(), Value::String(host.into()));
    }
    let ctx = RequestContext::noauth(spec.project.into(), app.rules.clone());
    let mut rng = rand::rng();
    let mut macs = std::iter::repeat_with(move || rng.random::<[u8; 3]>()).take(MAC_RETRIES);
    create_one(tx, app, &ctx, &a, now, &mut macs, Maker::Server)
}

/// Attempts at a random MAC before giving up (Neutron's `mac_generation_retries`).
pub(crate) const MAC_RETRIES: usize = 16;

pub(crate) fn doc(p: &Port) -> Result<Doc, ApiError> {
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

/// A requested fixed IP after resolution against the network's subnets.
pub(crate) struct IpRequest {
    pub(crate) subnet: Subnet,
    pub(crate) ip: Option<IpAddr>,
}

pub(crate) fn network_subnets(tx: &mut dyn Tx, net: &Network) -> Result<Vec<Subnet>, ApiError> {
    net.subnets.iter().map(|id| load_required(tx, Resource::Subnet, id)).collect()
}

/// Resolves the `fixed_ips` of a request: each entry names a subnet, an address or both.
pub(crate) fn resolve_requests(
    net: &Network,
    subnets: &[Subnet],
    requested: &[Value],
) -> Result<Vec<IpRequest>, ApiError> {
    let mut out = Vec::with_capacity(requested.len());
    for entry in requested {
        let subnet_id = entry.get("subnet_id").and_then(Value::as_str);
        let ip = entry
            .get("ip_address")
            .and_then(Value::as_str)
            .map(|s| s.parse::<IpAddr>())
            .transpose()
            .map_err(|_| ApiError::invalid_input("Invalid IP address"))?;
        let subnet = match (subnet_id, ip) {
            (Some(sid), _) => subnets.iter().find(|s| s.id == sid).cloned().ok_or_else(|| {
                ApiError::invalid_input(format!(
                    "Failed to create port on network {}, because fixed_ips included invalid subnet {sid}",
                    net.id
                ))
            })?,
            (None, Some(ip)) => subnets
                .iter()
                .find(|s| s.cidr.parse::<IpNet>().is_ok_and(|c| c.contains(&ip)))
                .cloned()
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "InvalidIpForNetwork",
                        format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
                    )
                })?,
            (None, None) => {
                return Err(ApiError::invalid_input("IP allocation requires subnet_id or ip_address"));
            }
        };
        if let Some(ip) = ip {
            let cidr = subnets::cidr_of(&subnet)?;
            if !cidr.contains(&ip) {
                return Err(ApiError::new(
                    400,
                    "InvalidIpForSubnet",
                    format!("IP address {ip} is not a valid IP for the specified subnet."),
                ));
            }
            neutrino_ipam::validate_ip_for_subnet(&cidr, ip).map_err(|_| {
                ApiError::new(
                    400,
                    "InvalidIpForSubnet",
                    format!("IP address {ip} is not a valid IP for the specified subnet."),
                )
            })?;
        }
        out.push(IpRequest { subnet, ip });
    }
    Ok(out)
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

fn generation_failure(network_id: &str) -> ApiError {
    ApiError::conflict("IpAddressGenerationFailure", format!("No more IP addresses available on network {network_id}."))
}

fn already_allocated(ip: &str, subnet_id: &str) -> ApiError {
    ApiError::conflict("IpAddressAlreadyAllocated", format!("IP address {ip} already allocated in subnet {subnet_id}"))
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
    let mut out = Vec::with_capacity(requests.len());
    for (index, req) in requests.into_iter().enumerate() {
        let cidr = subnets::cidr_of(&req.subnet)?;
        let address = match req.ip {
            Some(ip) => {
                if !takes_gateway && req.subnet.gateway_ip.as_deref() == Some(ip.to_string().as_str()) {
                    return Err(already_allocated(&ip.to_string(), &req.subnet.id));
                }
                ip
            }
            None if subnets::is_auto_address(&req.subnet) && !is_router => match cidr {
                IpNet::V6(prefix) => IpAddr::V6(
                    neutrino_ipam::eui64_address(&prefix, mac).ok_or_else(|| generation_failure(&port.network_id))?,
                ),
                IpNet::V4(_) => return Err(generation_failure(&port.network_id)),
            },
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
                let (subnet, ip) = found.ok_or_else(|| generation_failure(&port.network_id))?;
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
        Err(StoreError::UniqueViolation { .. }) => Err(already_allocated(&alloc.ip_address, subnet_id)),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn mac_in_use(network_id: &str, mac: &str) -> ApiError {
    ApiError::conflict(
        "MacAddressInUse",
        format!("Unable to complete operation for network {network_id}. The mac address {mac} is in use."),
    )
}

pub(crate) fn parse_pairs(v: &Value) -> Result<Vec<AddressPair>, ApiError> {
    let Some(items) = v.as_array() else { return Ok(vec![]) };
    Ok(items
        .iter()
        .map(|p| AddressPair {
            ip_address: p.get("ip_address").and_then(Value::as_str).unwrap_or_default().to_string(),
            mac_address: p.get("mac_address").and_then(Value::as_str).unwrap_or_default().to_string(),
        })
        .collect())
}

pub(crate) fn parse_dhcp_opts(v: &Value) -> Result<Vec<ExtraDhcpOpt>, ApiError> {
    serde_json::from_value(v.clone()).map_err(|_| ApiError::invalid_input("Invalid data format for extra_dhcp_opts"))
}

pub(crate) fn security_requirements(port: &Port) -> Result<(), ApiError> {
    if !port.port_security_enabled && !port.allowed_address_pairs.is_empty() {
        return Err(ApiError::conflict(
            "AddressPairAndPortSecurityRequired",
            "Port Security must be enabled in order to have allowed address pairs on a port.",
        ));
    }
    Ok(())
}

pub(crate) fn create_one(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    a: &Map<String, Value>,
    now: &str,
    macs: &mut impl Iterator<Item = [u8; 3]>,
    maker: Maker,
) -> Result<Port, ApiError> {
    super::quotas::check(tx, Resource::Port, &attr::str_of(a, "project_id").unwrap_or_default())?;
    let network_id = attr::str_of(a, "network_id").unwrap_or_default();
    let net = lookup::visible::<Network>(tx, ctx, &network_id)?;
    let project = attr::str_of(a, "project_id").unwrap_or_default();
    let shared = super::sharing::shared_with(tx, &net, &project)?;
    policy::authorize_target(ctx, Resource::Port, Action::Create, &port_target(&project, &net, shared, a), Some(a))?;
    enforce_router_claim(
        tx,
        ctx,
        &attr::str_of(a, "device_owner").unwrap_or_default(),
        &attr::str_of(a, "device_id").unwrap_or_default(),
        &project,
    )?;
    let mut port = new_port(a, &net, &project, now)?;
    security_requirements(&port)?;
    let binding = super::binding::decide(tx, app, &mut port, "")?;
    let subnets = network_subnets(tx, &net)?;
    let requests = create_requests(app, a, &port, &net, &subnets)?;
    let v4_fallback: Vec<Subnet> = if a.get("fixed_ips").is_none() {
        subnets.iter().filter(|s| s.ip_version == 4).cloned().collect()
    } else {
        vec![]
    };
    insert_with_mac(tx, app, &mut port, attr::str_of(a, "mac_address"), macs)?;
    let mac = port.mac_address.parse::<neutrino_ipam::MacAddress>().map(|m| m.octets()).unwrap_or_default();
    port.fixed_ips = allocate(tx, &port, mac, requests, &v4_fallback, maker)?;
    default_pair_macs(&mut port);
    port.security_groups = super::security_groups::port_groups(
        tx,
        ctx,
        attr::strings_of(a, "security_groups"),
        &project,
        port.port_security_enabled,
        maker == Maker::Server,
        now,
    )?;
    tx.port_security_group_set(&port.id, &port.security_groups)?;
    super::binding::record(tx, &port.id, binding)?;
    tx.doc_update(Resource::Port, &doc(&port)?)?;
    tx.change_record(Resource::Port, &port.id, ChangeOp::Create, &project)?;
    Ok(port)
}

/// The port a create asks for, before its MAC, addresses and groups.
fn new_port(a: &Map<String, Value>, net: &Network, project: &str, now: &str) -> Result<Port, ApiError> {
    Ok(Port {
        id: uuid::Uuid::new_v4().to_string(),
        name: attr::str_of(a, "name").unwrap_or_default(),
        tenant_id: project.into(),
        project_id: project.into(),
        network_id: net.id.clone(),
        admin_state_up: attr::bool_of(a, "admin_state_up").unwrap_or(true),
        mac_address: String::new(),
        fixed_ips: vec![],
        device_id: attr::str_of(a, "device_id").unwrap_or_default(),
        device_owner: attr::str_of(a, "device_owner").unwrap_or_default(),
        status: status::DOWN.into(),
        port_security_enabled: attr::bool_of(a, "port_security_enabled").unwrap_or(net.port_security_enabled),
        allowed_address_pairs: a.get("allowed_address_pairs").map(parse_pairs).transpose()?.unwrap_or_default(),
        extra_dhcp_opts: match a.get("extra_dhcp_opts") {
            Some(v) if !v.is_null() => parse_dhcp_opts(v)?,
            _ => vec![],
        },
        binding_host_id: attr::str_of(a, "binding:host_id").unwrap_or_default(),
        binding_vif_type: String::new(),
        binding_vif_details: Map::new(),
        binding_vnic_type: attr::str_of(a, "binding:vnic_type").unwrap_or_else(|| "normal".into()),
        binding_profile: a.get("binding:profile").and_then(Value::as_object).cloned().unwrap_or_default(),
        ip_allocation: "immediate".into(),
        security_groups: vec![],
        description: attr::str_of(a, "description").unwrap_or_default(),
        tags: super::sorted_tags(attr::strings_of(a, "tags").unwrap_or_default()),
        created_at: now.into(),
        updated_at: now.into(),
        revision_number: 0,
    })
}

/// The addresses a create asks for: the named ones plus every SLAAC subnet's, or the
/// defaults when `fixed_ips` is not given.
fn create_requests(
    app: &App,
    a: &Map<String, Value>,
    port: &Port,
    net: &Network,
    subnets: &[Subnet],
) -> Result<Vec<IpRequest>, ApiError> {
    Ok(match a.get("fixed_ips") {
        Some(Value::Array(list)) => {
            if list.len() > app.config.max_fixed_ips_per_port {
                return Err(ApiError::invalid_input("Exceeded maximum amount of fixed ips per port.".to_string()));
            }
            let mut explicit = resolve_requests(net, subnets, list)?;
            // SLAAC/stateless subnets address every port, named or not (Neutron's
            // `_get_auto_address_ips`).
            let router_port = port.device_owner.starts_with("network:router_interface");
            for s in subnets.iter().filter(|s| subnets::is_auto_address(s) && !router_port) {
                if !explicit.iter().any(|r| r.subnet.id == s.id) {
                    explicit.push(IpRequest { subnet: s.clone(), ip: None });
                }
            }
            explicit
        }
        _ => default_requests(subnets),
    })
}

/// Inserts the port with its MAC: the given one (which must be free on the network) or
/// generated ones until one is free.
fn insert_with_mac(
    tx: &mut dyn Tx,
    app: &App,
    port: &mut Port,
    explicit_mac: Option<String>,
    macs: &mut impl Iterator<Item = [u8; 3]>,
) -> Result<(), ApiError> {
    let mut inserted = false;
    for _ in 0..MAC_RETRIES {
        let mac = match &explicit_mac {
            Some(m) => m
                .parse::<neutrino_ipam::MacAddress>()
                .map_err(|_| ApiError::invalid_input(format!("'{m}' is not a valid MAC address")))?,
            None => {
                let tail = macs.next().unwrap_or([0x12, 0x34, 0x56]);
                neutrino_ipam::generate_mac(app.base_mac, tail)
            }
        };
        port.mac_address = mac.to_string();
        match tx.doc_insert(Resource::Port, &doc(port)?) {
            Ok(()) => {
                inserted = true;
                break;
            }
            Err(StoreError::UniqueViolation { .. }) if explicit_mac.is_some() => {
                return Err(mac_in_use(&port.network_id, &port.mac_address));
            }
            Err(StoreError::UniqueViolation { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if !inserted {
        return Err(ApiError::new(
            503,
            "MacAddressGenerationFailure",
            format!("Unable to generate unique mac on network {}.", port.network_id),
        ));
    }
    Ok(())
}

/// An address pair without a MAC uses the port's own, as Neutron stores it.
pub(crate) fn default_pair_macs(port: &mut Port) {
    for pair in &mut port.allowed_address_pairs {
        if pair.mac_address.is_empty() {
            pair.mac_address = port.mac_address.clone();
        }
    }
}
