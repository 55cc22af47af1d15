//! Running the external tools (iproute2, util-linux, iputils): lookup, a requirements check, and
//! helpers that turn a failed command into a [`TestbedError`] naming the command and its stderr.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use crate::error::{Result, TestbedError};

/// Environment variable set on every process the testbed starts, with the testbed's tag as value.
///
/// It is inherited by descendants (an agent's `dnsmasq` in a `qdhcp-` namespace, say), which lets
/// the cleanup find and kill processes that escaped their parent, even after the test process died.
pub const TAG_ENV: &str = "NEUTRINO_TESTBED_TAG";

/// Absolute paths of the programs the testbed runs itself (`bridge` and `ping` are run inside
/// namespaces by name, but checked for too).
#[derive(Debug)]
pub(crate) struct Tools {
    pub ip: PathBuf,
    pub unshare: PathBuf,
    pub nsenter: PathBuf,
    pub sh: PathBuf,
}

/// (program, Debian package) pairs, in the order they are checked.
const REQUIRED: [(&str, &str); 6] = [
    ("ip", "iproute2"),
    ("bridge", "iproute2"),
    ("ping", "iputils-ping"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    ("sh", "dash"),
];

/// Finds `name` in PATH, then in the sbin/bin directories (cargo may run tests with a PATH
/// without /usr/sbin, where `ip` lives).
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
    std::env::split_paths(&path_var)
        .chain(extra.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false))
}

/// The tools, looked up once per process.
pub(crate) fn tools() -> Result<&'static Tools> {
    static TOOLS: OnceLock<Result<Tools, (&'static str, &'static str)>> = OnceLock::new();
    let found = TOOLS.get_or_init(|| {
        let mut paths = std::collections::HashMap::new();
        for (program, package) in REQUIRED {
            paths.insert(program, find_program(program).ok_or((program, package))?);
        }
        let mut take = |name| paths.remove(name).unwrap_or_default();
        Ok(Tools { ip: take("ip"), unshare: take("unshare"), nsenter: take("nsenter"), sh: take("sh") })
    });
    found.as_ref().map_err(|&(program, package)| TestbedError::MissingTool { program, package })
}

/// Checks that this process can build a testbed: root, iproute2, iputils-ping, util-linux
/// (`unshare`, `nsenter`), and that the kernel lets it create network and mount namespaces.
///
/// Integration tests call it first and skip (printing the reason) when it fails, so that the test
/// suite stays green on a developer laptop without root. It creates nothing persistent.
pub fn preflight() -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(TestbedError::NotRoot { euid });
    }
    let tools = tools()?;
    let mut probe = Command::new(&tools.unshare);
    probe.args(["--net", "--mount", "true"]);
    let out = output(&mut probe)?;
    if !out.status.success() {
        return Err(TestbedError::NoNamespaces {
            command: describe(&probe),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// The command line of `cmd`, for error messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion (stdin closed), capturing its output; fails only if it cannot start.
pub(crate) fn output(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null());
    cmd.output().map_err(|source| TestbedError::Spawn { command: describe(cmd), source })
}

/// Runs `cmd`, failing with its stderr if it exits unsuccessfully; returns its stdout.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out = output(cmd)?;
    check(cmd, out).map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Turns an unsuccessful `out` into [`TestbedError::Command`].
pub(crate) fn check(cmd: &Command, out: Output) -> Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(TestbedError::Command {
            command: describe(cmd),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// `ip <args>` in the root mount namespace (use `-n <netns>` to act inside a namespace).
pub(crate) fn ip<S: AsRef<OsStr>>(args: &[S]) -> Result<String> {
    let mut cmd = Command::new(&tools()?.ip);
    cmd.args(args);
    run(&mut cmd)
}

/// Pids of the processes whose environment carries `TAG_ENV=<tag>` (other than this process):
/// everything a testbed started, and their descendants.
pub fn pids_with_tag(tag: &str) -> Vec<i32> {
    let needle = format!("{TAG_ENV}={tag}\0").into_bytes();
    let me = std::process::id() as i32;
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            let env = std::fs::read(Path::new("/proc").join(pid.to_string()).join("environ")).unwrap_or_default();
            env.starts_with(&needle[..]) || env.windows(needle.len() + 1).any(|w| w[0] == 0 && w[1..] == needle[..])
        })
        .collect()
}

/// SIGKILLs every process carrying the tag, a few rounds to catch processes forked meanwhile.
pub(crate) fn kill_tagged(tag: &str) {
    for _ in 0..5 {
        let pids = pids_with_tag(tag);
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
