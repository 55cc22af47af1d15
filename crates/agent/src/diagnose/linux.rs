//! [`Observer`] for real, with the code the reconcilers read the kernel with: the L2
//! dataplane's rtnetlink dumps (links, FDB), the namespaced ports' helper threads
//! (devices and addresses inside `qdhcp-`/`qrouter-`), the L3 system's routes and NAT
//! read-back, `/proc` and the DHCP state directory. Nothing here writes.
//!
//! Blocking work (files, `/proc`, `nft`) runs on tokio's blocking pool; `nft` is killed
//! after [`LinuxObserver::command_timeout`], files larger than
//! [`LinuxObserver::max_file_bytes`] are not read.

use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use super::observer::{NsLink, ObserveError, Observer, Process};
use crate::l2::dataplane::{Dataplane, FdbEntry, Link};
use crate::l2::netlink::NetlinkDataplane;
use crate::l3::nat::NatSummary;
use crate::l3::system::{L3System, Route};
use crate::l3::{L3Config, LinuxL3};
use crate::netns::linux::blocking;
use crate::netns::LinuxPorts;

/// The host as the agent sees it from its own network and mount namespace.
#[derive(Debug, Clone)]
pub struct LinuxObserver {
    dataplane: NetlinkDataplane,
    ports: LinuxPorts,
    l3: LinuxL3,
    nft: PathBuf,
    /// How long one `nft` run may take before it is killed.
    pub command_timeout: Duration,
    /// Files (pid files, dnsmasq's hosts file) larger than this are not read.
    pub max_file_bytes: u64,
}

/// The default of [`LinuxObserver::max_file_bytes`]: a hosts file of a network with
/// 65536 ports is about 6 MB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 32 << 20;

impl LinuxObserver {
    /// Opens an rtnetlink socket in the calling thread's network namespace (on the current
    /// tokio runtime); named namespaces are files in `netns_dir`.
    pub fn new(netns_dir: PathBuf, nft_path: PathBuf) -> io::Result<Self> {
        let l3 =
            LinuxL3::new(&L3Config { netns_dir: netns_dir.clone(), nft_path: nft_path.clone(), ..L3Config::default() });
        Ok(LinuxObserver {
            dataplane: NetlinkDataplane::new()?,
            ports: LinuxPorts::new(netns_dir),
            l3,
            nft: nft_path,
            command_timeout: Duration::from_secs(2),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        })
    }
}

impl Observer for LinuxObserver {
    fn links(&self) -> BoxFuture<'_, Result<Vec<Link>, ObserveError>> {
        Box::pin(async move { Ok(self.dataplane.links().await?) })
    }

    fn fdb<'a>(&'a self, dev: &'a str) -> BoxFuture<'a, Result<Vec<FdbEntry>, ObserveError>> {
        Box::pin(async move { Ok(self.dataplane.fdb(dev).await?) })
    }

    fn nft_chain<'a>(
        &'a self,
        family: &'a str,
        table: &'a str,
        chain: &'a str,
    ) -> BoxFuture<'a, Result<bool, ObserveError>> {
        let mut cmd = Command::new(&self.nft);
        cmd.args(["list", "chain", family, table, chain]);
        let command = format!("{} list chain {family} {table} {chain}", self.nft.display());
        let timeout = self.command_timeout;
        Box::pin(blocking(chain, move || chain_exists(cmd, command, timeout)))
    }

    fn nft_element<'a>(
        &'a self,
        family: &'a str,
        table: &'a str,
        set: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<bool, ObserveError>> {
        let element = format!("{{ \"{key}\" }}");
        let mut cmd = Command::new(&self.nft);
        cmd.args(["get", "element", family, table, set, &element]);
        let command = format!("{} get element {family} {table} {set} {element}", self.nft.display());
        let timeout = self.command_timeout;
        Box::pin(blocking(set, move || chain_exists(cmd, command, timeout)))
    }

    fn namespace<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<bool, ObserveError>> {
        Box::pin(async move { Ok(self.ports.netns().exists(ns)?) })
    }

    fn ns_links<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Vec<NsLink>, ObserveError>> {
        Box::pin(async move {
            let devices = self.ports.devices(ns).await?;
            Ok(devices.into_iter().map(|(name, up, addrs)| NsLink { name, up, addrs }).collect())
        })
    }

    fn ns_routes<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Vec<Route>, ObserveError>> {
        Box::pin(async move { Ok(self.l3.routes(ns).await?) })
    }

    fn ns_nat<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Option<NatSummary>, ObserveError>> {
        Box::pin(async move { Ok(self.l3.nat(ns).await?) })
    }

    fn read_file<'a>(&'a self, path: &'a Path) -> BoxFuture<'a, Result<Option<String>, ObserveError>> {
        let (path, limit) = (path.to_owned(), self.max_file_bytes);
        Box::pin(blocking("a file", move || read_bounded(&path, limit)))
    }

    fn process<'a>(&'a self, pid: u32, ns: &'a str) -> BoxFuture<'a, Result<Option<Process>, ObserveError>> {
        let ns_path = self.ports.netns().path(ns);
        Box::pin(blocking("a process", move || process(pid, &ns_path)))
    }
}

/// `nft list chain …`: found (exit 0), not found ("No such file or directory"), or an
/// error; killed past `timeout`.
fn chain_exists(mut cmd: Command, command: String, timeout: Duration) -> Result<bool, ObserveError> {
    let failed = |source| ObserveError::Command { command: command.clone(), source };
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().map_err(failed)?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(failed)? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(io::Error::new(io::ErrorKind::TimedOut, format!("killed after {timeout:?}"))));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.by_ref().take(64 << 10).read_to_string(&mut stderr);
    }
    if status.success() {
        Ok(true)
    } else if stderr.contains("No such file or directory") {
        Ok(false)
    } else {
        Err(ObserveError::CommandStatus { command, stderr: stderr.trim().to_owned() })
    }
}

fn read_bounded(path: &Path, limit: u64) -> Result<Option<String>, ObserveError> {
    let err = |source| ObserveError::File { path: path.to_owned(), source };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(err)?;
    if bytes.len() as u64 > limit {
        return Err(ObserveError::TooLarge { path: path.to_owned(), limit });
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// `/proc/<pid>`: its `comm`, and whether its network namespace is the one bound at
/// `ns_path`; `None` for no such process or a zombie.
fn process(pid: u32, ns_path: &Path) -> Result<Option<Process>, ObserveError> {
    let proc_file = |name: &str| PathBuf::from(format!("/proc/{pid}/{name}"));
    if crate::netns::process::process_argv(pid)
        .map_err(|source| ObserveError::File { path: proc_file("cmdline"), source })?
        .is_none()
    {
        return Ok(None);
    }
    let comm = match std::fs::read_to_string(proc_file("comm")) {
        Ok(comm) => comm.trim().to_owned(),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ESRCH)) => return Ok(None),
        Err(source) => return Err(ObserveError::File { path: proc_file("comm"), source }),
    };
    let id = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let theirs = id(&proc_file("ns/net"));
    let stat = std::fs::read_to_string(proc_file("stat")).unwrap_or_default();
    let stopped = matches!(process_state(&stat), Some('T' | 't'));
    Ok(Some(Process { comm, in_namespace: theirs.is_some() && theirs == id(ns_path), stopped }))
}

/// The state letter of a `/proc/<pid>/stat` line: the first field after the `)` that ends
/// the command name (which may itself hold spaces and parentheses).
fn process_state(stat: &str) -> Option<char> {
    stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> (Command, String) {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script]);
        (cmd, format!("sh -c {script}"))
    }

    #[test]
    fn the_state_letter_follows_the_last_parenthesis() {
        assert_eq!(process_state("4242 (dnsmasq) T 1 4242 4242 0 -1"), Some('T'));
        assert_eq!(process_state("7 (a (b) c) S 1"), Some('S'));
        assert_eq!(process_state("garbage"), None);
        let me = process(std::process::id(), Path::new("/proc/self/ns/net")).unwrap().unwrap();
        assert!(!me.stopped && me.in_namespace);
    }

    #[test]
    fn nft_answers_found_missing_failed_or_is_killed_in_time() {
        let (cmd, name) = sh("exit 0");
        assert!(chain_exists(cmd, name, Duration::from_secs(5)).unwrap());
        let (cmd, name) = sh("echo 'Error: No such file or directory' >&2; exit 1");
        assert!(!chain_exists(cmd, name, Duration::from_secs(5)).unwrap());
        let (cmd, name) = sh("echo 'Error: Operation not permitted' >&2; exit 1");
        let e = chain_exists(cmd, name, Duration::from_secs(5)).unwrap_err();
        assert!(e.to_string().contains("Operation not permitted"), "{e}");
        let started = Instant::now();
        let (cmd, name) = sh("sleep 30");
        let e = chain_exists(cmd, name, Duration::from_millis(100)).unwrap_err();
        assert!(crate::error_chain(&e).contains("killed after"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5), "killed, not waited for");
    }

    #[test]
    fn files_are_read_up_to_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host");
        assert_eq!(read_bounded(&path, 16).unwrap(), None);
        std::fs::write(&path, "0123456789abcdef").unwrap();
        assert_eq!(read_bounded(&path, 16).unwrap().as_deref(), Some("0123456789abcdef"));
        std::fs::write(&path, "0123456789abcdefg").unwrap();
        assert!(matches!(read_bounded(&path, 16), Err(ObserveError::TooLarge { limit: 16, .. })));
    }

    #[test]
    fn a_process_is_named_by_its_comm_and_a_dead_one_is_none() {
        let me = process(std::process::id(), Path::new("/proc/self/ns/net")).unwrap().unwrap();
        assert!(me.in_namespace, "this process is in the namespace /proc/self/ns/net names");
        assert!(!me.comm.is_empty());
        let mut child = Command::new("/bin/sh").args(["-c", "exit 0"]).spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(process(pid, Path::new("/proc/self/ns/net")).unwrap(), None);
    }
}
