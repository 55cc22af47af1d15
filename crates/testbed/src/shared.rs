//! State shared by a [`crate::Testbed`] and its host/VM handles: the unique tag, what was created
//! (to undo it), the processes (to kill them), and the cleanup itself, including the sweep of
//! testbeds left behind by test processes that died without cleaning up.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::hash::{BuildHasher, Hasher};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cmd;
use crate::error::{Result, TestbedError};
use crate::ns;
use crate::process::{self, command_in, Enter, Holder, Process, Spec};

/// Every namespace of a testbed is named `nt<tag>-<name>`.
pub const NETNS_PREFIX: &str = "nt";

/// Length of the random tag.
const TAG_LEN: usize = 5;

/// Where each live testbed records its owner (`<pid> <start time>`), so that a sweep can tell
/// the testbeds of dead test processes from those of running ones.
pub const OWNERS_DIR: &str = "/run/neutrino-testbed";

/// How long processes get between SIGTERM and SIGKILL when a testbed is dropped.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(3);

#[derive(Debug, Default)]
struct State {
    /// Namespaces created, in creation order (deleted in reverse).
    namespaces: Vec<String>,
    /// Name suffixes in use (`ctl`, `h1`, `vm1`…).
    names: HashSet<String>,
    /// Mount-namespace holders, by network namespace.
    holders: HashMap<String, Arc<Holder>>,
    /// Every process started, until it is removed by `remove_vm`/`restart`.
    processes: Vec<Process>,
    /// Log files handed out, to number them.
    logs: u64,
    /// Hosts added so far, to address them.
    hosts: u32,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub tag: String,
    pub log_dir: PathBuf,
    pub keep_logs: AtomicBool,
    cleaned: AtomicBool,
    state: Mutex<State>,
}

impl Shared {
    /// Claims a fresh tag and creates the log directory.
    pub(crate) fn new(name_hint: &str) -> Result<Shared> {
        let tag = claim_tag()?;
        let hint: String = name_hint.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(40).collect();
        let log_dir = std::env::temp_dir().join(format!("neutrino-testbed-{hint}-{tag}"));
        if let Err(e) = std::fs::create_dir_all(&log_dir) {
            let _ = std::fs::remove_file(Path::new(OWNERS_DIR).join(&tag));
            return Err(TestbedError::io(format!("creating {}", log_dir.display()), e));
        }
        Ok(Shared {
            tag,
            log_dir,
            keep_logs: AtomicBool::new(false),
            cleaned: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `nt<tag>-<name>`.
    pub(crate) fn netns_name(&self, name: &str) -> String {
        format!("{NETNS_PREFIX}{}-{name}", self.tag)
    }

    /// Reserves a name suffix, failing if it is taken.
    pub(crate) fn reserve(&self, name: &str) -> Result<String> {
        ns::check_name(name)?;
        if !self.state().names.insert(name.to_string()) {
            return Err(TestbedError::invalid(name, "already used in this testbed"));
        }
        Ok(self.netns_name(name))
    }

    /// 0 for the first host, then 1, 2…
    pub(crate) fn next_host_index(&self) -> u32 {
        let mut st = self.state();
        st.hosts += 1;
        st.hosts - 1
    }

    pub(crate) fn release(&self, name: &str) {
        self.state().names.remove(name);
    }

    /// `ip netns add`, recording the namespace for cleanup.
    pub(crate) fn add_netns(&self, netns: &str) -> Result<()> {
        ns::add(netns)?;
        self.state().namespaces.push(netns.to_string());
        Ok(())
    }

    /// Kills the processes of `netns` and deletes it.
    pub(crate) fn del_netns(&self, netns: &str) -> Result<()> {
        let procs: Vec<Process> = {
            let mut st = self.state();
            let (mine, rest) = std::mem::take(&mut st.processes).into_iter().partition(|p| p.netns() == netns);
            st.processes = rest;
            mine
        };
        process::stop_all(&procs, STOP_GRACE);
        if let Some(holder) = self.state().holders.remove(netns) {
            holder.kill();
        }
        ns::kill_all_in(netns);
        ns::del(netns)?;
        self.state().namespaces.retain(|n| n != netns);
        Ok(())
    }

    /// Starts the mount-namespace holder of a host.
    pub(crate) fn add_holder(&self, netns: &str) -> Result<()> {
        let holder = Holder::spawn(netns, &self.tag)?;
        self.state().holders.insert(netns.to_string(), Arc::new(holder));
        Ok(())
    }

    /// How to run things inside `netns`: through its holder if it is a host.
    pub(crate) fn enter(&self, netns: &str) -> Result<Enter> {
        let holder = self.state().holders.get(netns).cloned();
        match holder {
            Some(h) => h.enter(),
            None => Ok(Enter::Netns(netns.to_string())),
        }
    }

    /// Runs `argv` inside `netns` to completion.
    pub(crate) fn exec<I, S>(&self, netns: &str, argv: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.exec_env(netns, argv, &[])
    }

    /// [`Shared::exec`] with extra environment variables (the OVS tools' `OVS_RUNDIR`, say).
    pub(crate) fn exec_env<I, S>(&self, netns: &str, argv: I, env: &[(OsString, OsString)]) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut argv: Vec<OsString> = argv.into_iter().map(|a| a.as_ref().to_os_string()).collect();
        if argv.is_empty() {
            return Err(TestbedError::invalid("", "empty command line"));
        }
        let program = argv.remove(0);
        let mut cmd = command_in(&self.enter(netns)?, &self.tag, &program, &argv)?;
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd::output(&mut cmd)
    }

    /// Like [`Shared::exec`], failing on a non-zero exit; returns stdout.
    pub(crate) fn exec_ok<I, S>(&self, netns: &str, argv: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.exec_ok_env(netns, argv, &[])
    }

    /// [`Shared::exec_ok`] with extra environment variables.
    pub(crate) fn exec_ok_env<I, S>(&self, netns: &str, argv: I, env: &[(OsString, OsString)]) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let argv: Vec<OsString> = argv.into_iter().map(|a| a.as_ref().to_os_string()).collect();
        let out = self.exec_env(netns, &argv, env)?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        Err(TestbedError::Command {
            command: format!("in {netns}: {}", argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }

    /// A fresh log file path `<log dir>/<nn>-<name>-<program>.log`.
    pub(crate) fn log_path(&self, netns: &str, program: &OsStr) -> PathBuf {
        let n = {
            let mut st = self.state();
            st.logs += 1;
            st.logs
        };
        let short = netns.strip_prefix(&self.netns_name("")).unwrap_or(netns);
        let prog = Path::new(program).file_name().unwrap_or(program).to_string_lossy();
        self.log_dir.join(format!("{n:02}-{short}-{prog}.log"))
    }

    /// Starts and registers a process.
    pub(crate) fn spawn(&self, spec: Spec) -> Result<Process> {
        let p = Process::spawn(&self.enter(&spec.netns)?, &self.tag, spec)?;
        self.state().processes.push(p.clone());
        Ok(p)
    }

    /// Forgets a process (after a restart replaced it).
    pub(crate) fn unregister(&self, p: &Process) {
        self.state().processes.retain(|q| q.pid() != p.pid());
    }

    /// Kills everything and deletes every namespace; idempotent. Logs are kept (and their place
    /// printed) when the thread is panicking or [`Shared::keep_logs`] is set.
    pub(crate) fn cleanup(&self) {
        if self.cleaned.swap(true, Ordering::SeqCst) {
            return;
        }
        let (procs, holders, namespaces) = {
            let mut st = self.state();
            (std::mem::take(&mut st.processes), std::mem::take(&mut st.holders), std::mem::take(&mut st.namespaces))
        };
        process::stop_all(&procs, STOP_GRACE);
        for holder in holders.values() {
            holder.kill();
        }
        cmd::kill_tagged(&self.tag);
        for netns in namespaces.iter().rev() {
            ns::kill_all_in(netns);
            if let Err(e) = ns::del(netns) {
                eprintln!("neutrino-testbed {}: {e}", self.tag);
            }
        }
        let _ = std::fs::remove_file(Path::new(OWNERS_DIR).join(&self.tag));
        if std::thread::panicking() || self.keep_logs.load(Ordering::SeqCst) {
            eprintln!("neutrino-testbed {}: logs kept in {}", self.tag, self.log_dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.log_dir);
        }
    }
}

/// Start time (clock ticks since boot) of `pid`, from `/proc/<pid>/stat`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// A random tag of [`TAG_LEN`] lowercase letters and digits.
fn random_tag() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default());
    let mut v = h.finish();
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..TAG_LEN)
        .map(|_| {
            let c = ALPHABET[(v % 36) as usize] as char;
            v /= 36;
            c
        })
        .collect()
}

/// Picks a tag no other testbed uses and records this process as its owner.
fn claim_tag() -> Result<String> {
    std::fs::create_dir_all(OWNERS_DIR).map_err(|e| TestbedError::io(format!("creating {OWNERS_DIR}"), e))?;
    let existing = ns::list_netns()?;
    let me = std::process::id();
    let owner = format!("{me} {}\n", start_time(me).unwrap_or_default());
    for _ in 0..100 {
        let tag = random_tag();
        let prefix = format!("{NETNS_PREFIX}{tag}-");
        if existing.iter().any(|n| n.starts_with(&prefix)) {
            continue;
        }
        let path = Path::new(OWNERS_DIR).join(&tag);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(owner.as_bytes())
                    .map_err(|e| TestbedError::io(format!("writing {}", path.display()), e))?;
                return Ok(tag);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(TestbedError::io(format!("creating {}", path.display()), e)),
        }
    }
    Err(TestbedError::io("choosing a testbed tag", ErrorKind::AlreadyExists.into()))
}

/// Whether the owner recorded for `tag` is gone (`None`: no record, not a testbed of ours).
fn owner_dead(tag: &str) -> Option<bool> {
    let rec = std::fs::read_to_string(Path::new(OWNERS_DIR).join(tag)).ok()?;
    let mut it = rec.split_whitespace();
    let pid: u32 = it.next()?.parse().ok()?;
    let started: u64 = it.next().and_then(|s| s.parse().ok()).unwrap_or_default();
    Some(start_time(pid) != Some(started))
}

/// The tag of a testbed namespace name `nt<tag>-…`.
fn tag_of(netns: &str) -> Option<&str> {
    let rest = netns.strip_prefix(NETNS_PREFIX)?;
    let (tag, _) = rest.split_once('-')?;
    (tag.len() == TAG_LEN && tag.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())).then_some(tag)
}

/// Removes what testbeds of dead processes left behind (a test killed by SIGKILL or a timeout
/// never runs its `Drop`): their processes (found by [`cmd::TAG_ENV`]), their namespaces and
/// their owner records. Testbeds of live processes, and namespaces without an owner record, are
/// not touched. Returns the namespaces deleted. [`crate::Testbed::new`] runs it on every start.
pub fn cleanup_stale() -> Result<Vec<String>> {
    let mut stale: HashSet<String> = HashSet::new();
    if let Ok(dir) = std::fs::read_dir(OWNERS_DIR) {
        for entry in dir.flatten() {
            let tag = entry.file_name().to_string_lossy().into_owned();
            if owner_dead(&tag) == Some(true) {
                stale.insert(tag);
            }
        }
    }
    let mut removed = Vec::new();
    if stale.is_empty() {
        return Ok(removed);
    }
    for tag in &stale {
        cmd::kill_tagged(tag);
    }
    for netns in ns::list_netns()? {
        if tag_of(&netns).is_some_and(|t| stale.contains(t)) {
            ns::kill_all_in(&netns);
            if ns::del(&netns).is_ok() {
                removed.push(netns);
            }
        }
    }
    for tag in &stale {
        let _ = std::fs::remove_file(Path::new(OWNERS_DIR).join(tag));
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let a = random_tag();
        assert_eq!(a.len(), TAG_LEN);
        assert_ne!(a, random_tag());
        assert_eq!(tag_of("ntab1c2-h1"), Some("ab1c2"));
        assert_eq!(tag_of("ntab1c2-vm-1"), Some("ab1c2"));
        assert_eq!(tag_of("ntab1-h1"), None);
        assert_eq!(tag_of("qdhcp-x"), None);
        assert!(start_time(std::process::id()).is_some());
    }
}
