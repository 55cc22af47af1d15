//! The narrow interface between the DHCP reconciler and the host: the namespace and the
//! DHCP port ([`NamespacedPorts`]), and the dnsmasq process. Verbs are named as an operator
//! would type them; devices by name, namespaces by name, processes by pid.

use std::future::Future;
use std::net::IpAddr;
use std::path::Path;

use super::dns::DnsGuard;
use super::DhcpError;
use crate::netns::NamespacedPorts;

/// A running dnsmasq, found through its pid file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningDnsmasq {
    pub pid: u32,
    /// Its command line (`/proc/<pid>/cmdline`).
    pub argv: Vec<String>,
    /// It runs in the namespace of that name (not in one deleted and recreated since).
    pub in_namespace: bool,
}

/// The operations of the DHCP dataplane: the namespaced port's, and dnsmasq's.
pub trait DhcpSystem: NamespacedPorts {
    /// `ip netns list`, only the `qdhcp-` namespaces.
    fn namespaces(&self) -> impl Future<Output = Result<Vec<String>, DhcpError>> + Send;
    /// The dnsmasq whose pid is in `pid_file`, if it runs and its command line names that
    /// pid file; `in_namespace` compares its network namespace with `ns`'s.
    fn dnsmasq(
        &self,
        pid_file: &Path,
        ns: &str,
    ) -> impl Future<Output = Result<Option<RunningDnsmasq>, DhcpError>> + Send;
    /// Starts `argv` inside `ns` and waits until it has daemonized (its pid file written);
    /// returns the daemon's pid when the pid file names one.
    fn start_dnsmasq(
        &self,
        ns: &str,
        argv: &[String],
        pid_file: &Path,
    ) -> impl Future<Output = Result<Option<u32>, DhcpError>> + Send;
    /// `kill -HUP <pid>`: re-read the hosts and options files.
    fn reload_dnsmasq(&self, pid: u32) -> impl Future<Output = Result<(), DhcpError>> + Send;
    /// `kill <pid>`, then `kill -9` if it has not ended after a grace period.
    fn stop_dnsmasq(&self, pid: u32) -> impl Future<Output = Result<(), DhcpError>> + Send;
    /// `ip -n <ns> route show default` (IPv4 and IPv6, main table): the gateways.
    fn default_gateways(&self, ns: &str) -> impl Future<Output = Result<Vec<IpAddr>, DhcpError>> + Send;
    /// `ip -n <ns> route replace default via <gw> dev <dev> [onlink]` (`onlink` for a
    /// gateway outside the device's subnets).
    fn set_default_gateway(
        &self,
        ns: &str,
        dev: &str,
        gateway: IpAddr,
        onlink: bool,
    ) -> impl Future<Output = Result<(), DhcpError>> + Send;
    /// `ip -n <ns> route del default via <gw>`.
    fn del_default_gateway(&self, ns: &str, gateway: IpAddr) -> impl Future<Output = Result<(), DhcpError>> + Send;
    /// `ip netns exec <ns> nft list table inet neutrino-dns`: the fingerprint its comment
    /// carries; `None` without the table.
    fn dns_guard(&self, ns: &str) -> impl Future<Output = Result<Option<String>, DhcpError>> + Send;
    /// `ip netns exec <ns> nft -f -` with the guard's script: replaces the table at once.
    fn apply_dns_guard(&self, ns: &str, guard: &DnsGuard) -> impl Future<Output = Result<(), DhcpError>> + Send;
}
