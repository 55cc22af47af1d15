//! [`DhcpSystem`] (and its [`NamespacedPorts`]) in memory, for the reconciler's unit tests: namespaces, the devices of
//! the DHCP ports and dnsmasq processes, with helpers to break things by hand.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::l2::dataplane::LinkKind;

use crate::netns::cidr::IfAddr;
use crate::netns::{DevState, NamespacedPorts, NetnsError, PortDevices, TapState, VethSpec};

use super::dns::DnsGuard;
use super::system::{DhcpSystem, RunningDnsmasq};
use super::DhcpError;

/// A fake process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeProcess {
    pub argv: Vec<String>,
    pub namespace: String,
    /// Namespaces are given a generation each time they are created, like an inode.
    pub namespace_generation: u64,
    pub pid_file: PathBuf,
    /// SIGHUPs received.
    pub reloads: u32,
}

#[derive(Debug, Default)]
struct State {
    /// Namespace -> generation, and the devices inside.
    namespaces: BTreeMap<String, (u64, BTreeMap<String, DevState>)>,
    /// Host devices: tap -> (state, peer namespace and device).
    taps: BTreeMap<String, (TapState, Option<(String, String)>)>,
    processes: BTreeMap<u32, FakeProcess>,
    next_pid: u32,
    generation: u64,
    /// Every mutating call, `verb target`, in order.
    calls: Vec<String>,
    /// Fail the next call of this verb.
    fail: Option<String>,
    /// Namespace -> default routes: gateway -> (device, onlink).
    routes: BTreeMap<String, BTreeMap<IpAddr, (String, bool)>>,
    /// Namespace -> the fingerprint of its DNS guard table.
    guards: BTreeMap<String, String>,
}

/// The fake.
#[derive(Debug, Default)]
pub struct FakeDhcp {
    state: Mutex<State>,
}

impl FakeDhcp {
    pub fn new() -> Self {
        FakeDhcp::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Mutating calls since the last `take_calls`, as `verb target`.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.state().calls)
    }

    /// Makes the next call of `verb` (as in [`FakeDhcp::take_calls`]) fail.
    pub fn fail_next(&self, verb: &str) {
        self.state().fail = Some(verb.to_owned());
    }

    pub fn namespace_names(&self) -> Vec<String> {
        self.state().namespaces.keys().cloned().collect()
    }

    /// The device `dev` inside `ns`.
    pub fn dev(&self, ns: &str, dev: &str) -> Option<DevState> {
        self.state().namespaces.get(ns).and_then(|(_, devs)| devs.get(dev).cloned())
    }

    pub fn tap(&self, tap: &str) -> Option<TapState> {
        self.state().taps.get(tap).map(|(t, _)| t.clone())
    }

    /// The default routes of `ns`: gateway -> (device, onlink).
    pub fn default_routes(&self, ns: &str) -> BTreeMap<IpAddr, (String, bool)> {
        self.state().routes.get(ns).cloned().unwrap_or_default()
    }

    /// The fingerprint of the DNS guard table in `ns`.
    pub fn guard(&self, ns: &str) -> Option<String> {
        self.state().guards.get(ns).cloned()
    }

    /// `nft delete table inet neutrino-dns` by hand.
    pub fn delete_guard_by_hand(&self, ns: &str) {
        self.state().guards.remove(ns);
    }

    pub fn processes(&self) -> BTreeMap<u32, FakeProcess> {
        self.state().processes.clone()
    }

    /// `ip netns delete` by hand: the veth pairs with an end inside die with it; processes
    /// inside keep running in the unnamed namespace.
    pub fn delete_namespace_by_hand(&self, ns: &str) {
        let mut st = self.state();
        let generation = st.namespaces.get(ns).map(|(g, _)| *g);
        let busy = st.processes.values().any(|p| p.namespace == ns && Some(p.namespace_generation) == generation);
        if busy {
            // The namespace lives on, unnamed, with its devices: the tap stays, its peer
            // out of reach.
            st.namespaces.remove(ns);
            st.routes.remove(ns);
            st.guards.remove(ns);
            for (_, peer) in st.taps.values_mut() {
                if peer.as_ref().is_some_and(|(n, _)| n == ns) {
                    *peer = None;
                }
            }
        } else {
            delete_ns(&mut st, ns);
        }
    }

    /// `ip -n <ns> addr flush dev <dev>` / any other edit of a device by hand.
    pub fn edit_dev(&self, ns: &str, dev: &str, edit: impl FnOnce(&mut DevState)) {
        if let Some(d) = self.state().namespaces.get_mut(ns).and_then(|(_, devs)| devs.get_mut(dev)) {
            edit(d);
        }
    }

    /// `kill -9 <pid>`.
    pub fn kill(&self, pid: u32) {
        self.state().processes.remove(&pid);
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
}

fn delete_ns(st: &mut State, ns: &str) {
    st.routes.remove(ns);
    st.guards.remove(ns);
    if st.namespaces.remove(ns).is_some() {
        st.taps.retain(|_, (_, peer)| peer.as_ref().is_none_or(|(n, _)| n != ns));
    }
}

/// The kernel drops the routes through a device with it.
fn drop_routes_via(st: &mut State, ns: &str, dev: &str) {
    if let Some(routes) = st.routes.get_mut(ns) {
        routes.retain(|_, (d, _)| d != dev);
    }
}

fn no_ns(ns: &str) -> NetnsError {
    NetnsError::failed("enter namespace", ns, io::Error::from(io::ErrorKind::NotFound))
}

impl NamespacedPorts for FakeDhcp {
    async fn ensure_namespace(&self, ns: &str) -> Result<bool, NetnsError> {
        let st = self.state();
        if st.namespaces.contains_key(ns) {
            return Ok(false);
        }
        drop(st);
        let mut st = self.call("netns-add", ns)?;
        st.generation += 1;
        let generation = st.generation;
        st.namespaces.insert(ns.to_owned(), (generation, BTreeMap::new()));
        Ok(true)
    }

    async fn delete_namespace(&self, ns: &str) -> Result<(), NetnsError> {
        let mut st = self.call("netns-delete", ns)?;
        delete_ns(&mut st, ns);
        Ok(())
    }

    async fn port_devices(&self, ns: &str, tap: &str, dev: &str) -> Result<PortDevices, NetnsError> {
        let st = self.state();
        let devs = &st.namespaces.get(ns).ok_or_else(|| no_ns(ns))?.1;
        Ok(PortDevices { tap: st.taps.get(tap).map(|(t, _)| t.clone()), dev: devs.get(dev).cloned() })
    }

    async fn create_veth(&self, ns: &str, spec: &VethSpec) -> Result<(), NetnsError> {
        let mut st = self.call("veth-add", &format!("{} {}", spec.tap, spec.dev))?;
        if st.taps.contains_key(&spec.tap) {
            return Err(NetnsError::failed("create veth", &spec.tap, io::Error::from_raw_os_error(libc::EEXIST)));
        }
        let devs = &mut st.namespaces.get_mut(ns).ok_or_else(|| no_ns(ns))?.1;
        if devs.contains_key(&spec.dev) {
            return Err(NetnsError::failed("create veth", &spec.dev, io::Error::from_raw_os_error(libc::EEXIST)));
        }
        let dev = DevState { kind: LinkKind::Veth, mac: spec.mac, mtu: spec.mtu, up: spec.up, addrs: Vec::new() };
        devs.insert(spec.dev.clone(), dev);
        let tap = TapState { kind: LinkKind::Veth, ipv6: false };
        st.taps.insert(spec.tap.clone(), (tap, Some((ns.to_owned(), spec.dev.clone()))));
        Ok(())
    }

    async fn delete_tap(&self, tap: &str) -> Result<(), NetnsError> {
        let mut st = self.call("link-delete", tap)?;
        if let Some((_, Some((ns, dev)))) = st.taps.remove(tap) {
            if let Some((_, devs)) = st.namespaces.get_mut(&ns) {
                devs.remove(&dev);
            }
            drop_routes_via(&mut st, &ns, &dev);
        }
        Ok(())
    }

    async fn delete_dev(&self, ns: &str, dev: &str) -> Result<(), NetnsError> {
        let mut st = self.call("link-delete", &format!("{ns} {dev}"))?;
        if let Some((_, devs)) = st.namespaces.get_mut(ns) {
            devs.remove(dev);
        }
        drop_routes_via(&mut st, ns, dev);
        let (ns, dev) = (ns.to_owned(), dev.to_owned());
        st.taps.retain(|_, (_, peer)| peer.as_ref() != Some(&(ns.clone(), dev.clone())));
        Ok(())
    }

    async fn disable_tap_ipv6(&self, tap: &str) -> Result<(), NetnsError> {
        let mut st = self.call("disable-ipv6", tap)?;
        if let Some((t, _)) = st.taps.get_mut(tap) {
            t.ipv6 = false;
        }
        Ok(())
    }

    async fn set_dev(&self, ns: &str, spec: &VethSpec) -> Result<(), NetnsError> {
        let mut st = self.call("link-set", &spec.dev)?;
        let devs = &mut st.namespaces.get_mut(ns).ok_or_else(|| no_ns(ns))?.1;
        let dev = devs.get_mut(&spec.dev).ok_or_else(|| no_ns(&spec.dev))?;
        (dev.mac, dev.mtu, dev.up) = (spec.mac, spec.mtu, spec.up);
        Ok(())
    }

    async fn add_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> Result<(), NetnsError> {
        let mut st = self.call("addr-add", &format!("{addr} {dev}"))?;
        let devs = &mut st.namespaces.get_mut(ns).ok_or_else(|| no_ns(ns))?.1;
        let d = devs.get_mut(dev).ok_or_else(|| no_ns(dev))?;
        if !d.addrs.contains(&addr) {
            d.addrs.push(addr);
        }
        Ok(())
    }

    async fn del_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> Result<(), NetnsError> {
        let mut st = self.call("addr-del", &format!("{addr} {dev}"))?;
        let devs = &mut st.namespaces.get_mut(ns).ok_or_else(|| no_ns(ns))?.1;
        if let Some(d) = devs.get_mut(dev) {
            d.addrs.retain(|a| *a != addr);
        }
        Ok(())
    }
}

impl DhcpSystem for FakeDhcp {
    async fn namespaces(&self) -> Result<Vec<String>, DhcpError> {
        Ok(self.namespace_names())
    }

    async fn dnsmasq(&self, pid_file: &Path, ns: &str) -> Result<Option<RunningDnsmasq>, DhcpError> {
        let st = self.state();
        let generation = st.namespaces.get(ns).map(|(g, _)| *g);
        Ok(st.processes.iter().find(|(_, p)| p.pid_file == pid_file).map(|(pid, p)| RunningDnsmasq {
            pid: *pid,
            argv: p.argv.clone(),
            in_namespace: p.namespace == ns && Some(p.namespace_generation) == generation,
        }))
    }

    async fn start_dnsmasq(&self, ns: &str, argv: &[String], pid_file: &Path) -> Result<Option<u32>, DhcpError> {
        let mut st = self.call("dnsmasq-start", ns)?;
        let generation = st.namespaces.get(ns).ok_or_else(|| no_ns(ns))?.0;
        st.next_pid += 1;
        let pid = 1000 + st.next_pid;
        let process = FakeProcess {
            argv: argv.to_vec(),
            namespace: ns.to_owned(),
            namespace_generation: generation,
            pid_file: pid_file.to_owned(),
            reloads: 0,
        };
        st.processes.insert(pid, process);
        Ok(Some(pid))
    }

    async fn reload_dnsmasq(&self, pid: u32) -> Result<(), DhcpError> {
        let mut st = self.call("dnsmasq-hup", &pid.to_string())?;
        if let Some(p) = st.processes.get_mut(&pid) {
            p.reloads += 1;
        }
        Ok(())
    }

    async fn stop_dnsmasq(&self, pid: u32) -> Result<(), DhcpError> {
        let mut st = self.call("dnsmasq-stop", &pid.to_string())?;
        st.processes.remove(&pid);
        Ok(())
    }

    async fn default_gateways(&self, ns: &str) -> Result<Vec<IpAddr>, DhcpError> {
        let st = self.state();
        st.namespaces.get(ns).ok_or_else(|| no_ns(ns))?;
        Ok(st.routes.get(ns).map(|r| r.keys().copied().collect()).unwrap_or_default())
    }

    async fn set_default_gateway(&self, ns: &str, dev: &str, gateway: IpAddr, onlink: bool) -> Result<(), DhcpError> {
        let mut st = self.call("route-replace", &format!("default via {gateway} dev {dev} in {ns}"))?;
        let devs = &st.namespaces.get(ns).ok_or_else(|| no_ns(ns))?.1;
        if !devs.contains_key(dev) {
            return Err(NetnsError::failed("add route", dev, io::Error::from_raw_os_error(libc::ENODEV)).into());
        }
        let routes = st.routes.entry(ns.to_owned()).or_default();
        // One default route per family, as `ip route replace default` leaves.
        routes.retain(|gw, _| gw.is_ipv4() != gateway.is_ipv4());
        routes.insert(gateway, (dev.to_owned(), onlink));
        Ok(())
    }

    async fn del_default_gateway(&self, ns: &str, gateway: IpAddr) -> Result<(), DhcpError> {
        let mut st = self.call("route-del", &format!("default via {gateway} in {ns}"))?;
        if let Some(routes) = st.routes.get_mut(ns) {
            routes.remove(&gateway);
        }
        Ok(())
    }

    async fn dns_guard(&self, ns: &str) -> Result<Option<String>, DhcpError> {
        let st = self.state();
        st.namespaces.get(ns).ok_or_else(|| no_ns(ns))?;
        Ok(st.guards.get(ns).cloned())
    }

    async fn apply_dns_guard(&self, ns: &str, guard: &DnsGuard) -> Result<(), DhcpError> {
        let mut st = self.call("nft-apply", ns)?;
        st.namespaces.get(ns).ok_or_else(|| no_ns(ns))?;
        st.guards.insert(ns.to_owned(), guard.fingerprint.clone());
        Ok(())
    }
}
