//! Daemons the agent starts inside namespaces (dnsmasq, radvd) and finds again by their pid
//! files: they daemonize, so they are not the agent's children and outlive its restarts.
//! A pid file outlives its process and pids are reused, so a daemon counts as found only
//! when `/proc/<pid>/cmdline` is the one the caller expects (it names that pid file).

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a stopped daemon gets to exit on SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A live daemon found through its pid file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    pub pid: u32,
    /// Its command line (`/proc/<pid>/cmdline`).
    pub argv: Vec<String>,
    /// It runs in the network namespace at the path given (not in one deleted since).
    pub in_namespace: bool,
}

/// The command line of a live process; `None` for a dead one or a zombie (whose cmdline
/// is empty).
pub fn process_argv(pid: u32) -> io::Result<Option<Vec<String>>> {
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(raw) if raw.is_empty() => Ok(None),
        Ok(raw) => Ok(Some(
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect(),
        )),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The pid a pid file names; `None` when the file is missing or holds no number.
pub fn read_pid(pid_file: &Path) -> io::Result<Option<u32>> {
    match std::fs::read_to_string(pid_file) {
        Ok(s) => Ok(s.trim().parse().ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The daemon `pid_file` names, when it lives and `owns` accepts its command line; whether
/// it runs in the network namespace bound at `ns_path`.
pub fn find_daemon(pid_file: &Path, ns_path: &Path, owns: impl Fn(&[String]) -> bool) -> io::Result<Option<Daemon>> {
    let Some(pid) = read_pid(pid_file)? else { return Ok(None) };
    let Some(argv) = process_argv(pid)? else { return Ok(None) };
    if !owns(&argv) {
        return Ok(None);
    }
    let ns_id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let theirs = ns_id(Path::new(&format!("/proc/{pid}/ns/net")));
    let in_namespace = theirs.is_some() && theirs == ns_id(ns_path);
    Ok(Some(Daemon { pid, argv, in_namespace }))
}

/// `kill -<sig> <pid>`; a process already gone is success.
pub fn signal(pid: u32, sig: libc::c_int) -> io::Result<()> {
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

/// `kill <pid>`, then `kill -9` if it has not ended after a grace period.
pub async fn stop(pid: u32) -> io::Result<()> {
    signal(pid, libc::SIGTERM)?;
    if wait_gone(pid, STOP_GRACE).await {
        return Ok(());
    }
    signal(pid, libc::SIGKILL)?;
    if wait_gone(pid, Duration::from_secs(2)).await {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::TimedOut, "still running after SIGKILL"))
    }
}
