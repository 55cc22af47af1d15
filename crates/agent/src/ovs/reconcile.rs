//! The Open vSwitch L2 subsystem: one pass reads ovsdb, makes bridges, ports and tags
//! match the host state in one transaction, reads back, replaces each bridge's flows
//! atomically, then removes the ports no longer wanted (after no flow names them).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use neutrino_agent_api::{HostState, WiredStatus};

use super::openflow::OpenFlow;
use super::ovsdb::{OvsState, Ovsdb, PortRow};
use super::plan::flows::{flows, FlowInput};
use super::plan::{ports, segments, structure};
use super::vlans::LocalVlans;
use super::OvsConfig;
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
}

impl<S: Ovsdb + OpenFlow> OvsReconciler<S> {
    pub fn new(switch: S, cfg: OvsConfig, local_ip: Option<IpAddr>) -> Self {
        OvsReconciler { switch, cfg, local_ip, vlans: LocalVlans::default() }
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
        for (object, line) in issues {
            report.issue(object, line);
        }
        let int = self.cfg.integration_bridge.clone();
        let br_int: Vec<&PortRow> = observed.ports(&int).collect();
        let wanted: BTreeSet<String> = segments.keys().cloned().collect();
        for net in self.vlans.sync(&wanted, br_int.iter().copied()) {
            report.issue(Object::Network(net.clone()), format!("network {net}: every local VLAN is in use on {int}"));
        }
        let shape = structure(&self.cfg, self.local_ip, &segments, state, &observed);
        for (object, line) in shape.issues {
            report.issue(object, line);
        }
        let port_plan = ports(state, &segments, &self.vlans, (&int, &br_int), gate);
        let commands: Vec<_> = shape.add.into_iter().chain(port_plan.commands).collect();
        let mut after = observed.clone();
        if !commands.is_empty() {
            match self.switch.transact(&commands).await {
                Ok(()) => report.applied.extend(commands.iter().map(ToString::to_string)),
                Err(e) => report.issue(Object::Host, format!("ovsdb transaction: {}", error_chain(&e))),
            }
            after = self.read_back(&mut report, observed).await;
        }
        let input = FlowInput { cfg: &self.cfg, state, segments: &segments, vlans: &self.vlans, switch: &after };
        let mut flows_ok = BTreeMap::new();
        for (bridge, table) in flows(&input) {
            let result = self.switch.replace_flows(&bridge, &table).await;
            if let Err(e) = &result {
                report.issue(Object::Device(bridge.clone()), format!("flows of {bridge}: {}", error_chain(e)));
            }
            flows_ok.insert(bridge, result.is_ok());
        }
        if !shape.remove.is_empty() {
            match self.switch.transact(&shape.remove).await {
                Ok(()) => report.applied.extend(shape.remove.iter().map(ToString::to_string)),
                Err(e) => report.issue(Object::Host, format!("removing stale ports: {}", error_chain(&e))),
            }
        }
        for h in &port_plan.held {
            report.issue(h.object(), h.to_string());
        }
        let int_ok = flows_ok.get(&int).copied().unwrap_or(false);
        let port_status = state
            .ports
            .iter()
            .map(|p| {
                let wired = int_ok
                    && port_plan.wired.get(&p.id).is_some_and(|(name, vlan)| is_wired(&after, &int, name, *vlan));
                (p.id.clone(), if wired { WiredStatus::Active } else { WiredStatus::Down })
            })
            .collect();
        Ok(ReconcileReport { port_status, report, held: port_plan.held })
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

/// Whether br-int's port `name` is on `vlan` with an OpenFlow port number.
fn is_wired(after: &OvsState, int: &str, name: &str, vlan: u16) -> bool {
    after
        .bridges
        .get(int)
        .and_then(|b| b.ports.get(name))
        .is_some_and(|p| p.tag == Some(vlan) && p.interfaces.iter().all(|i| i.ofport.is_some_and(|o| o > 0)))
}

#[cfg(test)]
mod tests;
