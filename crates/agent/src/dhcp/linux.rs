//! [`DhcpSystem`] for real: the namespace and the DHCP port are [`LinuxPorts`]' (shared
//! with L3), and dnsmasq is started inside the namespace by [`exec_in`] (`setns` between
//! fork and exec).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::netns::linux::blocking;
use crate::netns::process::{find_daemon, read_pid, signal};
use crate::netns::{exec_in, LinuxPorts, NetnsDir, PortsOf};

use super::system::{DhcpSystem, RunningDnsmasq};
use super::DhcpError;
use super::NAMESPACE_PREFIX;

/// The host's DHCP dataplane.
#[derive(Debug, Clone)]
pub struct LinuxDhcp {
    ports: LinuxPorts,
}

impl LinuxDhcp {
    /// Namespaces are named files in `netns_dir` (`/run/netns`) of the calling thread's
    /// mount namespace.
    pub fn new(netns_dir: impl Into<PathBuf>) -> Self {
        LinuxDhcp { ports: LinuxPorts::new(netns_dir) }
    }

    pub fn netns(&self) -> &NetnsDir {
        self.ports.netns()
    }
}

impl PortsOf for LinuxDhcp {
    type Ports = LinuxPorts;
    fn ports(&self) -> &LinuxPorts {
        &self.ports
    }
}

impl DhcpSystem for LinuxDhcp {
    async fn namespaces(&self) -> Result<Vec<String>, DhcpError> {
        self.netns()
            .list(NAMESPACE_PREFIX)
            .map_err(|e| DhcpError::failed("list namespaces in", self.netns().dir().display().to_string(), e))
    }

    async fn dnsmasq(&self, pid_file: &Path, ns: &str) -> Result<Option<RunningDnsmasq>, DhcpError> {
        // Only a process whose command line names this pid file is this network's dnsmasq.
        let own = format!("--pid-file={}", pid_file.display());
        let found = find_daemon(pid_file, &self.netns().path(ns), |argv| argv.contains(&own))
            .map_err(|e| DhcpError::failed("find the dnsmasq of pid file", pid_file.display().to_string(), e))?;
        Ok(found.map(|d| RunningDnsmasq { pid: d.pid, argv: d.argv, in_namespace: d.in_namespace }))
    }

    async fn start_dnsmasq(&self, ns: &str, argv: &[String], pid_file: &Path) -> Result<Option<u32>, DhcpError> {
        let Some((program, args)) = argv.split_first() else {
            return Err(DhcpError::failed("start dnsmasq in", ns, io::Error::from(io::ErrorKind::InvalidInput)));
        };
        let ns_file = self.netns().open(ns)?;
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        exec_in(&mut cmd, &ns_file);
        let name = ns.to_owned();
        // dnsmasq's first process exits once the daemon is ready, with the daemon's start-up
        // error on stderr and a non-zero status when it failed.
        let output = blocking(ns, move || {
            let out = cmd.output().map_err(|e| DhcpError::failed("run dnsmasq in", &name, e));
            drop(ns_file);
            out
        })
        .await?;
        if !output.status.success() {
            return Err(DhcpError::DnsmasqStart {
                namespace: ns.to_owned(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        read_pid(pid_file).map_err(|e| DhcpError::failed("read pid file", pid_file.display().to_string(), e))
    }

    async fn reload_dnsmasq(&self, pid: u32) -> Result<(), DhcpError> {
        signal(pid, libc::SIGHUP).map_err(|e| DhcpError::failed("send SIGHUP to dnsmasq pid", pid.to_string(), e))
    }

    async fn stop_dnsmasq(&self, pid: u32) -> Result<(), DhcpError> {
        crate::netns::process::stop(pid).await.map_err(|e| DhcpError::failed("stop dnsmasq pid", pid.to_string(), e))
    }
}
