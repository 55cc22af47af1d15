//! A simulated host (or the controller): a network namespace on the underlay, with a private mount
//! namespace for everything that runs on it.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::process::Output;
use std::sync::Arc;

use crate::error::Result;
use crate::shared::Shared;

/// Name of the underlay device inside every member namespace (controller, hosts).
pub const UNDERLAY_DEV: &str = "eth0";

/// Prefix length of the underlay network 198.18.0.0/16 (inside the benchmarking range
/// 198.18.0.0/15, so it never clashes with a real network).
pub const UNDERLAY_PREFIX_LEN: u8 = 16;

/// A machine of the testbed: the controller or a hypervisor host.
///
/// A cheap handle (clone it); it stays valid until the testbed is dropped.
#[derive(Debug, Clone)]
pub struct Host {
    pub(crate) name: String,
    pub(crate) netns: String,
    pub(crate) underlay_ip: Ipv4Addr,
    pub(crate) shared: Arc<Shared>,
}

impl Host {
    /// The name given to `add_host` (`ctl` for the controller).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The network namespace (`nt<tag>-<name>`), for `ip -n`, `spawn_in`, `in_netns`.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Its address on the underlay, what its agent uses as VXLAN `local` and to reach the server.
    pub fn underlay_ip(&self) -> Ipv4Addr {
        self.underlay_ip
    }

    /// The underlay device inside the host ([`UNDERLAY_DEV`]).
    pub fn underlay_dev(&self) -> &'static str {
        UNDERLAY_DEV
    }

    /// Runs `argv` on the host (its network and private mount namespace, so `ip netns list` shows
    /// the host's own `qdhcp-…` namespaces) and returns its output whatever the exit status.
    ///
    /// E.g. `host.exec(["bridge", "fdb", "show", "dev", "vxlan-100"])`.
    pub fn exec<I, S>(&self, argv: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.shared.exec(&self.netns, argv)
    }

    /// Like [`Host::exec`], but a non-zero exit is an error (naming the command and its stderr);
    /// returns stdout.
    pub fn exec_ok<I, S>(&self, argv: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.shared.exec_ok(&self.netns, argv)
    }
}
