//! A listening socket inside a named network namespace, for the agent's own runtime.
//!
//! A socket belongs to the namespace of the thread that creates it, for its whole life. So
//! a short-lived thread enters the namespace (`setns`), opens the socket and ends; the
//! socket is then served by the agent's runtime like any other, while the agent itself
//! stays in the host's namespace (where Nova is reachable). Never a runtime thread: one
//! left in a VM network's namespace would carry every later task there.

use std::fs::File;
use std::io;
use std::mem;
use std::net::{SocketAddrV4, TcpListener};
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

/// Opens a listening TCP socket on `addr` inside the namespace bound at `path`, and tells
/// which namespace that was. The socket is non-blocking, ready for
/// `tokio::net::TcpListener::from_std`.
pub(crate) async fn listen_in(path: PathBuf, addr: SocketAddrV4) -> Result<(TcpListener, NsId), NetnsError> {
    let (tx, rx) = oneshot::channel();
    let thread_path = path.clone();
    std::thread::Builder::new()
        .name("netns-listen".into())
        .spawn(move || {
            let _ = tx.send(listen_in_blocking(&thread_path, addr));
        })
        .map_err(|source| NetnsError::Thread { path: path.clone(), source })?;
    rx.await.map_err(|_| NetnsError::ThreadLost { path })?
}

/// Runs on a thread of its own, which it leaves in the namespace: the thread must end
/// right after.
fn listen_in_blocking(path: &Path, addr: SocketAddrV4) -> Result<(TcpListener, NsId), NetnsError> {
    let netns = File::open(path).map_err(|source| NetnsError::Open { path: path.into(), source })?;
    let ns_id = netns
        .metadata()
        .map(|meta| NsId::of(&meta))
        .map_err(|source| NetnsError::Open { path: path.into(), source })?;
    setns(&netns).map_err(|source| NetnsError::Enter { path: path.into(), source })?;
    let listener = tcp_listener(addr).map_err(|source| NetnsError::Listen { path: path.into(), addr, source })?;
    Ok((listener, ns_id))
}

/// A non-blocking listener on `addr`. `IP_FREEBIND` lets it bind before the address is
/// configured (the DHCP side may add 169.254.169.254 after we start, or re-add it);
/// `SO_REUSEADDR` lets a reopened listener bind while old connections linger in TIME_WAIT.
fn tcp_listener(addr: SocketAddrV4) -> io::Result<TcpListener> {
    // SAFETY: plain socket(2); the descriptor is owned right below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    set_flag(fd.as_raw_fd(), libc::SOL_IP, libc::IP_FREEBIND)?;
    set_flag(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR)?;

    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*addr.ip()).to_be() },
        sin_zero: [0; 8],
    };
    // SAFETY: `sin` is a valid sockaddr_in of the length given.
    let bound = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast::<libc::sockaddr>(),
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
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

fn set_flag(fd: RawFd, level: libc::c_int, option: libc::c_int) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `one` is a c_int of the length given.
    let set = unsafe {
        libc::setsockopt(
            fd,
            level,
            option,
            (&one as *const libc::c_int).cast::<libc::c_void>(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
