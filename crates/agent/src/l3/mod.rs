//! The L3 dataplane: Neutron's legacy routers, each in its `qrouter-<router-id>` namespace,
//! as a level-triggered reconciler of the routers this host runs ([`HostState::routers`]).
//!
//! ```text
//!   host namespace                          qrouter-<router-id>
//!   brq<ext[:11]> ── tap<gw[:11]>  ═══ veth ═══ qg-<gw[:11]>   203.0.113.10/24, <fip>/32 …
//!   brq<net[:11]> ── tap<if[:11]>  ═══ veth ═══ qr-<if[:11]>   10.0.0.1/24
//!   (the L2 reconciler enslaves the taps)       ip_forward=1, default via <ext gateway>,
//!                                               extra routes, table inet neutrino-l3
//!                                               (NAT, metadata redirect), metadata
//!                                               proxy on [::]:9697 (crate::metadata)
//! ```
//!
//! The router's ports are bound to this host like VM ports, so the L2 reconciler wires
//! their taps into the networks' bridges (the external network's too); this module plays the
//! hypervisor for them, exactly as [`crate::dhcp`] does for its port, and with the same
//! code ([`crate::dhcp::netns`], [`crate::dhcp::LinuxDhcp`]): a veth pair per port with the
//! port's MAC and the network's MTU on the namespace end, the port's addresses on it.
//!
//! NAT is one nftables table per router ([`nat`]), replaced in one `nft -j -f -` transaction
//! run inside the namespace, and only when the table read back from the kernel differs from
//! the compiled one: a restarted agent finds a correct router and leaves it alone. When a
//! floating IP or port forwarding leaves the table, its connection-tracking entries are
//! deleted (`conntrack -D` inside the namespace), so open sessions stop with it; what was
//! there is read back from the rules' comments, so this also works across agent restarts.
//!
//! A router with `admin_state_up=false` keeps its namespace and its ports' veth pairs, so the
//! ports are wired and turn ACTIVE as a Neutron (ML2/OVN) router's ports do whatever the
//! router's admin state (Tempest waits for that before it removes an interface), but inert:
//! the namespace ends are down, without addresses, routes, NAT or forwarding, so nothing of
//! it forwards or answers ARP. Namespaces named `qrouter-*` are the agent's: those of routers
//! not in the state go.
//!
//! IPv6 interfaces are announced by one radvd per router, inside its namespace ([`radvd`]):
//! its configuration is rendered from the router's interfaces as Neutron's, written (and
//! radvd sent SIGHUP) only when it changes, radvd (re)started when it is not running with
//! that configuration's command line in that namespace, and stopped, its files removed, when
//! the router has no IPv6 interface left, is disabled or leaves the host.
//!
//! Every kernel operation goes through the narrow [`L3System`] trait: [`LinuxL3`] for real
//! (rtnetlink, `setns`, `nft`, `conntrack`, `radvd`; never `ip`), [`fake::FakeL3`] in memory for the
//! reconciler's unit tests.
//!
//! [`HostState::routers`]: neutrino_agent_api::HostState::routers

pub mod fake;
pub mod linux;
pub mod nat;
pub mod plan;
pub mod radvd;
mod reconcile;
pub mod system;

use std::path::PathBuf;

pub use linux::LinuxL3;
pub use reconcile::L3Reconciler;
pub use system::{L3Error, L3System};

/// Prefix of the namespaces this module owns.
pub const NAMESPACE_PREFIX: &str = "qrouter-";

/// `qrouter-<router-id>`, Neutron's name for a router's namespace.
pub fn namespace_name(router_id: &str) -> String {
    format!("{NAMESPACE_PREFIX}{router_id}")
}

/// `qr-<port-id[:11]>`, a router interface's device inside the namespace.
pub fn qr_name(port_id: &str) -> String {
    format!("qr-{}", port_id.get(..11).unwrap_or(port_id))
}

/// `qg-<port-id[:11]>`, the router gateway's device inside the namespace.
pub fn qg_name(port_id: &str) -> String {
    format!("qg-{}", port_id.get(..11).unwrap_or(port_id))
}

/// The L3 part of the agent's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L3Config {
    /// Where named network namespaces live (iproute2's `/run/netns`).
    pub netns_dir: PathBuf,
    /// The nft binary (Debian's `nftables`).
    pub nft_path: PathBuf,
    /// The conntrack binary (Debian's `conntrack`).
    pub conntrack_path: PathBuf,
    /// Router advertisements (radvd).
    pub ra: radvd::RaConfig,
    /// The metadata proxy's port in each router's namespace (`metadata_port`) when the
    /// agent proxies metadata: the routers redirect VMs' requests there ([`nat`]).
    pub metadata_port: Option<u16>,
    /// The router ports' namespace ends send complete checksums (an Open vSwitch host with
    /// the userspace datapath; see `netns::ethtool`).
    pub fill_checksums: bool,
}

impl Default for L3Config {
    fn default() -> Self {
        L3Config {
            netns_dir: PathBuf::from(crate::netns::SYSTEM_NETNS_DIR),
            nft_path: PathBuf::from("/usr/sbin/nft"),
            conntrack_path: PathBuf::from("/usr/sbin/conntrack"),
            ra: radvd::RaConfig::default(),
            metadata_port: None,
            fill_checksums: false,
        }
    }
}
