//! The metadata proxy: Neutron's metadata agent and its `ns-metadata-proxy`es in one.
//!
//! A VM reaches `http://169.254.169.254/` (IPv6: `http://[fe80::a9fe:a9fe%eth0]/`) in one of
//! two places, as with Neutron:
//!
//! * its network's DHCP namespace `qdhcp-<network-id>`: the DHCP side gives the `ns-…`
//!   device 169.254.169.254/32, and fe80::a9fe:a9fe/128 when the network has an IPv6
//!   subnet, and pushes a host route to the first; the proxy listens on
//!   `169.254.169.254:80` and `[fe80::a9fe:a9fe%ns-…]:80` (Neutron's haproxy `bind` and
//!   `bind_address_v6` + `bind_interface`);
//! * the namespace `qrouter-<router-id>` of the router the VM's subnet is attached to: the
//!   router's nftables table redirects `tcp dport 80` to 169.254.169.254 and to
//!   fe80::a9fe:a9fe arriving on a `qr-` device to the proxy's `metadata_port` (9697) and
//!   drops everything else that asks that port (see [`crate::l3::nat`]); the proxy listens
//!   on `[::]:<metadata_port>`, both families, as Neutron's router haproxy binds `::`.
//!
//! Nova's metadata API must learn *which* instance asks, and must be able to trust the
//! answer: Neutron sends the instance id with an HMAC of it under a secret shared with Nova
//! (`metadata_proxy_shared_secret`). The instance is identified from the TCP source address
//! of the connection, looked up among the ports of the served network (a DHCP namespace) or
//! of the router's internal subnets ([`RouterState::metadata_hosts`]), and from nothing the
//! VM sends; a link-local IPv6 source is known by the MAC in it ([`table`]). Neutron's
//! haproxy overwrites `X-Neutron-Network-ID`/`X-Neutron-Router-ID` and its agent builds the
//! headers for Nova from scratch, and so do we, so a VM cannot ask as another instance.
//!
//! Neutron runs one haproxy per namespace relaying over a unix socket to a metadata agent
//! that asks the server over RPC for the port behind the address. We need neither hop: the
//! host state already carries every port of each served network and router, so each served
//! namespace ([`ServedNs`]) gets listeners of our own (sockets opened inside the namespace,
//! served on the agent's runtime, sharing one set of limits) with an in-memory address →
//! instance table that every sync replaces. Addresses of different networks may overlap;
//! each table belongs to one namespace, so they never mix. Connections to Nova leave from
//! the agent's own namespace (the host's), where the metadata API is reachable, exactly as
//! Neutron's metadata agent does.
//!
//! Like the rest of the agent, [`MetadataProxy::sync`] (DHCP networks) and
//! [`MetadataProxy::sync_routers`] are level-triggered: each is handed the whole list of its
//! kind, opens what is missing, replaces tables that changed, reopens listeners whose
//! namespace (or, for a link-local bind, device) was deleted and recreated (a socket would
//! be dead in the old one), and closes listeners of namespaces of its kind that left.
//! Running them twice on the same state changes nothing.
//!
//! [`RouterState::metadata_hosts`]: neutrino_agent_api::RouterState::metadata_hosts

mod listeners;
mod proxy;
pub mod table;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use url::Url;

pub use crate::netns::NetnsError;
pub use listeners::MetadataProxy;
pub use proxy::sign_instance_id;
pub use table::{Instance, InstanceTable};

/// The address VMs ask for metadata (the EC2-compatible link-local address).
pub const METADATA_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// The IPv6 address VMs ask for metadata (Neutron's `METADATA_V6_IP`), link-local: every
/// network has it, on the DHCP port and behind each router interface.
pub const METADATA_V6_ADDRESS: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0xa9fe, 0xa9fe);
/// The port VMs ask on, where the DHCP namespace's listeners bind (Neutron's `METADATA_PORT`).
pub const DEFAULT_LISTEN_PORT: u16 = 80;
/// Where the listener of a router's namespace binds, reached through the router's redirect
/// (Neutron's L3 agent `metadata_port`).
pub const DEFAULT_ROUTER_PORT: u16 = 9697;
/// Each served namespace's limits, Neutron's haproxy's (`timeout http-request 30s`,
/// `timeout http-keep-alive 30s`, `maxconn 1024`) except the cap, which is per namespace
/// here (every listener lives in the agent's process; a namespace's IPv4 and IPv6
/// listeners share it): the header-read and keep-alive timeouts 30 s, a request 65 s (Nova's
/// 60 s and a margin), 128 connections per DHCP network or router, so the VMs behind one
/// cannot take the descriptors the others need, and 16 per VM address, so one VM cannot
/// take the slots of the others on its (possibly shared) network or router.
pub const DEFAULT_LIMITS: neutrino_http::Limits = neutrino_http::Limits {
    header_read_timeout: std::time::Duration::from_secs(30),
    keepalive_timeout: std::time::Duration::from_secs(30),
    request_timeout: std::time::Duration::from_secs(65),
    max_connections: 128,
    max_connections_per_address: 16,
};
/// Where `ip netns` (and the DHCP side) names network namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// A namespace the proxy serves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServedNs {
    /// A network's DHCP namespace, by network id.
    Network(String),
    /// A router's namespace, by router id.
    Router(String),
}

impl ServedNs {
    /// The network's or router's id.
    pub fn id(&self) -> &str {
        match self {
            ServedNs::Network(id) | ServedNs::Router(id) => id,
        }
    }

    /// The namespace Neutron names for it: `qdhcp-<network-id>` or `qrouter-<router-id>`.
    pub fn netns_name(&self) -> String {
        match self {
            ServedNs::Network(id) => dhcp_netns_name(id),
            ServedNs::Router(id) => crate::l3::namespace_name(id),
        }
    }
}

/// `network <id>` or `router <id>`, as Neutron's 404 names it.
impl fmt::Display for ServedNs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServedNs::Network(id) => write!(f, "network {id}"),
            ServedNs::Router(id) => write!(f, "router {id}"),
        }
    }
}

/// The namespace the DHCP side makes for a network, as Neutron names it.
pub fn dhcp_netns_name(network_id: &str) -> String {
    format!("qdhcp-{network_id}")
}

/// Where the proxy forwards to and how it proves the instance ids it sends.
#[derive(Clone)]
pub struct MetadataConfig {
    /// Nova's metadata API, e.g. `http://192.0.2.10:8775` (Neutron's `nova_metadata_host`,
    /// `_port` and `_protocol`); the VM's path and query are appended to its path.
    pub nova_metadata_url: Url,
    /// Neutron's `metadata_proxy_shared_secret`, the same as Nova's.
    pub shared_secret: String,
    /// The port to listen on in each DHCP namespace (80).
    pub listen_port: u16,
    /// The port to listen on in each router namespace (`metadata_port`, 9697), which the
    /// router's redirect leads to.
    pub router_port: u16,
    /// Timeouts and connection cap of each network's listener ([`DEFAULT_LIMITS`]).
    pub limits: neutrino_http::Limits,
}

impl MetadataConfig {
    /// A configuration listening on [`DEFAULT_LISTEN_PORT`] and [`DEFAULT_ROUTER_PORT`].
    pub fn new(nova_metadata_url: Url, shared_secret: impl Into<String>) -> Self {
        Self {
            nova_metadata_url,
            shared_secret: shared_secret.into(),
            listen_port: DEFAULT_LISTEN_PORT,
            router_port: DEFAULT_ROUTER_PORT,
            limits: DEFAULT_LIMITS,
        }
    }
}

/// Never prints the shared secret.
impl fmt::Debug for MetadataConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetadataConfig")
            .field("nova_metadata_url", &self.nova_metadata_url.as_str())
            .field("shared_secret", &"<redacted>")
            .field("listen_port", &self.listen_port)
            .field("router_port", &self.router_port)
            .field("limits", &self.limits)
            .finish()
    }
}

/// The proxy could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// Only plain or TLS HTTP with a host can reach Nova.
    #[error("nova_metadata_url {url} is not an http(s) URL with a host")]
    NovaUrl { url: String },
    /// The HTTP client for Nova could not be built (its TLS backend failed to start).
    #[error("cannot build the HTTP client for Nova's metadata API")]
    Client(#[source] reqwest::Error),
}
