//! What the switch must hold for a host state (pure): the networks' segments, the bridges
//! and ports, each port's tag. The flows are in [`flows`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use neutrino_agent_api::HostState;

use super::ovsdb::{OvsState, PortRow, VsctlCommand};
use super::vlans::{LocalVlans, DEAD_VLAN};
use super::{int_patch, phy_patch, OvsConfig, PATCH_INT, PATCH_TUN};
use crate::firewall::FilterGate;
use crate::l2::reconcile::WiringHeld;
use crate::report::Object;

pub mod flows;

/// How a network reaches other hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Vxlan {
        vni: u32,
    },
    /// Untagged on the physical bridge.
    Flat {
        physnet: String,
        bridge: String,
    },
    Vlan {
        physnet: String,
        bridge: String,
        vid: u16,
    },
}

impl Segment {
    fn network_type(&self) -> &'static str {
        match self {
            Segment::Vxlan { .. } => "vxlan",
            Segment::Flat { .. } => "flat",
            Segment::Vlan { .. } => "vlan",
        }
    }
}

/// A problem found while planning, about one object.
pub type PlanIssue = (Object, String);

/// The segment of every network of `state` this host can wire, and why the others cannot.
pub fn segments(
    state: &HostState,
    cfg: &OvsConfig,
    local_ip: Option<IpAddr>,
) -> (BTreeMap<String, Segment>, Vec<PlanIssue>) {
    let (mut out, mut issues) = (BTreeMap::new(), Vec::new());
    let with_ports: BTreeSet<&str> = state.ports.iter().map(|p| p.network_id.as_str()).collect();
    for n in state.networks.iter().filter(|n| with_ports.contains(n.id.as_str())) {
        let physnet_bridge = || {
            let physnet = n.physical_network.clone()?;
            Some((cfg.bridge_mappings.get(&physnet)?.clone(), physnet))
        };
        let segment = match (n.network_type.as_str(), n.segmentation_id) {
            ("vxlan", Some(vni)) if vni > 0 && vni < 1 << 24 => match local_ip {
                Some(_) => Ok(Segment::Vxlan { vni }),
                None => Err("is VXLAN but this host has no local_ip".to_string()),
            },
            ("flat", _) => {
                physnet_bridge().map(|(bridge, physnet)| Segment::Flat { physnet, bridge }).ok_or_else(|| unmapped(n))
            }
            ("vlan", Some(vid)) if (1..4095).contains(&vid) => {
                let vid = vid as u16;
                physnet_bridge()
                    .map(|(bridge, physnet)| Segment::Vlan { physnet, bridge, vid })
                    .ok_or_else(|| unmapped(n))
            }
            (t, id) => Err(format!("has a segment this agent cannot wire ({t} {id:?})")),
        };
        match segment {
            Ok(s) => {
                out.insert(n.id.clone(), s);
            }
            Err(why) => issues.push((Object::Network(n.id.clone()), format!("network {} {why}", n.id))),
        }
    }
    (out, issues)
}

fn unmapped(n: &neutrino_agent_api::NetworkState) -> String {
    format!("is on physical network {:?}, which has no bridge mapping", n.physical_network)
}

/// `vxlan-<peer IPv4 in hex>`, Neutron's name for the tunnel port to a peer.
pub fn tunnel_port(peer: IpAddr) -> Option<String> {
    match peer {
        IpAddr::V4(v4) => Some(format!("vxlan-{:08x}", u32::from(v4))),
        IpAddr::V6(_) => None,
    }
}

/// The bridges and ports the switch must have: what to add (before the flows) and what to
/// remove (after them, so no flow ever names a port that is gone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Structure {
    pub add: Vec<VsctlCommand>,
    pub remove: Vec<VsctlCommand>,
    pub issues: Vec<PlanIssue>,
}

/// Bridges, patch pairs and tunnel ports for `segments`, as differences from `observed`.
pub fn structure(
    cfg: &OvsConfig,
    local_ip: Option<IpAddr>,
    segments: &BTreeMap<String, Segment>,
    state: &HostState,
    observed: &OvsState,
) -> Structure {
    let mut s = Structure::default();
    let (int, tun) = (&cfg.integration_bridge, &cfg.tunnel_bridge);
    ensure_bridge(&mut s, observed, int, &cfg.datapath_type);
    for bridge in cfg.bridge_mappings.values() {
        match observed.bridges.get(bridge) {
            None => s
                .issues
                .push((Object::Device(bridge.clone()), format!("bridge {bridge} of bridge_mappings does not exist"))),
            Some(b) => {
                if !b.protocols.iter().any(|p| p == "OpenFlow14") {
                    s.add.push(VsctlCommand::SetProtocols { bridge: bridge.clone() });
                }
                patch_pair(&mut s, observed, (int, &int_patch(bridge)), (bridge, &phy_patch(bridge)));
            }
        }
    }
    let Some(local_ip) = local_ip else { return s };
    ensure_bridge(&mut s, observed, tun, &cfg.datapath_type);
    patch_pair(&mut s, observed, (int, PATCH_TUN), (tun, PATCH_INT));
    let vxlan_nets: BTreeSet<&str> =
        segments.iter().filter(|(_, s)| matches!(s, Segment::Vxlan { .. })).map(|(id, _)| id.as_str()).collect();
    let mut peers = BTreeMap::new();
    for n in state.networks.iter().filter(|n| vxlan_nets.contains(n.id.as_str())) {
        for ep in n.remote_endpoints.iter().filter(|ep| **ep != local_ip) {
            match tunnel_port(*ep) {
                Some(name) => {
                    peers.insert(name, *ep);
                }
                None => s.issues.push((
                    Object::Network(n.id.clone()),
                    format!("peer {ep}: IPv6 tunnel endpoints are not supported"),
                )),
            }
        }
    }
    for (name, remote_ip) in &peers {
        if !observed.has_port(tun, name) {
            s.add.push(VsctlCommand::AddTunnel {
                bridge: tun.clone(),
                name: name.clone(),
                local_ip,
                remote_ip: *remote_ip,
            });
        }
    }
    for p in observed.ports(tun) {
        let is_tunnel = p.interfaces.iter().any(|i| i.kind == "vxlan") && p.name.starts_with("vxlan-");
        if is_tunnel && !peers.contains_key(&p.name) {
            s.remove.push(VsctlCommand::DelPort { bridge: tun.clone(), name: p.name.clone() });
        }
    }
    s
}

fn ensure_bridge(s: &mut Structure, observed: &OvsState, name: &str, datapath_type: &str) {
    match observed.bridges.get(name) {
        None => s.add.push(VsctlCommand::AddBridge { name: name.into(), datapath_type: datapath_type.into() }),
        Some(b) if !b.protocols.iter().any(|p| p == "OpenFlow14") => {
            s.add.push(VsctlCommand::SetProtocols { bridge: name.into() })
        }
        Some(_) => {}
    }
}

fn patch_pair(s: &mut Structure, observed: &OvsState, (b1, p1): (&str, &str), (b2, p2): (&str, &str)) {
    for (bridge, name, peer) in [(b1, p1, p2), (b2, p2, p1)] {
        if !observed.has_port(bridge, name) {
            s.add.push(VsctlCommand::AddPatch { bridge: bridge.into(), name: name.into(), peer: peer.into() });
        }
    }
}

/// The ports of br-int and what to set on them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortPlan {
    pub commands: Vec<VsctlCommand>,
    /// port id -> (br-int port name, local VLAN) of the ports that may carry traffic.
    pub wired: BTreeMap<String, (String, u16)>,
    /// Ports held back because their filter is not in the kernel.
    pub held: Vec<WiringHeld>,
}

/// Tags every br-int port that has an `iface-id` (and every port the agent tagged before):
/// its network's local VLAN when it may carry traffic, else [`DEAD_VLAN`]. A port already
/// on its VLAN stays there while its filter is re-confirmed (the kernel keeps the last good
/// one), as the linuxbridge path keeps a tap in its bridge.
pub fn ports(
    state: &HostState,
    segments: &BTreeMap<String, Segment>,
    vlans: &LocalVlans,
    (integration_bridge, br_int): (&str, &[&PortRow]),
    gate: Option<&FilterGate>,
) -> PortPlan {
    let mut plan = PortPlan::default();
    let by_id: BTreeMap<&str, &neutrino_agent_api::PortState> =
        state.ports.iter().map(|p| (p.id.as_str(), p)).collect();
    for row in br_int {
        let Some(iface_id) = row.interfaces.iter().find_map(|i| i.external_ids.get("iface-id")) else {
            // Not a VM port (the operator's), unless the agent tagged it before: then its
            // iface-id was removed, and it is cut off.
            if row.other_config.contains_key("net_uuid") && row.tag != Some(DEAD_VLAN) {
                plan.commands.push(set_port(row, DEAD_VLAN, BTreeMap::new()));
            }
            continue;
        };
        let port = by_id.get(iface_id.as_str());
        let wiring = port.and_then(|p| Some((p, segments.get(&p.network_id)?, vlans.get(&p.network_id)?)));
        let Some((port, segment, vlan)) = wiring else {
            if row.tag != Some(DEAD_VLAN) {
                plan.commands.push(set_port(row, DEAD_VLAN, BTreeMap::new()));
            }
            continue;
        };
        let config = other_config(&port.network_id, segment, vlan);
        let hold = gate.filter(|_| row.tag != Some(vlan)).and_then(|g| g.hold_reason(&port.id));
        let tag = match (&hold, port.admin_state_up) {
            (None, true) => {
                plan.wired.insert(port.id.clone(), (row.name.clone(), vlan));
                vlan
            }
            (Some(reason), true) => {
                plan.held.push(WiringHeld::FilterNotConfirmed {
                    port_id: port.id.clone(),
                    tap: row.name.clone(),
                    bridge: integration_bridge.into(),
                    reason: reason.clone(),
                });
                DEAD_VLAN
            }
            (_, false) => DEAD_VLAN,
        };
        let config_ok = config.iter().all(|(k, v)| row.other_config.get(k) == Some(v));
        if row.tag != Some(tag) || !config_ok {
            plan.commands.push(set_port(row, tag, config));
        }
    }
    plan
}

fn set_port(row: &PortRow, tag: u16, other_config: BTreeMap<String, String>) -> VsctlCommand {
    VsctlCommand::SetPort { name: row.name.clone(), tag, other_config }
}

/// Neutron's `other_config` of a port: its network and local VLAN, read back after a restart.
fn other_config(network_id: &str, segment: &Segment, vlan: u16) -> BTreeMap<String, String> {
    let mut c = BTreeMap::from([
        ("net_uuid".to_string(), network_id.to_string()),
        ("network_type".to_string(), segment.network_type().to_string()),
        ("tag".to_string(), vlan.to_string()),
    ]);
    match segment {
        Segment::Vxlan { vni } => {
            c.insert("segmentation_id".into(), vni.to_string());
        }
        Segment::Vlan { vid, physnet, .. } => {
            c.insert("segmentation_id".into(), vid.to_string());
            c.insert("physical_network".into(), physnet.clone());
        }
        Segment::Flat { physnet, .. } => {
            c.insert("physical_network".into(), physnet.clone());
        }
    }
    c
}

#[cfg(test)]
mod tests;
