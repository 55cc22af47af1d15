//! The changes of one reconcile, in their safe order (see [`super::reconcile`]).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use crate::config::L2Config;
use crate::l2::dataplane::{BridgeSpec, Dataplane, DataplaneError, FdbEntry, Link, LinkKind, MacAddr};
use crate::l2::plan::{DesiredHost, DesiredVlan, DesiredVxlan};

use super::reconcile::{error_chain, is_owned_device, is_wanted, WiringHeld, BRIDGE_PREFIX, TAP_PREFIX};
use crate::firewall::FilterGate;
use crate::report::Object;

/// One pass over the kernel: what it wants, what it saw, what it did.
pub(super) struct Run<'a, D: Dataplane> {
    dp: &'a D,
    cfg: &'a L2Config,
    desired: &'a DesiredHost,
    observed: &'a BTreeMap<String, Link>,
    /// Bridges that exist (or were just created) as bridges: members may join them.
    ready: BTreeSet<String>,
    applied: Vec<String>,
    /// The changes that failed, by device.
    failures: Vec<(Object, String)>,
    /// Which ports' filters are in the kernel (`None`: no firewall, wire everything).
    gate: Option<&'a FilterGate>,
    held: Vec<WiringHeld>,
}

/// How a member device must be: MTU (when managed), master, up state.
struct Member<'a> {
    name: &'a str,
    mtu: Option<u32>,
    bridge: &'a str,
    up: Option<bool>,
    /// Take the host's IPv6 off the device (not for the operator's physical interfaces).
    ipv6_off: bool,
}

impl<'a, D: Dataplane> Run<'a, D> {
    pub(super) fn new(
        dp: &'a D,
        cfg: &'a L2Config,
        desired: &'a DesiredHost,
        observed: &'a BTreeMap<String, Link>,
        gate: Option<&'a FilterGate>,
    ) -> Self {
        Run {
            dp,
            cfg,
            desired,
            observed,
            ready: BTreeSet::new(),
            applied: vec![],
            failures: vec![],
            gate,
            held: vec![],
        }
    }

    /// The changes made, the changes that failed, the ports held back.
    pub(super) fn finish(self) -> (Vec<String>, Vec<(Object, String)>, Vec<WiringHeld>) {
        (self.applied, self.failures, self.held)
    }

    pub(super) async fn apply(&mut self) {
        for spec in self.desired.bridges.values() {
            self.ensure_bridge(spec).await;
        }
        for vxlan in self.desired.vxlans.values() {
            self.ensure_vxlan(vxlan).await;
        }
        for vlan in self.desired.vlans.values() {
            self.ensure_vlan(vlan).await;
        }
        for (iface, uplink) in &self.desired.uplinks {
            self.ensure_uplink(iface, &uplink.bridge).await;
        }
        for (name, tap) in &self.desired.taps {
            if let Some(link) = self.observed.get(name) {
                // Into the bridge only once its filter is in the kernel; one already there
                // keeps the filter the kernel has for it.
                let in_bridge = link.master.as_deref() == Some(tap.bridge.as_str());
                if let Some(reason) = self.gate.filter(|_| !in_bridge).and_then(|g| g.hold_reason(&tap.port_id)) {
                    let held = WiringHeld::FilterNotConfirmed {
                        port_id: tap.port_id.clone(),
                        tap: name.clone(),
                        bridge: tap.bridge.clone(),
                        reason,
                    };
                    self.held.push(held);
                    continue;
                }
                let member = Member { name, mtu: Some(tap.mtu), bridge: &tap.bridge, up: Some(tap.up), ipv6_off: true };
                self.converge_member(Some(link), member).await;
            }
        }
        self.release_strays().await;
        self.delete_stale().await;
    }

    /// Runs one change; records it (and logs it) or records why it failed.
    async fn step(
        &mut self,
        dev: &str,
        line: String,
        change: impl Future<Output = Result<(), DataplaneError>>,
    ) -> bool {
        match change.await {
            Ok(()) => {
                tracing::info!(change = %line, "dataplane changed");
                self.applied.push(line);
                true
            }
            Err(e) => {
                let chain = error_chain(&e);
                tracing::warn!(change = %line, error = %chain, "dataplane change failed");
                self.failures.push((Object::Device(dev.to_owned()), format!("{line}: {chain}")));
                false
            }
        }
    }

    fn failure(&mut self, dev: &str, line: String) {
        tracing::warn!("{line}");
        self.failures.push((Object::Device(dev.to_owned()), line));
    }

    async fn ensure_bridge(&mut self, spec: &BridgeSpec) {
        let dp = self.dp;
        let ok = match self.observed.get(&spec.name) {
            None => {
                let line = format!("create bridge {} mtu {}", spec.name, spec.mtu);
                self.step(&spec.name, line, dp.create_bridge(spec)).await
                    && self
                        .step(&spec.name, format!("disable ipv6 on {}", spec.name), dp.disable_ipv6(&spec.name))
                        .await
            }
            Some(link) if link.kind != LinkKind::Bridge => {
                self.failure(
                    &spec.name,
                    format!("{} is a {} device, not a bridge: leaving it alone", spec.name, link.kind),
                );
                false
            }
            Some(link) => {
                let mut ok = true;
                if link.ipv6 {
                    ok &= self
                        .step(&spec.name, format!("disable ipv6 on {}", spec.name), dp.disable_ipv6(&spec.name))
                        .await;
                }
                if link.mtu != spec.mtu {
                    ok &= self
                        .step(
                            &spec.name,
                            format!("set {} mtu {}", spec.name, spec.mtu),
                            dp.set_mtu(&spec.name, spec.mtu),
                        )
                        .await;
                }
                if !link.up {
                    ok &= self.step(&spec.name, format!("set {} up", spec.name), dp.set_up(&spec.name)).await;
                }
                ok
            }
        };
        // A bridge whose MTU or up state could not be fixed still takes members.
        if ok || self.observed.get(&spec.name).is_some_and(|l| l.kind == LinkKind::Bridge) {
            self.ready.insert(spec.name.clone());
        }
    }

    async fn ensure_vxlan(&mut self, want: &DesiredVxlan) {
        let dp = self.dp;
        let spec = &want.spec;
        let mut existing = self.observed.get(&spec.name);
        if let Some(link) = existing {
            if link.kind != LinkKind::Vxlan {
                self.failure(
                    &spec.name,
                    format!("{} is a {} device, not vxlan: leaving it alone", spec.name, link.kind),
                );
                return;
            }
            if !link.vxlan.as_ref().is_some_and(|info| spec.matches(info)) {
                let line = format!("delete vxlan {} (id, local, dstport, learning or group differ)", spec.name);
                if !self.step(&spec.name, line, dp.delete_link(&spec.name)).await {
                    return;
                }
                existing = None;
            }
        }
        let current_fdb: Vec<FdbEntry> = match existing {
            Some(_) => match dp.fdb(&spec.name).await {
                Ok(entries) => entries,
                Err(e) => {
                    self.failure(&spec.name, format!("reading the fdb of {}: {}", spec.name, error_chain(&e)));
                    return;
                }
            },
            None => {
                let line = format!(
                    "create vxlan {} id {} local {} dstport {} nolearning mtu {}",
                    spec.name, spec.vni, spec.local, spec.dstport, spec.mtu
                );
                if !self.step(&spec.name, line, dp.create_vxlan(spec)).await {
                    return;
                }
                vec![]
            }
        };
        let member =
            Member { name: &spec.name, mtu: Some(spec.mtu), bridge: &want.bridge, up: Some(true), ipv6_off: true };
        self.converge_member(existing, member).await;

        let current: BTreeSet<FdbEntry> = current_fdb.into_iter().collect();
        // Flood entries are added before the stale ones go, so no frame lacks a path. A port
        // that moved host is the exception: its unicast MAC holds one destination (the kernel
        // ignores an append to it), so its old entry goes first and the new one follows; in
        // between, its frames flood. Deleting after the append would leave it no entry
        // until the next resync.
        let moving: BTreeSet<MacAddr> =
            want.fdb.difference(&current).filter(|e| e.mac.is_unicast()).map(|e| e.mac).collect();
        let (repointed, stale): (Vec<&FdbEntry>, Vec<&FdbEntry>) =
            current.difference(&want.fdb).partition(|e| moving.contains(&e.mac));
        for entry in repointed {
            let line = format!("fdb del {} dev {} dst {}", entry.mac, spec.name, entry.dst);
            self.step(&spec.name, line, dp.fdb_delete(&spec.name, entry)).await;
        }
        for entry in want.fdb.difference(&current) {
            let line = format!("fdb append {} dev {} dst {}", entry.mac, spec.name, entry.dst);
            self.step(&spec.name, line, dp.fdb_append(&spec.name, entry)).await;
        }
        for entry in stale {
            let line = format!("fdb del {} dev {} dst {}", entry.mac, spec.name, entry.dst);
            self.step(&spec.name, line, dp.fdb_delete(&spec.name, entry)).await;
        }
    }

    async fn ensure_vlan(&mut self, want: &DesiredVlan) {
        let dp = self.dp;
        let spec = &want.spec;
        if !self.observed.contains_key(&spec.parent) {
            self.failure(&spec.name, format!("{}: parent interface {} not found", spec.name, spec.parent));
            return;
        }
        let mut existing = self.observed.get(&spec.name);
        if let Some(link) = existing {
            let same = link.vlan.as_ref().is_some_and(|v| v.parent == spec.parent && v.vid == spec.vid);
            if !same && !is_owned_device(link) {
                self.failure(
                    &spec.name,
                    format!("{} is a {} device the agent did not make: leaving it alone", spec.name, link.kind),
                );
                return;
            }
            if !same {
                let line = format!("delete vlan {} (parent or id differ)", spec.name);
                if !self.step(&spec.name, line, dp.delete_link(&spec.name)).await {
                    return;
                }
                existing = None;
            }
        }
        if existing.is_none() {
            let line = format!("create vlan {} link {} id {} mtu {}", spec.name, spec.parent, spec.vid, spec.mtu);
            if !self.step(&spec.name, line, dp.create_vlan(spec)).await {
                return;
            }
        }
        let member =
            Member { name: &spec.name, mtu: Some(spec.mtu), bridge: &want.bridge, up: Some(true), ipv6_off: true };
        self.converge_member(existing, member).await;
    }

    /// Enslaves a flat network's physical interface, unless another (not ours) bridge has it.
    async fn ensure_uplink(&mut self, iface: &str, bridge: &str) {
        let Some(link) = self.observed.get(iface) else {
            self.failure(iface, format!("physical interface {iface} not found"));
            return;
        };
        if let Some(master) = link.master.as_deref().filter(|m| *m != bridge && !m.starts_with(BRIDGE_PREFIX)) {
            self.failure(
                iface,
                format!("{iface} is in bridge {master}, which the agent does not own: leaving it alone"),
            );
            return;
        }
        // The operator owns the interface's MTU and up state.
        self.converge_member(Some(link), Member { name: iface, mtu: None, bridge, up: None, ipv6_off: false }).await;
    }

    /// Brings a device in line with `want`; `link` is how it was observed, `None` when it
    /// was just created (with its MTU, up, in no bridge).
    async fn converge_member(&mut self, link: Option<&Link>, want: Member<'_>) {
        let dp = self.dp;
        if !self.ready.contains(want.bridge) {
            return;
        }
        let (mtu, master, up, ipv6) = match link {
            Some(l) => (Some(l.mtu), l.master.as_deref(), l.up, l.ipv6),
            None => (want.mtu, None, true, true),
        };
        let name = want.name;
        // First, so the changes below do not each walk the host's IPv6 routes.
        if want.ipv6_off && ipv6 {
            self.step(name, format!("disable ipv6 on {name}"), dp.disable_ipv6(name)).await;
        }
        if let Some(m) = want.mtu.filter(|m| Some(*m) != mtu) {
            self.step(name, format!("set {name} mtu {m}"), dp.set_mtu(name, m)).await;
        }
        if master != Some(want.bridge) {
            self.step(name, format!("set {name} master {}", want.bridge), dp.set_master(name, want.bridge)).await;
        }
        match want.up {
            Some(true) if !up => self.step(name, format!("set {name} up"), dp.set_up(name)).await,
            Some(false) if up => self.step(name, format!("set {name} down"), dp.set_down(name)).await,
            _ => true,
        };
    }

    /// Releases devices the plan no longer puts in one of our bridges: taps of ports that
    /// left the host, physical interfaces of networks that left, and anything still in a
    /// bridge about to be deleted. Owned devices about to be deleted are left for that.
    async fn release_strays(&mut self) {
        let dp = self.dp;
        for link in self.observed.values() {
            let Some(master) = link.master.as_deref().filter(|m| m.starts_with(BRIDGE_PREFIX)) else {
                continue;
            };
            if self.desired.master_of(&link.name).is_some() || is_owned_device(link) {
                continue;
            }
            let bridge_stays = self.desired.bridges.contains_key(master);
            let mapped = self.cfg.physical_interface_mappings.values().any(|i| *i == link.name);
            if link.name.starts_with(TAP_PREFIX) || mapped || !bridge_stays {
                let line = format!("set {} nomaster (was in {master})", link.name);
                self.step(&link.name, line, dp.set_nomaster(&link.name)).await;
            }
        }
    }

    /// Deletes owned devices of networks that left: VXLAN and VLAN devices, then bridges.
    async fn delete_stale(&mut self) {
        let dp = self.dp;
        let stale: Vec<&Link> =
            self.observed.values().filter(|l| is_owned_device(l) && !is_wanted(self.desired, l)).collect();
        let (bridges, devices): (Vec<&Link>, Vec<&Link>) = stale.into_iter().partition(|l| l.kind == LinkKind::Bridge);
        for link in devices.into_iter().chain(bridges) {
            let line = format!("delete {} {}", link.kind, link.name);
            self.step(&link.name, line, dp.delete_link(&link.name)).await;
        }
    }
}
