//! The answer of `GET /v2.0/diagnose/ports/{id}` (`neutrino diagnose`): a port's path, hop by
//! hop, and the first hop that is wrong.
//!
//! A neutrino extension (admin only). The server builds the hops from what it knows (the
//! binding, the agents' liveness, the security groups' rules) and from what the agents on the
//! path saw in their kernels (`neutrino_agent_api::diagnose`).

use serde::{Deserialize, Serialize};

/// The flow a `between` diagnosis judges the security groups for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowProtocol {
    Icmp,
    Tcp,
    Udp,
}

/// `{"diagnosis": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The port whose path was walked.
    pub port_id: String,
    /// The other end asked for (`to`: a port id or an address), if any.
    #[serde(default)]
    pub to: Option<String>,
    /// The flow judged against the security groups when there is another end.
    #[serde(default)]
    pub protocol: Option<FlowProtocol>,
    #[serde(default)]
    pub port: Option<u16>,
    /// True when every hop is `ok`.
    pub healthy: bool,
    /// The index in `hops` of the first hop that is `wrong` (or, failing that, `unknown`).
    #[serde(default)]
    pub first_wrong_hop: Option<usize>,
    /// One line: `healthy: …` or the first wrong hop with its evidence.
    pub summary: String,
    /// In the order a packet meets them.
    pub hops: Vec<Hop>,
}

/// One step of the path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    /// What is checked: `binding`, `agent`, `security_group`, `route`, or one of the agents'
    /// checks (`tap`, `tap_up`, `tap_bridge`, `port_firewall`, `bridge`, `segment_device`,
    /// `fdb`, `dhcp_namespace`, `dnsmasq`, `dhcp_host`, `router_namespace`,
    /// `router_interface`, `router_gateway`, `floating_ip_nat`).
    pub check: String,
    /// The host it was checked on; none for what only the server knows.
    #[serde(default)]
    pub host: Option<String>,
    /// What it is about, e.g. `port 0c1b2a39-…`, `tap0c1b2a39-8e`, `router r1`.
    pub object: String,
    pub status: HopStatus,
    /// What was found, in one line.
    pub evidence: String,
}

/// A hop's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HopStatus {
    Ok,
    Wrong,
    /// Not known: the agent that would say did not answer in time.
    Unknown,
}
