//! [`NamespacedPorts`] for real: rtnetlink (never `ip`) and the named namespaces of
//! [`NetnsDir`].
//!
//! Host-side verbs (the tap) run in the calling thread's network namespace, the agent's;
//! namespace-side verbs open an rtnetlink socket on a helper thread inside the namespace
//! ([`NetnsDir::block_on_in`]), from the blocking pool so the agent's runtime never waits
//! on a thread join.

use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth};

use crate::l2::dataplane::{LinkKind, MacAddr};

use super::cidr::IfAddr;
use super::port::{DevState, NamespacedPorts, PortDevices, TapState, VethSpec};
use super::{NetnsDir, NetnsError};

/// The host's namespaced ports.
#[derive(Debug, Clone)]
pub struct LinuxPorts {
    netns: NetnsDir,
    /// The namespace ends send complete checksums ([`super::ethtool`]).
    fill_checksums: bool,
}

impl LinuxPorts {
    /// Namespaces are named files in `netns_dir` (`/run/netns`) of the calling thread's
    /// mount namespace.
    pub fn new(netns_dir: impl Into<PathBuf>) -> Self {
        LinuxPorts { netns: NetnsDir::new(netns_dir), fill_checksums: false }
    }

    /// With `fill`, every namespace end made or fixed gets its transmit checksum offload
    /// turned off (for Open vSwitch's userspace datapath; see [`super::ethtool`]).
    pub fn filling_checksums(self, fill: bool) -> Self {
        LinuxPorts { fill_checksums: fill, ..self }
    }

    /// Turns the namespace end's checksum offload off when this host needs it.
    async fn fill_checksums_of(&self, ns: &str, dev: &str) -> Result<(), NetnsError> {
        if !self.fill_checksums {
            return Ok(());
        }
        let (netns, name, dev) = (self.netns.clone(), ns.to_owned(), dev.to_owned());
        blocking(ns, move || {
            let what = format!("{dev} in {name}");
            netns
                .run_in(&name, move || super::ethtool::disable_tx_checksum(&dev))?
                .map_err(|e| NetnsError::failed("turn checksum offload off on", &what, e))
        })
        .await
    }

    pub fn netns(&self) -> &NetnsDir {
        &self.netns
    }

    /// Runs `f` with an rtnetlink handle opened inside the namespace `ns`.
    pub(crate) async fn in_ns<T, F, Fut>(&self, ns: &str, f: F) -> Result<T, NetnsError>
    where
        F: FnOnce(Handle) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, NetnsError>>,
        T: Send + 'static,
    {
        let (netns, name) = (self.netns.clone(), ns.to_owned());
        blocking(ns, move || {
            let inner = name.clone();
            netns.block_on_in(&name, move || async move {
                let (conn, handle, _) =
                    rtnetlink::new_connection().map_err(|e| NetnsError::failed("open rtnetlink in", &inner, e))?;
                tokio::spawn(conn);
                f(handle).await
            })?
        })
        .await
    }
}

/// One device of a namespace: its name, whether it is up, its addresses.
pub(crate) type NsDevice = (String, bool, Vec<IfAddr>);

impl LinuxPorts {
    /// `ip -n <ns> addr show`: every device of `ns`, whether it is up, and its addresses
    /// (read only: `neutrino diagnose`).
    pub(crate) async fn devices(&self, ns: &str) -> Result<Vec<NsDevice>, NetnsError> {
        let name = ns.to_owned();
        self.in_ns(ns, move |h| async move {
            let links: Vec<LinkMessage> =
                h.link().get().execute().try_collect().await.map_err(|e| nl_err("list devices in", &name, e))?;
            let addrs: Vec<AddressMessage> =
                h.address().get().execute().try_collect().await.map_err(|e| nl_err("list addresses in", &name, e))?;
            let device = |m: &LinkMessage| {
                let dev = m.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some(n.clone()),
                    _ => None,
                })?;
                let own = addrs.iter().filter(|a| a.header.index == m.header.index).filter_map(if_addr).collect();
                Some((dev, m.header.flags.contains(LinkFlags::Up), own))
            };
            Ok(links.iter().filter_map(device).collect())
        })
        .await
    }
}

/// Runs blocking namespace work on tokio's blocking pool.
pub(crate) async fn blocking<T, E>(what: &str, f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<NetnsError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(NetnsError::failed("run a blocking task for", what, io::Error::other(e)).into()),
    }
}

/// Opens an rtnetlink socket in the calling thread's namespace, driven by the current runtime.
pub(crate) fn host_handle() -> Result<Handle, NetnsError> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| NetnsError::failed("open rtnetlink", "", e))?;
    tokio::spawn(conn);
    Ok(handle)
}

pub(crate) fn nl_err(op: &'static str, target: &str, e: rtnetlink::Error) -> NetnsError {
    let source = match e {
        rtnetlink::Error::NetlinkError(m) => m.to_io(),
        other => io::Error::other(other),
    };
    NetnsError::failed(op, target, source)
}

pub(crate) fn is_errno(e: &rtnetlink::Error, errno: i32) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.to_io().raw_os_error() == Some(errno))
}

/// `ip link show <name>`; `None` when there is no such device.
pub(crate) async fn link(handle: &Handle, name: &str) -> Result<Option<LinkMessage>, NetnsError> {
    let mut links = handle.link().get().match_name(name.to_owned()).execute();
    match links.try_next().await {
        Ok(found) => Ok(found),
        Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
        Err(e) => Err(nl_err("look up device", name, e)),
    }
}

pub(crate) async fn index(handle: &Handle, op: &'static str, name: &str) -> Result<u32, NetnsError> {
    match link(handle, name).await? {
        Some(msg) => Ok(msg.header.index),
        None => Err(NetnsError::failed(op, name, io::Error::from_raw_os_error(libc::ENODEV))),
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

async fn addr_messages(handle: &Handle, dev: &str, index: u32) -> Result<Vec<AddressMessage>, NetnsError> {
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
async fn has_ipv6(dev: &str) -> Result<bool, NetnsError> {
    match tokio::fs::read_to_string(ipv6_sysctl(dev)).await {
        Ok(v) => Ok(v.trim() == "0"),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(NetnsError::failed("read disable_ipv6 of", dev, e)),
    }
}

async fn disable_ipv6(dev: &str) -> Result<(), NetnsError> {
    match tokio::fs::write(ipv6_sysctl(dev), b"1").await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetnsError::failed("disable IPv6 on", dev, e)),
    }
}

async fn set_up(handle: &Handle, name: &str) -> Result<(), NetnsError> {
    let index = index(handle, "set up", name).await?;
    let msg = LinkUnspec::new_with_index(index).up().build();
    handle.link().change(msg).execute().await.map_err(|e| nl_err("set up", name, e))
}

impl NamespacedPorts for LinuxPorts {
    async fn ensure_namespace(&self, ns: &str) -> Result<bool, NetnsError> {
        let (netns, name) = (self.netns.clone(), ns.to_owned());
        let created = blocking(ns, move || netns.create(&name)).await?;
        self.in_ns(ns, |h| async move {
            match link(&h, "lo").await? {
                Some(lo) if !lo.header.flags.contains(LinkFlags::Up) => set_up(&h, "lo").await,
                _ => Ok(()),
            }
        })
        .await?;
        Ok(created)
    }

    async fn delete_namespace(&self, ns: &str) -> Result<(), NetnsError> {
        let (netns, name) = (self.netns.clone(), ns.to_owned());
        blocking(ns, move || netns.delete(&name).map(drop)).await
    }

    async fn port_devices(&self, ns: &str, tap: &str, dev: &str) -> Result<PortDevices, NetnsError> {
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

    async fn create_veth(&self, ns: &str, spec: &VethSpec) -> Result<(), NetnsError> {
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
        self.fill_checksums_of(ns, &spec.dev).await?;
        if !spec.up {
            return Ok(());
        }
        let dev = spec.dev.clone();
        self.in_ns(ns, move |h| async move { set_up(&h, &dev).await }).await
    }

    async fn delete_tap(&self, tap: &str) -> Result<(), NetnsError> {
        let handle = host_handle()?;
        let Some(msg) = link(&handle, tap).await? else { return Ok(()) };
        match handle.link().del(msg.header.index).execute().await {
            Err(e) if !is_errno(&e, libc::ENODEV) => Err(nl_err("delete", tap, e)),
            _ => Ok(()),
        }
    }

    async fn delete_dev(&self, ns: &str, dev: &str) -> Result<(), NetnsError> {
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

    async fn disable_tap_ipv6(&self, tap: &str) -> Result<(), NetnsError> {
        disable_ipv6(tap).await
    }

    async fn set_dev(&self, ns: &str, spec: &VethSpec) -> Result<(), NetnsError> {
        let owned = spec.clone();
        self.in_ns(ns, move |h| async move {
            let spec = owned;
            let index = index(&h, "set attributes of", &spec.dev).await?;
            let msg = LinkUnspec::new_with_index(index).address(spec.mac.0.to_vec()).mtu(spec.mtu);
            let msg = if spec.up { msg.up() } else { msg.down() }.build();
            h.link().change(msg).execute().await.map_err(|e| nl_err("set address, mtu and state on", &spec.dev, e))
        })
        .await?;
        self.fill_checksums_of(ns, &spec.dev).await
    }

    async fn add_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> Result<(), NetnsError> {
        let dev = dev.to_owned();
        self.in_ns(ns, move |h| async move {
            let index = index(&h, "add an address to", &dev).await?;
            let mut request = h.address().add(index, addr.addr, addr.prefix_len);
            if addr.is_link_local() {
                // `nodad`: the metadata fe80::a9fe:a9fe is on every DHCP port of the network
                // and must answer at once, not after (and never fail) duplicate detection.
                request.message_mut().attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
            match request.execute().await {
                Err(e) if !is_errno(&e, libc::EEXIST) => Err(nl_err("add address", &format!("{addr} to {dev}"), e)),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn del_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> Result<(), NetnsError> {
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
}
