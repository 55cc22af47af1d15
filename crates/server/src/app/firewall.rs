//! The security part of a host's desired state: how each of its ports is filtered.
//!
//! Per port: its MAC, addresses and allowed address pairs (anti-spoofing), whether port
//! security is on, and its groups; per group its rules; per group that a rule names as
//! `remote_group_id`, the addresses of its members on any host (the agent keeps them in
//! an nftables set, so a membership change updates a set, not rules).

use super::decode;
use neutrino_model::agent_api::{AllowedPair, PortSecurity, SecurityGroupState, SecurityRule};
use neutrino_model::types::{Port, SecurityGroup, SecurityGroupRule};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{IndexFilter, Tx};
use std::collections::{BTreeMap, BTreeSet};

/// The filtering of a host's ports, in [`neutrino_model::agent_api::HostState`]'s terms.
pub(crate) struct HostSecurity {
    pub ports: Vec<PortSecurity>,
    pub groups: Vec<SecurityGroupState>,
    pub members: BTreeMap<String, Vec<String>>,
}

/// The filtering of `ports` (a host's bound ports).
pub(crate) fn host_security(tx: &mut dyn Tx, ports: &[Port]) -> Result<HostSecurity, ApiError> {
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
            // Neutron's firewall trusts the ports of its own services (DHCP, router): they are
            // not filtered.
            port_security_enabled: p.port_security_enabled && !p.device_owner.starts_with("network:"),
            security_group_ids: p.security_groups.clone(),
        })
        .collect();
    let group_ids: BTreeSet<String> = ports.iter().flat_map(|p| p.security_groups.iter().cloned()).collect();
    let ids: Vec<String> = group_ids.iter().cloned().collect();
    let mut rules = super::security_groups::rules_of(tx, &ids)?;
    let mut groups = Vec::with_capacity(ids.len());
    let mut remote: BTreeSet<String> = BTreeSet::new();
    for id in &ids {
        let Some(body) = tx.doc_get(Resource::SecurityGroup, id)? else { continue };
        let g: SecurityGroup = decode(Resource::SecurityGroup, id, &body)?;
        let mut group_rules: Vec<SecurityGroupRule> = rules.remove(id).unwrap_or_default();
        group_rules.sort_by(|a, b| a.id.cmp(&b.id));
        remote.extend(group_rules.iter().filter_map(|r| r.remote_group_id.clone()));
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
                })
                .collect(),
        });
    }
    let mut members = BTreeMap::new();
    for gid in remote {
        let port_ids = tx.port_security_group_ports(&gid)?;
        let mut addrs: BTreeSet<String> = BTreeSet::new();
        if !port_ids.is_empty() {
            let docs = tx.doc_list(Resource::Port, &IndexFilter { ids: Some(port_ids), ..Default::default() })?;
            for d in docs {
                let p: Port = decode(Resource::Port, "", &d)?;
                addrs.extend(p.fixed_ips.iter().map(|f| f.ip_address.clone()));
                addrs.extend(p.allowed_address_pairs.iter().map(|a| a.ip_address.clone()));
            }
        }
        members.insert(gid, addrs.into_iter().collect());
    }
    Ok(HostSecurity { ports: security, groups, members })
}
