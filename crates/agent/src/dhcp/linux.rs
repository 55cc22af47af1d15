//! [`DhcpSystem`] for real: rtnetlink (never `ip`), named namespaces of [`NetnsDir`], and
//! dnsmasq started inside a namespace by `setns` between fork and exec.
//!
//! Host-side verbs (the tap) run in the calling thread's network namespace, the agent's;
//! namespace-side verbs open an rtnetlink socket on a helper thread inside `qdhcp-…`
//! ([`NetnsDir::block_on_in`]), from the blocking pool so the agent's runtime never waits
//! on a thread join.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth};

use crate::l2::dataplane::{LinkKind, MacAddr};

use super::cidr::IfAddr;
use super::netns::NetnsDir;
use super::system::{DevState, DhcpSystem, PortDevices, RunningDnsmasq, SystemError, TapState, VethSpec};
use super::NAMESPACE_PREFIX;

/// How long a stopped dnsmasq gets to exit on SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The host's DHCP dataplane.
#[derive(Debug, Clone)]
pub struct LinuxDhcp {
    netns: NetnsDir,
}

impl LinuxDhcp {
    /// Namespaces are named files in `netns_dir` (`/run/netns`) of the calling thread's
    /// mount namespace.
    pub fn new(netns_dir: impl Into<PathBuf>) -> Self {
        LinuxDhcp { netns: NetnsDir::new(netns_dir) }
    }

    pub fn netns(&self) -> &NetnsDir {
        &self.netns
    }

    /// Runs `f` with an rtnetlink handle opened inside the namespace `ns`.
    pub(crate) async fn in_ns<T, F, Fut>(&self, ns: &str, f: F) -> Result<T, SystemError>
    where
        F: FnOnce(Handle) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, SystemError>>,
        T: Send + 'static,
    {
        let (netns, name) = (self.netns.clone(), ns.to_owned());
        blocking(ns, move || {
            let inner = name.clone();
            netns.block_on_in(&name, move || async move {
                let (conn, handle, _) =
                    rtnetlink::new_connection().map_err(|e| SystemError::failed("open rtnetlink in", &inner, e))?;
                tokio::spawn(conn);
                f(handle).await
            })?
        })
        .await
    }
}

/// Runs blocking namespace work on tokio's blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> Result<T, SystemError> + Send + 'static,
) -> Result<T, SystemError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(SystemError::failed("run a blocking task for", what, io::Error::other(e))),
    }
}

/// Opens an rtnetlink socket in the calling thread's namespace, driven by the current runtime.
pub(crate) fn host_handle() -> Result<Handle, SystemError> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| SystemError::failed("open rtnetlink", "", e))?;
    tokio::spawn(conn);
    Ok(handle)
}

pub(crate) fn nl_err(op: &'static str, target: &str, e: rtnetlink::Error) -> SystemError {
    let source = match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other),
    };
    SystemError::failed(op, target, source)
}

pub(crate) fn is_errno(e: &rtnetlink::Error, errno: i32) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.to_io().raw_os_error() == Some(errno))
}

/// `ip link show <name>`; `None` when there is no such device.
pub(crate) async fn link(handle: &Handle, name: &str) -> Result<Option<LinkMessage>, SystemError> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await {
        Ok(found) => Ok(found),
        Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
        Err(e) => Err(nl_err("look up device", name, e)),
    }
}

pub(crate) async fn index(handle: &Handle, op: &'static str, name: &str) -> Result<u32, SystemError> {
    match link(handle, name).await? {
        Some(msg) => Ok(msg.header.index),
        None => Err(SystemError::failed(op, name, io::Error::from_raw_os_error(libc::ENODEV))),
    }
}

fn kind(msg: &LinkMessage) -> LinkKind {
    let kind = msg.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k.clone()),
            _ => None,
        }),
        _ => None,
    });
    match kind {
        Some(InfoKind::Veth) => LinkKind::Veth,
        Some(InfoKind::Bridge) => LinkKind::Bridge,
        Some(InfoKind::Tun) => LinkKind::Tap,
        Some(other) => LinkKind::Other(other.to_string()),
        None => LinkKind::Other(String::new()),
    }
}

fn dev_state(msg: &LinkMessage, addrs: Vec<IfAddr>) -> DevState {
    let mut mac = MacAddr::default();
    let mut mtu = 0;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::Address(b) => mac = <[u8; 6]>::try_from(b.as_slice()).map(MacAddr).unwrap_or_default(),
            LinkAttribute::Mtu(m) => mtu = *m,
            _ => {}
        }
    }
    DevState { kind: kind(msg), mac, mtu, up: msg.header.flags.contains(LinkFlags::Up), addrs }
}

fn if_addr(msg: &AddressMessage) -> Option<IfAddr> {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's on point-to-point
    // links and the same otherwise (and the only one for IPv6).
    let local = msg.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let addr = local.or_else(|| {
        msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })?;
    Some(IfAddr { addr, prefix_len: msg.header.prefix_len })
}

async fn addr_messages(handle: &Handle, dev: &str, index: u32) -> Result<Vec<AddressMessage>, SystemError> {
    handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute()
        .try_collect::<Vec<_>>()
        .await
        .map(|msgs| msgs.into_iter().filter(|m| m.header.index == index).collect())
        .map_err(|e| nl_err("list addresses of", dev, e))
}

fn ipv6_sysctl(dev: &str) -> String {
    format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6")
}

/// Whether the calling thread's namespace has IPv6 on `dev`.
async fn has_ipv6(dev: &str) -> Result<bool, SystemError> {
    match tokio::fs::read_to_string(ipv6_sysctl(dev)).await {
        Ok(v) => Ok(v.trim() == "0"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(SystemError::failed("read disable_ipv6 of", dev, e)),
    }
}

async fn disable_ipv6(dev: &str) -> Result<(), SystemError> {
    match tokio::fs::write(ipv6_sysctl(dev), b"1").await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(SystemError::failed("disable IPv6 on", dev, e)),
    }
}

async fn set_up(handle: &Handle, name: &str) -> Result<(), SystemError> {
    let index = index(handle, "set up", name).await?;
    let msg = LinkUnspec::new_with_index(index).up().build();
    handle.link().change(msg).execute().await.map_err(|e| nl_err("set up", name, e))
}

/// The pid and command line of a live process; `None` for a dead one or a zombie (whose
/// cmdline is empty).
fn process_argv(pid: u32) -> io::Result<Option<Vec<String>>> {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) if raw.is_empty() => Ok(None),
        Ok(raw) => Ok(Some(
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
        )),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn signal(pid: u32, sig: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: kill(2) with a positive pid has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(e);
        }
    }
    Ok(())
}

async fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(process_argv(pid), Ok(None)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn read_pid(pid_file: &Path) -> io::Result<Option<u32>> {
    match std::fs::read_to_string(pid_file) {
        Ok(s) => Ok(s.trim().parse().ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl DhcpSystem for LinuxDhcp {
    async fn namespaces(&self) -> Result<Vec<String>, SystemError> {
        self.netns
            .list(NAMESPACE_PREFIX)
            .map_err(|e| SystemError::failed("list namespaces in", self.netns.dir().display().to_string(), e))
    }

    async fn ensure_namespace(&self, ns: &str) -> Result<bool, SystemError> {
        let (netns, name) = (self.netns.clone(), ns.to_owned());
        let created = blocking(ns, move || Ok(netns.create(&name)?)).await?;
        self.in_ns(ns, |h| async move {
            match link(&h, "lo").await? {
                Some(lo) if !lo.header.flags.contains(LinkFlags::Up) => set_up(&h, "lo").await,
                _ => Ok(()),
            }
        })
        .await?;
        Ok(created)
    }

    async fn delete_namespace(&self, ns: &str) -> Result<(), SystemError> {
        let (netns, name) = (self.netns.clone(), ns.to_owned());
        blocking(ns, move || netns.delete(&name).map(drop).map_err(SystemError::from)).await
    }

    async fn port_devices(&self, ns: &str, tap: &str, dev: &str) -> Result<PortDevices, SystemError> {
        let handle = host_handle()?;
        let tap_state = match link(&handle, tap).await? {
            Some(msg) => Some(TapState { kind: kind(&msg), ipv6: has_ipv6(tap).await? }),
            None => None,
        };
        let dev = dev.to_owned();
        let dev_state = self
            .in_ns(ns, move |h| async move {
                let Some(msg) = link(&h, &dev).await? else { return Ok(None) };
                let addrs = addr_messages(&h, &dev, msg.header.index).await?.iter().filter_map(if_addr).collect();
                Ok(Some(dev_state(&msg, addrs)))
            })
            .await?;
        Ok(PortDevices { tap: tap_state, dev: dev_state })
    }

    async fn create_veth(&self, ns: &str, spec: &VethSpec) -> Result<(), SystemError> {
        let ns_file = self.netns.open(ns)?;
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(spec.dev.clone())
            .mtu(spec.mtu)
            .address(spec.mac.0.to_vec())
            .setns_by_fd(ns_file.as_raw_fd())
            .build();
        let msg = LinkVeth::new(&spec.tap, &spec.dev)
            .mtu(spec.mtu)
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .build();
        let handle = host_handle()?;
        let created = handle.link().add(msg).execute().await;
        drop(ns_file);
        created.map_err(|e| nl_err("create veth", &format!("{} (peer {} in {ns})", spec.tap, spec.dev), e))?;
        disable_ipv6(&spec.tap).await?;
        let dev = spec.dev.clone();
        self.in_ns(ns, move |h| async move { set_up(&h, &dev).await }).await
    }

    async fn delete_tap(&self, tap: &str) -> Result<(), SystemError> {
        let handle = host_handle()?;
        let Some(msg) = link(&handle, tap).await? else { return Ok(()) };
        match handle.link().del(msg.header.index).execute().await {
            Err(e) if !is_errno(&e, libc::ENODEV) => Err(nl_err("delete", tap, e)),
            _ => Ok(()),
        }
    }

    async fn delete_dev(&self, ns: &str, dev: &str) -> Result<(), SystemError> {
        let dev = dev.to_owned();
        self.in_ns(ns, move |h| async move {
            let Some(msg) = link(&h, &dev).await? else { return Ok(()) };
            match h.link().del(msg.header.index).execute().await {
                Err(e) if !is_errno(&e, libc::ENODEV) => Err(nl_err("delete", &dev, e)),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn disable_tap_ipv6(&self, tap: &str) -> Result<(), SystemError> {
        disable_ipv6(tap).await
    }

    async fn set_dev(&self, ns: &str, spec: &VethSpec) -> Result<(), SystemError> {
        let spec = spec.clone();
        self.in_ns(ns, move |h| async move {
            let index = index(&h, "set attributes of", &spec.dev).await?;
            let msg = LinkUnspec::new_with_index(index).address(spec.mac.0.to_vec()).mtu(spec.mtu).up().build();
            h.link().change(msg).execute().await.map_err(|e| nl_err("set address, mtu and up on", &spec.dev, e))
        })
        .await
    }

    async fn add_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> Result<(), SystemError> {
        let dev = dev.to_owned();
        self.in_ns(ns, move |h| async move {
            let index = index(&h, "add an address to", &dev).await?;
            match h.address().add(index, addr.addr, addr.prefix_len).execute().await {
                Err(e) if !is_errno(&e, libc::EEXIST) => Err(nl_err("add address", &format!("{addr} to {dev}"), e)),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn del_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> Result<(), SystemError> {
        let dev = dev.to_owned();
        self.in_ns(ns, move |h| async move {
            let index = index(&h, "delete an address of", &dev).await?;
            for msg in addr_messages(&h, &dev, index).await? {
                if if_addr(&msg) == Some(addr) {
                    match h.address().del(msg).execute().await {
                        Err(e) if !is_errno(&e, libc::EADDRNOTAVAIL) => {
                            return Err(nl_err("delete address", &format!("{addr} of {dev}"), e))
                        }
                        _ => {}
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn dnsmasq(&self, pid_file: &Path, ns: &str) -> Result<Option<RunningDnsmasq>, SystemError> {
        let target = || pid_file.display().to_string();
        let Some(pid) = read_pid(pid_file).map_err(|e| SystemError::failed("read pid file", target(), e))? else {
            return Ok(None);
        };
        let Some(argv) =
            process_argv(pid).map_err(|e| SystemError::failed("read the command line of pid", pid.to_string(), e))?
        else {
            return Ok(None);
        };
        // A pid file outlives its process, and pids are reused: only a process whose
        // command line names this pid file is this network's dnsmasq.
        let own = format!("--pid-file={}", pid_file.display());
        if !argv.contains(&own) {
            return Ok(None);
        }
        let ns_id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        let theirs = ns_id(Path::new(&format!("/proc/{pid}/ns/net")));
        let in_namespace = theirs.is_some() && theirs == ns_id(&self.netns.path(ns));
        Ok(Some(RunningDnsmasq { pid, argv, in_namespace }))
    }

    async fn start_dnsmasq(&self, ns: &str, argv: &[String], pid_file: &Path) -> Result<Option<u32>, SystemError> {
        let Some((program, args)) = argv.split_first() else {
            return Err(SystemError::failed("start dnsmasq in", ns, io::Error::from(io::ErrorKind::InvalidInput)));
        };
        let ns_file = self.netns.open(ns)?;
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let fd = ns_file.as_raw_fd();
        // SAFETY: between fork and exec only async-signal-safe calls: setns(2) on a
        // descriptor opened (close-on-exec) before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let name = ns.to_owned();
        // dnsmasq's first process exits once the daemon is ready, with the daemon's start-up
        // error on stderr and a non-zero status when it failed.
        let output = blocking(ns, move || {
            let out = cmd.output().map_err(|e| SystemError::failed("run dnsmasq in", &name, e));
            drop(ns_file);
            out
        })
        .await?;
        if !output.status.success() {
            return Err(SystemError::DnsmasqStart {
                namespace: ns.to_owned(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        read_pid(pid_file).map_err(|e| SystemError::failed("read pid file", pid_file.display().to_string(), e))
    }

    async fn reload_dnsmasq(&self, pid: u32) -> Result<(), SystemError> {
        signal(pid, libc::SIGHUP).map_err(|e| SystemError::failed("send SIGHUP to dnsmasq pid", pid.to_string(), e))
    }

    async fn stop_dnsmasq(&self, pid: u32) -> Result<(), SystemError> {
        let fail = |e| SystemError::failed("stop dnsmasq pid", pid.to_string(), e);
        signal(pid, libc::SIGTERM).map_err(fail)?;
        if wait_gone(pid, STOP_GRACE).await {
            return Ok(());
        }
        signal(pid, libc::SIGKILL).map_err(fail)?;
        if wait_gone(pid, Duration::from_secs(2)).await {
            Ok(())
        } else {
            Err(fail(io::Error::new(io::ErrorKind::TimedOut, "still running after SIGKILL")))
        }
    }
}
