//! What agents report as their `configurations` (shown verbatim in `GET /v2.0/agents`), and
//! the L2 mechanism an agent type stands for.

use crate::{AGENT_TYPE_LINUXBRIDGE, AGENT_TYPE_OVS, TUNNEL_TYPE_VXLAN};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The L2 agent's reach, with the keys Neutron's linuxbridge agent reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct L2Configurations {
    /// physnet -> interface for flat and VLAN segments.
    #[serde(default)]
    pub interface_mappings: BTreeMap<String, String>,
    #[serde(default)]
    pub bridge_mappings: BTreeMap<String, String>,
    /// `["vxlan"]` when a tunnel endpoint is configured.
    #[serde(default)]
    pub tunnel_types: Vec<String>,
    /// This host's VXLAN tunnel endpoint.
    #[serde(default)]
    pub tunneling_ip: Option<IpAddr>,
    #[serde(default)]
    pub l2_population: bool,
    /// Number of ports wired on the host.
    #[serde(default)]
    pub devices: u64,
    /// Open vSwitch only: `system` (the kernel datapath) or `netdev` (userspace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapath_type: Option<String>,
    /// Open vSwitch only: VM taps go through a Linux bridge (qbr) that nftables filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovs_hybrid_plug: Option<bool>,
    /// Open vSwitch only: the bridge VM ports join (`br-int`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_bridge: Option<String>,
}

impl L2Configurations {
    /// Whether a segment of this type on this physical network can be wired on the host:
    /// ML2's `check_segment_for_agent` with the mechanism's mappings (linuxbridge: interface
    /// and bridge mappings; Open vSwitch: bridge mappings).
    pub fn reaches(&self, mechanism: Mechanism, network_type: &str, physical_network: Option<&str>) -> bool {
        match network_type {
            "vxlan" => self.tunnel_types.iter().any(|t| t == TUNNEL_TYPE_VXLAN) && self.tunneling_ip.is_some(),
            "flat" | "vlan" => physical_network.is_some_and(|p| {
                self.bridge_mappings.contains_key(p)
                    || (mechanism == Mechanism::LinuxBridge && self.interface_mappings.contains_key(p))
            }),
            _ => false,
        }
    }
}

/// The L2 mechanism of a host: which agent wires its ports, hence the binding's
/// `binding:vif_type` and `binding:vif_details` (ML2's mechanism drivers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mechanism {
    /// Linux bridges and VXLAN devices (`Linux bridge agent`, vif_type `bridge`).
    LinuxBridge,
    /// Open vSwitch's br-int/br-tun (`Open vSwitch agent`, vif_type `ovs`).
    OpenVswitch,
}

impl Mechanism {
    /// Every mechanism, in the order a host's agents are looked for.
    pub const ALL: [Mechanism; 2] = [Mechanism::LinuxBridge, Mechanism::OpenVswitch];

    /// The `agent_type` its agent reports.
    pub fn agent_type(self) -> &'static str {
        match self {
            Mechanism::LinuxBridge => AGENT_TYPE_LINUXBRIDGE,
            Mechanism::OpenVswitch => AGENT_TYPE_OVS,
        }
    }

    /// The mechanism of an L2 agent type; `None` for other agents (DHCP, L3).
    pub fn of_agent_type(agent_type: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.agent_type() == agent_type)
    }

    /// `binding:vif_type` of a port it binds.
    pub fn vif_type(self) -> &'static str {
        match self {
            Mechanism::LinuxBridge => "bridge",
            Mechanism::OpenVswitch => "ovs",
        }
    }
}

/// The DHCP agent's `configurations`, with the keys Neutron's DHCP agent reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpConfigurations {
    pub dhcp_driver: String,
    pub dhcp_lease_duration: u32,
    pub networks: u64,
    pub subnets: u64,
    pub ports: u64,
    /// The agent reports ports ready (ACTIVE) itself.
    pub notifies_port_ready: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_depends_on_tunnels_and_mappings() {
        let lb = Mechanism::LinuxBridge;
        let mut c = L2Configurations::default();
        assert!(!c.reaches(lb, "vxlan", None));
        c.tunnel_types = vec!["vxlan".into()];
        c.tunneling_ip = Some("198.18.0.2".parse().unwrap());
        assert!(c.reaches(lb, "vxlan", None));
        assert!(!c.reaches(lb, "flat", Some("physnet1")));
        c.interface_mappings.insert("physnet1".into(), "eth1".into());
        assert!(c.reaches(lb, "flat", Some("physnet1")));
        assert!(c.reaches(lb, "vlan", Some("physnet1")));
        assert!(!c.reaches(lb, "vlan", Some("physnet2")));
        assert!(!c.reaches(lb, "geneve", None));
    }

    #[test]
    fn open_vswitch_reaches_physical_networks_by_bridge_mappings_only() {
        let ovs = Mechanism::OpenVswitch;
        let mut c = L2Configurations::default();
        c.interface_mappings.insert("physnet1".into(), "eth1".into());
        assert!(!c.reaches(ovs, "vlan", Some("physnet1")));
        c.bridge_mappings.insert("physnet1".into(), "br-eth1".into());
        assert!(c.reaches(ovs, "vlan", Some("physnet1")));
        assert!(c.reaches(Mechanism::LinuxBridge, "flat", Some("physnet1")));
        assert_eq!(Mechanism::of_agent_type("Open vSwitch agent"), Some(ovs));
        assert_eq!(Mechanism::of_agent_type("DHCP agent"), None);
        assert_eq!((ovs.vif_type(), Mechanism::LinuxBridge.vif_type()), ("ovs", "bridge"));
    }
}
