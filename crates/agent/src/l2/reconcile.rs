//! Make the kernel match a [`HostState`]: read what is there, diff it against
//! [`plan`](crate::l2::plan::plan), change only the difference.
//!
//! The reconciler is level-triggered: it keeps no memory of earlier runs, so a restart, a
//! lost update or a device deleted by hand all heal by running it again, and running it
//! on a correct kernel changes nothing (it never deletes and recreates a device whose
//! attributes are already right).
//!
//! Ownership decides what it may touch. The agent owns the bridges `brq*`, the VXLAN
//! devices `vxlan-*` and the VLAN subinterfaces `<iface>.<vid>` it enslaved to a `brq*`
//! bridge: those it creates, changes and deletes. Taps belong to the hypervisor and
//! physical interfaces to the operator: they are enslaved, set up or down and given an
//! MTU, and released from the bridge when their port or network leaves the host, but
//! never deleted. Everything else is left alone.
//!
//! Order matters for traffic and for the kernel: bridges are created before anything is
//! enslaved to them, MTUs are set before enslaving (so a bridge never shrinks to a port's
//! default MTU), new FDB entries are added before stale ones are removed (no flooding
//! gap), and devices leaving are released before their bridge is deleted. One failed
//! change does not stop the others; it is reported in [`ReconcileReport::report`] and
//! retried on the next run.

use std::collections::BTreeMap;

use neutrino_agent_api::{tap_name, HostState, WiredStatus};

use crate::config::L2Config;
use crate::firewall::FilterGate;
use crate::l2::dataplane::{Dataplane, Link, LinkKind};
use crate::l2::plan::{plan, DesiredHost, DesiredTap, PlanIssue};
use crate::report::{Object, Report, SubsystemKind};
use crate::subsystem::PassError;

/// Prefix of the bridges the agent owns.
pub const BRIDGE_PREFIX: &str = "brq";
/// Prefix of the VXLAN devices the agent owns.
pub const VXLAN_PREFIX: &str = "vxlan-";
/// Prefix of port devices (owned by the hypervisor).
pub const TAP_PREFIX: &str = "tap";

/// What one reconcile did and found: the common [`Report`] and what only the L2 pass knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Every port of the host state: ACTIVE when its tap exists, is enslaved to its
    /// network's bridge and is up; DOWN otherwise (not plugged, admin down, unwireable).
    pub port_status: BTreeMap<String, WiredStatus>,
    /// One applied line per kernel change, in the order made, e.g.
    /// `create bridge brq0c1b2a39-8e mtu 1450` (none when the kernel was already right);
    /// one issue per thing that could not be wired or change that failed (the held ports
    /// too).
    pub report: Report,
    /// Ports not wired because their filter is not in the kernel.
    pub held: Vec<WiringHeld>,
}

/// A port the reconciler could wire but must not yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WiringHeld {
    /// Its filter is not confirmed in the kernel: bridged now, it would be unfiltered.
    #[error("port {port_id}: {tap} not wired into {bridge}: its filter is not in the kernel ({reason})")]
    FilterNotConfirmed { port_id: String, tap: String, bridge: String, reason: String },
}

impl WiringHeld {
    /// The port held back.
    pub fn object(&self) -> Object {
        match self {
            WiringHeld::FilterNotConfirmed { port_id, .. } => Object::Port(port_id.clone()),
        }
    }
}

/// Reconciles the host's L2 dataplane; see the module documentation.
pub struct Reconciler<D: Dataplane> {
    dp: D,
    cfg: L2Config,
    /// The last pass that found the kernel as planned, with what it was planned from.
    last_clean: Option<CleanPass>,
}

/// A pass that changed nothing and found nothing wrong: while the plan, the ports and the
/// gate stay the same and the kernel sends no link event, another pass would find the same.
struct CleanPass {
    desired: DesiredHost,
    port_ids: Vec<String>,
    gate: Option<FilterGate>,
    result: ReconcileReport,
}

impl<D: Dataplane> Reconciler<D> {
    pub fn new(dp: D, cfg: L2Config) -> Self {
        Reconciler { dp, cfg, last_clean: None }
    }

    /// The dataplane, for callers that also read it (and tests that inspect a fake).
    pub fn dataplane(&self) -> &D {
        &self.dp
    }

    pub fn config(&self) -> &L2Config {
        &self.cfg
    }

    /// Makes the kernel match `state` and reports the ports' status (no firewall: every
    /// plugged port is wired).
    pub async fn reconcile(&mut self, state: &HostState) -> Result<ReconcileReport, PassError> {
        self.reconcile_gated(state, None).await
    }

    /// [`Self::reconcile_gated`], except that with `kernel_quiet` (no link event since the
    /// last pass) and the same plan, ports and gate as the last clean pass, it answers what
    /// that pass found without reading the kernel. FDB entries edited by hand send no link
    /// event: the resync's full pass repairs them, as it always did.
    pub async fn reconcile_unless_unchanged(
        &mut self,
        state: &HostState,
        gate: Option<&FilterGate>,
        kernel_quiet: bool,
    ) -> Result<ReconcileReport, PassError> {
        let (desired, port_issues) = plan(state, &self.cfg);
        let port_ids: Vec<String> = state.ports.iter().map(|p| p.id.clone()).collect();
        if let Some(last) = self.last_clean.as_ref().filter(|_| kernel_quiet && port_issues.is_empty()) {
            if last.desired == desired && last.port_ids == port_ids && last.gate.as_ref() == gate {
                return Ok(last.result.clone());
            }
        }
        self.last_clean = None;
        let result = self.reconcile_planned(state, gate, desired.clone(), port_issues).await?;
        let clean = result.report.applied.is_empty() && result.report.issues.is_empty() && result.held.is_empty();
        if clean {
            self.last_clean = Some(CleanPass { desired, port_ids, gate: gate.cloned(), result: result.clone() });
        }
        Ok(result)
    }

    /// [`Reconciler::reconcile`], wiring a tap not yet in its bridge only when `gate`
    /// confirms its port's filter is in the kernel; held ports stay out of the bridge (DOWN).
    /// A tap already in its bridge is left there: the kernel keeps its last good filter (a
    /// failed nftables transaction changes nothing).
    pub async fn reconcile_gated(
        &mut self,
        state: &HostState,
        gate: Option<&FilterGate>,
    ) -> Result<ReconcileReport, PassError> {
        self.last_clean = None;
        let (desired, port_issues) = plan(state, &self.cfg);
        self.reconcile_planned(state, gate, desired, port_issues).await
    }

    async fn reconcile_planned(
        &mut self,
        state: &HostState,
        gate: Option<&FilterGate>,
        desired: DesiredHost,
        port_issues: BTreeMap<String, PlanIssue>,
    ) -> Result<ReconcileReport, PassError> {
        let observed = by_name(self.dp.links().await.map_err(PassError::Observe)?);

        let mut report = Report::new(SubsystemKind::L2);
        for issue in &desired.warnings {
            report.issue(issue.object(), issue.to_string());
        }
        // One issue per network, not per port of it.
        let unwired: BTreeMap<String, &PlanIssue> = port_issues.values().map(|i| (i.to_string(), i)).collect();
        for (line, issue) in unwired {
            report.issue(issue.object(), line);
        }

        let mut run = super::apply::Run::new(&self.dp, &self.cfg, &desired, &observed, gate);
        run.apply().await;
        let (applied, failures, held) = run.finish();
        let changed = !applied.is_empty() || !failures.is_empty();
        report.applied = applied;
        for (object, line) in failures {
            report.issue(object, line);
        }
        for h in &held {
            report.issue(h.object(), h.to_string());
        }

        let after = if changed {
            match self.dp.links().await {
                Ok(links) => by_name(links),
                Err(e) => {
                    report.issue(Object::Host, format!("reading the devices back: {}", error_chain(&e)));
                    observed
                }
            }
        } else {
            observed
        };

        let port_status = state
            .ports
            .iter()
            .map(|p| {
                let name = tap_name(&p.id);
                let wired = !port_issues.contains_key(&p.id)
                    && desired.taps.get(&name).is_some_and(|t| t.port_id == p.id && is_wired(t, &name, &after));
                (p.id.clone(), if wired { WiredStatus::Active } else { WiredStatus::Down })
            })
            .collect();
        Ok(ReconcileReport { port_status, report, held })
    }
}

/// Whether the tap `name` is plugged, in its bridge (which is up) and up as its port wants.
fn is_wired(tap: &DesiredTap, name: &str, links: &BTreeMap<String, Link>) -> bool {
    let (Some(bridge), Some(link)) = (links.get(&tap.bridge), links.get(name)) else {
        return false;
    };
    tap.up && link.up && link.master.as_deref() == Some(tap.bridge.as_str()) && bridge.up
}

fn by_name(links: Vec<Link>) -> BTreeMap<String, Link> {
    links.into_iter().map(|l| (l.name.clone(), l)).collect()
}

pub(crate) use crate::error_chain;

/// Whether the agent created `link` and may delete it when its network is gone.
pub(crate) fn is_owned_device(link: &Link) -> bool {
    match link.kind {
        LinkKind::Bridge => link.name.starts_with(BRIDGE_PREFIX),
        LinkKind::Vxlan => link.name.starts_with(VXLAN_PREFIX),
        LinkKind::Vlan => is_owned_vlan(link),
        _ => false,
    }
}

/// A VLAN subinterface is ours when it is named `<parent>.<vid>` and sits in a `brq*`
/// bridge: Neutron's layout, which an operator's own subinterfaces do not follow.
fn is_owned_vlan(link: &Link) -> bool {
    let in_our_bridge = link.master.as_deref().is_some_and(|m| m.starts_with(BRIDGE_PREFIX));
    let named_like_ours = link.vlan.as_ref().is_some_and(|v| link.name == format!("{}.{}", v.parent, v.vid));
    in_our_bridge && named_like_ours
}

/// Whether `desired` wants this owned device to exist (with whatever attributes).
pub(crate) fn is_wanted(desired: &DesiredHost, link: &Link) -> bool {
    match link.kind {
        LinkKind::Bridge => desired.bridges.contains_key(&link.name),
        LinkKind::Vxlan => desired.vxlans.contains_key(&link.name),
        LinkKind::Vlan => desired.vlans.contains_key(&link.name),
        _ => true,
    }
}

#[cfg(test)]
mod tests;
