//! What answering a question may look at: the narrow, read-only [`Observer`] trait.
//!
//! Every method only reads (`ip link show`, `bridge fdb show`, `nft list`, `cat`), so a
//! diagnosis never heals, or hides, what it is looking for. [`super::linux::LinuxObserver`]
//! reads the kernel and the files; [`super::fake::FakeObserver`] holds them in memory for
//! the unit tests of [`super::answer()`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use futures::future::BoxFuture;

use crate::l2::dataplane::{DataplaneError, FdbEntry, Link};
use crate::l3::nat::NatSummary;
use crate::l3::system::{L3Error, Route};
use crate::netns::cidr::IfAddr;
use crate::netns::NetnsError;

/// One device inside a namespace (`ip -n <ns> addr show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsLink {
    pub name: String,
    /// Administratively up.
    pub up: bool,
    pub addrs: Vec<IfAddr>,
}

/// A live process, as `/proc/<pid>` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    /// `/proc/<pid>/comm`, trimmed.
    pub comm: String,
    /// It runs in the network namespace asked about.
    pub in_namespace: bool,
    /// Stopped by a signal or a tracer (`T`/`t` in `/proc/<pid>/stat`): alive by its pid,
    /// answering nobody.
    pub stopped: bool,
}

/// Looking failed (not "found nothing": that is an `Ok`).
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Dataplane(#[from] DataplaneError),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error(transparent)]
    L3(#[from] L3Error),
    #[error("cannot read {path}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is larger than {limit} bytes")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("`{command}` failed")]
    Command {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` said: {stderr}")]
    CommandStatus { command: String, stderr: String },
}

/// A look at the host, never a change to it. Names are the operator's (`tap…`, `brq…`,
/// `qrouter-…`); "not there" is an `Ok` (`false`, `None`, no entry), errors are failures
/// to look.
pub trait Observer: Send + Sync {
    /// `ip -d link show` in the agent's namespace.
    fn links(&self) -> BoxFuture<'_, Result<Vec<Link>, ObserveError>>;
    /// `bridge fdb show dev <dev>`: the device's own entries with a `dst`.
    fn fdb<'a>(&'a self, dev: &'a str) -> BoxFuture<'a, Result<Vec<FdbEntry>, ObserveError>>;
    /// Whether `nft list chain <family> <table> <chain>` finds it (in the agent's namespace).
    fn nft_chain<'a>(
        &'a self,
        family: &'a str,
        table: &'a str,
        chain: &'a str,
    ) -> BoxFuture<'a, Result<bool, ObserveError>>;
    /// Whether `nft get element <family> <table> <set> { "<key>" }` finds it.
    fn nft_element<'a>(
        &'a self,
        family: &'a str,
        table: &'a str,
        set: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<bool, ObserveError>>;
    /// Whether the named network namespace exists (`ip netns list`).
    fn namespace<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<bool, ObserveError>>;
    /// `ip -n <ns> addr show`.
    fn ns_links<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Vec<NsLink>, ObserveError>>;
    /// `ip -n <ns> route show` (routes with a next hop).
    fn ns_routes<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Vec<Route>, ObserveError>>;
    /// `ip netns exec <ns> nft -j list table inet neutrino-l3`; `None` without the table.
    fn ns_nat<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Option<NatSummary>, ObserveError>>;
    /// `cat <path>`; `None` when there is no such file.
    fn read_file<'a>(&'a self, path: &'a Path) -> BoxFuture<'a, Result<Option<String>, ObserveError>>;
    /// The live process `pid` (`None`: no such process, or a zombie), and whether it runs
    /// in the namespace `ns`.
    fn process<'a>(&'a self, pid: u32, ns: &'a str) -> BoxFuture<'a, Result<Option<Process>, ObserveError>>;
}

/// The address in `text` (`10.0.0.1/24`), for the router asks.
pub(crate) fn parse_if_addr(text: &str) -> Option<IfAddr> {
    let (addr, len) = text.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix_len: u8 = len.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix_len <= max).then_some(IfAddr { addr, prefix_len })
}
