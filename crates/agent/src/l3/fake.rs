//! [`L3System`] in memory, for the reconciler's unit tests. Namespaces and devices are
//! [`FakeDhcp`]'s (the same fake the DHCP reconciler is tested with); forwarding, routes,
//! NAT tables and conntrack deletions are kept here, per namespace, and vanish with it.
//! radvd processes (by pid file) and their configuration files are kept here too; a radvd
//! outlives its namespace, as a real one would, but no longer runs in it.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::dhcp::fake::FakeDhcp;
use crate::netns::cidr::IfAddr;
use crate::netns::process::Daemon;
use crate::netns::{DevState, NamespacedPorts, NetnsError, PortDevices, VethSpec};

use super::nat::{NatRuleset, NatSummary};
use super::system::{ConntrackFlush, L3Error, L3System, Route};
use super::NAMESPACE_PREFIX;

#[derive(Debug, Default)]
struct State {
    /// Devices made by `create_veth`, per namespace (whether they still exist is the
    /// device fake's to say).
    devs: BTreeMap<String, BTreeSet<String>>,
    forwarding: BTreeSet<String>,
    routes: BTreeMap<String, BTreeSet<Route>>,
    nat: BTreeMap<String, NatSummary>,
    flushed: Vec<(String, ConntrackFlush)>,
    calls: Vec<String>,
    fail: Option<String>,
    /// `conntrack` is not installed.
    no_conntrack: bool,
    /// Files by path (radvd's configurations).
    files: BTreeMap<PathBuf, String>,
    /// Live radvd processes by pid file.
    radvd: BTreeMap<PathBuf, FakeRadvd>,
    last_pid: u32,
}

/// A radvd of the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRadvd {
    pub pid: u32,
    pub argv: Vec<String>,
    pub namespace: String,
    /// Its namespace was deleted since it started.
    pub orphaned: bool,
    /// The configuration as it read it last (at start and on each SIGHUP).
    pub config: Option<String>,
}

/// The fake.
#[derive(Debug, Default)]
pub struct FakeL3 {
    dev: FakeDhcp,
    state: Mutex<State>,
}

impl FakeL3 {
    pub fn new() -> Self {
        FakeL3::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mutating calls since the last `take_calls`, as `verb target`.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.state().calls)
    }

    /// Makes the next call of `verb` (as in [`FakeL3::take_calls`]) fail.
    pub fn fail_next(&self, verb: &str) {
        self.state().fail = Some(verb.to_owned());
    }

    /// Every `conntrack -D` so far.
    pub fn flushed(&self) -> Vec<(String, ConntrackFlush)> {
        self.state().flushed.clone()
    }

    /// Makes `conntrack` missing.
    pub fn remove_conntrack(&self) {
        self.state().no_conntrack = true;
    }

    pub fn namespace_names(&self) -> Vec<String> {
        self.dev.namespace_names()
    }

    pub fn dev(&self, ns: &str, dev: &str) -> Option<DevState> {
        self.dev.dev(ns, dev)
    }

    pub fn forwarding_on(&self, ns: &str) -> bool {
        self.state().forwarding.contains(ns)
    }

    pub fn route_set(&self, ns: &str) -> BTreeSet<Route> {
        self.state().routes.get(ns).cloned().unwrap_or_default()
    }

    pub fn nat_table(&self, ns: &str) -> Option<NatSummary> {
        self.state().nat.get(ns).cloned()
    }

    /// The radvd running with `pid_file`.
    pub fn radvd_of(&self, pid_file: &Path) -> Option<FakeRadvd> {
        self.state().radvd.get(pid_file).cloned()
    }

    /// `kill -9` of the radvd with `pid_file`, by hand.
    pub fn kill_radvd_by_hand(&self, pid_file: &Path) {
        self.state().radvd.remove(pid_file);
    }

    /// The content of a file written through the fake.
    pub fn file(&self, path: &Path) -> Option<String> {
        self.state().files.get(path).cloned()
    }

    /// Every path written through the fake and still there.
    pub fn file_paths(&self) -> Vec<PathBuf> {
        self.state().files.keys().cloned().collect()
    }

    /// `ip netns delete` by hand.
    pub fn delete_namespace_by_hand(&self, ns: &str) {
        self.dev.delete_namespace_by_hand(ns);
        forget(&mut self.state(), ns);
    }

    /// Any edit of a device by hand.
    pub fn edit_dev(&self, ns: &str, dev: &str, edit: impl FnOnce(&mut DevState)) {
        self.dev.edit_dev(ns, dev, edit);
    }

    /// `ip -n <ns> route del …` by hand.
    pub fn delete_route_by_hand(&self, ns: &str, route: &Route) {
        if let Some(routes) = self.state().routes.get_mut(ns) {
            routes.remove(route);
        }
    }

    /// `nft delete table inet neutrino-l3` by hand.
    pub fn delete_nat_by_hand(&self, ns: &str) {
        self.state().nat.remove(ns);
    }

    /// `sysctl net.ipv4.ip_forward=0` by hand.
    pub fn disable_forwarding_by_hand(&self, ns: &str) {
        self.state().forwarding.remove(ns);
    }

    fn call(&self, verb: &str, target: &str) -> Result<MutexGuard<'_, State>, NetnsError> {
        let mut st = self.state();
        if st.fail.as_deref() == Some(verb) {
            st.fail = None;
            return Err(NetnsError::failed("fake", format!("{verb} {target}"), io::Error::other("injected")));
        }
        st.calls.push(format!("{verb} {target}"));
        Ok(st)
    }

    fn has_ns(&self, ns: &str) -> Result<(), L3Error> {
        if self.dev.namespace_names().iter().any(|n| n == ns) {
            Ok(())
        } else {
            Err(NetnsError::failed("enter namespace", ns, io::Error::from(io::ErrorKind::NotFound)).into())
        }
    }
}

fn forget(st: &mut State, ns: &str) {
    for daemon in st.radvd.values_mut().filter(|d| d.namespace == ns) {
        daemon.orphaned = true;
    }
    st.devs.remove(ns);
    st.forwarding.remove(ns);
    st.routes.remove(ns);
    st.nat.remove(ns);
}

impl NamespacedPorts for FakeL3 {
    async fn ensure_namespace(&self, ns: &str) -> Result<bool, NetnsError> {
        if self.dev.namespace_names().iter().any(|n| n == ns) {
            return Ok(false);
        }
        forget(&mut *self.call("netns-add", ns)?, ns);
        self.dev.ensure_namespace(ns).await
    }

    async fn delete_namespace(&self, ns: &str) -> Result<(), NetnsError> {
        forget(&mut *self.call("netns-delete", ns)?, ns);
        self.dev.delete_namespace(ns).await
    }

    async fn port_devices(&self, ns: &str, tap: &str, dev: &str) -> Result<PortDevices, NetnsError> {
        self.dev.port_devices(ns, tap, dev).await
    }

    async fn create_veth(&self, ns: &str, spec: &VethSpec) -> Result<(), NetnsError> {
        self.call("veth-add", &format!("{} {}", spec.tap, spec.dev))?
            .devs
            .entry(ns.to_owned())
            .or_default()
            .insert(spec.dev.clone());
        self.dev.create_veth(ns, spec).await
    }

    async fn delete_tap(&self, tap: &str) -> Result<(), NetnsError> {
        drop(self.call("link-delete", tap)?);
        self.dev.delete_tap(tap).await
    }

    async fn delete_dev(&self, ns: &str, dev: &str) -> Result<(), NetnsError> {
        drop(self.call("link-delete", &format!("{ns} {dev}"))?);
        self.dev.delete_dev(ns, dev).await
    }

    async fn disable_tap_ipv6(&self, tap: &str) -> Result<(), NetnsError> {
        drop(self.call("disable-ipv6", tap)?);
        self.dev.disable_tap_ipv6(tap).await
    }

    async fn set_dev(&self, ns: &str, spec: &VethSpec) -> Result<(), NetnsError> {
        drop(self.call("link-set", &spec.dev)?);
        self.dev.set_dev(ns, spec).await
    }

    async fn add_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> Result<(), NetnsError> {
        drop(self.call("addr-add", &format!("{addr} {dev}"))?);
        self.dev.add_addr(ns, dev, addr).await
    }

    async fn del_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> Result<(), NetnsError> {
        drop(self.call("addr-del", &format!("{addr} {dev}"))?);
        self.dev.del_addr(ns, dev, addr).await
    }
}

impl L3System for FakeL3 {
    async fn namespaces(&self) -> Result<Vec<String>, L3Error> {
        Ok(self.dev.namespace_names().into_iter().filter(|n| n.starts_with(NAMESPACE_PREFIX)).collect())
    }

    async fn links(&self, ns: &str) -> Result<Vec<String>, L3Error> {
        self.has_ns(ns)?;
        let devs = self.state().devs.get(ns).cloned().unwrap_or_default();
        Ok(devs.into_iter().filter(|d| self.dev.dev(ns, d).is_some()).collect())
    }

    async fn forwarding_is(&self, ns: &str, on: bool) -> Result<bool, L3Error> {
        self.has_ns(ns)?;
        Ok(self.state().forwarding.contains(ns) == on)
    }

    async fn set_forwarding(&self, ns: &str, on: bool) -> Result<(), L3Error> {
        self.has_ns(ns)?;
        if on {
            self.call("forwarding-on", ns)?.forwarding.insert(ns.to_owned());
        } else {
            self.call("forwarding-off", ns)?.forwarding.remove(ns);
        }
        Ok(())
    }

    async fn routes(&self, ns: &str) -> Result<Vec<Route>, L3Error> {
        self.has_ns(ns)?;
        Ok(self.route_set(ns).into_iter().collect())
    }

    async fn add_route(&self, ns: &str, route: &Route) -> Result<(), L3Error> {
        self.has_ns(ns)?;
        self.call("route-add", &route.to_string())?.routes.entry(ns.to_owned()).or_default().insert(*route);
        Ok(())
    }

    async fn del_route(&self, ns: &str, route: &Route) -> Result<(), L3Error> {
        self.has_ns(ns)?;
        if let Some(routes) = self.call("route-del", &route.to_string())?.routes.get_mut(ns) {
            routes.remove(route);
        }
        Ok(())
    }

    async fn nat(&self, ns: &str) -> Result<Option<NatSummary>, L3Error> {
        self.has_ns(ns)?;
        Ok(self.nat_table(ns))
    }

    async fn apply_nat(&self, ns: &str, ruleset: &NatRuleset) -> Result<(), L3Error> {
        self.has_ns(ns)?;
        self.call("nft-apply", ns)?.nat.insert(ns.to_owned(), ruleset.summary());
        Ok(())
    }

    async fn flush_conntrack(&self, ns: &str, what: &ConntrackFlush) -> Result<(), L3Error> {
        self.has_ns(ns)?;
        let mut st = self.call("conntrack-delete", &what.to_string())?;
        if st.no_conntrack {
            return Err(L3Error::Spawn {
                namespace: ns.to_owned(),
                command: "/usr/sbin/conntrack -D".to_owned(),
                source: io::Error::from(io::ErrorKind::NotFound),
            });
        }
        st.flushed.push((ns.to_owned(), *what));
        Ok(())
    }

    async fn radvd(&self, pid_file: &Path, ns: &str) -> Result<Option<Daemon>, L3Error> {
        Ok(self.radvd_of(pid_file).map(|d| Daemon {
            pid: d.pid,
            in_namespace: d.namespace == ns && !d.orphaned,
            argv: d.argv,
        }))
    }

    async fn start_radvd(&self, ns: &str, argv: &[String], pid_file: &Path) -> Result<Option<u32>, L3Error> {
        self.has_ns(ns)?;
        let conf = argv.windows(2).find(|w| w[0] == "-C").map(|w| PathBuf::from(&w[1]));
        let mut st = self.call("radvd-start", ns)?;
        st.last_pid += 1;
        let pid = st.last_pid;
        let config = conf.and_then(|c| st.files.get(&c).cloned());
        let daemon = FakeRadvd { pid, argv: argv.to_vec(), namespace: ns.to_owned(), orphaned: false, config };
        st.radvd.insert(pid_file.to_owned(), daemon);
        Ok(Some(pid))
    }

    async fn reload_radvd(&self, pid: u32) -> Result<(), L3Error> {
        let mut st = self.call("radvd-hup", &pid.to_string())?;
        let files = st.files.clone();
        for daemon in st.radvd.values_mut().filter(|d| d.pid == pid) {
            let conf = daemon.argv.windows(2).find(|w| w[0] == "-C").map(|w| PathBuf::from(&w[1]));
            daemon.config = conf.and_then(|c| files.get(&c).cloned());
        }
        Ok(())
    }

    async fn stop_radvd(&self, pid: u32) -> Result<(), L3Error> {
        self.call("radvd-stop", &pid.to_string())?.radvd.retain(|_, d| d.pid != pid);
        Ok(())
    }

    async fn read_config(&self, path: &Path) -> Result<Option<String>, L3Error> {
        Ok(self.file(path))
    }

    async fn write_config(&self, path: &Path, contents: &str) -> Result<(), L3Error> {
        self.call("write", &path.display().to_string())?.files.insert(path.to_owned(), contents.to_owned());
        Ok(())
    }

    async fn state_dirs(&self, dir: &Path) -> Result<Vec<String>, L3Error> {
        let st = self.state();
        let paths = st.files.keys().chain(st.radvd.keys());
        let mut names: Vec<String> = paths
            .filter_map(|p| p.strip_prefix(dir).ok()?.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn remove_dir(&self, dir: &Path) -> Result<(), L3Error> {
        self.call("rm", &dir.display().to_string())?.files.retain(|p, _| !p.starts_with(dir));
        Ok(())
    }
}
