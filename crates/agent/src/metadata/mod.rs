//! The metadata proxy: Neutron's metadata agent and its per-network `ns-metadata-proxy` in one.
//!
//! A VM reaches `http://169.254.169.254/` through its network's DHCP port (the DHCP side
//! gives the `ns-…` device in `qdhcp-<network-id>` that address and pushes a host route to
//! it). Nova's metadata API must learn *which* instance asks, and must be able to trust the
//! answer: Neutron sends the instance id with an HMAC of it under a secret shared with Nova
//! (`metadata_proxy_shared_secret`). The instance is identified from the TCP source address
//! of the connection, looked up among the network's ports, and from nothing the VM sends:
//! Neutron's haproxy overwrites `X-Neutron-Network-ID` and its agent builds the headers for
//! Nova from scratch, and so do we, so a VM cannot ask as another instance.
//!
//! Neutron runs one haproxy per namespace relaying over a unix socket to a metadata agent
//! that asks the server over RPC for the port behind the address. We need neither hop: the
//! host state already carries every port of each served network, so each namespace gets a
//! listener of our own (a socket opened inside the namespace, served on the agent's runtime)
//! with an in-memory address → instance table that every [`MetadataProxy::sync`] replaces.
//! Addresses of different networks may overlap; each table belongs to one namespace, so they
//! never mix. Connections to Nova leave from the agent's own namespace (the host's), where
//! the metadata API is reachable, exactly as Neutron's metadata agent does.
//!
//! Like the rest of the agent, [`MetadataProxy::sync`] is level-triggered: it is handed the
//! whole list of served networks, opens what is missing, replaces tables that changed,
//! reopens a listener whose namespace was deleted and recreated (its socket would be dead
//! in the old one), and closes listeners of networks that left. Running it twice on the
//! same state changes nothing.

mod proxy;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;

use neutrino_agent_api::DhcpNetwork;
use tokio::sync::oneshot;
use tracing::{info, warn};
use url::Url;

pub use crate::netns::NetnsError;
pub use proxy::{sign_instance_id, Instance, InstanceTable};

use crate::netns::{listen_in, ns_id, NsId};
use crate::report::{Object, Report, SubsystemKind};
use proxy::{Served, Upstream};

/// The address VMs ask for metadata (the EC2-compatible link-local address).
pub const METADATA_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// The port VMs ask on (Neutron's `metadata_port`).
pub const DEFAULT_LISTEN_PORT: u16 = 80;
/// Each network's listener's limits, Neutron's haproxy's (`timeout http-request 30s`,
/// `timeout http-keep-alive 30s`, `maxconn 1024`) except the cap, which is per network here
/// (every listener lives in the agent's process): the header-read and keep-alive timeouts
/// 30 s, a request 65 s (Nova's 60 s and a margin), 128 connections per network, so the VMs
/// of one network cannot take the descriptors the others need, and 16 per VM address, so
/// one VM cannot take the slots of the others on its (possibly shared) network.
pub const DEFAULT_LIMITS: neutrino_http::Limits = neutrino_http::Limits {
    header_read_timeout: std::time::Duration::from_secs(30),
    keepalive_timeout: std::time::Duration::from_secs(30),
    request_timeout: std::time::Duration::from_secs(65),
    max_connections: 128,
    max_connections_per_address: 16,
};
/// Where `ip netns` (and the DHCP side) names network namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

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
    /// The port to listen on in each namespace (80).
    pub listen_port: u16,
    /// Timeouts and connection cap of each network's listener ([`DEFAULT_LIMITS`]).
    pub limits: neutrino_http::Limits,
}

impl MetadataConfig {
    /// A configuration listening on [`DEFAULT_LISTEN_PORT`].
    pub fn new(nova_metadata_url: Url, shared_secret: impl Into<String>) -> Self {
        Self {
            nova_metadata_url,
            shared_secret: shared_secret.into(),
            listen_port: DEFAULT_LISTEN_PORT,
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

/// Names a network's namespace (injectable so tests use names of their own).
type NetnsNamer = Box<dyn Fn(&str) -> String + Send + Sync>;

/// The metadata proxies of every network this host serves DHCP for; see the module docs.
pub struct MetadataProxy {
    upstream: Arc<Upstream>,
    listen: SocketAddrV4,
    limits: neutrino_http::Limits,
    netns_dir: PathBuf,
    netns_name: NetnsNamer,
    /// By network id.
    listeners: BTreeMap<String, Listener>,
}

/// One namespace's listener. Dropping it stops accepting at once and closes each open
/// connection after its current request.
struct Listener {
    netns: String,
    /// The namespace the socket lives in, to notice when the name points to a new one.
    ns_id: NsId,
    served: Arc<Served>,
    _shutdown: oneshot::Sender<()>,
}

impl MetadataProxy {
    /// A proxy with no listener yet, naming namespaces `/run/netns/qdhcp-<network-id>`.
    pub fn new(cfg: MetadataConfig) -> Result<Self, MetadataError> {
        Ok(Self {
            upstream: Arc::new(Upstream::new(&cfg)?),
            listen: SocketAddrV4::new(METADATA_ADDRESS, cfg.listen_port),
            limits: cfg.limits,
            netns_dir: PathBuf::from(NETNS_RUN_DIR),
            netns_name: Box::new(dhcp_netns_name),
            listeners: BTreeMap::new(),
        })
    }

    /// Looks for namespaces in `dir` under the name `name(network_id)` instead.
    pub fn with_netns_naming(
        mut self,
        dir: impl Into<PathBuf>,
        name: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> Self {
        self.netns_dir = dir.into();
        self.netns_name = Box::new(name);
        self
    }

    /// Networks with a listener, by id.
    pub fn served_networks(&self) -> Vec<String> {
        self.listeners.keys().cloned().collect()
    }

    /// Makes the listeners match `networks` (the whole list this host serves); see the
    /// module docs. A network whose namespace is not there yet is reported and retried on
    /// the next sync.
    pub async fn sync(&mut self, networks: &[DhcpNetwork]) -> Report {
        let mut report = Report::new(SubsystemKind::Metadata);
        let wanted: BTreeMap<&str, &DhcpNetwork> = networks.iter().map(|n| (n.network_id.as_str(), n)).collect();

        let leaving: Vec<String> =
            self.listeners.keys().filter(|id| !wanted.contains_key(id.as_str())).cloned().collect();
        for id in leaving {
            if let Some(old) = self.listeners.remove(&id) {
                info!(network_id = %id, netns = %old.netns, "metadata proxy stopped: network no longer served");
                report.change(format!("stop listening in {}", old.netns));
            }
        }

        for (id, network) in wanted {
            let (table, duplicates) = InstanceTable::from_network(network);
            for ip in duplicates {
                let reason = format!("network {id}: address {ip} belongs to several ports, its requests are refused");
                report.issue(Object::Network(id.to_owned()), reason);
            }
            self.sync_network(id, table, &mut report).await;
        }
        report
    }

    async fn sync_network(&mut self, id: &str, table: InstanceTable, report: &mut Report) {
        let netns = (self.netns_name)(id);
        let path = self.netns_dir.join(&netns);
        let current = match ns_id(&path) {
            Ok(ns_id) => ns_id,
            Err(e) => {
                if self.listeners.remove(id).is_some() {
                    report.change(format!("stop listening in {netns}: namespace gone"));
                }
                let reason = format!("network {id}: no namespace {} ({e}), metadata not served", path.display());
                report.issue(Object::Network(id.to_owned()), reason);
                return;
            }
        };

        if let Some(listener) = self.listeners.get(id) {
            if listener.ns_id == current {
                if listener.served.replace_table(table) {
                    report.change(format!("update instance table of {netns}"));
                }
                return;
            }
            info!(network_id = %id, %netns, "namespace recreated, reopening the metadata listener");
            self.listeners.remove(id);
            report.change(format!("stop listening in {netns}: namespace recreated"));
        }

        match self.open(id, &netns, path, table).await {
            Ok(listener) => {
                info!(network_id = %id, %netns, listen = %self.listen, "metadata proxy listening");
                report.change(format!("listen on {} in {netns}", self.listen));
                self.listeners.insert(id.to_string(), listener);
            }
            Err(e) => {
                warn!(network_id = %id, %netns, error = &e as &dyn std::error::Error, "metadata proxy not started");
                report.issue(Object::Network(id.to_owned()), format!("network {id}: {}", error_chain(&e)));
            }
        }
    }

    async fn open(&self, id: &str, netns: &str, path: PathBuf, table: InstanceTable) -> Result<Listener, NetnsError> {
        let (std_listener, ns_id) = listen_in(path.clone(), self.listen).await?;
        let listener = tokio::net::TcpListener::from_std(std_listener).map_err(|source| NetnsError::Register {
            path,
            addr: self.listen,
            source,
        })?;
        let served = Arc::new(Served::new(id.to_string(), table, self.upstream.clone()));
        let (shutdown, stopped) = oneshot::channel();
        proxy::serve(listener, served.clone(), self.limits, stopped);
        Ok(Listener { netns: netns.to_string(), ns_id, served, _shutdown: shutdown })
    }
}

use crate::error_chain;
