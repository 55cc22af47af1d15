//! What the kernel must hold for a [`HostState`]: Neutron's linuxbridge layout.
//!
//! Every network gets a bridge `brq<net-id[:11]>` carrying the network's MTU. Its uplink
//! depends on the segment:
//!
//! * `vxlan`: a device `vxlan-<vni>` (local = this host's tunnel endpoint, dstport 4789,
//!   no learning, no multicast group) whose FDB holds one `00:00:00:00:00:00 dst <ep>`
//!   entry per remote endpoint (head-end replication of broadcast and unknown unicast)
//!   and one `<mac> dst <ep>` entry per remote port (l2population);
//! * `flat`: the physical interface mapped to the physnet;
//! * `vlan`: a subinterface `<iface>.<vid>` of the mapped interface.
//!
//! Each port's tap `tap<port-id[:11]>` joins its network's bridge with the network's MTU,
//! up when the port is administratively up. A network the host cannot wire (VXLAN without
//! a tunnel endpoint, physnet not mapped, bad segment) is left out, and its ports are
//! reported with the reason. [`plan`] is pure: the reconciler diffs its result against
//! what it observes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use neutrino_agent_api::{bridge_name, tap_name, vxlan_name, HostState, NetworkState, VXLAN_UDP_PORT};

use crate::config::L2Config;
use crate::l2::dataplane::{BridgeSpec, FdbEntry, MacAddr, VlanSpec, VxlanSpec};
use crate::report::Object;

/// Linux's `IFNAMSIZ - 1`.
pub const MAX_DEVICE_NAME: usize = 15;
/// The largest VNI (24 bits).
pub const MAX_VNI: u32 = (1 << 24) - 1;
/// The smallest MTU an Ethernet device accepts for IPv4.
pub const MIN_MTU: u32 = 68;

/// Everything the agent wants in the kernel, by device name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredHost {
    /// One bridge per wired network.
    pub bridges: BTreeMap<String, BridgeSpec>,
    pub vxlans: BTreeMap<String, DesiredVxlan>,
    pub vlans: BTreeMap<String, DesiredVlan>,
    /// Physical interfaces of flat networks, which the agent enslaves but never creates.
    pub uplinks: BTreeMap<String, DesiredUplink>,
    /// Port devices, which the hypervisor creates; wired only when they exist.
    pub taps: BTreeMap<String, DesiredTap>,
    /// Problems that do not stop a port from being wired (a remote port with a bad MAC).
    pub warnings: Vec<PlanIssue>,
}

impl DesiredHost {
    /// The bridge `dev` must be enslaved to, if the plan says anything about it.
    pub fn master_of(&self, dev: &str) -> Option<&str> {
        if let Some(v) = self.vxlans.get(dev) {
            return Some(&v.bridge);
        }
        if let Some(v) = self.vlans.get(dev) {
            return Some(&v.bridge);
        }
        if let Some(u) = self.uplinks.get(dev) {
            return Some(&u.bridge);
        }
        self.taps.get(dev).map(|t| t.bridge.as_str())
    }
}

/// A VXLAN device, its bridge and its complete FDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredVxlan {
    pub spec: VxlanSpec,
    pub bridge: String,
    pub fdb: BTreeSet<FdbEntry>,
}

/// A VLAN subinterface and its bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredVlan {
    pub spec: VlanSpec,
    pub bridge: String,
}

/// A physical interface carrying a flat network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredUplink {
    pub bridge: String,
    pub network_id: String,
}

/// A port's tap, as it must be once the hypervisor has plugged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredTap {
    pub port_id: String,
    pub bridge: String,
    pub mtu: u32,
    /// The port's `admin_state_up`.
    pub up: bool,
}

/// Why (part of) a network or a port cannot be wired on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanIssue {
    /// The port's network is not in the host state.
    UnknownNetwork { network_id: String },
    /// A VXLAN network, but no `local_ip` is configured.
    NoTunnelEndpoint { network_id: String },
    /// A flat or VLAN network whose physnet has no interface mapping.
    PhysnetNotMapped { network_id: String, physical_network: Option<String> },
    /// A segment the agent cannot build (type, id, MTU or device name).
    BadSegment { network_id: String, reason: String },
    /// The device the network needs is already claimed by another network.
    Conflict { network_id: String, device: String, other_network: String },
    /// A remote port or endpoint that cannot become an FDB entry.
    BadRemote { network_id: String, reason: String },
    /// Two ports of this host map to the same tap name.
    TapConflict { port_id: String, tap: String, other_port: String },
}

impl PlanIssue {
    /// What the issue is about: the network, or for a tap clash the port.
    pub fn object(&self) -> Object {
        match self {
            PlanIssue::UnknownNetwork { network_id }
            | PlanIssue::NoTunnelEndpoint { network_id }
            | PlanIssue::PhysnetNotMapped { network_id, .. }
            | PlanIssue::BadSegment { network_id, .. }
            | PlanIssue::Conflict { network_id, .. }
            | PlanIssue::BadRemote { network_id, .. } => Object::Network(network_id.clone()),
            PlanIssue::TapConflict { port_id, .. } => Object::Port(port_id.clone()),
        }
    }
}

impl fmt::Display for PlanIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanIssue::UnknownNetwork { network_id } => write!(f, "network {network_id}: not in the host state"),
            PlanIssue::NoTunnelEndpoint { network_id } => {
                write!(f, "network {network_id}: vxlan segment but no local_ip configured")
            }
            PlanIssue::PhysnetNotMapped { network_id, physical_network } => write!(
                f,
                "network {network_id}: physical network {} has no interface mapping",
                physical_network.as_deref().unwrap_or("(none)")
            ),
            PlanIssue::BadSegment { network_id, reason } => write!(f, "network {network_id}: {reason}"),
            PlanIssue::Conflict { network_id, device, other_network } => {
                write!(f, "network {network_id}: device {device} already carries network {other_network}")
            }
            PlanIssue::BadRemote { network_id, reason } => write!(f, "network {network_id}: {reason}"),
            PlanIssue::TapConflict { port_id, tap, other_port } => {
                write!(f, "port {port_id}: device {tap} is also the device of port {other_port}")
            }
        }
    }
}

/// The desired kernel objects for `state`, and why each port that cannot be wired
/// cannot (by port id). Ports in the map must be reported DOWN.
pub fn plan(state: &HostState, cfg: &L2Config) -> (DesiredHost, BTreeMap<String, PlanIssue>) {
    let mut desired = DesiredHost::default();
    let mut network_issues: BTreeMap<&str, PlanIssue> = BTreeMap::new();
    let mut owners: BTreeMap<String, String> = BTreeMap::new(); // device -> network id
    let mut networks: Vec<&NetworkState> = state.networks.iter().collect();
    networks.sort_by(|a, b| a.id.cmp(&b.id));
    for net in networks {
        if let Err(issue) = plan_network(net, cfg, &mut desired, &mut owners) {
            network_issues.insert(&net.id, issue);
        }
    }

    let mut port_issues = BTreeMap::new();
    let mut ports: Vec<_> = state.ports.iter().collect();
    ports.sort_by(|a, b| a.id.cmp(&b.id));
    for port in ports {
        let bridge = bridge_name(&port.network_id);
        if let Some(issue) = network_issues.get(port.network_id.as_str()) {
            port_issues.insert(port.id.clone(), issue.clone());
            continue;
        }
        let Some(mtu) = desired.bridges.get(&bridge).map(|b| b.mtu) else {
            let issue = PlanIssue::UnknownNetwork { network_id: port.network_id.clone() };
            port_issues.insert(port.id.clone(), issue);
            continue;
        };
        let tap = tap_name(&port.id);
        if let Some(other) = desired.taps.get(&tap) {
            let issue = PlanIssue::TapConflict { port_id: port.id.clone(), tap, other_port: other.port_id.clone() };
            port_issues.insert(port.id.clone(), issue);
            continue;
        }
        let want = DesiredTap { port_id: port.id.clone(), bridge, mtu, up: port.admin_state_up };
        desired.taps.insert(tap, want);
    }
    (desired, port_issues)
}

/// Adds one network's bridge and uplink to `desired`, or says why it cannot.
fn plan_network(
    net: &NetworkState,
    cfg: &L2Config,
    desired: &mut DesiredHost,
    owners: &mut BTreeMap<String, String>,
) -> Result<(), PlanIssue> {
    let network_id = net.id.clone();
    let bad = |reason: String| PlanIssue::BadSegment { network_id: network_id.clone(), reason };
    if net.mtu < MIN_MTU {
        return Err(bad(format!("mtu {} is below {MIN_MTU}", net.mtu)));
    }
    let bridge = bridge_name(&net.id);
    let claim = |device: &str| match owners.get(device) {
        Some(other) => Err(PlanIssue::Conflict {
            network_id: network_id.clone(),
            device: device.to_owned(),
            other_network: other.clone(),
        }),
        None => Ok(()),
    };
    claim(&bridge)?;
    let uplink = match net.network_type.as_str() {
        "vxlan" => {
            let vni = net.segmentation_id.filter(|v| (1..=MAX_VNI).contains(v));
            let vni = vni.ok_or_else(|| bad(format!("invalid VNI {:?}", net.segmentation_id)))?;
            let local = cfg.local_ip.ok_or_else(|| PlanIssue::NoTunnelEndpoint { network_id: net.id.clone() })?;
            let name = vxlan_name(vni);
            claim(&name)?;
            let spec = VxlanSpec { name: name.clone(), vni, local, dstport: VXLAN_UDP_PORT, mtu: net.mtu };
            let fdb = fdb_entries(net, local, &mut desired.warnings);
            Uplink::Vxlan(DesiredVxlan { spec, bridge: bridge.clone(), fdb })
        }
        "flat" | "vlan" => {
            let iface = net.physical_network.as_ref().and_then(|p| cfg.physical_interface_mappings.get(p)).ok_or_else(
                || PlanIssue::PhysnetNotMapped {
                    network_id: net.id.clone(),
                    physical_network: net.physical_network.clone(),
                },
            )?;
            if net.network_type == "flat" {
                claim(iface)?;
                Uplink::Flat(iface.clone())
            } else {
                let vid = net.segmentation_id.filter(|v| (1..=4094).contains(v));
                let vid = vid.ok_or_else(|| bad(format!("invalid VLAN id {:?}", net.segmentation_id)))?;
                let name = format!("{iface}.{vid}");
                if name.len() > MAX_DEVICE_NAME {
                    return Err(bad(format!("VLAN device name {name} is longer than {MAX_DEVICE_NAME}")));
                }
                claim(&name)?;
                // The vid is at most 4094, which fits u16.
                let vid = u16::try_from(vid).map_err(|_| bad(format!("invalid VLAN id {vid}")))?;
                let spec = VlanSpec { name, parent: iface.clone(), vid, mtu: net.mtu };
                Uplink::Vlan(DesiredVlan { spec, bridge: bridge.clone() })
            }
        }
        other => return Err(bad(format!("network type {other:?} is not supported by the linuxbridge agent"))),
    };

    owners.insert(bridge.clone(), net.id.clone());
    match uplink {
        Uplink::Vxlan(v) => {
            owners.insert(v.spec.name.clone(), net.id.clone());
            desired.vxlans.insert(v.spec.name.clone(), v);
        }
        Uplink::Vlan(v) => {
            owners.insert(v.spec.name.clone(), net.id.clone());
            desired.vlans.insert(v.spec.name.clone(), v);
        }
        Uplink::Flat(iface) => {
            owners.insert(iface.clone(), net.id.clone());
            let uplink = DesiredUplink { bridge: bridge.clone(), network_id: net.id.clone() };
            desired.uplinks.insert(iface, uplink);
        }
    }
    desired.bridges.insert(bridge.clone(), BridgeSpec { name: bridge, mtu: net.mtu });
    Ok(())
}

enum Uplink {
    Vxlan(DesiredVxlan),
    Vlan(DesiredVlan),
    Flat(String),
}

/// The flood list and l2population entries of a VXLAN network. Endpoints of another
/// address family than `local` cannot be reached from it and are skipped; so is this host.
fn fdb_entries(net: &NetworkState, local: std::net::IpAddr, warnings: &mut Vec<PlanIssue>) -> BTreeSet<FdbEntry> {
    let mut fdb = BTreeSet::new();
    let reachable = |dst: std::net::IpAddr, warnings: &mut Vec<PlanIssue>| {
        if dst == local {
            return false;
        }
        if dst.is_ipv4() != local.is_ipv4() {
            let reason = format!("endpoint {dst} is not of the address family of local_ip {local}");
            warnings.push(PlanIssue::BadRemote { network_id: net.id.clone(), reason });
            return false;
        }
        true
    };
    let endpoints: BTreeSet<_> = net.remote_endpoints.iter().copied().collect();
    for dst in endpoints {
        if reachable(dst, warnings) {
            fdb.insert(FdbEntry { mac: MacAddr::ZERO, dst });
        }
    }
    for remote in &net.remote_ports {
        match remote.mac_address.parse::<MacAddr>() {
            Ok(mac) if reachable(remote.endpoint, warnings) => {
                fdb.insert(FdbEntry { mac, dst: remote.endpoint });
            }
            Ok(_) => {}
            Err(e) => warnings.push(PlanIssue::BadRemote { network_id: net.id.clone(), reason: e.to_string() }),
        }
    }
    fdb
}

#[cfg(test)]
mod tests;
