//! The narrow interface between the L2 reconciler and the kernel.
//!
//! The reconciler never talks to the kernel itself: it reads the links and FDB entries it
//! cares about through [`Dataplane`] and changes them one `ip link`/`bridge fdb` verb at a
//! time. [`crate::l2::netlink::NetlinkDataplane`] runs those verbs over rtnetlink in the
//! current network namespace; [`crate::l2::fake::FakeDataplane`] keeps them in memory so the
//! reconciler's diffing, ordering and idempotency can be tested without root.
//!
//! Everything is named by device name, as operators name devices; resolving names to
//! interface indexes is the implementation's business. Methods take `&self` (the real
//! implementation holds a cloneable netlink handle, the fake a mutex) and return `Send`
//! futures so a reconciler can live in a spawned task.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::str::FromStr;

/// An Ethernet address, as in FDB entries (`bridge fdb ... <mac>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `00:00:00:00:00:00`: on a VXLAN device, the default destination of frames whose
    /// MAC is not known (head-end replication of broadcast, unknown unicast, multicast).
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// A port's own address: neither the zero address nor a group (multicast) one. The
    /// kernel keeps one destination for such an entry: appending a second is a silent no-op.
    pub fn is_unicast(&self) -> bool {
        *self != MacAddr::ZERO && self.0[0] & 1 == 0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// The text was not six colon-separated hex octets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}")]
pub struct InvalidMac(pub String);

impl FromStr for MacAddr {
    type Err = InvalidMac;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let part = parts.next().ok_or_else(|| InvalidMac(s.to_owned()))?;
            if part.is_empty() || part.len() > 2 {
                return Err(InvalidMac(s.to_owned()));
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| InvalidMac(s.to_owned()))?;
        }
        if parts.next().is_some() {
            return Err(InvalidMac(s.to_owned()));
        }
        Ok(MacAddr(out))
    }
}

/// What kind of device a link is, as far as the L2 agent needs to tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    Bridge,
    Vxlan,
    /// An 802.1Q subinterface.
    Vlan,
    Veth,
    /// A tun/tap device (what a hypervisor plugs for a VM port).
    Tap,
    /// Anything else: physical NICs (no kind at all), bonds, dummies... The string is the
    /// kernel's kind, empty for a device without one.
    Other(String),
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkKind::Bridge => f.write_str("bridge"),
            LinkKind::Vxlan => f.write_str("vxlan"),
            LinkKind::Vlan => f.write_str("vlan"),
            LinkKind::Veth => f.write_str("veth"),
            LinkKind::Tap => f.write_str("tun"),
            LinkKind::Other(k) if k.is_empty() => f.write_str("device"),
            LinkKind::Other(k) => f.write_str(k),
        }
    }
}

/// The attributes of a VXLAN device the agent manages (`ip -d link show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanInfo {
    pub vni: u32,
    /// `local`: the source address of encapsulated packets.
    pub local: Option<IpAddr>,
    /// `dstport`.
    pub dstport: u16,
    /// `learning`/`nolearning`: whether the device learns remote MACs from traffic.
    pub learning: bool,
    /// `group`/`remote`: a multicast group or single remote; the agent wants none.
    pub group: Option<IpAddr>,
}

/// The attributes of an 802.1Q subinterface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanInfo {
    /// The lower device (`link`), by name.
    pub parent: String,
    pub vid: u16,
}

/// One network device as observed (`ip -d link show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub kind: LinkKind,
    /// The bridge the device is enslaved to, if any (`master`).
    pub master: Option<String>,
    pub mtu: u32,
    /// Administratively up (`IFF_UP`), whatever the carrier.
    pub up: bool,
    /// Operationally up (`IFF_LOWER_UP`, no `NO-CARRIER`): for a tap or veth, something is
    /// attached at its other end (a running VM, the namespace end up).
    pub carrier: bool,
    /// Set for [`LinkKind::Vxlan`].
    pub vxlan: Option<VxlanInfo>,
    /// Set for [`LinkKind::Vlan`].
    pub vlan: Option<VlanInfo>,
    /// The host has IPv6 on the device (`disable_ipv6` is 0): a link-local address that
    /// VMs on the network could reach, and one more device whose every change walks the
    /// host's IPv6 routes.
    pub ipv6: bool,
}

/// One forwarding entry of a VXLAN device (`bridge fdb ... dev vxlan-N dst <ip> self`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FdbEntry {
    pub mac: MacAddr,
    /// The remote tunnel endpoint frames for `mac` are sent to.
    pub dst: IpAddr,
}

impl fmt::Display for FdbEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} dst {}", self.mac, self.dst)
    }
}

/// `ip link add <name> mtu <mtu> type bridge`, then up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: String,
    pub mtu: u32,
}

/// `ip link add <name> mtu <mtu> type vxlan id <vni> local <local> dstport <dstport>
/// nolearning` (no group: flooding goes by head-end replication FDB entries), then up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanSpec {
    pub name: String,
    pub vni: u32,
    pub local: IpAddr,
    pub dstport: u16,
    pub mtu: u32,
}

impl VxlanSpec {
    /// Whether an existing device already is this VXLAN device. These attributes cannot
    /// be changed on a live device: a mismatch means delete and create again.
    pub fn matches(&self, info: &VxlanInfo) -> bool {
        info.vni == self.vni
            && info.local == Some(self.local)
            && info.dstport == self.dstport
            && !info.learning
            && info.group.is_none()
    }
}

/// `ip link add link <parent> name <name> mtu <mtu> type vlan id <vid>`, then up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanSpec {
    pub name: String,
    pub parent: String,
    pub vid: u16,
    pub mtu: u32,
}

/// The dataplane operations, in iproute2 vocabulary; errors name the one that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    ListLinks,
    ListFdb,
    CreateBridge,
    CreateVxlan,
    CreateVlan,
    DeleteLink,
    SetMaster,
    SetNomaster,
    SetMtu,
    SetUp,
    SetDown,
    FdbAppend,
    FdbDelete,
    DisableIpv6,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::ListLinks => "ip link show",
            Op::ListFdb => "bridge fdb show dev",
            Op::CreateBridge => "ip link add type bridge",
            Op::CreateVxlan => "ip link add type vxlan",
            Op::CreateVlan => "ip link add type vlan",
            Op::DeleteLink => "ip link del",
            Op::SetMaster => "ip link set master",
            Op::SetNomaster => "ip link set nomaster",
            Op::SetMtu => "ip link set mtu",
            Op::SetUp => "ip link set up",
            Op::SetDown => "ip link set down",
            Op::FdbAppend => "bridge fdb append",
            Op::FdbDelete => "bridge fdb del",
            Op::DisableIpv6 => "sysctl net.ipv6.conf.<dev>.disable_ipv6=1",
        })
    }
}

/// A dataplane operation that failed, with the device it was about.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// The device (or the master/parent it refers to) does not exist.
    #[error("{op}{}: no such device", on(.device))]
    NoDevice { op: Op, device: String },
    /// A device of another kind already has the name.
    #[error("{op}{}: a {found} device already has that name", on(.device))]
    WrongKind { op: Op, device: String, found: LinkKind },
    /// The kernel lacks the feature (e.g. no 802.1Q module, see KERNEL.md).
    #[error("{op}{}: not supported by this kernel", on(.device))]
    Unsupported {
        op: Op,
        device: String,
        #[source]
        source: std::io::Error,
    },
    /// Any other failure.
    #[error("{op}{} failed", on(.device))]
    Failed {
        op: Op,
        device: String,
        #[source]
        source: std::io::Error,
    },
}

/// ` <device>`, or nothing for operations about no device in particular.
fn on(device: &str) -> String {
    if device.is_empty() {
        String::new()
    } else {
        format!(" {device}")
    }
}

impl DataplaneError {
    /// Classify an OS error from the kernel about `op` on `device`.
    pub fn from_os(op: Op, device: &str, source: std::io::Error) -> Self {
        let device = device.to_owned();
        match source.raw_os_error() {
            Some(libc::ENODEV) => DataplaneError::NoDevice { op, device },
            Some(libc::EOPNOTSUPP) => DataplaneError::Unsupported { op, device, source },
            _ => DataplaneError::Failed { op, device, source },
        }
    }
}

/// The kernel objects of the L2 dataplane, read and changed one verb at a time.
///
/// Creates are idempotent: creating a device that already exists with the same kind
/// converges its MTU and up state and succeeds ("already there"); with another kind it
/// fails with [`DataplaneError::WrongKind`]. `fdb_append` of an entry that exists
/// succeeds; `fdb_delete` of one that is gone succeeds too.
pub trait Dataplane: Send + Sync {
    /// Every link in the namespace (`ip -d link show`).
    fn links(&self) -> impl Future<Output = Result<Vec<Link>, DataplaneError>> + Send;
    /// The forwarding entries with a remote destination of a VXLAN device
    /// (`bridge fdb show dev <dev>`, the `self` entries with `dst`).
    fn fdb(&self, dev: &str) -> impl Future<Output = Result<Vec<FdbEntry>, DataplaneError>> + Send;
    fn create_bridge(&self, spec: &BridgeSpec) -> impl Future<Output = Result<(), DataplaneError>> + Send;
    fn create_vxlan(&self, spec: &VxlanSpec) -> impl Future<Output = Result<(), DataplaneError>> + Send;
    fn create_vlan(&self, spec: &VlanSpec) -> impl Future<Output = Result<(), DataplaneError>> + Send;
    /// `ip link del <name>`.
    fn delete_link(&self, name: &str) -> impl Future<Output = Result<(), DataplaneError>> + Send;
    /// `ip link set <name> master <master>`.
    fn set_master(&self, name: &str, master: &str) -> impl Future<Output = Result<(), DataplaneError>> + Send;
    /// `ip link set <name> nomaster`.
    fn set_nomaster(&self, name: &str) -> impl Future<Output = Result<(), DataplaneError>> + Send;
    /// `ip link set <name> mtu <mtu>`.
    fn set_mtu(&self, name: &str, mtu: u32) -> impl Future<Output = Result<(), DataplaneError>> + Send;
    /// `ip link set <name> up`.
    fn set_up(&self, name: &str) -> impl Future<Output = Result<(), DataplaneError>> + Send;
    /// `ip link set <name> down`.
    fn set_down(&self, name: &str) -> impl Future<Output = Result<(), DataplaneError>> + Send;
    /// `bridge fdb append <mac> dev <dev> dst <dst> self permanent`.
    fn fdb_append(&self, dev: &str, entry: &FdbEntry) -> impl Future<Output = Result<(), DataplaneError>> + Send;
    /// `bridge fdb del <mac> dev <dev> dst <dst> self`.
    fn fdb_delete(&self, dev: &str, entry: &FdbEntry) -> impl Future<Output = Result<(), DataplaneError>> + Send;
    /// `sysctl -w net.ipv6.conf.<name>.disable_ipv6=1`: the host keeps no address on tenant
    /// devices (as Neutron does for its bridges).
    fn disable_ipv6(&self, name: &str) -> impl Future<Output = Result<(), DataplaneError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trips_and_rejects_garbage() {
        let mac: MacAddr = "FA:16:3e:00:0a:1".parse().expect("valid mac");
        assert_eq!(mac.to_string(), "fa:16:3e:00:0a:01");
        assert_eq!("00:00:00:00:00:00".parse::<MacAddr>(), Ok(MacAddr::ZERO));
        for bad in ["", "fa:16:3e:00:0a", "fa:16:3e:00:0a:01:02", "fa:16:3e:00:0a:zz", "fa:16:3e:00:0a:100"] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn errno_classification() {
        let e = DataplaneError::from_os(Op::CreateVlan, "eth1.10", std::io::Error::from_raw_os_error(libc::EOPNOTSUPP));
        assert!(matches!(e, DataplaneError::Unsupported { .. }));
        assert_eq!(e.to_string(), "ip link add type vlan eth1.10: not supported by this kernel");
        let e = DataplaneError::from_os(Op::SetUp, "tapx", std::io::Error::from_raw_os_error(libc::ENODEV));
        assert!(matches!(e, DataplaneError::NoDevice { .. }));
    }
}
