//! The walk's plan, read from the store in one transaction: the hops the server judges
//! itself (a binding, an agent's liveness, the security groups, a route) and, for each host
//! on the path whose agent is alive, the asks of its one question, with a step per ask where
//! the packet meets it. A dead agent's host is not asked: its `agent` hop says why.

use super::verdict::{known, Step};
use crate::app::agents;
use crate::app::port_alloc::ROUTER_INTERFACE_OWNERS;
use crate::app::{load, App};
use ipnet::IpNet;
use neutrino_agent_api::diagnose::{Ask, Check, FloatingIpAsk, RemotePortAsk};
use neutrino_agent_api::{bridge_name, tap_name, Mechanism, AGENT_TYPE_DHCP, AGENT_TYPE_L3};
use neutrino_model::types::{vif_type, Network, Port, Router, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{AgentRow, Assignment, BindingResult, IndexFilter, Segment, Tx};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// What the walk found to judge and to ask.
#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Each host's asks, in the order of its question.
    pub asks: BTreeMap<String, Vec<Ask>>,
}

/// A port bound where its agent is alive: the host to ask, and the segment it is wired on.
pub struct Bound {
    pub host: String,
    pub segment: Segment,
}

/// The walk in progress.
pub struct Planner<'a> {
    pub tx: &'a mut dyn Tx,
    pub app: &'a App,
    pub plan: Plan,
    now: i64,
    /// Agents whose hop is already on the path.
    agents_seen: BTreeSet<String>,
    /// VXLAN endpoints of hosts, as read.
    endpoints: BTreeMap<String, Option<IpAddr>>,
}

impl<'a> Planner<'a> {
    pub fn new(tx: &'a mut dyn Tx, app: &'a App) -> Self {
        let now = app.clock.unix();
        Self { tx, app, plan: Plan::default(), now, agents_seen: BTreeSet::new(), endpoints: BTreeMap::new() }
    }

    /// Adds `ask` to `host`'s question and its step here on the path, unless the path
    /// already met it (a target on the same host shares the source's network there).
    pub fn ask(&mut self, host: &str, ask: Ask, object: String, first: Check) {
        let asks = self.plan.asks.entry(host.to_string()).or_default();
        if asks.contains(&ask) {
            return;
        }
        asks.push(ask);
        let index = asks.len() - 1;
        self.plan.steps.push(Step::Asked { host: host.to_string(), ask: index, object, first });
    }

    pub fn known(&mut self, step: Step) {
        self.plan.steps.push(step);
    }

    /// The `agent` hop of `row` (`label` on its host); whether it is alive.
    fn agent_hop(&mut self, label: &str, row: &AgentRow) -> bool {
        let silent = self.now - row.heartbeat_at;
        let alive = agents::alive(self.app, row, self.now);
        if self.agents_seen.insert(row.id.clone()) {
            let evidence = if alive {
                format!("{label} on host {}: alive, last heartbeat {silent} s ago", row.host)
            } else {
                format!("{label} on host {}: last heartbeat {silent} s ago", row.host)
            };
            self.known(known("agent", Some(&row.host), format!("agent {}", row.id), alive, evidence));
        }
        alive
    }

    /// The port's binding and its host's L2 agent; the host to ask if both are fine.
    pub fn port_side(&mut self, port: &Port) -> Result<Option<Bound>, ApiError> {
        let object = format!("port {}", port.id);
        let host = port.binding_host_id.clone();
        if host.is_empty() {
            self.known(known("binding", None, object, false, "binding:host_id is not set: the port is not bound"));
            return Ok(None);
        }
        let binding = self.tx.port_binding_get(&port.id)?;
        let segment = match binding.map(|b| b.result) {
            Some(BindingResult::Bound { segment_id }) => {
                self.tx.segment_list_by_network(&port.network_id)?.into_iter().find(|s| s.id == segment_id)
            }
            Some(BindingResult::Failed { reason }) => {
                let evidence = format!("binding to host {host} failed: {reason}");
                self.known(known("binding", Some(&host), object, false, evidence));
                return Ok(None);
            }
            None => None,
        };
        let failed = port.binding_vif_type == vif_type::BINDING_FAILED || port.binding_vif_type == vif_type::UNBOUND;
        let Some(segment) = segment.filter(|_| !failed) else {
            let evidence = format!("host {host}, vif_type {}, no segment bound", port.binding_vif_type);
            self.known(known("binding", Some(&host), object, false, evidence));
            return Ok(None);
        };
        let evidence = format!(
            "host {host}, vif_type {}, segment {} ({})",
            port.binding_vif_type,
            segment.id,
            describe_segment(&segment)
        );
        self.known(known("binding", Some(&host), object, true, evidence));
        // The agent of the mechanism that bound the port (its vif_type).
        let mechanism = Mechanism::ALL
            .into_iter()
            .find(|m| m.vif_type() == port.binding_vif_type)
            .unwrap_or(Mechanism::LinuxBridge);
        let Some(row) = self.tx.agent_find(mechanism.agent_type(), &host)? else {
            let evidence = format!("no {} registered on host {host}", mechanism.agent_type());
            self.known(known("agent", Some(&host), format!("host {host}"), false, evidence));
            return Ok(None);
        };
        if !self.agent_hop("L2 agent", &row) {
            return Ok(None);
        }
        Ok(Some(Bound { host, segment }))
    }

    /// The port's device on its host: the tap, up, in its bridge, and its firewall chain.
    pub fn device(&mut self, port: &Port, bound: &Bound) {
        let filtered = port.port_security_enabled && !port.device_owner.starts_with("network:");
        let ask = Ask::Port {
            port_id: port.id.clone(),
            network_id: port.network_id.clone(),
            mac_address: port.mac_address.clone(),
            filtered,
        };
        self.ask(&bound.host, ask, tap_name(&port.id), Check::Tap);
    }

    /// The network's L2 on `bound.host`: bridge, segment device, and for VXLAN the FDB
    /// entries of the network's ports on other hosts (`first` ones first, then the rest up to
    /// `diagnose_max_fdb_ports`).
    pub fn network(&mut self, network_id: &str, bound: &Bound, first: &[&Port]) -> Result<(), ApiError> {
        let mut remote_ports = Vec::new();
        if bound.segment.network_type == "vxlan" {
            let mut remote: Vec<(String, String)> = self
                .tx
                .port_binding_list_by_network(network_id)?
                .into_iter()
                .filter(|b| b.host != bound.host && b.network_id == network_id)
                .map(|b| (b.port_id, b.host))
                .collect();
            let rank = |id: &str| first.iter().position(|p| p.id == id).unwrap_or(first.len());
            remote.sort_by_key(|(id, _)| rank(id));
            remote.truncate(self.app.config.diagnose_max_fdb_ports);
            let ids: Vec<String> = remote.iter().map(|(id, _)| id.clone()).collect();
            let macs = self.macs(ids)?;
            for (id, host) in remote {
                let Some(mac) = macs.get(&id) else { continue };
                if let Some(endpoint) = self.endpoint(&host)? {
                    remote_ports.push(RemotePortAsk { mac_address: mac.clone(), endpoint });
                }
            }
        }
        let ask = Ask::Network {
            network_id: network_id.to_string(),
            network_type: bound.segment.network_type.clone(),
            segmentation_id: bound.segment.segmentation_id,
            physical_network: bound.segment.physical_network.clone(),
            remote_ports,
        };
        self.ask(&bound.host, ask, bridge_name(network_id), Check::Bridge);
        Ok(())
    }

    fn macs(&mut self, ids: Vec<String>) -> Result<BTreeMap<String, String>, ApiError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let docs = self.tx.doc_list(Resource::Port, &IndexFilter { ids: Some(ids), ..Default::default() })?;
        let mut macs = BTreeMap::new();
        for d in docs {
            let p: Port = crate::app::decode(Resource::Port, "", &d)?;
            macs.insert(p.id, p.mac_address);
        }
        Ok(macs)
    }

    fn endpoint(&mut self, host: &str) -> Result<Option<IpAddr>, ApiError> {
        if let Some(known) = self.endpoints.get(host) {
            return Ok(*known);
        }
        let ip = agents::tunneling_ip(self.tx, host)?;
        self.endpoints.insert(host.to_string(), ip);
        Ok(ip)
    }

    /// The network's DHCP, when it has a DHCP subnet: each scheduled agent alive, and the
    /// port's host entry on its host.
    pub fn dhcp(&mut self, port: &Port, network: &Network) -> Result<(), ApiError> {
        let mut dhcp_subnets = BTreeSet::new();
        for id in &network.subnets {
            if load::<Subnet>(self.tx, Resource::Subnet, id)?.is_some_and(|s| s.enable_dhcp) {
                dhcp_subnets.insert(id.clone());
            }
        }
        if dhcp_subnets.is_empty() {
            return Ok(());
        }
        let agents: Vec<String> = self
            .tx
            .assignment_list(Assignment::DhcpNetwork)?
            .into_iter()
            .filter(|(n, _)| *n == network.id)
            .map(|(_, a)| a)
            .collect();
        let object = format!("network {}", network.id);
        if agents.is_empty() {
            self.known(known(
                "agent",
                None,
                object,
                false,
                format!("no {AGENT_TYPE_DHCP} serves network {}", network.id),
            ));
            return Ok(());
        }
        let ip_addresses: Vec<IpAddr> = port
            .fixed_ips
            .iter()
            .filter(|f| dhcp_subnets.contains(&f.subnet_id))
            .filter_map(|f| f.ip_address.parse().ok())
            .collect();
        for id in agents {
            let Some(row) = self.tx.agent_get(&id)? else { continue };
            if self.agent_hop("DHCP agent", &row) {
                let ask = Ask::Dhcp {
                    network_id: network.id.clone(),
                    mac_address: port.mac_address.clone(),
                    ip_addresses: ip_addresses.clone(),
                };
                self.ask(&row.host, ask, format!("qdhcp-{}", network.id), Check::DhcpNamespace);
            }
        }
        Ok(())
    }

    /// A router: each L3 agent hosting it alive, and the router on its host (interfaces,
    /// gateway, and `floating_ip`'s NAT).
    pub fn router(&mut self, router_id: &str, floating_ip: Option<FloatingIpAsk>) -> Result<(), ApiError> {
        let Some(router) = load::<Router>(self.tx, Resource::Router, router_id)? else { return Ok(()) };
        let object = format!("router {}", if router.name.is_empty() { &router.id } else { &router.name });
        let agents: Vec<String> = self
            .tx
            .assignment_list(Assignment::L3Router)?
            .into_iter()
            .filter(|(r, _)| r == router_id)
            .map(|(_, a)| a)
            .collect();
        if agents.is_empty() {
            let evidence = format!("no {AGENT_TYPE_L3} hosts router {router_id}");
            self.known(known("agent", None, object, false, evidence));
            return Ok(());
        }
        let interfaces = self.router_interfaces(router_id)?;
        let gateway = match router.external_gateway_info.as_ref().and_then(|g| g.external_fixed_ips.first()) {
            Some(f) => self.with_prefix(&f.subnet_id, &f.ip_address)?,
            None => None,
        };
        for id in agents {
            let Some(row) = self.tx.agent_get(&id)? else { continue };
            if self.agent_hop("L3 agent", &row) {
                let ask = Ask::Router {
                    router_id: router_id.to_string(),
                    interfaces: interfaces.clone(),
                    gateway: gateway.clone(),
                    floating_ip: floating_ip.clone(),
                };
                self.ask(&row.host, ask, object.clone(), Check::RouterNamespace);
            }
        }
        Ok(())
    }

    /// The router's interface addresses, as `address/prefix`.
    fn router_interfaces(&mut self, router_id: &str) -> Result<Vec<String>, ApiError> {
        let filter = IndexFilter { device_ids: Some(vec![router_id.to_string()]), ..Default::default() };
        let mut out = Vec::new();
        for d in self.tx.doc_list(Resource::Port, &filter)? {
            let p: Port = crate::app::decode(Resource::Port, "", &d)?;
            if ROUTER_INTERFACE_OWNERS.contains(&p.device_owner.as_str()) {
                for f in &p.fixed_ips {
                    out.extend(self.with_prefix(&f.subnet_id, &f.ip_address)?);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// `address/prefix`, the prefix being its subnet's.
    fn with_prefix(&mut self, subnet_id: &str, address: &str) -> Result<Option<String>, ApiError> {
        let subnet = load::<Subnet>(self.tx, Resource::Subnet, subnet_id)?;
        Ok(subnet.and_then(|s| s.cidr.parse::<IpNet>().ok()).map(|net| format!("{address}/{}", net.prefix_len())))
    }

    /// The routers with an interface on one of `subnets` (router id, subnet id), by router.
    pub fn routers_on(&mut self, network_id: &str, subnets: &[String]) -> Result<Vec<(String, String)>, ApiError> {
        let filter = IndexFilter { network_ids: Some(vec![network_id.to_string()]), ..Default::default() };
        let mut out = BTreeSet::new();
        for d in self.tx.doc_list(Resource::Port, &filter)? {
            let p: Port = crate::app::decode(Resource::Port, "", &d)?;
            if ROUTER_INTERFACE_OWNERS.contains(&p.device_owner.as_str()) {
                for f in p.fixed_ips.iter().filter(|f| subnets.contains(&f.subnet_id)) {
                    out.insert((p.device_id.clone(), f.subnet_id.clone()));
                }
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// `vxlan 1001`, `flat physnet1`, `vlan physnet1 100`.
fn describe_segment(s: &Segment) -> String {
    let mut out = s.network_type.clone();
    if let Some(p) = &s.physical_network {
        out.push_str(&format!(" {p}"));
    }
    if let Some(id) = s.segmentation_id {
        out.push_str(&format!(" {id}"));
    }
    out
}
