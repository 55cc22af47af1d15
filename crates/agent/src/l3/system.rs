//! The narrow interface between the L3 reconciler and the host: `qrouter-` namespaces, the
//! routers' veth pairs and addresses ([`NamespacedPorts`], as the DHCP port's), forwarding,
//! routes, the NAT table and connection tracking, radvd and its files. Verbs are named as
//! an operator would type them.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use crate::netns::cidr::Cidr;
use crate::netns::process::Daemon;
use crate::netns::{NamespacedPorts, NetnsError};

use super::nat::{L4Proto, NatRuleset, NatSummary, ReadBackError};

/// The one error type of the L3 subsystem: a router that cannot be planned, or a failed
/// operation, naming what it acted on.
#[derive(Debug, thiserror::Error)]
pub enum L3Error {
    /// The router's state has a value the host cannot use.
    #[error("invalid {what} {value:?}")]
    Invalid { what: &'static str, value: String },
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("cannot run `{command}` in {namespace}")]
    Spawn {
        namespace: String,
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` in {namespace} failed ({status}): {stderr}")]
    Command { namespace: String, command: String, status: String, stderr: String },
    #[error("cannot {op} {path}")]
    File {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {op} radvd pid {pid}")]
    Process {
        op: &'static str,
        pid: u32,
        #[source]
        source: std::io::Error,
    },
    #[error("NAT table of {namespace}")]
    ReadBack {
        namespace: String,
        #[source]
        source: ReadBackError,
    },
}

/// A route of the router's main table with a next hop (`ip route add <dst> via <gw>`);
/// the kernel's connected routes are not these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub destination: Cidr,
    pub gateway: IpAddr,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} via {}", self.destination, self.gateway)
    }
}

/// Connection-tracking entries to delete when a translation goes away, so that sessions
/// opened through it stop instead of living on with the old translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConntrackFlush {
    /// Everything to the floating IP (`conntrack -D -d <fip>`) and everything translated to
    /// it on the way out (`conntrack -D --reply-dst <fip>`).
    FloatingIp(Ipv4Addr),
    /// `conntrack -D -d <fip> -p <proto> --dport <port>`.
    PortForwarding { floating: Ipv4Addr, protocol: L4Proto, external_port: u16 },
}

impl fmt::Display for ConntrackFlush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConntrackFlush::FloatingIp(ip) => write!(f, "floating IP {ip}"),
            ConntrackFlush::PortForwarding { floating, protocol, external_port } => {
                write!(f, "port forwarding {protocol} {floating}:{external_port}")
            }
        }
    }
}

/// The operations of the L3 dataplane: the namespaced ports', and the router's own.
pub trait L3System: NamespacedPorts {
    /// `ip netns list`, only the `qrouter-` namespaces.
    fn namespaces(&self) -> impl Future<Output = Result<Vec<String>, L3Error>> + Send;
    /// `ip -n <ns> link show`: the names of the devices inside.
    fn links(&self, ns: &str) -> impl Future<Output = Result<Vec<String>, L3Error>> + Send;
    /// `ip netns exec <ns> sysctl net.ipv4.ip_forward net.ipv6.conf.all.forwarding`: whether
    /// both are `on`.
    fn forwarding_is(&self, ns: &str, on: bool) -> impl Future<Output = Result<bool, L3Error>> + Send;
    /// Turns both on or off.
    fn set_forwarding(&self, ns: &str, on: bool) -> impl Future<Output = Result<(), L3Error>> + Send;
    /// `ip -n <ns> route show` (IPv4 and IPv6, main table, routes with a next hop).
    fn routes(&self, ns: &str) -> impl Future<Output = Result<Vec<Route>, L3Error>> + Send;
    /// `ip -n <ns> route replace <dst> via <gw>`.
    fn add_route(&self, ns: &str, route: &Route) -> impl Future<Output = Result<(), L3Error>> + Send;
    /// `ip -n <ns> route del <dst> via <gw>`.
    fn del_route(&self, ns: &str, route: &Route) -> impl Future<Output = Result<(), L3Error>> + Send;
    /// `ip netns exec <ns> nft -j list table inet neutrino-l3`; `None` when there is no table.
    fn nat(&self, ns: &str) -> impl Future<Output = Result<Option<NatSummary>, L3Error>> + Send;
    /// `ip netns exec <ns> nft -j -f -` with [`NatRuleset::batch`]: replaces the table at once.
    fn apply_nat(&self, ns: &str, ruleset: &NatRuleset) -> impl Future<Output = Result<(), L3Error>> + Send;
    /// `ip netns exec <ns> conntrack -D …`; deleting nothing is success.
    fn flush_conntrack(&self, ns: &str, what: &ConntrackFlush) -> impl Future<Output = Result<(), L3Error>> + Send;
    /// The radvd `pid_file` names, if it lives and its command line names that pid file
    /// ([`super::radvd::is_own`]); `in_namespace` compares its network namespace with `ns`'s.
    fn radvd(&self, pid_file: &Path, ns: &str) -> impl Future<Output = Result<Option<Daemon>, L3Error>> + Send;
    /// `ip netns exec <ns> radvd …` (`argv`), which daemonizes; its pid once the pid file
    /// names one.
    fn start_radvd(
        &self,
        ns: &str,
        argv: &[String],
        pid_file: &Path,
    ) -> impl Future<Output = Result<Option<u32>, L3Error>> + Send;
    /// `kill -HUP <pid>`: radvd reads its configuration again.
    fn reload_radvd(&self, pid: u32) -> impl Future<Output = Result<(), L3Error>> + Send;
    /// `kill <pid>`, then `kill -9` if it has not ended after a grace period.
    fn stop_radvd(&self, pid: u32) -> impl Future<Output = Result<(), L3Error>> + Send;
    /// `cat <path>`; `None` when there is no such file.
    fn read_config(&self, path: &Path) -> impl Future<Output = Result<Option<String>, L3Error>> + Send;
    /// Replaces `path` at once (a new file renamed over it), mode 0444, making its directory.
    fn write_config(&self, path: &Path, contents: &str) -> impl Future<Output = Result<(), L3Error>> + Send;
    /// `ls <dir>`: the names of its subdirectories; none when it does not exist.
    fn state_dirs(&self, dir: &Path) -> impl Future<Output = Result<Vec<String>, L3Error>> + Send;
    /// `rm -r <dir>`; a missing directory is fine.
    fn remove_dir(&self, dir: &Path) -> impl Future<Output = Result<(), L3Error>> + Send;
}
