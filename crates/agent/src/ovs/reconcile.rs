//! The Open vSwitch L2 subsystem. One pass reads ovsdb, adds the missing bridges and
//! ports (one transaction), tags every port from what it reads back (another), replaces
//! each bridge's flows atomically, then removes the ports no longer wanted (once no flow
//! names them). A converged switch costs one read and one flow comparison per bridge.

use std::collections::BTreeSet;
use std::net::IpAddr;

use neutrino_agent_api::{HostState, WiredStatus};

use super::openflow::OpenFlow;
use super::ovsdb::{OvsState, Ovsdb, PortRow};
use super::plan::flows::{flows, FlowInput};
use super::plan::{ports, segments, structure, Segment};
use super::service::{self, HostDevices, KernelDevices};
use super::vlans::LocalVlans;
use super::OvsConfig;
use super::{int_patch, PATCH_TUN};
use crate::error_chain;
use crate::firewall::FilterGate;
use crate::l2::reconcile::ReconcileReport;
use crate::report::{Object, Report, SubsystemKind};
use crate::subsystem::PassError;

/// Wires the host's ports with Open vSwitch; see [`crate::ovs`].
pub struct OvsReconciler<S: Ovsdb + OpenFlow> {
    switch: S,
    cfg: OvsConfig,
    local_ip: Option<IpAddr>,
    /// Agent memory, recovered from the Port rows after a restart.
    vlans: LocalVlans,
    /// Where the DHCP and router ports' taps are looked for.
    devices: Box<dyn HostDevices>,
}

impl<S: Ovsdb + OpenFlow> OvsReconciler<S> {
    pub fn new(switch: S, cfg: OvsConfig, local_ip: Option<IpAddr>) -> Self {
        OvsReconciler { switch, cfg, local_ip, vlans: LocalVlans::default(), devices: Box::new(KernelDevices) }
    }

    /// Looks for the service ports' taps in `devices` instead of the kernel (tests).
    pub fn with_devices(mut self, devices: impl HostDevices + 'static) -> Self {
        self.devices = Box::new(devices);
        self
    }

    /// The switch, for tests that inspect a fake.
    pub fn switch(&self) -> &S {
        &self.switch
    }

    /// The local VLAN of a network, if it has one.
    pub fn local_vlan(&self, network_id: &str) -> Option<u16> {
        self.vlans.get(network_id)
    }

    /// Makes the switch match `state`, wiring a port not yet on its VLAN only when `gate`
    /// confirms its filter.
    pub async fn reconcile_gated(
        &mut self,
        state: &HostState,
        gate: Option<&FilterGate>,
    ) -> Result<ReconcileReport, PassError> {
        let observed = self.switch.read().await.map_err(PassError::Ovs)?;
        let mut report = Report::new(SubsystemKind::L2);
        let (segments, issues) = segments(state, &self.cfg, self.local_ip);
        let int = self.cfg.integration_bridge.clone();
        let wanted: BTreeSet<String> = segments.keys().cloned().collect();
        for net in self.vlans.sync(&wanted, observed.ports(&int)) {
            report.issue(Object::Network(net.clone()), format!("network {net}: every local VLAN is in use on {int}"));
        }
        // 1. Bridges, patch pairs, tunnels and the service ports' taps.
        let shape = structure(&self.cfg, self.local_ip, &segments, state, &observed);
        let br_int: Vec<&PortRow> = observed.ports(&int).collect();
        let (plug, unplug) = service::plan(state, &int, &br_int, self.devices.as_ref());
        for (object, line) in issues.into_iter().chain(shape.issues) {
            report.issue(object, line);
        }
        let add: Vec<_> = shape.add.into_iter().chain(plug).collect();
        let after = self.transact(&mut report, &add, "ovsdb transaction", observed).await;
        // 2. Every port's tag, from what is on br-int now.
        let br_int: Vec<&PortRow> = after.ports(&int).collect();
        let port_plan = ports(state, &segments, &self.vlans, (&int, &br_int), gate);
        let after = self.transact(&mut report, &port_plan.commands, "tagging ports", after.clone()).await;
        // 3. Every bridge's flows, naming only the ports read back.
        let input = FlowInput { cfg: &self.cfg, state, segments: &segments, vlans: &self.vlans, switch: &after };
        let mut int_ok = false;
        let tables = flows(&input);
        // The bridges' tables are independent: replaced concurrently (one ovs-ofctl each).
        let results =
            futures::future::join_all(tables.iter().map(|(bridge, table)| self.switch.replace_flows(bridge, table)))
                .await;
        for ((bridge, _), result) in tables.into_iter().zip(results) {
            if let Err(e) = &result {
                report.issue(Object::Device(bridge.clone()), format!("flows of {bridge}: {}", error_chain(e)));
            }
            int_ok |= bridge == int && result.is_ok();
        }
        // 4. Only then the ports no flow names any more.
        let remove: Vec<_> = shape.remove.into_iter().chain(unplug).collect();
        if !remove.is_empty() {
            match self.switch.transact(&remove).await {
                Ok(()) => report.applied.extend(remove.iter().map(ToString::to_string)),
                Err(e) => report.issue(Object::Host, format!("removing stale ports: {}", error_chain(&e))),
            }
        }
        for h in &port_plan.held {
            report.issue(h.object(), h.to_string());
        }
        let port_status = state
            .ports
            .iter()
            .map(|p| {
                let uplink = segments.get(&p.network_id).is_some_and(|s| after.has_port(&int, &uplink(s)));
                let wired = int_ok
                    && uplink
                    && port_plan.wired.get(&p.id).is_some_and(|(name, vlan)| is_wired(&after, &int, name, *vlan));
                (p.id.clone(), if wired { WiredStatus::Active } else { WiredStatus::Down })
            })
            .collect();
        Ok(ReconcileReport { port_status, report, held: port_plan.held })
    }

    /// Runs `commands` as one transaction and reads the switch back; `before` when there
    /// is nothing to do or the read fails.
    async fn transact(
        &self,
        report: &mut Report,
        commands: &[super::ovsdb::VsctlCommand],
        what: &str,
        before: OvsState,
    ) -> OvsState {
        if commands.is_empty() {
            return before;
        }
        match self.switch.transact(commands).await {
            Ok(()) => report.applied.extend(commands.iter().map(ToString::to_string)),
            Err(e) => report.issue(Object::Host, format!("{what}: {}", error_chain(&e))),
        }
        self.read_back(report, before).await
    }

    async fn read_back(&self, report: &mut Report, fallback: OvsState) -> OvsState {
        match self.switch.read().await {
            Ok(s) => s,
            Err(e) => {
                report.issue(Object::Host, format!("reading ovsdb back: {}", error_chain(&e)));
                fallback
            }
        }
    }
}

/// br-int's port towards the segment's other hosts.
fn uplink(segment: &Segment) -> String {
    match segment {
        Segment::Vxlan { .. } => PATCH_TUN.to_string(),
        Segment::Flat { bridge, .. } | Segment::Vlan { bridge, .. } => int_patch(bridge),
    }
}

/// Whether br-int's port `name` is on `vlan` with an OpenFlow port number.
fn is_wired(after: &OvsState, int: &str, name: &str, vlan: u16) -> bool {
    after.bridges.get(int).and_then(|b| b.ports.get(name)).is_some_and(|p| p.tag == Some(vlan) && p.is_live())
}

#[cfg(test)]
mod tests;
