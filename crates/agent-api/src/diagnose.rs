//! `neutrino diagnose`'s questions to host agents, and their answers.
//!
//! The server walks a port's path from what it knows (bindings, segments, groups, routers,
//! agents) and asks each host on the path what its kernel holds, over the agent API instead of
//! SSH: the agent long-polls `GET /agent/v1/hosts/{host}/questions?wait=<s>` (answered with a
//! [`HostQuestions`] as soon as one is pending, empty at the deadline) and posts each
//! [`HostAnswer`] to `POST /agent/v1/hosts/{host}/answers`. The server then judges the path
//! hop by hop and names the first wrong one.
//!
//! An agent only observes to answer: answering never changes the kernel (a diagnosis must
//! not heal, or hide, what it is looking for).

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// The questions pending for one host (the long poll's answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostQuestions {
    pub questions: Vec<HostQuestion>,
}

/// One diagnosis's question to one host: a list of things to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostQuestion {
    /// A UUID the answer names.
    pub id: String,
    pub asks: Vec<Ask>,
}

/// One thing to look at on the host. Each ask yields one or more [`Finding`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Ask {
    /// A port's device: the tap ([`crate::tap_name`]) exists, is up and is a port of the
    /// network's bridge ([`crate::bridge_name`]); with `filtered`, the port's firewall chain
    /// is in the host's nftables table.
    Port { port_id: String, network_id: String, mac_address: String, filtered: bool },
    /// A network's L2 on the host: its bridge exists and is up, the segment's device is a
    /// port of it (`vxlan-<vni>` for VXLAN, the physnet's interface for flat, its VLAN
    /// subinterface for VLAN), and for VXLAN each remote port's FDB entry (its MAC on the
    /// VXLAN device, `dst` its host's endpoint) is present.
    Network {
        network_id: String,
        /// `vxlan`, `flat` or `vlan`.
        network_type: String,
        segmentation_id: Option<u32>,
        physical_network: Option<String>,
        /// The other hosts' ports whose forwarding entries must be here.
        remote_ports: Vec<RemotePortAsk>,
    },
    /// The network's DHCP on this (DHCP agent's) host: the `qdhcp-` namespace, a running
    /// dnsmasq, and the port's host entry (its MAC with each of `ip_addresses`) in dnsmasq's
    /// hosts file.
    Dhcp { network_id: String, mac_address: String, ip_addresses: Vec<IpAddr> },
    /// A router on this (L3 agent's) host: the `qrouter-` namespace; an interface address in
    /// each of `interfaces` (the router's addresses on its subnets, as `address/prefix`); with
    /// a gateway, its address on the `qg-` device and a default route; with a floating IP,
    /// its DNAT and SNAT entries in the router's NAT table.
    Router { router_id: String, interfaces: Vec<String>, gateway: Option<String>, floating_ip: Option<FloatingIpAsk> },
}

/// A port on another host whose forwarding entry a [`Ask::Network`] checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemotePortAsk {
    pub mac_address: String,
    pub endpoint: IpAddr,
}

/// A floating IP a router must translate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FloatingIpAsk {
    pub floating_ip_address: IpAddr,
    pub fixed_ip_address: IpAddr,
}

/// What a host saw, for one question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostAnswer {
    pub question_id: String,
    pub host: String,
    pub findings: Vec<Finding>,
}

/// One fact observed on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// The index of the [`Ask`] in the question this answers.
    pub ask: usize,
    pub check: Check,
    /// Whether what was found is what the path needs.
    pub ok: bool,
    /// What was found, in one line an operator can check by hand, e.g.
    /// `tap0c1b2a39-8e: no such device` or
    /// `fa:16:3e:00:00:02 dst 198.18.0.3 missing from vxlan-1001's FDB`.
    pub evidence: String,
}

/// The kinds of fact an agent checks, in the order a packet meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The tap exists.
    Tap,
    /// The tap is administratively and operationally up.
    TapUp,
    /// The tap is a port of the network's bridge.
    TapBridge,
    /// The port's chain is in the host's nftables table.
    PortFirewall,
    /// The network's bridge exists and is up.
    Bridge,
    /// The segment's device (VXLAN, physnet interface, VLAN subinterface) is in the bridge.
    SegmentDevice,
    /// One remote port's FDB entry.
    Fdb,
    /// The `qdhcp-` namespace exists.
    DhcpNamespace,
    /// dnsmasq runs for the network.
    Dnsmasq,
    /// The port's entry is in dnsmasq's hosts file.
    DhcpHost,
    /// The `qrouter-` namespace exists.
    RouterNamespace,
    /// The router has its address on a subnet.
    RouterInterface,
    /// The router's gateway address and default route.
    RouterGateway,
    /// The floating IP's DNAT and SNAT entries.
    FloatingIpNat,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_are_tagged_by_kind() {
        let ask = Ask::Dhcp { network_id: "n".into(), mac_address: "fa:16:3e:00:00:01".into(), ip_addresses: vec![] };
        let json = serde_json::to_value(&ask).unwrap_or_default();
        assert_eq!(json["kind"], "dhcp");
        assert_eq!(serde_json::from_value::<Ask>(json).ok(), Some(ask));
        assert_eq!(serde_json::to_value(Check::FloatingIpNat).unwrap_or_default(), "floating_ip_nat");
    }
}
