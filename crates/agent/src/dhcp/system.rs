//! The narrow interface between the DHCP reconciler and the host: namespaces, the DHCP
//! port's veth pair and addresses, and the dnsmasq process. Verbs are named as an operator
//! would type them; devices by name, namespaces by name, processes by pid.

use std::future::Future;
use std::io;
use std::path::Path;

use crate::l2::dataplane::{LinkKind, MacAddr};

use super::cidr::IfAddr;
use super::netns::NetnsError;

/// A failed operation, naming what it acted on.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("{op} {target}")]
    Failed {
        op: &'static str,
        target: String,
        #[source]
        source: io::Error,
    },
    #[error("dnsmasq in {namespace} failed to start ({status}): {stderr}")]
    DnsmasqStart { namespace: String, status: String, stderr: String },
}

impl SystemError {
    pub fn failed(op: &'static str, target: impl Into<String>, source: io::Error) -> Self {
        SystemError::Failed { op, target: target.into(), source }
    }
}

/// The host side of the DHCP port's veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapState {
    pub kind: LinkKind,
    /// The host has IPv6 on it (`disable_ipv6` is 0).
    pub ipv6: bool,
}

/// The namespace side of the DHCP port's veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevState {
    pub kind: LinkKind,
    pub mac: MacAddr,
    pub mtu: u32,
    pub up: bool,
    /// Its addresses, the kernel's IPv6 link-local ones included.
    pub addrs: Vec<IfAddr>,
}

/// Both ends of the DHCP port as found; `None` when missing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortDevices {
    pub tap: Option<TapState>,
    pub dev: Option<DevState>,
}

/// `ip link add <tap> mtu <mtu> type veth peer name <dev> mtu <mtu> address <mac> netns <ns>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    pub tap: String,
    pub dev: String,
    pub mac: MacAddr,
    pub mtu: u32,
}

/// A running dnsmasq, found through its pid file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningDnsmasq {
    pub pid: u32,
    /// Its command line (`/proc/<pid>/cmdline`).
    pub argv: Vec<String>,
    /// It runs in the namespace of that name (not in one deleted and recreated since).
    pub in_namespace: bool,
}

/// The operations of the DHCP dataplane.
pub trait DhcpSystem: Send + Sync {
    /// `ip netns list`, only the `qdhcp-` namespaces.
    fn namespaces(&self) -> impl Future<Output = Result<Vec<String>, SystemError>> + Send;
    /// `ip netns add <ns>` unless it exists, then `ip -n <ns> link set lo up`. True when created.
    fn ensure_namespace(&self, ns: &str) -> impl Future<Output = Result<bool, SystemError>> + Send;
    /// `ip netns delete <ns>`.
    fn delete_namespace(&self, ns: &str) -> impl Future<Output = Result<(), SystemError>> + Send;
    /// `ip link show <tap>` here and `ip -n <ns> addr show <dev>`.
    fn port_devices(
        &self,
        ns: &str,
        tap: &str,
        dev: &str,
    ) -> impl Future<Output = Result<PortDevices, SystemError>> + Send;
    /// Creates the veth pair, both ends up, the host's IPv6 off on the tap.
    fn create_veth(&self, ns: &str, spec: &VethSpec) -> impl Future<Output = Result<(), SystemError>> + Send;
    /// `ip link delete <tap>` (here).
    fn delete_tap(&self, tap: &str) -> impl Future<Output = Result<(), SystemError>> + Send;
    /// `ip -n <ns> link delete <dev>`.
    fn delete_dev(&self, ns: &str, dev: &str) -> impl Future<Output = Result<(), SystemError>> + Send;
    /// `sysctl net.ipv6.conf.<tap>.disable_ipv6=1` (here).
    fn disable_tap_ipv6(&self, tap: &str) -> impl Future<Output = Result<(), SystemError>> + Send;
    /// `ip -n <ns> link set <dev> address <mac> mtu <mtu> up`.
    fn set_dev(&self, ns: &str, spec: &VethSpec) -> impl Future<Output = Result<(), SystemError>> + Send;
    /// `ip -n <ns> addr add <addr> dev <dev>`.
    fn add_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> impl Future<Output = Result<(), SystemError>> + Send;
    /// `ip -n <ns> addr del <addr> dev <dev>`.
    fn del_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> impl Future<Output = Result<(), SystemError>> + Send;
    /// The dnsmasq whose pid is in `pid_file`, if it runs and its command line names that
    /// pid file; `in_namespace` compares its network namespace with `ns`'s.
    fn dnsmasq(
        &self,
        pid_file: &Path,
        ns: &str,
    ) -> impl Future<Output = Result<Option<RunningDnsmasq>, SystemError>> + Send;
    /// Starts `argv` inside `ns` and waits until it has daemonized (its pid file written);
    /// returns the daemon's pid when the pid file names one.
    fn start_dnsmasq(
        &self,
        ns: &str,
        argv: &[String],
        pid_file: &Path,
    ) -> impl Future<Output = Result<Option<u32>, SystemError>> + Send;
    /// `kill -HUP <pid>`: re-read the hosts and options files.
    fn reload_dnsmasq(&self, pid: u32) -> impl Future<Output = Result<(), SystemError>> + Send;
    /// `kill <pid>`, then `kill -9` if it has not ended after a grace period.
    fn stop_dnsmasq(&self, pid: u32) -> impl Future<Output = Result<(), SystemError>> + Send;
}
