//! L3 scheduling: which L3 agent runs each router, and what its host must build.
//!
//! Like DHCP scheduling, a level-triggered pass (one write transaction, after changes to
//! routers, ports, floating IPs or agents and on a timer) keeps every router with at least
//! one port on one live L3 agent, least loaded first, on a host whose L2 agent reaches all
//! of the router's networks; routers of agents dead past `agent_down_time` move
//! (`l3_failover`). A router's ports (gateway and interfaces) are bound to its agent's
//! host, so that host's L2 agent wires their taps and the ports turn ACTIVE there.

use super::agents::{self, admin_up, alive, LiveAgent};
use super::host_deps::{Deps, Key};
use super::port_alloc::L3_OWNERS;
use super::{decode, load_required, App};
use neutrino_agent_api::{
    FloatingIpState, HostRoute, MetadataHost, PortForwardingState, RouterGateway, RouterPort, RouterState,
    RouterSubnet, AGENT_TYPE_L3,
};
use neutrino_model::types::{FloatingIp, Network, Port, Router, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{AgentRow, Assignment, ChangeKind, ChangeOp, IndexFilter, Tx};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

/// What one pass changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub assigned: usize,
    pub unassigned: usize,
    pub ports_rebound: usize,
}

/// The router's ports (gateway and interfaces).
fn router_ports(tx: &mut dyn Tx, router_id: &str) -> Result<Vec<Port>, ApiError> {
    let docs = tx.doc_list(
        Resource::Port,
        &IndexFilter {
            device_ids: Some(vec![router_id.to_string()]),
            device_owners: Some(L3_OWNERS.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        },
    )?;
    docs.iter().map(|d| decode(Resource::Port, router_id, d)).collect()
}

/// Runs one scheduling pass.
pub async fn schedule(app: &Arc<App>) -> Result<Pass, ApiError> {
    let app2 = app.clone();
    app.store.write(move |tx| schedule_in_tx(tx, &app2)).await
}

fn schedule_in_tx(tx: &mut dyn Tx, app: &App) -> Result<Pass, ApiError> {
    let now = app.clock.unix();
    let mut pass = Pass::default();
    let agents: BTreeMap<String, AgentRow> =
        tx.agent_list()?.into_iter().filter(|a| a.agent_type == AGENT_TYPE_L3).map(|a| (a.id.clone(), a)).collect();
    let routers: Vec<Router> = tx
        .doc_list(Resource::Router, &IndexFilter::default())?
        .iter()
        .map(|d| decode(Resource::Router, "", d))
        .collect::<Result<_, _>>()?;
    let mut assigned: BTreeMap<String, String> = BTreeMap::new();
    for (router, agent) in tx.assignment_list(Assignment::L3Router)? {
        let gone = !routers.iter().any(|r| r.id == router) || !agents.contains_key(&agent);
        let dead = app.config.l3_failover && agents.get(&agent).is_some_and(|a| !alive(app, a, now));
        if gone || dead || assigned.contains_key(&router) {
            tx.assignment_remove(Assignment::L3Router, &router, &agent)?;
            pass.unassigned += 1;
            tracing::info!(%router, %agent, "router taken from an L3 agent");
        } else {
            assigned.insert(router, agent);
        }
    }
    let mut load: BTreeMap<String, usize> = agents.keys().map(|id| (id.clone(), 0)).collect();
    for a in assigned.values() {
        *load.entry(a.clone()).or_default() += 1;
    }
    let usable: Vec<&AgentRow> = agents.values().filter(|a| alive(app, a, now) && admin_up(a)).collect();
    for router in &routers {
        let ports = router_ports(tx, &router.id)?;
        if !assigned.contains_key(&router.id) && !ports.is_empty() {
            let networks: BTreeSet<String> = ports.iter().map(|p| p.network_id.clone()).collect();
            let mut candidates = Vec::new();
            for a in &usable {
                // Neutron's `AZLeastRoutersScheduler`: only agents of the hinted zones.
                if super::zones::admits(&router.availability_zone_hints, a) && reaches_all(tx, app, &a.host, &networks)?
                {
                    candidates.push(*a);
                }
            }
            candidates.sort_by_key(|a| (load.get(&a.id).copied().unwrap_or(0), a.host.clone()));
            if let Some(a) = candidates.first() {
                tx.assignment_add(Assignment::L3Router, &router.id, &a.id)?;
                assigned.insert(router.id.clone(), a.id.clone());
                *load.entry(a.id.clone()).or_default() += 1;
                pass.assigned += 1;
                tracing::info!(router = %router.id, agent = %a.id, host = %a.host, "router scheduled to an L3 agent");
            }
        }
        show_zones(tx, router, assigned.get(&router.id))?;
        // The router's ports live where its agent runs (or nowhere).
        let host = assigned.get(&router.id).and_then(|a| agents.get(a)).map(|a| a.host.clone()).unwrap_or_default();
        let stamp = app.clock.now();
        for mut port in ports {
            if port.binding_host_id != host {
                let previous = port.binding_host_id.clone();
                port.binding_host_id = host.clone();
                let outcome = super::binding::decide(tx, app, &mut port, &previous)?;
                super::binding::record(tx, &port.id, outcome)?;
                super::save_update(tx, &mut port, stamp.clone())?;
                pass.ports_rebound += 1;
            }
        }
    }
    Ok(pass)
}

/// Keeps a router's `availability_zones` (its L3 agent's zone) in its document;
/// computed, so it does not revise the router.
fn show_zones(tx: &mut dyn Tx, router: &Router, agent: Option<&String>) -> Result<(), ApiError> {
    let zones = super::zones::zones_of_agents(tx, &agent.cloned().into_iter().collect::<Vec<_>>())?;
    if router.availability_zones != zones {
        let r = Router { availability_zones: zones, ..router.clone() };
        tx.doc_update(Resource::Router, &super::Stored::to_doc(&r)?)?;
        tx.change_record(Resource::Router, &r.id, ChangeOp::Update, &r.project_id)?;
    }
    Ok(())
}

fn reaches_all(tx: &mut dyn Tx, app: &App, host: &str, networks: &BTreeSet<String>) -> Result<bool, ApiError> {
    let LiveAgent::Alive(l2) = agents::find_live(tx, app, host)? else { return Ok(false) };
    for net in networks {
        let segments = tx.segment_list_by_network(net)?;
        let ok = segments.iter().any(|s| l2.reaches(&s.network_type, s.physical_network.as_deref()));
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Where a router's port's addresses come from: `ip/prefix` and the subnets' CIDRs.
fn router_port(tx: &mut dyn Tx, port: &Port) -> Result<RouterPort, ApiError> {
    let net: Network = load_required(tx, Resource::Network, &port.network_id)?;
    let mut addresses = Vec::new();
    let mut cidrs = Vec::new();
    let mut subnets: Vec<RouterSubnet> = Vec::new();
    for f in &port.fixed_ips {
        let s: Subnet = load_required(tx, Resource::Subnet, &f.subnet_id)?;
        let prefix = s.cidr.rsplit('/').next().unwrap_or("32");
        addresses.push(format!("{}/{prefix}", f.ip_address));
        cidrs.push(s.cidr.clone());
        if !subnets.iter().any(|known| known.id == s.id) {
            subnets.push(RouterSubnet {
                id: s.id.clone(),
                cidr: s.cidr.clone(),
                ip_version: s.ip_version,
                ipv6_ra_mode: s.ipv6_ra_mode.clone(),
                ipv6_address_mode: s.ipv6_address_mode.clone(),
                dns_nameservers: s.dns_nameservers.clone(),
            });
        }
    }
    Ok(RouterPort {
        port_id: port.id.clone(),
        network_id: port.network_id.clone(),
        mac_address: port.mac_address.clone(),
        mtu: net.mtu,
        addresses,
        cidrs,
        subnets,
    })
}

/// The routers a host's L3 agent runs, as the agent builds them. Records in `deps` each
/// router, its floating IPs, its ports with their networks and subnets, and the ports its
/// metadata proxy names.
pub(crate) fn host_routers(tx: &mut dyn Tx, host: &str, deps: &mut Deps) -> Result<Vec<RouterState>, ApiError> {
    let Some(agent) = tx.agent_find(AGENT_TYPE_L3, host)? else { return Ok(vec![]) };
    let ids: Vec<String> =
        tx.assignment_list(Assignment::L3Router)?.into_iter().filter(|(_, a)| *a == agent.id).map(|(r, _)| r).collect();
    if ids.is_empty() {
        return Ok(vec![]);
    }
    // Floating IPs by router, read once: this runs on every watch answer for the host.
    let mut fips_of: BTreeMap<String, Vec<FloatingIp>> = BTreeMap::new();
    for fip in super::floatingips::all(tx)? {
        if let Some(r) = fip.router_id.clone() {
            fips_of.entry(r).or_default().push(fip);
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        deps.add(Key::router(&id));
        for fip in fips_of.get(&id).into_iter().flatten() {
            deps.resource(ChangeKind::FloatingIp, &fip.id);
        }
        let Some(body) = tx.doc_get(Resource::Router, &id)? else { continue };
        let router: Router = decode(Resource::Router, &id, &body)?;
        let ports = router_ports(tx, &id)?;
        for p in &ports {
            deps.add(Key::port(&p.id));
            deps.add(Key::network(&p.network_id));
            for f in &p.fixed_ips {
                deps.resource(ChangeKind::Subnet, &f.subnet_id);
            }
        }
        let mut gateway = None;
        let mut interfaces = Vec::new();
        for p in ports.iter().filter(|p| p.binding_host_id == host) {
            let rp = router_port(tx, p)?;
            if p.device_owner == "network:router_gateway" {
                let mut gateway_ips: Vec<IpAddr> = Vec::new();
                for f in &p.fixed_ips {
                    let s: Subnet = load_required(tx, Resource::Subnet, &f.subnet_id)?;
                    gateway_ips.extend(s.gateway_ip.as_deref().and_then(|g| g.parse::<IpAddr>().ok()));
                }
                let enable_snat = router.external_gateway_info.as_ref().is_none_or(|g| g.enable_snat);
                gateway = Some(RouterGateway { port: rp, gateway_ips, enable_snat });
            } else {
                interfaces.push(rp);
            }
        }
        let mut floating_ips = Vec::new();
        let mut port_forwardings = Vec::new();
        for fip in fips_of.get(&id).into_iter().flatten() {
            fip_state(fip, &mut floating_ips, &mut port_forwardings);
        }
        let routes = router
            .routes
            .iter()
            .filter_map(|r| Some(HostRoute { destination: r.destination.clone(), nexthop: r.nexthop.parse().ok()? }))
            .collect();
        let metadata_hosts = metadata_hosts(tx, &interfaces)?;
        for m in &metadata_hosts {
            deps.add(Key::port(&m.port_id));
        }
        out.push(RouterState {
            metadata_hosts,
            id: id.clone(),
            project_id: router.project_id.clone(),
            admin_state_up: router.admin_state_up,
            gateway,
            interfaces,
            routes,
            floating_ips,
            port_forwardings,
        });
    }
    Ok(out)
}

/// The ports with addresses on the subnets of `interfaces` (but the network's own), for the
/// router's metadata proxy. Neutron's `network:*` owners (router, DHCP, floating IP ports)
/// never ask for metadata.
fn metadata_hosts(tx: &mut dyn Tx, interfaces: &[RouterPort]) -> Result<Vec<MetadataHost>, ApiError> {
    let subnets: BTreeSet<&str> = interfaces.iter().flat_map(|i| i.subnets.iter().map(|s| s.id.as_str())).collect();
    let networks: BTreeSet<String> = interfaces.iter().map(|i| i.network_id.clone()).collect();
    if networks.is_empty() {
        return Ok(vec![]);
    }
    let filter = IndexFilter { network_ids: Some(networks.into_iter().collect()), ..Default::default() };
    let mut out = Vec::new();
    for doc in tx.doc_list(Resource::Port, &filter)? {
        let port: Port = decode(Resource::Port, "", &doc)?;
        if port.device_owner.starts_with("network:") {
            continue;
        }
        let ip_addresses: Vec<IpAddr> = port
            .fixed_ips
            .iter()
            .filter(|f| subnets.contains(f.subnet_id.as_str()))
            .filter_map(|f| f.ip_address.parse().ok())
            .collect();
        if !ip_addresses.is_empty() {
            out.push(MetadataHost {
                port_id: port.id.clone(),
                device_id: port.device_id.clone(),
                project_id: port.project_id.clone(),
                ip_addresses,
                mac_address: port.mac_address.clone(),
            });
        }
    }
    Ok(out)
}

fn fip_state(fip: &FloatingIp, fips: &mut Vec<FloatingIpState>, pfs: &mut Vec<PortForwardingState>) {
    let Ok(address) = fip.floating_ip_address.parse::<IpAddr>() else { return };
    if let (Some(port), Some(fixed)) = (&fip.port_id, fip.fixed_ip_address.as_deref().and_then(|f| f.parse().ok())) {
        fips.push(FloatingIpState {
            id: fip.id.clone(),
            floating_ip_address: address,
            fixed_ip_address: fixed,
            port_id: port.clone(),
            status: fip.status.clone(),
        });
    }
    // A corrupt forwarding is logged by `of` and leaves the others of the router in place.
    let Ok(forwardings) = super::floatingips::port_forwardings(fip) else { return };
    pfs.extend(forwardings.into_iter().map(|pf| PortForwardingState {
        id: pf.id,
        floating_ip_address: address,
        protocol: pf.protocol,
        external_port: pf.external_port,
        internal_ip_address: pf.internal_ip_address,
        internal_port: pf.internal_port,
    }));
}

/// Whether `host` runs the router `router_id` (its L3 agent is assigned it).
pub(crate) fn host_runs_router(tx: &mut dyn Tx, host: &str, router_id: &str) -> Result<bool, ApiError> {
    let Some(agent) = tx.agent_find(AGENT_TYPE_L3, host)? else { return Ok(false) };
    Ok(tx.assignment_list(Assignment::L3Router)?.iter().any(|(r, a)| r == router_id && *a == agent.id))
}
