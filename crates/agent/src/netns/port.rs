//! A namespaced port: a veth pair whose host end (`tap…`) stays in the host's namespace and
//! whose other end lives in a namespace, with the port's MAC, MTU and addresses. The DHCP
//! port of a network and each router port are these.
//!
//! [`NamespacedPorts`] are the verbs, named as an operator would type them;
//! [`converge_port`] is the one convergence both DHCP and L3 run.

use std::collections::BTreeSet;
use std::future::Future;

use crate::l2::dataplane::{LinkKind, MacAddr};

use super::cidr::IfAddr;
use super::NetnsError;

/// The host end of a veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapState {
    pub kind: LinkKind,
    /// The host has IPv6 on it (`disable_ipv6` is 0).
    pub ipv6: bool,
}

/// The namespace end of a veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevState {
    pub kind: LinkKind,
    pub mac: MacAddr,
    pub mtu: u32,
    pub up: bool,
    /// Its addresses, the kernel's IPv6 link-local ones included.
    pub addrs: Vec<IfAddr>,
}

/// Both ends of a port as found; `None` when missing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortDevices {
    pub tap: Option<TapState>,
    pub dev: Option<DevState>,
}

/// `ip link add <tap> mtu <mtu> type veth peer name <dev> mtu <mtu> address <mac> netns <ns>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    pub tap: String,
    pub dev: String,
    pub mac: MacAddr,
    pub mtu: u32,
    /// The namespace end up. A disabled router keeps its ports plugged (so they are wired
    /// and ACTIVE, as Neutron shows them) with this end down: it answers nothing.
    pub up: bool,
}

/// The operations on namespaces and the ports inside them.
pub trait NamespacedPorts: Send + Sync {
    /// `ip netns add <ns>` unless it exists, then `ip -n <ns> link set lo up`. True when created.
    fn ensure_namespace(&self, ns: &str) -> impl Future<Output = Result<bool, NetnsError>> + Send;
    /// `ip netns delete <ns>` (its veth pairs go with it).
    fn delete_namespace(&self, ns: &str) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip link show <tap>` here and `ip -n <ns> addr show <dev>`.
    fn port_devices(
        &self,
        ns: &str,
        tap: &str,
        dev: &str,
    ) -> impl Future<Output = Result<PortDevices, NetnsError>> + Send;
    /// Creates the veth pair, the tap up, the namespace end up as `spec.up` says, the host's
    /// IPv6 off on the tap.
    fn create_veth(&self, ns: &str, spec: &VethSpec) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip link delete <tap>` (here).
    fn delete_tap(&self, tap: &str) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip -n <ns> link delete <dev>`.
    fn delete_dev(&self, ns: &str, dev: &str) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `sysctl net.ipv6.conf.<tap>.disable_ipv6=1` (here).
    fn disable_tap_ipv6(&self, tap: &str) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip -n <ns> link set <dev> address <mac> mtu <mtu> up|down`.
    fn set_dev(&self, ns: &str, spec: &VethSpec) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip -n <ns> addr add <addr> dev <dev>` (`nodad` for an IPv6 link-local one).
    fn add_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> impl Future<Output = Result<(), NetnsError>> + Send;
    /// `ip -n <ns> addr del <addr> dev <dev>`.
    fn del_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> impl Future<Output = Result<(), NetnsError>> + Send;
}

/// A system whose namespaced ports are another value's (the real DHCP and L3 systems share
/// [`super::LinuxPorts`]).
pub trait PortsOf: Send + Sync {
    type Ports: NamespacedPorts;
    fn ports(&self) -> &Self::Ports;
}

impl<T: PortsOf> NamespacedPorts for T {
    async fn ensure_namespace(&self, ns: &str) -> Result<bool, NetnsError> {
        self.ports().ensure_namespace(ns).await
    }
    async fn delete_namespace(&self, ns: &str) -> Result<(), NetnsError> {
        self.ports().delete_namespace(ns).await
    }
    async fn port_devices(&self, ns: &str, tap: &str, dev: &str) -> Result<PortDevices, NetnsError> {
        self.ports().port_devices(ns, tap, dev).await
    }
    async fn create_veth(&self, ns: &str, spec: &VethSpec) -> Result<(), NetnsError> {
        self.ports().create_veth(ns, spec).await
    }
    async fn delete_tap(&self, tap: &str) -> Result<(), NetnsError> {
        self.ports().delete_tap(tap).await
    }
    async fn delete_dev(&self, ns: &str, dev: &str) -> Result<(), NetnsError> {
        self.ports().delete_dev(ns, dev).await
    }
    async fn disable_tap_ipv6(&self, tap: &str) -> Result<(), NetnsError> {
        self.ports().disable_tap_ipv6(tap).await
    }
    async fn set_dev(&self, ns: &str, spec: &VethSpec) -> Result<(), NetnsError> {
        self.ports().set_dev(ns, spec).await
    }
    async fn add_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> Result<(), NetnsError> {
        self.ports().add_addr(ns, dev, addr).await
    }
    async fn del_addr(&self, ns: &str, dev: &str, addr: IfAddr) -> Result<(), NetnsError> {
        self.ports().del_addr(ns, dev, addr).await
    }
}

/// Converges one port in `ns`: the veth pair (recreated when an end is missing or is not a
/// veth), its MAC, MTU and up or down state, the host's IPv6 off on the tap, then `addrs` (new ones
/// before stale ones are removed, IPv6 link-local ones not in `addrs` left to the kernel). Each change made is
/// passed to `applied`; true when the pair was (re)created.
pub async fn converge_port<P: NamespacedPorts + ?Sized>(
    sys: &P,
    ns: &str,
    spec: &VethSpec,
    addrs: &BTreeSet<IfAddr>,
    applied: &mut impl FnMut(String),
) -> Result<bool, NetnsError> {
    let mut found = sys.port_devices(ns, &spec.tap, &spec.dev).await?;
    let is_veth = |k: Option<&LinkKind>| k == Some(&LinkKind::Veth);
    let paired = is_veth(found.tap.as_ref().map(|t| &t.kind)) && is_veth(found.dev.as_ref().map(|d| &d.kind));
    if !paired {
        // One end without the other (a namespace deleted while a process kept it alive,
        // say) or a device of another kind: start over.
        if found.tap.is_some() {
            sys.delete_tap(&spec.tap).await?;
            applied(format!("delete stale {}", spec.tap));
        }
        if found.dev.is_some() {
            sys.delete_dev(ns, &spec.dev).await?;
            applied(format!("delete stale {} in {ns}", spec.dev));
        }
        sys.create_veth(ns, spec).await?;
        applied(format!("create veth {} peer {} in {ns} address {} mtu {}", spec.tap, spec.dev, spec.mac, spec.mtu));
        found = sys.port_devices(ns, &spec.tap, &spec.dev).await?;
    }
    let (Some(tap), Some(dev)) = (found.tap, found.dev) else {
        return Err(NetnsError::Vanished { tap: spec.tap.clone(), dev: spec.dev.clone() });
    };
    if tap.ipv6 {
        sys.disable_tap_ipv6(&spec.tap).await?;
        applied(format!("disable ipv6 on {}", spec.tap));
    }
    if dev.mac != spec.mac || dev.mtu != spec.mtu || dev.up != spec.up {
        sys.set_dev(ns, spec).await?;
        let state = if spec.up { "up" } else { "down" };
        applied(format!("set {} in {ns} address {} mtu {} {state}", spec.dev, spec.mac, spec.mtu));
    }
    // The kernel's own link-local addresses are never ours to remove; one we want (the
    // metadata fe80::a9fe:a9fe) is ours.
    let have: BTreeSet<IfAddr> =
        dev.addrs.iter().copied().filter(|a| !a.is_link_local() || addrs.contains(a)).collect();
    for addr in addrs.difference(&have) {
        sys.add_addr(ns, &spec.dev, *addr).await?;
        applied(format!("add address {addr} to {} in {ns}", spec.dev));
    }
    for addr in have.difference(addrs) {
        sys.del_addr(ns, &spec.dev, *addr).await?;
        applied(format!("delete address {addr} of {} in {ns}", spec.dev));
    }
    Ok(!paired)
}
