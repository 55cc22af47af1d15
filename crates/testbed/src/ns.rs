//! Named network namespaces (`/run/netns/<name>`, as `ip netns` makes them) and running code of
//! this process inside one.
//!
//! Network namespaces are per *thread* on Linux: [`in_netns`], [`thread_in`] and [`block_on_in`]
//! start a fresh thread, `setns(CLONE_NEWNET)` it into the namespace and run the caller's code
//! there. The calling thread (a test's main thread, say) never changes namespace. Sockets keep the
//! namespace they were created in, so a listener or an HTTP client created inside may be used
//! from any thread afterwards:
//!
//! ```no_run
//! # fn demo(tb: &neutrino_testbed::Testbed) -> Result<(), Box<dyn std::error::Error>> {
//! // a listener (or a reqwest client, or a whole server) living in the controller namespace:
//! let ctl_ip = tb.controller_ip();
//! let addr = tb.block_on_in(tb.controller().netns(), move || async move {
//!     let listener = tokio::net::TcpListener::bind((ctl_ip, 0)).await?;
//!     listener.local_addr()
//! })??;
//! # let _ = addr; Ok(()) }
//! ```
//!
//! Only namespaces visible in this process's mount namespace can be entered: the `qdhcp-`/
//! `qrouter-` namespaces an agent creates inside a host's private `/run/netns` are reachable through
//! [`crate::Host::exec`] (`ip netns exec qdhcp-… …`) only.

use std::fs::File;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::thread::JoinHandle;

use crate::cmd;
use crate::error::{Result, TestbedError};

/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// The path of a named network namespace.
pub fn netns_path(netns: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(netns)
}

/// Moves the calling thread into the named network namespace.
#[allow(clippy::disallowed_methods)] // the testbed's one way into a namespace
fn enter(netns: &str) -> Result<()> {
    let err = |source| TestbedError::Setns { netns: netns.to_string(), source };
    let file = File::open(netns_path(netns)).map_err(err)?;
    // SAFETY: setns on a valid, open namespace fd only changes this thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(err(std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Runs `f` on a fresh thread inside the named network namespace and returns its result.
///
/// Why a thread: `setns` changes the namespace of the calling thread only, and a test's own thread
/// must stay in the root namespace. A panic in `f` is propagated to the caller.
pub fn in_netns<R, F>(netns: &str, f: F) -> Result<R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name(format!("netns-{netns}"))
            .spawn_scoped(s, move || enter(netns).map(|()| f()))
            .map_err(|e| TestbedError::io("spawning a thread", e))?;
        match handle.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Starts a named thread inside the network namespace that runs `f` in the background (a server
/// listening on the controller address, say). Fails if the namespace cannot be entered.
pub fn thread_in<R, F>(netns: &str, name: &str, f: F) -> Result<JoinHandle<R>>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel::<Result<()>>(1);
    let ns = netns.to_string();
    let handle = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let entered = enter(&ns);
            let ok = entered.is_ok();
            let _ = tx.send(entered);
            if !ok {
                // The caller gets the error from the channel; this thread ends without running f.
                std::panic::resume_unwind(Box::new("netns not entered"));
            }
            f()
        })
        .map_err(|e| TestbedError::io("spawning a thread", e))?;
    match rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => Err(TestbedError::io("thread died before entering netns", std::io::ErrorKind::Other.into())),
    }
}

/// Runs the future made by `make` to completion on a tokio current-thread runtime (time and IO
/// enabled) on a fresh thread inside the network namespace: every socket the future opens (a
/// `reqwest` client, an `axum` server) lives in that namespace.
///
/// The future is created on the namespaced thread, hence `make` is `Send` but the future need not
/// be. Threads tokio spawns from there (its blocking pool) inherit the namespace.
pub fn block_on_in<F, Fut>(netns: &str, make: F) -> Result<Fut::Output>
where
    F: FnOnce() -> Fut + Send,
    Fut: Future,
    Fut::Output: Send,
{
    in_netns(netns, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TestbedError::io("building a tokio runtime", e))?;
        Ok(rt.block_on(make()))
    })?
}

/// Names of the network namespaces in `/run/netns` of this process's mount namespace.
pub fn list_netns() -> Result<Vec<String>> {
    let out = cmd::ip(&["netns", "list"])?;
    Ok(out.lines().filter_map(|l| l.split_whitespace().next()).map(str::to_string).collect())
}

/// `ip netns add`.
pub(crate) fn add(netns: &str) -> Result<()> {
    cmd::ip(&["netns", "add", netns]).map(drop)
}

/// `ip netns del`.
pub(crate) fn del(netns: &str) -> Result<()> {
    cmd::ip(&["netns", "del", netns]).map(drop)
}

/// Pids of the processes in the named namespace (`ip netns pids`); empty on error.
pub(crate) fn pids(netns: &str) -> Vec<i32> {
    cmd::ip(&["netns", "pids", netns])
        .map(|out| out.split_whitespace().filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default()
}

/// SIGKILLs every process in the named namespace.
pub(crate) fn kill_all_in(netns: &str) {
    for _ in 0..5 {
        let pids = pids(netns);
        if pids.is_empty() {
            return;
        }
        for pid in pids {
            // SAFETY: kill(2) with a positive pid has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Checks a caller-given namespace suffix (`h1`, `vm-a`): lowercase letters, digits and `-`,
/// 1 to 24 characters, so that `nt<tag>-<name>` stays a readable file name.
pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 24 {
        return Err(TestbedError::invalid(name, "must be 1 to 24 characters"));
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') || name.starts_with('-') {
        return Err(TestbedError::invalid(name, "use lowercase letters, digits and '-' (not first)"));
    }
    Ok(())
}

/// Checks a network device name: at most 15 bytes (IFNAMSIZ - 1), no '/', ':' or whitespace.
pub(crate) fn check_ifname(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 15 {
        return Err(TestbedError::invalid(name, "device names are 1 to 15 bytes"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(TestbedError::invalid(name, "use letters, digits, '-', '_' or '.' in device names"));
    }
    Ok(())
}

/// Checks and normalizes a MAC address `aa:bb:cc:dd:ee:ff` (unicast).
pub(crate) fn check_mac(mac: &str) -> Result<String> {
    let parts: Vec<&str> = mac.split(':').collect();
    let ok = parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(TestbedError::invalid(mac, "expected a MAC address like fa:16:3e:00:00:01"));
    }
    let first = u8::from_str_radix(parts[0], 16).map_err(|e| TestbedError::invalid(mac, e.to_string()))?;
    if first & 1 == 1 {
        return Err(TestbedError::invalid(mac, "a multicast MAC cannot be a port address"));
    }
    Ok(mac.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("h1").is_ok());
        assert!(check_name("vm-a").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("H1").is_err());
        assert!(check_name("-x").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_ifname("tap0123456789ab").is_ok());
        assert!(check_ifname("tap0123456789abc").is_err());
        assert!(check_ifname("a b").is_err());
        assert_eq!(check_mac("FA:16:3e:00:00:01").ok().as_deref(), Some("fa:16:3e:00:00:01"));
        assert!(check_mac("01:00:5e:00:00:01").is_err());
        assert!(check_mac("fa:16:3e:00:00").is_err());
    }
}
