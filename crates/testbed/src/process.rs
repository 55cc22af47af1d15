//! Processes started inside testbed namespaces (agents, servers, dnsmasq, ping), and the per-host
//! "holder" that owns a host's private mount namespace.
//!
//! A simulated host must have its own mount namespace: its agent runs `ip netns add qdhcp-…`, and
//! named namespaces are files under `/run/netns`; two agents on one machine would otherwise see
//! (and garbage-collect) each other's. Each host therefore gets a holder process, started as
//! `nsenter --net=/run/netns/<host> unshare --mount --propagation private sh -c 'mount sysfs /sys;
//! mount tmpfs /run/netns; exec sleep infinity'`. Everything run "on the host" (spawned programs,
//! [`crate::Host::exec`]) enters the host's network namespace *and* the holder's mount namespace
//! with `nsenter`, so all of a host's processes share one private `/run/netns` (an agent restarted
//! by a test finds the namespaces its previous incarnation made) and a `/sys` showing the host's
//! devices, while the global `/run/netns` of the machine (with the VM namespaces) stays hidden.

use std::ffi::{OsStr, OsString};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cmd::{self, TAG_ENV};
use crate::error::{Result, TestbedError};
use crate::ns::netns_path;

/// A signal to send to a [`Process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: graceful shutdown.
    Term,
    /// SIGKILL: a crash, as far as the process is concerned.
    Kill,
    /// SIGINT: what Ctrl-C sends (ping prints its summary on it).
    Int,
    /// SIGHUP: reload, for daemons that support it (dnsmasq).
    Hup,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
    /// SIGSTOP: freeze the process (a hung agent).
    Stop,
    /// SIGCONT: resume after [`Signal::Stop`].
    Cont,
}

impl Signal {
    fn raw(self) -> libc::c_int {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
            Signal::Int => libc::SIGINT,
            Signal::Hup => libc::SIGHUP,
            Signal::Usr1 => libc::SIGUSR1,
            Signal::Usr2 => libc::SIGUSR2,
            Signal::Stop => libc::SIGSTOP,
            Signal::Cont => libc::SIGCONT,
        }
    }
}

/// How to get into a namespace.
#[derive(Debug, Clone)]
pub(crate) enum Enter {
    /// `ip netns exec <netns>`: VM and fabric namespaces, or any other named namespace.
    Netns(String),
    /// `nsenter --net=<netns> --mount=<holder's>`: hosts and the controller.
    Holder { netns: String, holder_pid: u32 },
}

/// A command that runs `program args` inside the namespace, tagged with `TAG_ENV`.
pub(crate) fn command_in(enter: &Enter, tag: &str, program: &OsStr, args: &[OsString]) -> Result<Command> {
    let tools = cmd::tools()?;
    let mut cmd = match enter {
        Enter::Netns(netns) => {
            let mut c = Command::new(&tools.ip);
            c.args(["netns", "exec"]).arg(netns);
            c
        }
        Enter::Holder { netns, holder_pid } => {
            let mut c = Command::new(&tools.nsenter);
            let wd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            c.arg(format!("--net={}", netns_path(netns).display()))
                .arg(format!("--mount=/proc/{holder_pid}/ns/mnt"))
                .arg(format!("--wd={}", wd.display()))
                .arg("--");
            c
        }
    };
    cmd.arg(program).args(args).env(TAG_ENV, tag);
    Ok(cmd)
}

/// What was started, kept so that it can be started again.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub netns: String,
    pub program: OsString,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub log_path: PathBuf,
}

#[derive(Debug)]
struct Inner {
    spec: Spec,
    pid: u32,
    child: Mutex<Child>,
}

/// A program running inside a testbed namespace.
///
/// A cheap handle (clone it freely): the testbed keeps one too and kills the process when it is
/// dropped, so a test does not have to. Its stdout and stderr go to [`Process::log_path`] (appended
/// to, so a restarted process continues the same log). The process stays un-reaped until it is
/// waited for, so its pid cannot be reused while this handle signals it.
#[derive(Debug, Clone)]
pub struct Process {
    inner: Arc<Inner>,
}

impl Process {
    /// Starts `spec` through `enter`. The log file is created if needed.
    pub(crate) fn spawn(enter: &Enter, tag: &str, spec: Spec) -> Result<Process> {
        let mut cmd = command_in(enter, tag, &spec.program, &spec.args)?;
        cmd.envs(spec.env.iter().map(|(k, v)| (k, v)));
        let ctx = |e| TestbedError::io(format!("opening log {}", spec.log_path.display()), e);
        let mut log = OpenOptions::new().create(true).append(true).open(&spec.log_path).map_err(ctx)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default();
        let _ = writeln!(log, "=== neutrino-testbed: starting `{}` at unix time {now:.3}", cmd::describe(&cmd));
        let stderr = log.try_clone().map_err(ctx)?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(stderr);
        let child = cmd.spawn().map_err(|source| TestbedError::Spawn { command: cmd::describe(&cmd), source })?;
        Ok(Process { inner: Arc::new(Inner { spec, pid: child.id(), child: Mutex::new(child) }) })
    }

    pub(crate) fn spec(&self) -> &Spec {
        &self.inner.spec
    }

    fn child(&self) -> MutexGuard<'_, Child> {
        self.inner.child.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The pid (of `ip netns exec`/`nsenter`, which exec the program, hence the program's pid).
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }

    /// The namespace it was started in.
    pub fn netns(&self) -> &str {
        &self.inner.spec.netns
    }

    /// The program, as given to `spawn_in`.
    pub fn program(&self) -> &OsStr {
        &self.inner.spec.program
    }

    /// The file receiving its stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.inner.spec.log_path
    }

    /// The log so far (lossy UTF-8; empty if unreadable).
    pub fn read_log(&self) -> String {
        let mut buf = Vec::new();
        let _ = std::fs::File::open(self.log_path()).and_then(|mut f| f.read_to_end(&mut buf));
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Its exit status if it has exited (reaping it), without blocking.
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        self.child().try_wait().map_err(|e| TestbedError::io(format!("waiting for pid {}", self.pid()), e))
    }

    /// Whether it is still running.
    pub fn is_running(&self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Sends `sig`; does nothing if the process has already exited.
    pub fn signal(&self, sig: Signal) -> Result<()> {
        let mut child = self.child();
        let exited = child.try_wait().map_err(|e| TestbedError::io(format!("waiting for pid {}", self.pid()), e))?;
        if exited.is_none() {
            // SAFETY: the child is not reaped (we hold its lock), so the pid is still ours.
            if unsafe { libc::kill(self.pid() as libc::pid_t, sig.raw()) } != 0 {
                let e = std::io::Error::last_os_error();
                return Err(TestbedError::io(format!("kill({}, {sig:?})", self.pid()), e));
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for it to exit; `None` if it is still running.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Graceful stop: SIGTERM, then SIGKILL if it is still running after `grace`; returns how it
    /// ended (a signal status if it did not exit by itself).
    pub fn stop(&self, grace: Duration) -> Result<ExitStatus> {
        self.signal(Signal::Term)?;
        if let Some(status) = self.wait_timeout(grace)? {
            return Ok(status);
        }
        self.kill()
    }

    /// SIGKILL and reap: the process "crashes".
    pub fn kill(&self) -> Result<ExitStatus> {
        self.signal(Signal::Kill)?;
        self.wait_timeout(Duration::from_secs(10))?.ok_or_else(|| TestbedError::Timeout {
            what: format!("pid {} to die", self.pid()),
            after: Duration::from_secs(10),
        })
    }
}

/// Stops all `procs`: SIGTERM to each, SIGKILL to those still running after `grace`, reap all.
pub(crate) fn stop_all(procs: &[Process], grace: Duration) {
    for p in procs {
        let _ = p.signal(Signal::Term);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && procs.iter().any(Process::is_running) {
        std::thread::sleep(Duration::from_millis(10));
    }
    for p in procs.iter().filter(|p| p.is_running()) {
        let _ = p.kill();
    }
}

/// The process holding a host's private mount namespace (see the module documentation).
#[derive(Debug)]
pub(crate) struct Holder {
    netns: String,
    pid: u32,
    child: Mutex<Child>,
}

/// Run by the holder inside its fresh mount namespace: a sysfs of the host's network namespace,
/// and an empty private `/run/netns`.
const HOLDER_SCRIPT: &str = "mount -t sysfs sysfs /sys && mkdir -p /run/netns && \
     mount -t tmpfs -o mode=0755,size=1m netns /run/netns && echo ready && exec sleep infinity";

impl Holder {
    /// Starts the holder of `netns` and waits until its mounts are done.
    pub(crate) fn spawn(netns: &str, tag: &str) -> Result<Holder> {
        let tools = cmd::tools()?;
        let mut cmd = Command::new(&tools.nsenter);
        cmd.arg(format!("--net={}", netns_path(netns).display()))
            .arg("--")
            .arg(&tools.unshare)
            .args(["--mount", "--propagation", "private", "--"])
            .arg(&tools.sh)
            .args(["-c", HOLDER_SCRIPT])
            .env(TAG_ENV, tag)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let command = cmd::describe(&cmd);
        let mut child = cmd.spawn().map_err(|source| TestbedError::Spawn { command: command.clone(), source })?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        if line.trim() != "ready" {
            let _ = child.kill();
            let mut stderr = String::new();
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut stderr);
            }
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            return Err(TestbedError::Command { command, status, stderr: stderr.trim().to_string() });
        }
        drop(child.stderr.take());
        Ok(Holder { netns: netns.to_string(), pid: child.id(), child: Mutex::new(child) })
    }

    /// How to enter the host, failing if the holder died (its pid could then be reused).
    pub(crate) fn enter(&self) -> Result<Enter> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        match child.try_wait() {
            Ok(None) => Ok(Enter::Holder { netns: self.netns.clone(), holder_pid: self.pid }),
            _ => Err(TestbedError::HolderGone { netns: self.netns.clone() }),
        }
    }

    /// SIGKILL and reap.
    pub(crate) fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}
