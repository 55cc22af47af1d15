//! L2 with Open vSwitch (`--mechanism openvswitch`): Neutron's OVS agent layout.
//!
//! * `br-int` (the integration bridge) holds every port of the host. A VM port is found by
//!   its Interface's `external_ids:iface-id` (the Neutron port id, set by Nova/os-vif):
//!   with the hybrid plug that is the `qvo…` end of a veth whose `qvb…` end sits in a Linux
//!   bridge `qbr…` with the VM's `tap…` (so the nftables firewall filters the tap
//!   unchanged); without it, the tap itself. Each network present on the host gets a
//!   *local VLAN* (1..4094, agent-local), set as the `tag` of its ports; a port that may
//!   not carry traffic (admin down, filter not confirmed, network gone) gets the dead tag
//!   4095 and a drop flow, as in Neutron.
//! * `br-tun` (when `local_ip` is set) holds one `vxlan-<hex peer ip>` port per peer host
//!   sharing a network (l2population: no port to hosts that share none) and translates
//!   local VLAN ↔ VNI in Neutron's tables: 0 (from br-int → 2, from a tunnel → 4), 2
//!   (unicast → 20, flood → 22), 4 (`tun_id` → local VLAN → 10), 10 (→ br-int), 20 (the
//!   remote ports' MACs → their host's tunnel), 22 (flood to the network's peers only).
//!   Neutron's MAC learning in table 10 is left out: l2population already puts every
//!   remote MAC in table 20, and learned flows would be churned by the whole-table replace.
//! * `br-<physnet>` (the operator's, from `bridge_mappings`) joins br-int by the
//!   `int-br-…`/`phy-br-…` patch pair; flows on both translate local VLAN ↔ provider VLAN
//!   (a flat network: untagged) and drop everything else from the pair.
//!
//! Each pass reads ovsdb whole, makes the bridges and ports match (one ovsdb transaction),
//! reads back, and replaces every bridge's flow table atomically ([`openflow`]), so a
//! restarted agent or a missed event never cuts traffic. [`ovsdb`] and [`openflow`] are
//! the traits (over ovs-vsctl and ovs-ofctl), [`fake`] keeps a switch in memory, [`plan`]
//! is pure, [`vlans`] allocates the local VLANs, [`service`] plugs the DHCP and router
//! ports' veths into br-int, [`reconcile`] is the subsystem.

pub mod events;
pub mod exec;
pub mod fake;
pub mod openflow;
pub mod ovsdb;
pub mod plan;
pub mod reconcile;
pub mod service;
pub mod system;
pub mod vlans;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use exec::OvsError;

/// The Open vSwitch side of the agent's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsConfig {
    /// ovs-vswitchd's run directory: `db.sock` and each bridge's `<bridge>.mgmt` socket.
    pub rundir: PathBuf,
    /// physnet -> the operator's bridge holding the physical NIC (`bridge_mappings`).
    pub bridge_mappings: BTreeMap<String, String>,
    /// `system` (the kernel datapath) or `netdev` (userspace), for the bridges it creates.
    pub datapath_type: String,
    /// VM taps go through a Linux bridge (`qbr…`) the nftables firewall filters.
    pub hybrid_plug: bool,
    pub integration_bridge: String,
    pub tunnel_bridge: String,
    /// How long one ovs-vsctl or ovs-ofctl call may take.
    pub timeout: Duration,
}

impl Default for OvsConfig {
    fn default() -> Self {
        OvsConfig {
            rundir: PathBuf::from("/var/run/openvswitch"),
            bridge_mappings: BTreeMap::new(),
            datapath_type: "system".into(),
            hybrid_plug: true,
            integration_bridge: "br-int".into(),
            tunnel_bridge: "br-tun".into(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Neutron's names for the patch pair between br-int and a physical bridge.
pub fn int_patch(bridge: &str) -> String {
    format!("int-{bridge}")
}

/// The physical bridge's end of [`int_patch`].
pub fn phy_patch(bridge: &str) -> String {
    format!("phy-{bridge}")
}

/// br-int's end of the br-int/br-tun pair.
pub const PATCH_TUN: &str = "patch-tun";
/// br-tun's end of it.
pub const PATCH_INT: &str = "patch-int";

/// Linux's `IFNAMSIZ - 1`, which OVS port names share (ports become devices).
pub const MAX_NAME: usize = 15;
/// The longest bridge name whose `int-`/`phy-` patch names still fit.
pub const MAX_MAPPED_BRIDGE: usize = MAX_NAME - 4;
