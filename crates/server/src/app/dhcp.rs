//! DHCP scheduling: which DHCP agents serve which networks, and their `network:dhcp` ports.
//!
//! A level-triggered pass (like the agents) makes the assignments and ports match what the
//! store says: every network with a DHCP-enabled subnet is served by
//! `dhcp_agents_per_network` live DHCP agents (least loaded first, on hosts whose L2 agent
//! reaches one of the network's segments, since the DHCP port is wired there); assignments
//! to agents dead past `agent_down_time` are dropped and replaced (`dhcp_failover`);
//! networks without DHCP subnets are served by nobody. Each assignment has one DHCP port
//! bound to the agent's host, with an address on every DHCP subnet; when a network moves
//! from a dead agent, its port moves with it (same addresses and MAC, so VMs keep talking
//! to the same DHCP server address, as Neutron's reserved DHCP ports do). A network whose
//! DHCP port can get no address (a subnet without pools, or a full one) keeps its
//! assignment but no port until it can; it never blocks the other networks.
//!
//! The pass runs in one write transaction after changes to subnets, networks or agents
//! and on a timer (liveness changes without any write); see [`super::scheduler`].

use super::agents::{self, admin_up, alive, LiveAgent};
use super::port_alloc::{allocate, mac_octets, IpRequest, Maker};
use super::{decode, load_required, App};
use neutrino_agent_api::{
    DhcpFixedIp, DhcpHost, DhcpNetwork, DhcpPort, DhcpSubnet, DnsName, ExtraDhcpOpt, HostRoute, AGENT_TYPE_DHCP,
};
use neutrino_model::bodies::ports::FixedIpRequest;
use neutrino_model::types::{FixedIp, Network, Port, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{AgentRow, Assignment, ChangeOp, IndexFilter, Tx};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// `device_owner` of DHCP ports.
pub const DHCP_OWNER: &str = "network:dhcp";

/// Neutron's `device_id` of a host's DHCP port: `dhcp<uuid5(DNS, host)>-<network id>`.
pub fn device_id(host: &str, network_id: &str) -> String {
    format!("dhcp{}-{network_id}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, host.as_bytes()))
}

/// What one pass changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub assigned: usize,
    pub unassigned: usize,
    pub ports_created: usize,
    pub ports_moved: usize,
    pub ports_deleted: usize,
    /// DHCP ports given or relieved of addresses as their network's DHCP subnets changed.
    pub ports_readdressed: usize,
}

impl Pass {
    pub(crate) fn changed(&self) -> bool {
        *self != Pass::default()
    }
}

/// DHCP-enabled subnets by network.
fn dhcp_subnets(tx: &mut dyn Tx, networks: Option<Vec<String>>) -> Result<BTreeMap<String, Vec<Subnet>>, ApiError> {
    let docs = tx.doc_list(Resource::Subnet, &IndexFilter { network_ids: networks, ..Default::default() })?;
    let mut out: BTreeMap<String, Vec<Subnet>> = BTreeMap::new();
    for d in docs {
        let s: Subnet = decode(Resource::Subnet, "", &d)?;
        if s.enable_dhcp {
            out.entry(s.network_id.clone()).or_default().push(s);
        }
    }
    Ok(out)
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
        tx.agent_list()?.into_iter().filter(|a| a.agent_type == AGENT_TYPE_DHCP).map(|a| (a.id.clone(), a)).collect();
    let wanted = dhcp_subnets(tx, None)?;
    let mut assigned: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut dropped: Vec<String> = Vec::new();
    for (net, agent) in tx.assignment_list(Assignment::DhcpNetwork)? {
        // A network stays with its agents while it exists (the row goes with it), with DHCP
        // subnets or not, as Neutron's bindings do: an operator may host a network before
        // its first subnet, and the agent serves it once one is made.
        let drop_it = !agents.contains_key(&agent)
            || (app.config.dhcp_failover && agents.get(&agent).is_some_and(|a| !alive(app, a, now)));
        if drop_it {
            tx.assignment_remove(Assignment::DhcpNetwork, &net, &agent)?;
            pass.unassigned += 1;
            tracing::info!(network = %net, agent = %agent, "network taken from a DHCP agent");
            dropped.push(net);
        } else {
            assigned.entry(net).or_default().insert(agent);
        }
    }
    let mut load: BTreeMap<String, usize> = agents.keys().map(|id| (id.clone(), 0)).collect();
    for agents_of in assigned.values() {
        for a in agents_of {
            *load.entry(a.clone()).or_default() += 1;
        }
    }
    let usable: Vec<&AgentRow> = agents.values().filter(|a| alive(app, a, now) && admin_up(a)).collect();
    for net in wanted.keys() {
        let have = assigned.get(net).map(|s| s.iter().filter(|a| usable.iter().any(|u| &u.id == *a)).count());
        let need = app.config.dhcp_agents_per_network.saturating_sub(have.unwrap_or(0));
        if need == 0 {
            continue;
        }
        let hosted: Vec<&AgentRow> = assigned.get(net).into_iter().flatten().filter_map(|id| agents.get(id)).collect();
        for a in choose(tx, app, net, &usable, &hosted, &load, need)? {
            tx.assignment_add(Assignment::DhcpNetwork, net, &a.id)?;
            assigned.entry(net.clone()).or_default().insert(a.id.clone());
            *load.entry(a.id.clone()).or_default() += 1;
            pass.assigned += 1;
            tracing::info!(network = %net, agent = %a.id, host = %a.host, "network scheduled to a DHCP agent");
        }
    }
    reconcile_ports(tx, app, &agents, &assigned, &wanted, &mut pass)?;
    let touched: BTreeSet<&String> = wanted.keys().chain(dropped.iter()).collect();
    for net in touched {
        let hosting: Vec<String> = assigned.get(net).map(|s| s.iter().cloned().collect()).unwrap_or_default();
        show_zones(tx, net, &hosting)?;
    }
    Ok(pass)
}

/// `need` more DHCP agents for `net` among the usable ones: on a host whose L2 agent
/// reaches one of its segments, in a zone its hints name (Neutron's `DhcpFilter`), spread
/// over zones as Neutron's `AZAwareWeightScheduler`, least loaded first.
fn choose<'a>(
    tx: &mut dyn Tx,
    app: &App,
    net: &str,
    usable: &[&'a AgentRow],
    hosted: &[&AgentRow],
    load: &BTreeMap<String, usize>,
    need: usize,
) -> Result<Vec<&'a AgentRow>, ApiError> {
    let hints = load_required::<Network>(tx, Resource::Network, net)?.availability_zone_hints;
    let segments = tx.segment_list_by_network(net)?;
    let mut candidates: Vec<&AgentRow> = Vec::new();
    for a in usable {
        if hosted.iter().any(|h| h.id == a.id) || !super::zones::admits(&hints, a) {
            continue;
        }
        let reaches = match agents::find_live(tx, app, &a.host)? {
            LiveAgent::Alive(l2) => segments.iter().any(|s| l2.reaches(&s.network_type, s.physical_network.as_deref())),
            _ => false,
        };
        if reaches {
            candidates.push(a);
        }
    }
    candidates.sort_by_key(|a| (load.get(&a.id).copied().unwrap_or(0), a.host.clone()));
    Ok(super::zones::spread(&candidates, hosted, need))
}

/// Keeps a network's `availability_zones` (the zones of its DHCP agents) in its document;
/// computed, so it does not revise the network.
fn show_zones(tx: &mut dyn Tx, net: &str, hosting: &[String]) -> Result<(), ApiError> {
    let zones = super::zones::zones_of_agents(tx, hosting)?;
    let Some(mut network) = super::load::<Network>(tx, Resource::Network, net)? else { return Ok(()) };
    if network.availability_zones != zones {
        network.availability_zones = zones;
        tx.doc_update(Resource::Network, &super::networks::doc(&network)?)?;
        tx.change_record(Resource::Network, net, ChangeOp::Update, &network.project_id)?;
    }
    Ok(())
}

/// Makes the `network:dhcp` ports match the assignments.
fn reconcile_ports(
    tx: &mut dyn Tx,
    app: &App,
    agents: &BTreeMap<String, AgentRow>,
    assigned: &BTreeMap<String, BTreeSet<String>>,
    wanted: &BTreeMap<String, Vec<Subnet>>,
    pass: &mut Pass,
) -> Result<(), ApiError> {
    // (network, host) that must have a port.
    let mut needed: BTreeSet<(String, String)> = BTreeSet::new();
    // Only networks with DHCP subnets need a port (Neutron's agent makes none otherwise).
    for (net, ids) in assigned.iter().filter(|(net, _)| wanted.contains_key(*net)) {
        for id in ids {
            if let Some(a) = agents.get(id) {
                needed.insert((net.clone(), a.host.clone()));
            }
        }
    }
    let docs = tx.doc_list(
        Resource::Port,
        &IndexFilter { device_owners: Some(vec![DHCP_OWNER.into()]), ..Default::default() },
    )?;
    let existing: Vec<Port> = docs.iter().map(|d| decode(Resource::Port, "", d)).collect::<Result<_, _>>()?;
    let now = app.clock.now();
    let mut spare: Vec<Port> = Vec::new();
    for port in existing {
        let key = (port.network_id.clone(), port.binding_host_id.clone());
        let subnets_ok = wanted.get(&port.network_id).is_some_and(|subs| {
            let have: BTreeSet<&str> = port.fixed_ips.iter().map(|f| f.subnet_id.as_str()).collect();
            let want: BTreeSet<&str> = subs.iter().map(|s| s.id.as_str()).collect();
            have == want
        });
        if needed.remove(&key) {
            if !subnets_ok {
                // The DHCP subnets changed: the same port (the same MAC and server address
                // for the guests) takes or gives up addresses, as Neutron's agent updates it.
                let subnets = wanted.get(&port.network_id).map(Vec::as_slice).unwrap_or(&[]);
                if readdress_port(tx, &app.dns_domain, port, subnets, &now)? {
                    pass.ports_readdressed += 1;
                }
            }
            continue;
        }
        if subnets_ok {
            spare.push(port);
        } else {
            super::port_alloc::delete_in_tx(tx, &port)?;
            pass.ports_deleted += 1;
        }
    }
    for (net, host) in std::mem::take(&mut needed) {
        // A port left by a dead agent moves to its replacement with its addresses.
        if let Some(pos) = spare.iter().position(|p| p.network_id == net) {
            move_port(tx, app, spare.swap_remove(pos), &host, &now)?;
            pass.ports_moved += 1;
            continue;
        }
        let subnets = wanted.get(&net).map(Vec::as_slice).unwrap_or(&[]);
        if let Some(full) = without_address(tx, subnets)? {
            // As Neutron's DHCP agent does when `create_dhcp_port` fails with
            // IpAddressGenerationFailure: log it, leave this network without a DHCP port
            // (retried on the next pass), and go on with the others.
            tracing::warn!(network = %net, %host, subnet = %full, "no free address for the DHCP port; network skipped");
            continue;
        }
        create_port(tx, app, &net, &host, subnets, &now)?;
        pass.ports_created += 1;
    }
    for port in spare {
        super::port_alloc::delete_in_tx(tx, &port)?;
        pass.ports_deleted += 1;
    }
    Ok(())
}

/// The first DHCP subnet that cannot give a new DHCP port an address (no pools, or full).
/// Checked before the port is made, so one such network fails alone, not the pass's
/// transaction with every other network in it.
fn without_address(tx: &mut dyn Tx, subnets: &[Subnet]) -> Result<Option<String>, ApiError> {
    for s in subnets {
        if !super::port_alloc::has_free_address(tx, s)? {
            return Ok(Some(s.id.clone()));
        }
    }
    Ok(None)
}

/// Moves a DHCP port to `host` (its agent replaced a dead one), with its addresses.
fn move_port(tx: &mut dyn Tx, app: &App, mut port: Port, host: &str, now: &str) -> Result<(), ApiError> {
    let previous = std::mem::replace(&mut port.binding_host_id, host.into());
    port.device_id = device_id(host, &port.network_id);
    let outcome = super::binding::decide(tx, app, &mut port, &previous)?;
    super::binding::record(tx, &port.id, outcome)?;
    super::save_update(tx, &mut port, now.into())?;
    tracing::info!(port = %port.id, network = %port.network_id, from = %previous, to = %host, "DHCP port moved");
    Ok(())
}

/// Gives a DHCP port an address on each DHCP subnet it lacks and releases those on subnets
/// that no longer serve DHCP. A subnet without a free address is left for the next pass
/// (and nothing is written while nothing changes, so a full subnet does not wake the passes).
fn readdress_port(
    tx: &mut dyn Tx,
    domain: &neutrino_model::dns::DnsDomain,
    mut port: Port,
    subnets: &[Subnet],
    now: &str,
) -> Result<bool, ApiError> {
    let (keep, drop): (Vec<FixedIp>, Vec<FixedIp>) =
        port.fixed_ips.iter().cloned().partition(|f| subnets.iter().any(|s| s.id == f.subnet_id));
    for old in &drop {
        tx.ip_allocation_delete(&old.subnet_id, &old.ip_address)?;
    }
    let mut requests = Vec::new();
    for s in subnets.iter().filter(|s| !keep.iter().any(|f| f.subnet_id == s.id)) {
        if super::port_alloc::has_free_address(tx, s)? {
            requests.push(IpRequest { subnet: s.clone(), ip: None });
        } else {
            tracing::warn!(port = %port.id, subnet = %s.id, "no free address for the DHCP port on this subnet");
        }
    }
    let mac = mac_octets(&port)?;
    let added = allocate(tx, &port, mac, requests, &[], Maker::Server)?;
    if drop.is_empty() && added.is_empty() {
        return Ok(false);
    }
    port.fixed_ips = keep.into_iter().chain(added).collect();
    port.name_addresses(domain);
    tracing::info!(port = %port.id, network = %port.network_id, "DHCP port readdressed");
    super::save_update(tx, &mut port, now.into())?;
    Ok(true)
}

/// Makes the DHCP port of `net` on `host`, with an address on each of its DHCP subnets.
fn create_port(
    tx: &mut dyn Tx,
    app: &App,
    net: &str,
    host: &str,
    subnets: &[Subnet],
    now: &str,
) -> Result<(), ApiError> {
    let network: Network = load_required(tx, Resource::Network, net)?;
    let dev = device_id(host, net);
    let spec = super::port_alloc::ServicePort {
        project: &network.project_id,
        network_id: net,
        device_owner: DHCP_OWNER,
        device_id: &dev,
        fixed_ips: Some(subnets.iter().map(|s| FixedIpRequest::on_subnet(&s.id)).collect()),
        host: Some(host),
    };
    let port = super::port_alloc::create_service_port(tx, app, spec, now)?;
    tracing::info!(port = %port.id, network = %net, %host, "DHCP port created");
    Ok(())
}

/// A port as its network's DHCP server answers it: by MAC, with its addresses on DHCP
/// subnets (`None` without any), its options that have a value, and its name: the
/// `hostname` its `dns_assignment` gives its first DHCP address (the port's `dns_name` under
/// a real server `dns_domain`, else `host-<address>`), as Neutron's agent picks it.
fn dhcp_host(p: &Port, on_dhcp: &impl Fn(&[neutrino_model::types::FixedIp]) -> Vec<DhcpFixedIp>) -> Option<DhcpHost> {
    let fixed_ips = on_dhcp(&p.fixed_ips);
    let first = fixed_ips.first()?.ip_address;
    Some(DhcpHost {
        port_id: p.id.clone(),
        mac_address: p.mac_address.clone(),
        hostname: p
            .dns_assignment
            .iter()
            .find(|d| d.ip_address.parse() == Ok(first))
            .map_or_else(|| neutrino_model::dns::host_name(&first.to_string()), |d| d.hostname.clone()),
        dns_assignment: p
            .dns_assignment
            .iter()
            .filter_map(|d| {
                let ip_address = d.ip_address.parse().ok()?;
                Some(DnsName { ip_address, hostname: d.hostname.clone(), fqdn: d.fqdn.clone() })
            })
            .collect(),
        fixed_ips,
        device_id: p.device_id.clone(),
        device_owner: p.device_owner.clone(),
        project_id: p.project_id.clone(),
        extra_dhcp_opts: p
            .extra_dhcp_opts
            .iter()
            .filter_map(|o| {
                Some(ExtraDhcpOpt {
                    opt_name: o.opt_name.clone(),
                    opt_value: o.opt_value.clone()?,
                    ip_version: o.ip_version,
                })
            })
            .collect(),
    })
}

/// `router_attached`: a router interface holds an address on the subnet (Neutron's
/// `get_isolated_subnets` says the subnet is not isolated).
fn dhcp_subnet(s: &Subnet, router_attached: bool) -> DhcpSubnet {
    DhcpSubnet {
        router_attached,
        id: s.id.clone(),
        cidr: s.cidr.clone(),
        ip_version: s.ip_version,
        gateway_ip: s.gateway_ip.as_deref().and_then(|g| g.parse().ok()),
        dns_nameservers: s.dns_nameservers.clone(),
        host_routes: s
            .host_routes
            .iter()
            .filter_map(|r| Some(HostRoute { destination: r.destination.clone(), nexthop: r.nexthop.parse().ok()? }))
            .collect(),
        ipv6_address_mode: s.ipv6_address_mode.clone(),
        ipv6_ra_mode: s.ipv6_ra_mode.clone(),
    }
}

/// The DHCP part of a host's desired state: the networks its DHCP agent serves. Records
/// in `deps` each network, its subnets and its ports.
pub(crate) fn host_networks(
    tx: &mut dyn Tx,
    host: &str,
    deps: &mut super::host_deps::Deps,
) -> Result<Vec<DhcpNetwork>, ApiError> {
    use super::host_deps::Key;
    let Some(agent) = tx.agent_find(AGENT_TYPE_DHCP, host)? else { return Ok(vec![]) };
    let nets: Vec<String> = tx
        .assignment_list(Assignment::DhcpNetwork)?
        .into_iter()
        .filter(|(_, a)| *a == agent.id)
        .map(|(n, _)| n)
        .collect();
    let mut out = Vec::with_capacity(nets.len());
    for net_id in nets {
        deps.add(Key::network(&net_id));
        let Some(body) = tx.doc_get(Resource::Network, &net_id)? else { continue };
        let network: Network = decode(Resource::Network, &net_id, &body)?;
        let subnets = dhcp_subnets(tx, Some(vec![net_id.clone()]))?.remove(&net_id).unwrap_or_default();
        let docs = tx
            .doc_list(Resource::Port, &IndexFilter { network_ids: Some(vec![net_id.clone()]), ..Default::default() })?;
        let ports: Vec<Port> = docs.iter().map(|d| decode(Resource::Port, "", d)).collect::<Result<_, _>>()?;
        for p in &ports {
            deps.add(Key::port(&p.id));
        }
        for s in &subnets {
            deps.resource(neutrino_store::ChangeKind::Subnet, &s.id);
        }
        let Some(dhcp_port) = ports.iter().find(|p| p.device_owner == DHCP_OWNER && p.binding_host_id == host) else {
            continue; // the scheduler has not made it yet
        };
        let on_dhcp = |ips: &[neutrino_model::types::FixedIp]| -> Vec<DhcpFixedIp> {
            ips.iter()
                .filter(|f| subnets.iter().any(|s| s.id == f.subnet_id))
                .filter_map(|f| {
                    Some(DhcpFixedIp { subnet_id: f.subnet_id.clone(), ip_address: f.ip_address.parse().ok()? })
                })
                .collect()
        };
        let hosts = ports.iter().filter(|p| p.id != dhcp_port.id).filter_map(|p| dhcp_host(p, &on_dhcp)).collect();
        out.push(DhcpNetwork {
            network_id: net_id.clone(),
            project_id: network.project_id.clone(),
            mtu: network.mtu,
            port: DhcpPort {
                id: dhcp_port.id.clone(),
                mac_address: dhcp_port.mac_address.clone(),
                fixed_ips: on_dhcp(&dhcp_port.fixed_ips),
            },
            subnets: subnets
                .iter()
                .map(|s| {
                    let attached = ports.iter().any(|p| {
                        super::port_alloc::ROUTER_INTERFACE_OWNERS.contains(&p.device_owner.as_str())
                            && p.fixed_ips.iter().any(|f| f.subnet_id == s.id)
                    });
                    dhcp_subnet(s, attached)
                })
                .collect(),
            hosts,
        });
    }
    Ok(out)
}
