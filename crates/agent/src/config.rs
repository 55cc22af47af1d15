//! The agent's own configuration: what this host can wire.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// The L2 part of the agent's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct L2Config {
    /// The VXLAN tunnel endpoint (`--local-ip`); without it the host carries no VXLAN.
    pub local_ip: Option<IpAddr>,
    /// physnet -> interface (`--physical-interface-mappings physnet:iface`).
    pub physical_interface_mappings: BTreeMap<String, String>,
    /// `--mechanism openvswitch`: wire with Open vSwitch ([`crate::ovs`]); `None` is
    /// linuxbridge ([`crate::l2`]).
    pub ovs: Option<crate::ovs::OvsConfig>,
}
