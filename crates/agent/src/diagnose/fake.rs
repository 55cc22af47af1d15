//! [`Observer`] in memory: a host described by plain fields, for the unit tests of
//! [`super::answer()`] and of the questions task.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;

use super::observer::{NsLink, ObserveError, Observer, Process};
use crate::l2::dataplane::{DataplaneError, FdbEntry, Link, Op};
use crate::l3::nat::NatSummary;
use crate::l3::system::Route;

/// A host as the tests describe it.
#[derive(Debug, Clone, Default)]
pub struct FakeObserver {
    /// The agent namespace's devices.
    pub links: Vec<Link>,
    /// Each VXLAN device's entries with a `dst`.
    pub fdb: BTreeMap<String, Vec<FdbEntry>>,
    /// `(family, table, chain)` of the chains nftables has.
    pub chains: BTreeSet<(String, String, String)>,
    /// `(family, table, set, key)` of the set and map elements nftables has.
    pub elements: BTreeSet<(String, String, String, String)>,
    /// Named namespaces and their devices.
    pub namespaces: BTreeMap<String, Vec<NsLink>>,
    pub routes: BTreeMap<String, Vec<Route>>,
    /// Each namespace's router NAT table, if it has one.
    pub nat: BTreeMap<String, NatSummary>,
    pub files: BTreeMap<PathBuf, String>,
    /// Live processes: pid -> (comm, the namespace they run in).
    pub processes: BTreeMap<u32, (String, String)>,
    /// Pids of processes stopped by a signal.
    pub stopped: BTreeSet<u32>,
    /// Every look at the devices fails.
    pub broken_links: bool,
    /// Every look waits this long first (a slow or hung kernel).
    pub delay: Option<Duration>,
}

impl FakeObserver {
    async fn pause(&self) {
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
    }
}

impl Observer for FakeObserver {
    fn links(&self) -> BoxFuture<'_, Result<Vec<Link>, ObserveError>> {
        Box::pin(async move {
            self.pause().await;
            if self.broken_links {
                let source = std::io::Error::from_raw_os_error(libc::EPERM);
                return Err(DataplaneError::Failed { op: Op::ListLinks, device: String::new(), source }.into());
            }
            Ok(self.links.clone())
        })
    }

    fn fdb<'a>(&'a self, dev: &'a str) -> BoxFuture<'a, Result<Vec<FdbEntry>, ObserveError>> {
        Box::pin(async move {
            self.pause().await;
            Ok(self.fdb.get(dev).cloned().unwrap_or_default())
        })
    }

    fn nft_chain<'a>(
        &'a self,
        family: &'a str,
        table: &'a str,
        chain: &'a str,
    ) -> BoxFuture<'a, Result<bool, ObserveError>> {
        Box::pin(async move {
            self.pause().await;
            Ok(self.chains.contains(&(family.to_owned(), table.to_owned(), chain.to_owned())))
        })
    }

    fn nft_element<'a>(
        &'a self,
        family: &'a str,
        table: &'a str,
        set: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<bool, ObserveError>> {
        Box::pin(async move {
            self.pause().await;
            let wanted = (family.to_owned(), table.to_owned(), set.to_owned(), key.to_owned());
            Ok(self.elements.contains(&wanted))
        })
    }

    fn namespace<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<bool, ObserveError>> {
        Box::pin(async move { Ok(self.namespaces.contains_key(ns)) })
    }

    fn ns_links<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Vec<NsLink>, ObserveError>> {
        Box::pin(async move { Ok(self.namespaces.get(ns).cloned().unwrap_or_default()) })
    }

    fn ns_routes<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Vec<Route>, ObserveError>> {
        Box::pin(async move { Ok(self.routes.get(ns).cloned().unwrap_or_default()) })
    }

    fn ns_nat<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Option<NatSummary>, ObserveError>> {
        Box::pin(async move { Ok(self.nat.get(ns).cloned()) })
    }

    fn read_file<'a>(&'a self, path: &'a Path) -> BoxFuture<'a, Result<Option<String>, ObserveError>> {
        Box::pin(async move { Ok(self.files.get(path).cloned()) })
    }

    fn process<'a>(&'a self, pid: u32, ns: &'a str) -> BoxFuture<'a, Result<Option<Process>, ObserveError>> {
        Box::pin(async move {
            Ok(self.processes.get(&pid).map(|(comm, in_ns)| Process {
                comm: comm.clone(),
                in_namespace: in_ns == ns,
                stopped: self.stopped.contains(&pid),
            }))
        })
    }
}
