//! [`Dataplane`] over rtnetlink, in the network namespace the socket was opened in.
//!
//! Every verb is one rtnetlink request, never an `ip` or `bridge` command. A netlink
//! socket stays in the namespace it was created in, so to manage another namespace open
//! the dataplane ([`NetlinkDataplane::new`]) on a thread that has `setns`'d into it;
//! the rest of the process is unaffected.
//!
//! Creating a device that already exists returns EEXIST: the device is "already there",
//! and its MTU and up state are converged instead (a different kind is an error). FDB
//! entries are added like `bridge fdb append` (`NLM_F_CREATE | NLM_F_APPEND`), so several
//! `00:00:00:00:00:00` entries with different destinations coexist for head-end
//! replication.

use std::net::IpAddr;

use futures::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REQUEST,
};
use rtnetlink::packet_route::link::{
    AfSpecInet6, AfSpecUnspec, InfoData, InfoKind, InfoVlan, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVlan, LinkVxlan};

use crate::l2::dataplane::{
    BridgeSpec, Dataplane, DataplaneError, FdbEntry, Link, LinkKind, MacAddr, Op, VlanInfo, VlanSpec, VxlanInfo,
    VxlanSpec,
};

/// The kernel's L2 dataplane, reached through one rtnetlink socket.
#[derive(Debug, Clone)]
pub struct NetlinkDataplane {
    handle: Handle,
}

impl NetlinkDataplane {
    /// Opens an rtnetlink socket in the calling thread's network namespace and drives it
    /// on the current tokio runtime (an error outside of one).
    pub fn new() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
        let (connection, handle, _) = rtnetlink::new_connection()?;
        runtime.spawn(connection);
        Ok(NetlinkDataplane { handle })
    }

    /// The interface index of `name` (`ip link show <name>`).
    async fn index(&self, op: Op, name: &str) -> Result<u32, DataplaneError> {
        Ok(self.get(op, name).await?.header.index)
    }

    async fn get(&self, op: Op, name: &str) -> Result<LinkMessage, DataplaneError> {
        let mut links = self.handle.link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err(DataplaneError::NoDevice { op, device: name.to_owned() }),
            Err(e) => Err(nl_error(op, name, e)),
        }
    }

    /// `ip link set <name> ...`: applies `edit` to a message addressed to the device.
    async fn change(
        &self,
        op: Op,
        name: &str,
        edit: impl FnOnce(LinkMessageBuilder<LinkUnspec>) -> LinkMessageBuilder<LinkUnspec>,
    ) -> Result<(), DataplaneError> {
        let index = self.index(op, name).await?;
        let msg = edit(LinkUnspec::new_with_index(index)).build();
        self.handle.link().change(msg).execute().await.map_err(|e| nl_error(op, name, e))
    }

    /// `ip link add`; on EEXIST checks the kind and converges MTU and up state.
    async fn create(
        &self,
        op: Op,
        name: &str,
        kind: LinkKind,
        msg: LinkMessage,
        mtu: u32,
    ) -> Result<(), DataplaneError> {
        match self.handle.link().add(msg).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.to_io().raw_os_error() == Some(libc::EEXIST) => {
                let found = parse_kind(&self.get(op, name).await?);
                if found != kind {
                    return Err(DataplaneError::WrongKind { op, device: name.to_owned(), found });
                }
                tracing::debug!(device = name, "already there; converging mtu and up");
                self.change(op, name, |b| b.mtu(mtu).up()).await
            }
            Err(e) => Err(nl_error(op, name, e)),
        }
    }

    /// Sends one neighbour request for the FDB of `dev` and waits for its acknowledgement.
    async fn fdb_request(&self, op: Op, dev: &str, entry: &FdbEntry) -> Result<(), DataplaneError> {
        let index = self.index(op, dev).await?;
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = index;
        msg.header.state = NeighbourState::Permanent;
        msg.header.flags = NeighbourFlags::Own; // NTF_SELF: the VXLAN device's own FDB
        msg.attributes.push(NeighbourAttribute::LinkLayerAddress(entry.mac.0.to_vec()));
        msg.attributes.push(NeighbourAttribute::Destination(NeighbourAddress::from(entry.dst)));
        let (payload, flags) = match op {
            Op::FdbDelete => (RouteNetlinkMessage::DelNeighbour(msg), NLM_F_REQUEST | NLM_F_ACK),
            _ => (RouteNetlinkMessage::NewNeighbour(msg), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND),
        };
        let mut req = NetlinkMessage::from(payload);
        req.header.flags = flags;
        let mut handle = self.handle.clone();
        let mut responses = handle.request(req).map_err(|e| nl_error(op, dev, e))?;
        while let Some(resp) = responses.next().await {
            if let NetlinkPayload::Error(e) = resp.payload {
                let err = e.to_io();
                if op == Op::FdbDelete && err.raw_os_error() == Some(libc::ENOENT) {
                    return Ok(()); // already gone
                }
                return Err(DataplaneError::from_os(op, dev, err));
            }
        }
        Ok(())
    }
}

fn nl_error(op: Op, device: &str, e: rtnetlink::Error) -> DataplaneError {
    match e {
        rtnetlink::Error::NetlinkError(m) => DataplaneError::from_os(op, device, m.to_io()),
        other => DataplaneError::Failed { op, device: device.to_owned(), source: std::io::Error::other(other) },
    }
}

fn link_info(msg: &LinkMessage) -> &[LinkInfo] {
    msg.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::LinkInfo(infos) => Some(infos.as_slice()),
            _ => None,
        })
        .unwrap_or_default()
}

fn parse_kind(msg: &LinkMessage) -> LinkKind {
    let kind = link_info(msg).iter().find_map(|i| match i {
        LinkInfo::Kind(k) => Some(k),
        _ => None,
    });
    match kind {
        Some(InfoKind::Bridge) => LinkKind::Bridge,
        Some(InfoKind::Vxlan) => LinkKind::Vxlan,
        Some(InfoKind::Vlan) => LinkKind::Vlan,
        Some(InfoKind::Veth) => LinkKind::Veth,
        Some(InfoKind::Tun) => LinkKind::Tap,
        Some(other) => LinkKind::Other(other.to_string()),
        None => LinkKind::Other(String::new()),
    }
}

fn parse_vxlan(infos: &[InfoVxlan]) -> VxlanInfo {
    // The kernel defaults: learning on, IANA port only if asked.
    let mut info = VxlanInfo { vni: 0, local: None, dstport: 0, learning: true, group: None };
    for attr in infos {
        match attr {
            InfoVxlan::Id(v) => info.vni = *v,
            InfoVxlan::Local(a) => info.local = Some(IpAddr::V4(*a)),
            InfoVxlan::Local6(a) => info.local = Some(IpAddr::V6(*a)),
            InfoVxlan::Group(a) => info.group = Some(IpAddr::V4(*a)),
            InfoVxlan::Group6(a) => info.group = Some(IpAddr::V6(*a)),
            InfoVxlan::Port(p) => info.dstport = *p,
            InfoVxlan::Learning(l) => info.learning = *l,
            _ => {}
        }
    }
    info
}

/// Turns one dumped link into a [`Link`]; `name_of` resolves master and parent indexes.
fn parse_link(msg: &LinkMessage, name_of: &dyn Fn(u32) -> Option<String>) -> Option<Link> {
    let mut name = None;
    let mut mtu = 0;
    let mut master = None;
    let mut parent = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Mtu(m) => mtu = *m,
            LinkAttribute::Controller(i) => master = name_of(*i),
            LinkAttribute::Link(i) => parent = name_of(*i),
            _ => {}
        }
    }
    let kind = parse_kind(msg);
    let mut vxlan = None;
    let mut vlan = None;
    for info in link_info(msg) {
        match info {
            LinkInfo::Data(InfoData::Vxlan(v)) => vxlan = Some(parse_vxlan(v)),
            LinkInfo::Data(InfoData::Vlan(v)) => {
                let vid = v.iter().find_map(|a| match a {
                    InfoVlan::Id(id) => Some(*id),
                    _ => None,
                });
                if let (Some(vid), Some(parent)) = (vid, parent.clone()) {
                    vlan = Some(VlanInfo { parent, vid });
                }
            }
            _ => {}
        }
    }
    let up = msg.header.flags.contains(LinkFlags::Up);
    let carrier = msg.header.flags.contains(LinkFlags::LowerUp);
    let ipv6 = ipv6_enabled(msg);
    Some(Link { name: name?, kind, master, mtu, up, carrier, vxlan, vlan, ipv6 })
}

/// Whether the device has IPv6 (its inet6 devconf says `disable_ipv6` = 0); a device
/// without an inet6 part (IPv6 off in the kernel, MTU below 1280) has none.
fn ipv6_enabled(msg: &LinkMessage) -> bool {
    msg.attributes.iter().any(|a| match a {
        LinkAttribute::AfSpecUnspec(specs) => specs.iter().any(|s| match s {
            AfSpecUnspec::Inet6(v6) => {
                v6.iter().any(|c| matches!(c, AfSpecInet6::DevConf(conf) if conf.disable_ipv6 == 0))
            }
            _ => false,
        }),
        _ => false,
    })
}

/// The MAC and remote destination of a VXLAN device's own FDB entry, if it is one.
fn parse_fdb(msg: &NeighbourMessage) -> Option<FdbEntry> {
    if msg.header.flags.contains(NeighbourFlags::Controller) {
        return None; // the bridge's entry for the port, not the device's own
    }
    let mut mac = None;
    let mut dst = None;
    for attr in &msg.attributes {
        match attr {
            NeighbourAttribute::LinkLayerAddress(b) => mac = <[u8; 6]>::try_from(b.as_slice()).ok().map(MacAddr),
            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => dst = Some(IpAddr::V4(*a)),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => dst = Some(IpAddr::V6(*a)),
            NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => {
                dst = match b.len() {
                    4 => <[u8; 4]>::try_from(b.as_slice()).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(b.as_slice()).ok().map(IpAddr::from),
                    _ => None,
                }
            }
            _ => {}
        }
    }
    Some(FdbEntry { mac: mac?, dst: dst? })
}

impl Dataplane for NetlinkDataplane {
    async fn links(&self) -> Result<Vec<Link>, DataplaneError> {
        let msgs: Vec<LinkMessage> =
            self.handle.link().get().execute().try_collect().await.map_err(|e| nl_error(Op::ListLinks, "", e))?;
        let names: std::collections::HashMap<u32, String> = msgs
            .iter()
            .filter_map(|m| {
                m.attributes.iter().find_map(|a| match a {
                    LinkAttribute::IfName(n) => Some((m.header.index, n.clone())),
                    _ => None,
                })
            })
            .collect();
        let name_of = |i: u32| names.get(&i).cloned();
        Ok(msgs.iter().filter_map(|m| parse_link(m, &name_of)).collect())
    }

    async fn fdb(&self, dev: &str) -> Result<Vec<FdbEntry>, DataplaneError> {
        let index = self.index(Op::ListFdb, dev).await?;
        // `bridge fdb show dev X`: the kernel filters the dump by NDA_IFINDEX, so a host
        // with a thousand bridge ports does not have every port's entries parsed for
        // each VXLAN device.
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.attributes.push(NeighbourAttribute::IfIndex(index));
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::GetNeighbour(msg));
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut handle = self.handle.clone();
        let mut responses = handle.request(req).map_err(|e| nl_error(Op::ListFdb, dev, e))?;
        let mut entries = Vec::new();
        while let Some(resp) = responses.next().await {
            match resp.payload {
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(m)) if m.header.ifindex == index => {
                    entries.extend(parse_fdb(&m));
                }
                NetlinkPayload::Error(e) => return Err(DataplaneError::from_os(Op::ListFdb, dev, e.to_io())),
                _ => {}
            }
        }
        Ok(entries)
    }

    async fn create_bridge(&self, spec: &BridgeSpec) -> Result<(), DataplaneError> {
        let msg = LinkBridge::new(&spec.name).build();
        self.create(Op::CreateBridge, &spec.name, LinkKind::Bridge, msg, spec.mtu).await?;
        // Set apart from the create so the bridge keeps it as the operator's choice
        // instead of shrinking it to its smallest port's.
        self.change(Op::CreateBridge, &spec.name, |b| b.mtu(spec.mtu).up()).await
    }

    async fn create_vxlan(&self, spec: &VxlanSpec) -> Result<(), DataplaneError> {
        let builder = LinkVxlan::new(&spec.name, spec.vni).port(spec.dstport).learning(false);
        let builder = match spec.local {
            IpAddr::V4(a) => builder.local(a),
            IpAddr::V6(a) => builder.local6(a),
        };
        let msg = builder.mtu(spec.mtu).up().build();
        self.create(Op::CreateVxlan, &spec.name, LinkKind::Vxlan, msg, spec.mtu).await
    }

    async fn create_vlan(&self, spec: &VlanSpec) -> Result<(), DataplaneError> {
        let parent = self.index(Op::CreateVlan, &spec.parent).await?;
        let msg = LinkVlan::new(&spec.name, parent, spec.vid).mtu(spec.mtu).up().build();
        self.create(Op::CreateVlan, &spec.name, LinkKind::Vlan, msg, spec.mtu).await
    }

    async fn delete_link(&self, name: &str) -> Result<(), DataplaneError> {
        let index = self.index(Op::DeleteLink, name).await?;
        self.handle.link().del(index).execute().await.map_err(|e| nl_error(Op::DeleteLink, name, e))
    }

    async fn set_master(&self, name: &str, master: &str) -> Result<(), DataplaneError> {
        let master_index = self.index(Op::SetMaster, master).await?;
        self.change(Op::SetMaster, name, |b| b.controller(master_index)).await
    }

    async fn set_nomaster(&self, name: &str) -> Result<(), DataplaneError> {
        self.change(Op::SetNomaster, name, |b| b.nocontroller()).await
    }

    async fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), DataplaneError> {
        self.change(Op::SetMtu, name, |b| b.mtu(mtu)).await
    }

    async fn set_up(&self, name: &str) -> Result<(), DataplaneError> {
        self.change(Op::SetUp, name, |b| b.up()).await
    }

    async fn set_down(&self, name: &str) -> Result<(), DataplaneError> {
        self.change(Op::SetDown, name, |b| b.down()).await
    }

    async fn disable_ipv6(&self, name: &str) -> Result<(), DataplaneError> {
        // Not a netlink attribute the kernel lets us set: the per-device sysctl, under this
        // thread's network namespace's /proc/sys/net.
        let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
        match tokio::fs::write(&path, b"1").await {
            Ok(()) => Ok(()),
            // No inet6 part on the device (or IPv6 off in the kernel): nothing to disable.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DataplaneError::from_os(Op::DisableIpv6, name, e)),
        }
    }

    async fn fdb_append(&self, dev: &str, entry: &FdbEntry) -> Result<(), DataplaneError> {
        self.fdb_request(Op::FdbAppend, dev, entry).await
    }

    async fn fdb_delete(&self, dev: &str, entry: &FdbEntry) -> Result<(), DataplaneError> {
        self.fdb_request(Op::FdbDelete, dev, entry).await
    }
}
