//! A listening socket inside a named network namespace, for the agent's own runtime.
//!
//! A socket belongs to the namespace of the thread that creates it, for its whole life. So
//! a short-lived thread enters the namespace (`setns`), opens the socket and ends; the
//! socket is then served by the agent's runtime like any other, while the agent itself
//! stays in the host's namespace (where Nova is reachable). Never a runtime thread: one
//! left in a VM network's namespace would carry every later task there.

use std::ffi::CString;
use std::fmt;
use std::fs::File;
use std::io;
use std::mem;
use std::net::{Ipv6Addr, SocketAddrV4, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::sync::oneshot;

use super::enter::setns;
use super::NetnsError;

/// Backlog of a listener: haproxy's `maxconn` in Neutron's metadata proxy.
const BACKLOG: libc::c_int = 1024;

/// Identity of a network namespace: the nsfs inode its name is bound to. A namespace that
/// was deleted and created again under the same name has a different one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NsId {
    dev: u64,
    ino: u64,
}

impl NsId {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self { dev: meta.dev(), ino: meta.ino() }
    }
}

/// The namespace a name in `/run/netns` stands for now.
pub(crate) fn ns_id(path: &Path) -> io::Result<NsId> {
    std::fs::metadata(path).map(|meta| NsId::of(&meta))
}

/// Where a listener binds inside its namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// One IPv4 address (169.254.169.254 in a DHCP namespace).
    V4(SocketAddrV4),
    /// Every address of both families (`[::]:<port>` with `IPV6_V6ONLY` off), as Neutron's
    /// router haproxy binds; nftables decides what reaches it.
    DualStack(u16),
    /// An IPv6 link-local address on one device (`[fe80::a9fe:a9fe%ns-…]:80`): the scope id
    /// is the device's index, looked up inside the namespace.
    LinkLocal { addr: Ipv6Addr, dev: String, port: u16 },
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::V4(addr) => write!(f, "{addr}"),
            ListenAddr::DualStack(port) => write!(f, "[::]:{port}"),
            ListenAddr::LinkLocal { addr, dev, port } => write!(f, "[{addr}%{dev}]:{port}"),
        }
    }
}

/// A listener opened inside a namespace, and what it was bound to there.
pub(crate) struct Opened {
    pub listener: TcpListener,
    pub ns_id: NsId,
    /// The device index of a [`ListenAddr::LinkLocal`] bind: when the device is recreated
    /// its index changes and the socket must be reopened.
    pub ifindex: Option<u32>,
}

/// Opens a listening TCP socket on `addr` inside the namespace bound at `path`, and tells
/// which namespace that was. The socket is non-blocking, ready for
/// `tokio::net::TcpListener::from_std`.
pub(crate) async fn listen_in(path: PathBuf, addr: ListenAddr) -> Result<Opened, NetnsError> {
    in_thread(path, move |path| listen_in_blocking(path, &addr)).await
}

/// The index of device `dev` inside the namespace at `path` (`None`: no such device).
pub(crate) async fn ifindex_in(path: PathBuf, dev: String) -> Result<Option<u32>, NetnsError> {
    in_thread(path, move |path| {
        enter(path)?;
        Ok(ifindex(&dev))
    })
    .await
}

/// Runs `work` on a short-lived thread of its own (which `work` may leave in a namespace).
async fn in_thread<T: Send + 'static>(
    path: PathBuf,
    work: impl FnOnce(&Path) -> Result<T, NetnsError> + Send + 'static,
) -> Result<T, NetnsError> {
    let (tx, rx) = oneshot::channel();
    let thread_path = path.clone();
    std::thread::Builder::new()
        .name("netns-listen".into())
        .spawn(move || {
            let _ = tx.send(work(&thread_path));
        })
        .map_err(|source| NetnsError::Thread { path: path.clone(), source })?;
    rx.await.map_err(|_| NetnsError::ThreadLost { path })?
}

/// Moves the calling thread into the namespace at `path`, and tells which one it is.
fn enter(path: &Path) -> Result<NsId, NetnsError> {
    let netns = File::open(path).map_err(|source| NetnsError::Open { path: path.into(), source })?;
    let ns_id = netns
        .metadata()
        .map(|meta| NsId::of(&meta))
        .map_err(|source| NetnsError::Open { path: path.into(), source })?;
    setns(&netns).map_err(|source| NetnsError::Enter { path: path.into(), source })?;
    Ok(ns_id)
}

/// `if_nametoindex(3)` in the calling thread's namespace.
fn ifindex(dev: &str) -> Option<u32> {
    let name = CString::new(dev).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// Runs on a thread of its own, which it leaves in the namespace: the thread must end
/// right after.
fn listen_in_blocking(path: &Path, addr: &ListenAddr) -> Result<Opened, NetnsError> {
    let ns_id = enter(path)?;
    let err = |source| NetnsError::Listen { path: path.into(), addr: addr.clone(), source };
    let (listener, ifindex) = match addr {
        ListenAddr::V4(v4) => (tcp_listener_v4(*v4).map_err(err)?, None),
        ListenAddr::DualStack(port) => (tcp_listener_v6(Ipv6Addr::UNSPECIFIED, 0, *port).map_err(err)?, None),
        ListenAddr::LinkLocal { addr: ip, dev, port } => {
            let index = ifindex(dev).ok_or_else(|| err(io::Error::from_raw_os_error(libc::ENODEV)))?;
            (tcp_listener_v6(*ip, index, *port).map_err(err)?, Some(index))
        }
    };
    Ok(Opened { listener, ns_id, ifindex })
}

/// A new non-blocking TCP socket of `family` with `IP_FREEBIND` (it may bind before the
/// address is configured: the DHCP side may add 169.254.169.254 after we start, or re-add
/// it) and `SO_REUSEADDR` (a reopened listener binds while old connections linger in
/// TIME_WAIT).
fn tcp_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the descriptor is owned right below.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_flag(fd.as_raw_fd(), libc::SOL_IP, libc::IP_FREEBIND, 1)?;
    set_flag(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    Ok(fd)
}

/// A non-blocking listener on `addr`.
fn tcp_listener_v4(addr: SocketAddrV4) -> io::Result<TcpListener> {
    let fd = tcp_socket(libc::AF_INET)?;
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*addr.ip()).to_be() },
        sin_zero: [0; 8],
    };
    bind_listen(fd, &sin)
}

/// A non-blocking listener on `[ip%scope_id]:port`; on `::` it takes IPv4 too.
fn tcp_listener_v6(ip: Ipv6Addr, scope_id: u32, port: u16) -> io::Result<TcpListener> {
    let fd = tcp_socket(libc::AF_INET6)?;
    let v6only = libc::c_int::from(!ip.is_unspecified());
    set_flag(fd.as_raw_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, v6only)?;
    let sin6 = libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: port.to_be(),
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr { s6_addr: ip.octets() },
        sin6_scope_id: scope_id,
    };
    bind_listen(fd, &sin6)
}

/// bind(2) to `sockaddr` (a `sockaddr_in` or `sockaddr_in6`), then listen(2).
fn bind_listen<A>(fd: OwnedFd, sockaddr: &A) -> io::Result<TcpListener> {
    // SAFETY: `sockaddr` is a valid socket address of the length given.
    let bound = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (sockaddr as *const A).cast::<libc::sockaddr>(),
            mem::size_of::<A>() as libc::socklen_t,
        )
    };
    if bound != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: listen(2) on a bound socket we own.
    if unsafe { libc::listen(fd.as_raw_fd(), BACKLOG) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpListener::from(fd))
}

fn set_flag(fd: RawFd, level: libc::c_int, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a c_int of the length given.
    let set = unsafe {
        libc::setsockopt(
            fd,
            level,
            option,
            (&value as *const libc::c_int).cast::<libc::c_void>(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
