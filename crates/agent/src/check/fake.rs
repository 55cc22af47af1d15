//! In-memory stand-ins of [`System`], [`ServerView`] and [`Prober`] for the checks' tests.

use super::remote::{Answer, GetError, ProbeResult, Prober, ServerView};
use super::system::{CmdOutput, FileMode, Link, System};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// A host: its name, links, files (with modes), commands' outputs (by program) and time.
#[derive(Debug)]
pub struct FakeSystem {
    pub hostname: String,
    pub links: Vec<Link>,
    pub files: Mutex<BTreeMap<PathBuf, String>>,
    /// Files whose writes fail (a read-only /proc/sys).
    pub read_only: bool,
    pub modes: BTreeMap<PathBuf, FileMode>,
    /// Program path -> its output; a program not here does not exist.
    pub commands: BTreeMap<String, CmdOutput>,
    pub now: SystemTime,
}

impl FakeSystem {
    pub fn new(hostname: &str) -> Self {
        FakeSystem {
            hostname: hostname.into(),
            links: vec![],
            files: Mutex::default(),
            read_only: false,
            modes: BTreeMap::new(),
            commands: BTreeMap::new(),
            now: SystemTime::now(),
        }
    }

    pub fn file(&self, path: &str, contents: &str) {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).insert(path.into(), contents.into());
    }

    /// `program --version` prints `version`.
    pub fn tool(&mut self, program: &str, version: &str) {
        let out = CmdOutput { success: true, stdout: format!("{version}\n"), stderr: String::new() };
        self.commands.insert(program.into(), out);
    }
}

impl System for FakeSystem {
    fn hostname(&self) -> io::Result<String> {
        Ok(self.hostname.clone())
    }

    fn links(&self) -> io::Result<Vec<Link>> {
        Ok(self.links.clone())
    }

    fn read(&self, path: &Path) -> io::Result<String> {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.get(path).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn write(&self, path: &Path, contents: &str) -> io::Result<()> {
        if self.read_only {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        self.files.lock().unwrap_or_else(|e| e.into_inner()).insert(path.into(), contents.into());
        Ok(())
    }

    fn mode(&self, path: &Path) -> io::Result<FileMode> {
        self.modes.get(path).copied().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn run(&self, argv: &[&str]) -> io::Result<CmdOutput> {
        let program = argv.first().copied().unwrap_or_default();
        self.commands.get(program).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn now(&self) -> SystemTime {
        self.now
    }
}

/// A server answering GETs from a table (path -> answer); a path not there is unreachable.
#[derive(Debug, Default)]
pub struct FakeServer {
    pub answers: BTreeMap<String, Result<Answer, GetError>>,
}

impl ServerView for FakeServer {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Answer, GetError>> {
        let answer = self.answers.get(path).cloned();
        Box::pin(async move { answer.unwrap_or_else(|| Err(GetError::Unreachable(format!("no answer for {path}")))) })
    }
}

/// Peers answering as told (a peer not here answers nothing).
#[derive(Debug, Default)]
pub struct FakeProber {
    pub answers: BTreeMap<IpAddr, ProbeResult>,
}

impl Prober for FakeProber {
    fn probe<'a>(
        &'a self,
        _local: IpAddr,
        peers: &'a [IpAddr],
        _port: u16,
    ) -> BoxFuture<'a, BTreeMap<IpAddr, ProbeResult>> {
        let out = peers.iter().map(|p| (*p, self.answers.get(p).copied().unwrap_or_default())).collect();
        Box::pin(async move { out })
    }
}
