//! [`DhcpSystem`] for real: the namespace and the DHCP port are [`LinuxPorts`]' (shared
//! with L3), and dnsmasq and `nft` are started inside the namespace by [`exec_in`] (`setns`
//! between fork and exec); default routes are set with rtnetlink from inside it.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use futures::TryStreamExt;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::netns::process::{find_daemon, read_pid, signal};

use crate::netns::linux::{blocking, index, is_errno, nl_err};
use crate::netns::{exec_in, LinuxPorts, NetnsDir, NetnsError, PortsOf};

use super::dns::{self, DnsGuard, GUARD_TABLE};
use super::system::{DhcpSystem, RunningDnsmasq};
use super::DhcpError;
use super::NAMESPACE_PREFIX;

/// The host's DHCP dataplane.
#[derive(Debug, Clone)]
pub struct LinuxDhcp {
    ports: LinuxPorts,
    nft: PathBuf,
}

impl LinuxDhcp {
    /// Namespaces are named files in `netns_dir` (`/run/netns`) of the calling thread's
    /// mount namespace; `nft` is `/usr/sbin/nft`.
    pub fn new(netns_dir: impl Into<PathBuf>) -> Self {
        LinuxDhcp { ports: LinuxPorts::new(netns_dir), nft: PathBuf::from("/usr/sbin/nft") }
    }

    /// The same, the DHCP ports' namespace ends sending complete checksums with `fill`.
    pub fn filling_checksums(self, fill: bool) -> Self {
        LinuxDhcp { ports: self.ports.filling_checksums(fill), ..self }
    }

    /// The same with another `nft` binary.
    pub fn with_nft(self, nft: impl Into<PathBuf>) -> Self {
        LinuxDhcp { nft: nft.into(), ..self }
    }

    pub fn netns(&self) -> &NetnsDir {
        self.ports.netns()
    }

    /// `ip netns exec <ns> nft <args>`, with `stdin`.
    async fn nft(&self, ns: &str, args: &[&str], stdin: Option<String>) -> Result<Output, DhcpError> {
        let ns_file = self.netns().open(ns)?;
        let mut cmd = Command::new(&self.nft);
        cmd.args(args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        exec_in(&mut cmd, &ns_file);
        let name = ns.to_owned();
        blocking(ns, move || {
            let run = || -> io::Result<Output> {
                let mut child = cmd.spawn()?;
                drop(ns_file);
                if let (Some(mut pipe), Some(input)) = (child.stdin.take(), stdin) {
                    pipe.write_all(input.as_bytes())?;
                }
                child.wait_with_output()
            };
            run().map_err(|e| DhcpError::failed("run nft in", &name, e))
        })
        .await
    }
}

/// The gateway of a default route of the main table, not one learnt from a router
/// advertisement (the kernel's own).
fn default_gateway(msg: &RouteMessage) -> Option<IpAddr> {
    if msg.header.table != RouteHeader::RT_TABLE_MAIN
        || msg.header.kind != RouteType::Unicast
        || msg.header.destination_prefix_length != 0
        || msg.header.protocol == RouteProtocol::Ra
    {
        return None;
    }
    msg.attributes.iter().find_map(|a| match a {
        RouteAttribute::Gateway(RouteAddress::Inet(v4)) => Some(IpAddr::V4(*v4)),
        RouteAttribute::Gateway(RouteAddress::Inet6(v6)) => Some(IpAddr::V6(*v6)),
        _ => None,
    })
}

async fn default_routes(h: &Handle, ns: &str) -> Result<Vec<(RouteMessage, IpAddr)>, NetnsError> {
    let mut out = Vec::new();
    for query in [RouteMessageBuilder::<Ipv4Addr>::new().build(), RouteMessageBuilder::<Ipv6Addr>::new().build()] {
        let mut routes = h.route().get(query).execute();
        while let Some(msg) = routes.try_next().await.map_err(|e| nl_err("list routes in", ns, e))? {
            if let Some(gw) = default_gateway(&msg) {
                out.push((msg, gw));
            }
        }
    }
    Ok(out)
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

    async fn default_gateways(&self, ns: &str) -> Result<Vec<IpAddr>, DhcpError> {
        let name = ns.to_owned();
        let routes = self.ports.in_ns(ns, move |h| async move { default_routes(&h, &name).await }).await?;
        Ok(routes.into_iter().map(|(_, gw)| gw).collect())
    }

    async fn set_default_gateway(&self, ns: &str, dev: &str, gateway: IpAddr, onlink: bool) -> Result<(), DhcpError> {
        let (dev, target) = (dev.to_owned(), format!("default via {gateway} in {ns}"));
        Ok(self
            .ports
            .in_ns(ns, move |h| async move {
                let idx = index(&h, "add route via", &dev).await?;
                let mut msg = match gateway {
                    IpAddr::V4(gw) => RouteMessageBuilder::<Ipv4Addr>::new().gateway(gw).output_interface(idx).build(),
                    IpAddr::V6(gw) => RouteMessageBuilder::<Ipv6Addr>::new().gateway(gw).output_interface(idx).build(),
                };
                if onlink {
                    msg.header.flags.insert(RouteFlags::Onlink);
                }
                h.route().add(msg).replace().execute().await.map_err(|e| nl_err("add route", &target, e))
            })
            .await?)
    }

    async fn del_default_gateway(&self, ns: &str, gateway: IpAddr) -> Result<(), DhcpError> {
        let (name, target) = (ns.to_owned(), format!("default via {gateway} in {ns}"));
        Ok(self
            .ports
            .in_ns(ns, move |h| async move {
                for (msg, gw) in default_routes(&h, &name).await? {
                    if gw == gateway {
                        match h.route().del(msg).execute().await {
                            Err(e) if !is_errno(&e, libc::ESRCH) => return Err(nl_err("delete route", &target, e)),
                            _ => {}
                        }
                    }
                }
                Ok(())
            })
            .await?)
    }

    async fn dns_guard(&self, ns: &str) -> Result<Option<String>, DhcpError> {
        let out = self.nft(ns, &["list", "table", "inet", GUARD_TABLE], None).await?;
        if !out.status.success() {
            // nft says "No such file or directory" for a missing table.
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("No such file or directory") {
                return Ok(None);
            }
            return Err(nft_failed(ns, "list table", &out));
        }
        Ok(dns::read_fingerprint(&String::from_utf8_lossy(&out.stdout)))
    }

    async fn apply_dns_guard(&self, ns: &str, guard: &DnsGuard) -> Result<(), DhcpError> {
        let out = self.nft(ns, &["-f", "-"], Some(guard.script.clone())).await?;
        if !out.status.success() {
            return Err(nft_failed(ns, "-f -", &out));
        }
        Ok(())
    }
}

fn nft_failed(ns: &str, what: &str, out: &Output) -> DhcpError {
    DhcpError::Nft {
        namespace: ns.to_owned(),
        command: format!("nft {what}"),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    }
}
