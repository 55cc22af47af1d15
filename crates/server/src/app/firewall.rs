//! The security part of a host's desired state: how each of its ports is filtered.
//!
//! Per port: its MAC, addresses and allowed address pairs (anti-spoofing), whether port
//! security is on, and its groups; per group its rules; per group that a rule names as
//! `remote_group_id`, the addresses of its members on any host, and per address group a
//! rule names as `remote_address_group_id`, its CIDRs (the agent keeps each in an nftables
//! set, so a membership or address change updates a set, not rules). An address group's
//! change is in the change feed like any write, and wakes the hosts whose rules name the
//! group ([`super::host_deps`]).
//!
//! Like Neutron's firewall, the ports of the server's own services go unfiltered; unlike a
//! check of `device_owner` (which a network's owner may set to any `network:*` value), a
//! port counts as one only when the server's own records say it placed it on this host:
//! a DHCP port of a network this host's DHCP agent serves, or a port of a router this
//! host's L3 agent runs.

use super::decode;
use super::dhcp::DHCP_OWNER;
use super::host_deps::{Deps, Key};
use neutrino_agent_api::{AllowedPair, PortSecurity, SecurityGroupState, SecurityRule, AGENT_TYPE_DHCP};
use neutrino_model::types::{AddressGroup, Port, Router, SecurityGroup, SecurityGroupRule};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{Assignment, IndexFilter, Tx};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The filtering of a host's ports, in [`neutrino_agent_api::HostState`]'s terms.
pub(crate) struct HostSecurity {
    pub ports: Vec<PortSecurity>,
    pub groups: Vec<SecurityGroupState>,
    pub members: BTreeMap<String, Vec<String>>,
    pub address_groups: BTreeMap<String, Vec<String>>,
}

/// Which of a host's ports the server itself placed there for its services.
struct ServicePorts {
    host: String,
    /// Networks this host's DHCP agent serves.
    dhcp_networks: BTreeSet<String>,
}

impl ServicePorts {
    fn of_host(tx: &mut dyn Tx, host: &str) -> Result<Self, ApiError> {
        let mut dhcp_networks = BTreeSet::new();
        if let Some(agent) = tx.agent_find(AGENT_TYPE_DHCP, host)? {
            for (network, agent_id) in tx.assignment_list(Assignment::DhcpNetwork)? {
                if agent_id == agent.id {
                    dhcp_networks.insert(network);
                }
            }
        }
        Ok(Self { host: host.to_string(), dhcp_networks })
    }

    /// Whether `port` (bound to this host) is one the server made and placed here: the
    /// DHCP port its scheduler gave this host's DHCP agent (owner, `device_id` and
    /// assignment all agree), or a router port whose router this host's L3 agent runs and
    /// that belongs to that router (an interface of the router's project, or the gateway
    /// on the router's external network).
    fn contains(&self, tx: &mut dyn Tx, port: &Port, deps: &mut Deps) -> Result<bool, ApiError> {
        if !port.device_id.is_empty() {
            deps.add(Key::router(&port.device_id));
        }
        if port.binding_host_id != self.host {
            return Ok(false);
        }
        if port.device_owner == DHCP_OWNER {
            return Ok(self.dhcp_networks.contains(&port.network_id)
                && port.device_id == super::dhcp::device_id(&self.host, &port.network_id));
        }
        if !super::port_alloc::L3_OWNERS.contains(&port.device_owner.as_str()) || port.device_id.is_empty() {
            return Ok(false);
        }
        let Some(router) = super::load::<Router>(tx, Resource::Router, &port.device_id)? else { return Ok(false) };
        if !super::l3::host_runs_router(tx, &self.host, &router.id)? {
            return Ok(false);
        }
        Ok(if port.device_owner == "network:router_gateway" {
            router.external_gateway_info.as_ref().is_some_and(|g| g.network_id == port.network_id)
        } else {
            port.project_id == router.project_id
        })
    }
}

/// The filtering of `ports` (a host's bound ports), recording what it reads in `deps`: the
/// routers the ports name, the groups, their rules, remote groups and their member ports,
/// and the address groups.
pub(crate) fn host_security(
    tx: &mut dyn Tx,
    host: &str,
    ports: &[Port],
    deps: &mut Deps,
) -> Result<HostSecurity, ApiError> {
    let services = ServicePorts::of_host(tx, host)?;
    let mut trusted = BTreeSet::new();
    for p in ports {
        if services.contains(tx, p, deps)? {
            trusted.insert(p.id.clone());
        }
    }
    let security: Vec<PortSecurity> = ports
        .iter()
        .map(|p| PortSecurity {
            port_id: p.id.clone(),
            mac_address: p.mac_address.clone(),
            ip_addresses: p.fixed_ips.iter().filter_map(|f| f.ip_address.parse().ok()).collect(),
            allowed_address_pairs: p
                .allowed_address_pairs
                .iter()
                .map(|a| AllowedPair { ip_address: a.ip_address.clone(), mac_address: a.mac_address.clone() })
                .collect(),
            // The server's own service ports are not filtered (as Neutron's firewall trusts
            // them); every other port keeps its own setting, whatever its owner says.
            port_security_enabled: p.port_security_enabled && !trusted.contains(&p.id),
            security_group_ids: p.security_groups.clone(),
        })
        .collect();
    let group_ids: BTreeSet<String> = ports.iter().flat_map(|p| p.security_groups.iter().cloned()).collect();
    let ids: Vec<String> = group_ids.iter().cloned().collect();
    let mut rules = super::security_groups::rules_of(tx, &ids)?;
    let mut groups = Vec::with_capacity(ids.len());
    let mut remote: BTreeSet<String> = BTreeSet::new();
    let mut remote_address_groups: BTreeSet<String> = BTreeSet::new();
    for id in &ids {
        deps.add(Key::security_group(id));
        let Some(body) = tx.doc_get(Resource::SecurityGroup, id)? else { continue };
        let g: SecurityGroup = decode(Resource::SecurityGroup, id, &body)?;
        let mut group_rules: Vec<SecurityGroupRule> = rules.remove(id).unwrap_or_default();
        group_rules.sort_by(|a, b| a.id.cmp(&b.id));
        for r in &group_rules {
            deps.resource(neutrino_store::ChangeKind::SecurityGroupRule, &r.id);
        }
        remote.extend(group_rules.iter().filter_map(|r| r.remote_group_id.clone()));
        remote_address_groups.extend(group_rules.iter().filter_map(|r| r.remote_address_group_id.clone()));
        groups.push(SecurityGroupState {
            id: id.clone(),
            stateful: g.stateful,
            rules: group_rules
                .into_iter()
                .map(|r| SecurityRule {
                    id: r.id,
                    direction: r.direction,
                    ethertype: r.ethertype,
                    protocol: r.protocol,
                    port_range_min: r.port_range_min,
                    port_range_max: r.port_range_max,
                    remote_ip_prefix: r.normalized_cidr.or(r.remote_ip_prefix),
                    remote_group_id: r.remote_group_id,
                    remote_address_group_id: r.remote_address_group_id,
                })
                .collect(),
        });
    }
    // A remote group's members are often this host's own ports (a default group naming
    // itself): those are read already; only the others are loaded.
    let own: HashMap<&str, &Port> = ports.iter().map(|p| (p.id.as_str(), p)).collect();
    let addresses_of = |p: &Port, addrs: &mut BTreeSet<String>| {
        addrs.extend(p.fixed_ips.iter().map(|f| f.ip_address.clone()));
        addrs.extend(p.allowed_address_pairs.iter().map(|a| a.ip_address.clone()));
    };
    let mut members = BTreeMap::new();
    for gid in remote {
        deps.add(Key::members(&gid));
        let port_ids = tx.port_security_group_ports(&gid)?;
        let mut addrs: BTreeSet<String> = BTreeSet::new();
        let mut elsewhere = Vec::new();
        for id in port_ids {
            deps.add(Key::port(&id));
            match own.get(id.as_str()) {
                Some(p) => addresses_of(p, &mut addrs),
                None => elsewhere.push(id),
            }
        }
        if !elsewhere.is_empty() {
            let docs = tx.doc_list(Resource::Port, &IndexFilter { ids: Some(elsewhere), ..Default::default() })?;
            for d in docs {
                addresses_of(&decode(Resource::Port, "", &d)?, &mut addrs);
            }
        }
        members.insert(gid, addrs.into_iter().collect());
    }
    let mut address_groups = BTreeMap::new();
    for id in remote_address_groups {
        deps.resource(neutrino_store::ChangeKind::AddressGroup, &id);
        // A rule's group is kept while the rule names it; a missing one allows nothing.
        let addresses = super::load::<AddressGroup>(tx, Resource::AddressGroup, &id)?.map(|g| g.addresses);
        address_groups.insert(id, addresses.unwrap_or_default());
    }
    Ok(HostSecurity { ports: security, groups, members, address_groups })
}
