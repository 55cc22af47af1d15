//! One shape for every part of the agent: a [`Subsystem`] plans from the whole host state,
//! applies the difference and reports typed issues. A pass runs the host's subsystems in
//! order ([`run_pass`]); what a later one needs from an earlier one travels in the [`Pass`].
//!
//! The order is part of the design (the runner builds it): DHCP, then L3 (both play the
//! hypervisor and plug taps for their ports, which the L2 pass then wires), metadata (its
//! listeners live in the DHCP and router namespaces), then the firewall, then L2. The firewall leaves
//! in the pass which ports' filters the kernel confirmed, and L2 wires a tap into its bridge
//! only then. This fails closed: when a firewall is among the subsystems, the pass starts
//! with a gate that confirms nothing, so an L2 run before the firewall (or with a firewall
//! that could not apply) holds every new port out of its bridge.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::future::BoxFuture;
use neutrino_agent_api::{DhcpNetwork, HostState, WiredStatus};

use crate::dhcp::{DhcpReconciler, DhcpSystem};
use crate::firewall::{FilterGate, Firewall};
use crate::l2::dataplane::{Dataplane, DataplaneError};
use crate::l2::reconcile::{ReconcileReport, Reconciler, WiringHeld};
use crate::l3::{L3Reconciler, L3System};
use crate::metadata::MetadataProxy;
use crate::report::{Report, SubsystemKind};

/// A part of the host's dataplane the agent converges, level-triggered: each call is handed
/// the whole desired state and keeps no memory of events.
pub trait Subsystem: Send {
    fn kind(&self) -> SubsystemKind;

    /// Whether this subsystem filters the host's ports (then L2 wires only what it confirms).
    fn filters(&self) -> bool {
        false
    }

    /// Converges this part of the host to `state`, reading from and adding to `pass`.
    fn reconcile<'a>(
        &'a mut self,
        state: &'a HostState,
        pass: &'a mut Pass,
    ) -> BoxFuture<'a, Result<Report, PassError>>;

    /// What this subsystem's pass reads of `state` (and of the pass so far), serialised,
    /// when a pass with the same inputs while the kernel was quiet may trust the last clean
    /// pass instead of checking the kernel again ([`run_pass_after`]); `None`: always run.
    fn quiet_inputs(&self, _state: &HostState, _pass: &Pass) -> Option<Vec<u8>> {
        None
    }

    /// What the pass must still carry when this subsystem is skipped.
    fn skipped(&self, _state: &HostState, _pass: &mut Pass) {}
}

/// The inputs of each subsystem's last clean pass (no change, no issue), by kind.
#[derive(Debug, Default)]
pub struct CleanInputs(BTreeMap<SubsystemKind, [u8; 32]>);

/// What the subsystems of one pass hand on, to later subsystems and to the runner.
#[derive(Debug, Default)]
pub struct Pass {
    /// Which ports L2 may wire into their bridges; `None` when nothing filters.
    pub gate: Option<Arc<FilterGate>>,
    /// What the L2 subsystem found, once it has run.
    pub wiring: Option<Wiring>,
    /// The networks whose DHCP namespace serves metadata, as the DHCP subsystem decided
    /// ([`crate::dhcp::serves_metadata`]); `None` when this host runs no DHCP.
    pub dhcp_metadata: Option<BTreeSet<String>>,
    /// Each subsystem's report, in the order they ran.
    pub reports: Vec<Report>,
    /// Why the pass stopped before its last subsystem, if it did.
    pub error: Option<PassError>,
    /// How long each subsystem that ran took (wall time, for `/metrics`: the work is real
    /// even under a test's fake clock).
    pub durations: Vec<(SubsystemKind, std::time::Duration)>,
    /// How long the firewall's nftables write took, when it wrote one.
    pub nft_apply: Option<std::time::Duration>,
    /// No kernel link event and no resync tick since the last pass: only the host state
    /// changed. A subsystem whose inputs did not change may then trust what it found last
    /// time instead of reading the kernel again ([`Reconciler`]'s L2 pass at a thousand
    /// ports reads every link and FDB: ~100 ms a security-group rule change need not pay).
    pub kernel_quiet: bool,
}

impl Pass {
    /// The networks of `state` whose DHCP namespace serves metadata (none before the DHCP
    /// subsystem ran, or without one).
    pub fn metadata_dhcp_networks(&self, state: &HostState) -> Vec<DhcpNetwork> {
        let serving = self.dhcp_metadata.as_ref();
        state.dhcp.iter().filter(|n| serving.is_some_and(|s| s.contains(&n.network_id))).cloned().collect()
    }

    /// Whether the kernel is still quiet for the next subsystem: a DHCP or router port
    /// plugged earlier in this pass is a kernel change too (the firewall plugs nothing).
    pub fn kernel_still_quiet(&self) -> bool {
        self.kernel_quiet && self.reports.iter().all(|r| r.subsystem == SubsystemKind::Firewall || r.applied.is_empty())
    }

    /// Keeps what an L2 subsystem (Linux bridges or Open vSwitch) found for the runner, and
    /// returns its report.
    pub fn hand_on_wiring(&mut self, found: ReconcileReport) -> Report {
        let ReconcileReport { port_status, report, held } = found;
        self.wiring = Some(Wiring { port_status, held });
        report
    }

    /// The report of `kind`, if it ran.
    pub fn report(&self, kind: SubsystemKind) -> Option<&Report> {
        self.reports.iter().find(|r| r.subsystem == kind)
    }
}

/// The ports' state after the L2 subsystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wiring {
    /// Every port of the host state, ACTIVE or DOWN.
    pub port_status: BTreeMap<String, WiredStatus>,
    /// Ports not wired because their filter is not in the kernel.
    pub held: Vec<WiringHeld>,
}

/// A pass that could not go on.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The links of the host could not be read, so nothing was changed.
    #[error("cannot read the host's network devices")]
    Observe(#[source] DataplaneError),
    /// ovsdb could not be read, so nothing was changed.
    #[error("cannot read Open vSwitch's database")]
    Ovs(#[source] crate::ovs::OvsError),
}

/// Runs `subsystems` in order over `state`, logging each issue under its subsystem's
/// message. Stops at the first subsystem that cannot run at all ([`Pass::error`]).
pub async fn run_pass(subsystems: &mut [Box<dyn Subsystem + '_>], state: &HostState) -> Pass {
    run_pass_after(subsystems, state, false, &mut CleanInputs::default()).await
}

/// [`run_pass`], told whether the kernel has been quiet since the last pass
/// ([`Pass::kernel_quiet`]): then a subsystem whose [`Subsystem::quiet_inputs`] are those
/// of its last clean pass (kept in `clean`) is skipped. A DHCP host with fifty networks
/// checks fifty namespaces, dnsmasq processes and nftables guards per pass (~0.5 s), which
/// a security-group rule change would otherwise wait for. Changes that come with no link
/// event (a dnsmasq that died, a hand edit inside a namespace) are found by the next full
/// pass, at the resync interval at the latest.
pub async fn run_pass_after(
    subsystems: &mut [Box<dyn Subsystem + '_>],
    state: &HostState,
    kernel_quiet: bool,
    clean: &mut CleanInputs,
) -> Pass {
    use sha2::{Digest, Sha256};
    let filtered = subsystems.iter().any(|s| s.filters());
    // Fail closed: until a filter confirms them, no port may be wired.
    let mut pass = Pass { gate: filtered.then(Arc::default), kernel_quiet, ..Pass::default() };
    for subsystem in subsystems.iter_mut() {
        let kind = subsystem.kind();
        let started = std::time::Instant::now();
        let inputs: Option<[u8; 32]> = subsystem.quiet_inputs(state, &pass).map(|bytes| Sha256::digest(bytes).into());
        if pass.kernel_still_quiet() && inputs.is_some() && clean.0.get(&kind) == inputs.as_ref() {
            subsystem.skipped(state, &mut pass);
            pass.durations.push((kind, started.elapsed()));
            pass.reports.push(Report::new(kind));
            continue;
        }
        clean.0.remove(&kind);
        let result = subsystem.reconcile(state, &mut pass).await;
        pass.durations.push((kind, started.elapsed()));
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                pass.error = Some(e);
                break;
            }
        };
        if let Some(inputs) = inputs.filter(|_| report.applied.is_empty() && report.issues.is_empty()) {
            clean.0.insert(kind, inputs);
        }
        for issue in &report.issues {
            tracing::warn!(%issue, "{}", report.subsystem.cannot());
        }
        pass.reports.push(report);
    }
    pass
}

impl<T: Subsystem + ?Sized> Subsystem for &mut T {
    fn kind(&self) -> SubsystemKind {
        (**self).kind()
    }

    fn filters(&self) -> bool {
        (**self).filters()
    }

    fn reconcile<'a>(
        &'a mut self,
        state: &'a HostState,
        pass: &'a mut Pass,
    ) -> BoxFuture<'a, Result<Report, PassError>> {
        (**self).reconcile(state, pass)
    }

    fn quiet_inputs(&self, state: &HostState, pass: &Pass) -> Option<Vec<u8>> {
        (**self).quiet_inputs(state, pass)
    }

    fn skipped(&self, state: &HostState, pass: &mut Pass) {
        (**self).skipped(state, pass)
    }
}

/// Serves DHCP for [`HostState::dhcp`].
impl<S: DhcpSystem + 'static> Subsystem for DhcpReconciler<S> {
    fn kind(&self) -> SubsystemKind {
        SubsystemKind::Dhcp
    }

    fn reconcile<'a>(
        &'a mut self,
        state: &'a HostState,
        pass: &'a mut Pass,
    ) -> BoxFuture<'a, Result<Report, PassError>> {
        Box::pin(async move {
            self.skipped(state, pass);
            Ok(DhcpReconciler::reconcile(self, &state.dhcp).await)
        })
    }

    fn quiet_inputs(&self, state: &HostState, _: &Pass) -> Option<Vec<u8>> {
        serde_json::to_vec(&state.dhcp).ok()
    }

    fn skipped(&self, state: &HostState, pass: &mut Pass) {
        let serving = crate::dhcp::metadata_networks(self.config().metadata, &state.dhcp);
        pass.dhcp_metadata = Some(serving.into_iter().map(|n| n.network_id.clone()).collect());
    }
}

/// Runs [`HostState::routers`].
impl<S: L3System + 'static> Subsystem for L3Reconciler<S> {
    fn kind(&self) -> SubsystemKind {
        SubsystemKind::L3
    }

    fn reconcile<'a>(&'a mut self, state: &'a HostState, _: &'a mut Pass) -> BoxFuture<'a, Result<Report, PassError>> {
        Box::pin(async move { Ok(L3Reconciler::reconcile(self, &state.routers).await) })
    }

    fn quiet_inputs(&self, state: &HostState, _: &Pass) -> Option<Vec<u8>> {
        serde_json::to_vec(&state.routers).ok()
    }
}

/// Proxies metadata from the DHCP namespaces of [`HostState::dhcp`] that serve it and from
/// the namespaces of [`HostState::routers`].
impl Subsystem for MetadataProxy {
    fn kind(&self) -> SubsystemKind {
        SubsystemKind::Metadata
    }

    fn reconcile<'a>(
        &'a mut self,
        state: &'a HostState,
        pass: &'a mut Pass,
    ) -> BoxFuture<'a, Result<Report, PassError>> {
        Box::pin(async move {
            let mut report = self.sync(&pass.metadata_dhcp_networks(state)).await;
            let routers = self.sync_routers(&state.routers).await;
            report.applied.extend(routers.applied);
            report.issues.extend(routers.issues);
            Ok(report)
        })
    }

    fn quiet_inputs(&self, state: &HostState, pass: &Pass) -> Option<Vec<u8>> {
        serde_json::to_vec(&(pass.metadata_dhcp_networks(state), &state.routers)).ok()
    }
}

/// Filters the host's ports, and says in the pass which ones the kernel confirmed.
impl Subsystem for Firewall {
    fn kind(&self) -> SubsystemKind {
        SubsystemKind::Firewall
    }

    fn filters(&self) -> bool {
        true
    }

    fn reconcile<'a>(
        &'a mut self,
        state: &'a HostState,
        pass: &'a mut Pass,
    ) -> BoxFuture<'a, Result<Report, PassError>> {
        Box::pin(async move {
            let report = self.sync(state).await;
            pass.gate = Some(self.shared_gate());
            pass.nft_apply = self.take_apply_time();
            Ok(report)
        })
    }
}

/// Wires the host's ports with Open vSwitch, only those the pass's gate allows.
impl<S: crate::ovs::ovsdb::Ovsdb + crate::ovs::openflow::OpenFlow + 'static> Subsystem
    for crate::ovs::reconcile::OvsReconciler<S>
{
    fn kind(&self) -> SubsystemKind {
        SubsystemKind::L2
    }

    fn reconcile<'a>(
        &'a mut self,
        state: &'a HostState,
        pass: &'a mut Pass,
    ) -> BoxFuture<'a, Result<Report, PassError>> {
        Box::pin(async move {
            let quiet = pass.kernel_still_quiet();
            let found = self.reconcile_unless_unchanged(state, pass.gate.as_deref(), quiet).await?;
            Ok(pass.hand_on_wiring(found))
        })
    }
}

/// Wires the host's ports, only those the pass's gate allows.
impl<D: Dataplane> Subsystem for Reconciler<D> {
    fn kind(&self) -> SubsystemKind {
        SubsystemKind::L2
    }

    fn reconcile<'a>(
        &'a mut self,
        state: &'a HostState,
        pass: &'a mut Pass,
    ) -> BoxFuture<'a, Result<Report, PassError>> {
        Box::pin(async move {
            let quiet = pass.kernel_still_quiet();
            let found = self.reconcile_unless_unchanged(state, pass.gate.as_deref(), quiet).await?;
            Ok(pass.hand_on_wiring(found))
        })
    }
}

#[cfg(test)]
mod tests;
