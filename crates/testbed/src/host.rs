//! A simulated host (or the controller): a network namespace on the underlay, with a private mount
//! namespace for everything that runs on it.

use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use crate::error::{Result, TestbedError};
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
    /// The run, database and log directory of its Open vSwitch, on an OVS host
    /// ([`crate::Testbed::add_ovs_host`]).
    pub(crate) ovs_dir: Option<PathBuf>,
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

    /// The device holding the underlay address: [`UNDERLAY_DEV`], or on an OVS host the netdev
    /// bridge [`crate::ovs::UNDERLAY_OVS_BRIDGE`] holding it.
    pub fn underlay_dev(&self) -> &'static str {
        if self.ovs_dir.is_some() {
            crate::ovs::UNDERLAY_OVS_BRIDGE
        } else {
            UNDERLAY_DEV
        }
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

    /// On an OVS host ([`crate::Testbed::add_ovs_host`]): the directory holding its
    /// ovsdb-server's `db.sock`, ovs-vswitchd's management sockets, `conf.db` and the OVS logs
    /// (what its agent gets as `--ovs-rundir`). `None` on a Linux-bridge host.
    pub fn ovs_dir(&self) -> Option<&Path> {
        self.ovs_dir.as_deref()
    }

    /// Runs an OVS tool on the host against the host's own Open vSwitch (`OVS_RUNDIR` and
    /// friends set to [`Host::ovs_dir`]); a non-zero exit is an error. Returns stdout.
    ///
    /// E.g. `host.ovs(["ovs-ofctl", "dump-flows", "br-int"])`.
    pub fn ovs<I, S>(&self, argv: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let dir = self.ovs_dir.as_deref().ok_or_else(|| TestbedError::invalid(&self.name, "not an OVS host"))?;
        let mut argv: Vec<std::ffi::OsString> = argv.into_iter().map(|a| a.as_ref().to_os_string()).collect();
        // By absolute path: the OVS tools may live outside the test's PATH.
        if let Some(first) = argv.first_mut() {
            if let Some(found) = first.to_str().filter(|p| !p.contains('/')).and_then(crate::cmd::find_program) {
                *first = found.into_os_string();
            }
        }
        self.shared.exec_ok_env(&self.netns, argv, &crate::ovs::env(dir))
    }
}
