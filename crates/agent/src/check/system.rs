//! What the checks read of the host, behind [`System`], so each check is unit-tested with
//! a fake ([`super::fake::FakeSystem`]) and the real one reads the kernel.

use serde::Deserialize;
use std::io;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

/// An interface as `ip addr` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    /// Administratively up and with carrier (`UP` and `LOWER_UP`).
    pub up: bool,
    pub mtu: u32,
    pub addresses: Vec<IpAddr>,
}

/// Owner and permission bits of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A command's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// The host as the checks see it.
pub trait System: Send + Sync {
    fn hostname(&self) -> io::Result<String>;
    fn links(&self) -> io::Result<Vec<Link>>;
    fn read(&self, path: &Path) -> io::Result<String>;
    fn write(&self, path: &Path, contents: &str) -> io::Result<()>;
    /// Owner and mode of `path` (following symlinks).
    fn mode(&self, path: &Path) -> io::Result<FileMode>;
    fn run(&self, argv: &[&str]) -> io::Result<CmdOutput>;
    fn now(&self) -> SystemTime;
}

/// The machine the agent runs on (its network namespace).
#[derive(Debug, Clone, Copy, Default)]
pub struct RealSystem;

/// One interface of `ip -j addr show`.
#[derive(Debug, Deserialize)]
struct IpLink {
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    mtu: u32,
    #[serde(default)]
    addr_info: Vec<IpAddrInfo>,
}

#[derive(Debug, Deserialize)]
struct IpAddrInfo {
    local: Option<IpAddr>,
}

impl System for RealSystem {
    fn hostname(&self) -> io::Result<String> {
        Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?.trim().to_string())
    }

    /// From `ip -j addr show`: iproute2 is needed by the agent anyway, and its JSON names
    /// flags and addresses in the operator's vocabulary.
    fn links(&self) -> io::Result<Vec<Link>> {
        let out = self.run(&["ip", "-j", "addr", "show"])?;
        if !out.success {
            return Err(io::Error::other(format!("ip -j addr show: {}", out.stderr.trim())));
        }
        parse_ip_addr(&out.stdout)
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn write(&self, path: &Path, contents: &str) -> io::Result<()> {
        std::fs::write(path, contents)
    }

    fn mode(&self, path: &Path) -> io::Result<FileMode> {
        let m = std::fs::metadata(path)?;
        Ok(FileMode { mode: m.mode() & 0o7777, uid: m.uid(), gid: m.gid() })
    }

    fn run(&self, argv: &[&str]) -> io::Result<CmdOutput> {
        let (program, args) = argv.split_first().ok_or_else(|| io::Error::other("empty command"))?;
        let out = Command::new(program).args(args).output()?;
        Ok(CmdOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The links of `ip -j addr show` output.
pub fn parse_ip_addr(json: &str) -> io::Result<Vec<Link>> {
    let links: Vec<IpLink> = serde_json::from_str(json).map_err(io::Error::other)?;
    Ok(links
        .into_iter()
        .map(|l| Link {
            up: l.flags.iter().any(|f| f == "UP") && l.flags.iter().any(|f| f == "LOWER_UP"),
            name: l.ifname,
            mtu: l.mtu,
            addresses: l.addr_info.into_iter().filter_map(|a| a.local).collect(),
        })
        .collect())
}
