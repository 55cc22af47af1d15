//! The DHCP dataplane: Neutron's DHCP agent with its dnsmasq driver, as a level-triggered
//! reconciler of the networks this host serves ([`HostState::dhcp`]).
//!
//! Per network, the layout is Neutron's, so that an operator finds what they know:
//!
//! ```text
//!   host namespace                         qdhcp-<network-id>
//!   brq<net[:11]> ── tap<port[:11]> ═══ veth ═══ ns-<port[:11]>   <dhcp port ips>/<len>
//!   (the L2 reconciler enslaves the tap)         169.254.169.254/32 (metadata proxy)
//!                                                dnsmasq --interface=ns-… (daemon)
//! ```
//!
//! The DHCP port is a bound port of the host like a VM's, so the L2 reconciler wires its tap
//! into the network's bridge; this module plays the hypervisor for it (creates the veth
//! pair, with the port's MAC and the network's MTU on the namespace side) and runs
//! dnsmasq inside the namespace with the files [`dnsmasq`] renders under
//! `<state_dir>/<network-id>/`.
//!
//! [`DhcpReconciler::reconcile`] takes the whole list of served networks and converges
//! each: namespace, veth, addresses, files, process, in that order; then tears down the
//! `qdhcp-` namespaces and state directories of networks no longer served. It keeps no
//! memory between runs: a restarted agent finds dnsmasq by its pid file (and checks
//! `/proc/<pid>/cmdline` names that pid file, so a reused pid is not mistaken for it), and
//! when the running command line and the files already are what it would write, it
//! changes nothing, signals nothing. Changed files only → SIGHUP (dnsmasq re-reads its
//! hosts and options files); a changed command line, a dead dnsmasq, or one left in a
//! namespace that was deleted by hand → (re)start. dnsmasq daemonizes (it is not our
//! child), so it outlives an agent restart and DHCP keeps being served meanwhile.
//!
//! Every kernel and process operation goes through the narrow [`DhcpSystem`] trait:
//! [`LinuxDhcp`] does it for real (rtnetlink, `setns`, signals; never `ip`), and
//! [`fake::FakeDhcp`] in memory, for the reconciler's unit tests.
//!
//! [`HostState::dhcp`]: neutrino_agent_api::HostState::dhcp

pub mod dns;
pub mod dnsmasq;
mod error;
pub mod fake;
pub mod linux;
pub mod metadata;
mod reconcile;
pub mod settings;
pub mod system;

use std::path::PathBuf;

pub use dns::{DnsForwarder, DnsLimits};
pub use error::DhcpError;
pub use linux::LinuxDhcp;
pub use metadata::{metadata_networks, serves_metadata, MetadataMode};
pub use reconcile::DhcpReconciler;
pub use system::DhcpSystem;

/// Prefix of the namespaces this module owns.
pub const NAMESPACE_PREFIX: &str = "qdhcp-";

/// `qdhcp-<network-id>`, Neutron's name for a network's DHCP namespace.
pub fn namespace_name(network_id: &str) -> String {
    format!("{NAMESPACE_PREFIX}{network_id}")
}

/// `ns-<port-id[:11]>`, Neutron's name for the DHCP port's device inside the namespace.
pub fn ns_device_name(port_id: &str) -> String {
    format!("ns-{}", port_id.get(..11).unwrap_or(port_id))
}

/// The DHCP part of the agent's configuration (Neutron's `dhcp_agent.ini` names in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpConfig {
    /// Per-network directories of dnsmasq's files and pid file (`dhcp_confs`).
    pub state_dir: PathBuf,
    /// Where named network namespaces live (iproute2's `/run/netns`).
    pub netns_dir: PathBuf,
    /// Lease time in seconds (`dhcp_lease_duration`; dnsmasq's minimum is 120).
    pub lease_duration: u32,
    /// The dnsmasq binary (Debian's `dnsmasq-base`).
    pub dnsmasq_path: PathBuf,
    /// The nft binary, run inside the namespaces for their DNS guard ([`dns::guard`]).
    pub nft_path: PathBuf,
    /// Domain of the hosts' FQDNs (`dns_domain`).
    pub dns_domain: String,
    /// Cap of `--dhcp-lease-max` (`dnsmasq_lease_max`).
    pub lease_max: u64,
    /// Upstream servers dnsmasq forwards the names it does not own to
    /// (`dnsmasq_dns_servers`); none: it answers only the network's own names.
    pub dns_servers: Vec<DnsForwarder>,
    /// Let dnsmasq forward to the resolvers of the host's `/etc/resolv.conf` when no
    /// `dns_servers` are given (`dnsmasq_local_resolv`; off: `--no-resolv`).
    pub local_resolv: bool,
    /// Bounds of each network's DNS service: dnsmasq's forwarding and cache, and the
    /// query rates the namespace's nftables table lets through.
    pub dns_limits: DnsLimits,
    /// Which networks get metadata from their DHCP namespace (`enable_isolated_metadata`,
    /// `force_metadata`).
    pub metadata: MetadataMode,
    /// The DHCP ports' namespace ends send complete checksums: on an Open vSwitch host with
    /// the userspace datapath, which forwards a veth's packets raw (see `netns::ethtool`).
    pub fill_checksums: bool,
}

impl Default for DhcpConfig {
    fn default() -> Self {
        DhcpConfig {
            state_dir: PathBuf::from("/var/lib/neutrino/dhcp"),
            netns_dir: PathBuf::from(crate::netns::SYSTEM_NETNS_DIR),
            lease_duration: 86400,
            dnsmasq_path: PathBuf::from("/usr/sbin/dnsmasq"),
            nft_path: PathBuf::from("/usr/sbin/nft"),
            dns_domain: "openstacklocal".to_owned(),
            lease_max: 1 << 24,
            dns_servers: Vec::new(),
            local_resolv: false,
            dns_limits: DnsLimits::default(),
            metadata: MetadataMode::default(),
            fill_checksums: false,
        }
    }
}

/// An id safe to put in a file and namespace name: letters, digits, `-` and `_`, 1 to
/// 64 characters (UUIDs are 36).
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// An error and its causes on one line, for reports and logs.
pub(crate) use crate::error_chain as chain;
