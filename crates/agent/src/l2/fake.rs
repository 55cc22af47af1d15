//! An in-memory [`Dataplane`] that behaves like the kernel where the reconciler can tell.
//!
//! It keeps links and VXLAN FDBs in a map, applies the kernel's side effects that matter
//! (deleting a bridge frees its ports, deleting a device drops its FDB, a VLAN device
//! needs its parent), records every change in order, and lets a test play the other
//! actors on the host: a hypervisor plugging or unplugging a tap, an operator deleting a
//! device or adding an FDB entry by hand, a kernel call that fails. Clones share state, so
//! a test keeps one clone while the reconciler owns another.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::l2::dataplane::{
    BridgeSpec, Dataplane, DataplaneError, FdbEntry, Link, LinkKind, Op, VlanInfo, VlanSpec, VxlanInfo, VxlanSpec,
};

/// The MTU of a freshly plugged tap or NIC, as the kernel gives it.
pub const DEFAULT_MTU: u32 = 1500;

/// A fake host dataplane; see the module documentation.
#[derive(Debug, Clone, Default)]
pub struct FakeDataplane {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    links: BTreeMap<String, Link>,
    fdb: BTreeMap<String, BTreeSet<FdbEntry>>,
    calls: Vec<(Op, String)>,
    failures: BTreeSet<(Op, String)>,
    no_vlan: bool,
}

impl FakeDataplane {
    /// An empty host (not even `lo`).
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the state from the others.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a device someone else made (a physical NIC, a foreign bridge), as given.
    pub fn add_link(&self, link: Link) {
        self.state().links.insert(link.name.clone(), link);
    }

    /// A hypervisor plugs a VM port: a tap device, up, default MTU, in no bridge.
    pub fn plug_tap(&self, name: &str) {
        // As the kernel makes it: with IPv6 on.
        self.add_link(Link { ipv6: true, ..plain_link(name, LinkKind::Tap) });
    }

    /// A physical NIC, up, default MTU, in no bridge.
    pub fn add_nic(&self, name: &str) {
        self.add_link(Link { ipv6: true, ..plain_link(name, LinkKind::Other(String::new())) });
    }

    /// Someone deletes a device behind the agent's back (or a hypervisor unplugs a tap).
    pub fn remove_link(&self, name: &str) {
        self.state().remove(name);
    }

    /// The device as it is now.
    pub fn link(&self, name: &str) -> Option<Link> {
        self.state().links.get(name).cloned()
    }

    /// The names of all devices.
    pub fn link_names(&self) -> Vec<String> {
        self.state().links.keys().cloned().collect()
    }

    /// The FDB of a VXLAN device as it is now.
    pub fn fdb_of(&self, dev: &str) -> BTreeSet<FdbEntry> {
        self.state().fdb.get(dev).cloned().unwrap_or_default()
    }

    /// Someone adds an FDB entry by hand.
    pub fn insert_fdb(&self, dev: &str, entry: FdbEntry) {
        self.state().fdb.entry(dev.to_owned()).or_default().insert(entry);
    }

    /// Changes a device by hand (e.g. someone sets an MTU or takes it down).
    pub fn edit_link(&self, name: &str, edit: impl FnOnce(&mut Link)) {
        if let Some(link) = self.state().links.get_mut(name) {
            edit(link);
        }
    }

    /// Makes every `op` about `device` fail until [`FakeDataplane::clear_failures`].
    pub fn fail(&self, op: Op, device: &str) {
        self.state().failures.insert((op, device.to_owned()));
    }

    pub fn clear_failures(&self) {
        self.state().failures.clear();
    }

    /// Simulates a kernel without 802.1Q: creating a VLAN device fails with EOPNOTSUPP.
    pub fn without_vlan_support(&self) {
        self.state().no_vlan = true;
    }

    /// Every change made through the [`Dataplane`] trait so far, in order, as (operation,
    /// device); reads are not recorded.
    pub fn calls(&self) -> Vec<(Op, String)> {
        self.state().calls.clone()
    }

    /// Like [`FakeDataplane::calls`], and forgets them.
    pub fn take_calls(&self) -> Vec<(Op, String)> {
        std::mem::take(&mut self.state().calls)
    }

    /// Runs one operation: checks injected failures, records it, applies `f`.
    fn apply<T>(
        &self,
        op: Op,
        device: &str,
        f: impl FnOnce(&mut State) -> Result<T, DataplaneError>,
    ) -> Result<T, DataplaneError> {
        let mut state = self.state();
        if state.failures.contains(&(op, device.to_owned())) {
            let source = std::io::Error::from_raw_os_error(libc::EIO);
            return Err(DataplaneError::Failed { op, device: device.to_owned(), source });
        }
        if !matches!(op, Op::ListLinks | Op::ListFdb) {
            state.calls.push((op, device.to_owned()));
        }
        f(&mut state)
    }
}

fn plain_link(name: &str, kind: LinkKind) -> Link {
    Link {
        name: name.to_owned(),
        kind,
        master: None,
        mtu: DEFAULT_MTU,
        up: true,
        carrier: true,
        vxlan: None,
        vlan: None,
        ipv6: false,
    }
}

fn no_device(op: Op, device: &str) -> DataplaneError {
    DataplaneError::NoDevice { op, device: device.to_owned() }
}

impl State {
    fn get_mut(&mut self, op: Op, name: &str) -> Result<&mut Link, DataplaneError> {
        self.links.get_mut(name).ok_or_else(|| no_device(op, name))
    }

    /// Creates `link`, or converges MTU and up state of a same-kind device of that name.
    fn create(&mut self, op: Op, link: Link) -> Result<(), DataplaneError> {
        match self.links.get_mut(&link.name) {
            Some(existing) if existing.kind == link.kind => {
                existing.mtu = link.mtu;
                existing.up = true;
                Ok(())
            }
            Some(existing) => {
                Err(DataplaneError::WrongKind { op, device: link.name.clone(), found: existing.kind.clone() })
            }
            None => {
                self.links.insert(link.name.clone(), link);
                Ok(())
            }
        }
    }

    /// Deletes a device with the kernel's side effects.
    fn remove(&mut self, name: &str) -> Option<Link> {
        let removed = self.links.remove(name)?;
        self.fdb.remove(name);
        let children: Vec<String> = self
            .links
            .values()
            .filter(|l| l.vlan.as_ref().is_some_and(|v| v.parent == name))
            .map(|l| l.name.clone())
            .collect();
        for child in children {
            self.remove(&child);
        }
        for link in self.links.values_mut() {
            if link.master.as_deref() == Some(name) {
                link.master = None;
            }
        }
        Some(removed)
    }
}

impl Dataplane for FakeDataplane {
    async fn links(&self) -> Result<Vec<Link>, DataplaneError> {
        self.apply(Op::ListLinks, "", |s| Ok(s.links.values().cloned().collect()))
    }

    async fn fdb(&self, dev: &str) -> Result<Vec<FdbEntry>, DataplaneError> {
        self.apply(Op::ListFdb, dev, |s| {
            s.get_mut(Op::ListFdb, dev)?;
            Ok(s.fdb.get(dev).map(|f| f.iter().copied().collect()).unwrap_or_default())
        })
    }

    async fn create_bridge(&self, spec: &BridgeSpec) -> Result<(), DataplaneError> {
        self.apply(Op::CreateBridge, &spec.name, |s| {
            let link = Link { mtu: spec.mtu, ipv6: true, ..plain_link(&spec.name, LinkKind::Bridge) };
            s.create(Op::CreateBridge, link)
        })
    }

    async fn create_vxlan(&self, spec: &VxlanSpec) -> Result<(), DataplaneError> {
        self.apply(Op::CreateVxlan, &spec.name, |s| {
            let info = VxlanInfo {
                vni: spec.vni,
                local: Some(spec.local),
                dstport: spec.dstport,
                learning: false,
                group: None,
            };
            let link = Link { mtu: spec.mtu, vxlan: Some(info), ipv6: true, ..plain_link(&spec.name, LinkKind::Vxlan) };
            s.create(Op::CreateVxlan, link)
        })
    }

    async fn create_vlan(&self, spec: &VlanSpec) -> Result<(), DataplaneError> {
        self.apply(Op::CreateVlan, &spec.name, |s| {
            if s.no_vlan {
                let source = std::io::Error::from_raw_os_error(libc::EOPNOTSUPP);
                return Err(DataplaneError::Unsupported { op: Op::CreateVlan, device: spec.name.clone(), source });
            }
            s.get_mut(Op::CreateVlan, &spec.parent)?;
            let info = VlanInfo { parent: spec.parent.clone(), vid: spec.vid };
            let link = Link { mtu: spec.mtu, vlan: Some(info), ipv6: true, ..plain_link(&spec.name, LinkKind::Vlan) };
            s.create(Op::CreateVlan, link)
        })
    }

    async fn delete_link(&self, name: &str) -> Result<(), DataplaneError> {
        self.apply(Op::DeleteLink, name, |s| s.remove(name).map(|_| ()).ok_or_else(|| no_device(Op::DeleteLink, name)))
    }

    async fn set_master(&self, name: &str, master: &str) -> Result<(), DataplaneError> {
        self.apply(Op::SetMaster, name, |s| {
            let kind = s.get_mut(Op::SetMaster, master)?.kind.clone();
            if kind != LinkKind::Bridge || name == master {
                let source = std::io::Error::from_raw_os_error(libc::EOPNOTSUPP);
                return Err(DataplaneError::Failed { op: Op::SetMaster, device: name.to_owned(), source });
            }
            s.get_mut(Op::SetMaster, name)?.master = Some(master.to_owned());
            Ok(())
        })
    }

    async fn set_nomaster(&self, name: &str) -> Result<(), DataplaneError> {
        self.apply(Op::SetNomaster, name, |s| {
            s.get_mut(Op::SetNomaster, name)?.master = None;
            Ok(())
        })
    }

    async fn set_mtu(&self, name: &str, mtu: u32) -> Result<(), DataplaneError> {
        self.apply(Op::SetMtu, name, |s| {
            s.get_mut(Op::SetMtu, name)?.mtu = mtu;
            Ok(())
        })
    }

    async fn set_up(&self, name: &str) -> Result<(), DataplaneError> {
        self.apply(Op::SetUp, name, |s| {
            s.get_mut(Op::SetUp, name)?.up = true;
            Ok(())
        })
    }

    async fn disable_ipv6(&self, name: &str) -> Result<(), DataplaneError> {
        self.apply(Op::DisableIpv6, name, |s| {
            s.get_mut(Op::DisableIpv6, name)?.ipv6 = false;
            Ok(())
        })
    }

    async fn set_down(&self, name: &str) -> Result<(), DataplaneError> {
        self.apply(Op::SetDown, name, |s| {
            s.get_mut(Op::SetDown, name)?.up = false;
            Ok(())
        })
    }

    async fn fdb_append(&self, dev: &str, entry: &FdbEntry) -> Result<(), DataplaneError> {
        self.apply(Op::FdbAppend, dev, |s| {
            if s.get_mut(Op::FdbAppend, dev)?.kind != LinkKind::Vxlan {
                let source = std::io::Error::from_raw_os_error(libc::EINVAL);
                return Err(DataplaneError::Failed { op: Op::FdbAppend, device: dev.to_owned(), source });
            }
            let fdb = s.fdb.entry(dev.to_owned()).or_default();
            // As the kernel: a unicast MAC keeps its one destination; appending another
            // succeeds and changes nothing.
            if entry.mac.is_unicast() && fdb.iter().any(|e| e.mac == entry.mac) {
                return Ok(());
            }
            fdb.insert(*entry);
            Ok(())
        })
    }

    async fn fdb_delete(&self, dev: &str, entry: &FdbEntry) -> Result<(), DataplaneError> {
        self.apply(Op::FdbDelete, dev, |s| {
            s.get_mut(Op::FdbDelete, dev)?;
            if let Some(fdb) = s.fdb.get_mut(dev) {
                fdb.remove(entry);
            }
            Ok(())
        })
    }
}
