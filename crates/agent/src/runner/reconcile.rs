//! The reconcile task: a pass over the host's subsystems on every new state, kernel link
//! event and resync tick, then the ports' and floating IPs' status to the server.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use neutrino_agent_api::{BindingStatus, HostState, PortStatusReport, WiredStatus};
use tokio::sync::{watch, Notify};

use super::{AgentSettings, Counts};
use crate::api::ServerApi;
use crate::clock::Clock;
use crate::error_chain as chain;
use crate::report::{Issue, Object, Report, SubsystemKind};
use crate::subsystem::{run_pass_after, CleanInputs, Pass, Subsystem, Wiring};

/// The reconcile task's memory between passes (none of it about the dataplane: every pass
/// reads the kernel afresh).
pub(super) struct ReconcileTask {
    pub host: String,
    pub resync_interval: Duration,
    pub api: Arc<ServerApi>,
    pub clock: Arc<dyn Clock>,
    pub counts: Arc<Counts>,
    /// In their safe order; see [`crate::subsystem`].
    pub subsystems: Vec<Box<dyn Subsystem>>,
    metrics: Arc<crate::metrics::AgentMetrics>,
    started: Instant,
    synced: bool,
    /// Statuses reported and not yet reflected in a state from the server, with the
    /// binding they were about: an activation turns a port's inactive binding here into
    /// its active one (status DOWN on the server), and the report made for the inactive
    /// binding says nothing about the active one.
    reported: BTreeMap<String, (BindingStatus, WiredStatus)>,
    reported_fips: BTreeMap<String, WiredStatus>,
    /// What the subsystems' last clean passes read, to skip them while nothing changed.
    clean: CleanInputs,
    last_revision: u64,
    failures_seen: BTreeMap<String, String>,
}

impl ReconcileTask {
    pub fn new(
        settings: &AgentSettings,
        api: Arc<ServerApi>,
        clock: Arc<dyn Clock>,
        counts: Arc<Counts>,
        subsystems: Vec<Box<dyn Subsystem>>,
    ) -> Self {
        ReconcileTask {
            host: settings.host.clone(),
            resync_interval: settings.resync_interval,
            api,
            started: clock.now(),
            clock,
            counts,
            subsystems,
            metrics: settings.metrics.clone(),
            synced: false,
            reported: BTreeMap::new(),
            reported_fips: BTreeMap::new(),
            clean: CleanInputs::default(),
            last_revision: 0,
            failures_seen: BTreeMap::new(),
        }
    }

    /// Until the states end. Until the first state arrives it touches nothing.
    pub async fn run(mut self, mut states: watch::Receiver<Option<Arc<HostState>>>, kernel_events: Arc<Notify>) {
        // Only a new state woke this pass: no link event, no resync tick (`Pass::kernel_quiet`).
        let mut kernel_quiet = false;
        // When the last pass that read the whole kernel ran: however often new states come,
        // one does every resync interval.
        let mut last_full = self.clock.now();
        loop {
            let state = states.borrow_and_update().clone();
            let now = self.clock.now();
            if now.saturating_duration_since(last_full) >= self.resync_interval {
                kernel_quiet = false;
            }
            if !kernel_quiet {
                last_full = now;
            }
            if let Some(state) = state {
                self.pass(&state, kernel_quiet).await;
            }
            kernel_quiet = false;
            let resync_in = self.resync_interval.saturating_sub(self.clock.now().saturating_duration_since(last_full));
            tokio::select! {
                changed = states.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    kernel_quiet = true;
                }
                _ = kernel_events.notified() => {
                    // Let a burst of link events (a tap created, renamed, brought up) settle.
                    self.clock.sleep(Duration::from_millis(5)).await;
                }
                _ = self.clock.sleep(resync_in) => {}
            }
        }
    }

    /// One pass over the subsystems, then what the server should hear of it.
    async fn pass(&mut self, state: &HostState, kernel_quiet: bool) {
        self.note_binding_failures(state);
        self.forget_acknowledged(state);
        let started = self.clock.now();
        let pass = run_pass_after(&mut self.subsystems, state, kernel_quiet, &mut self.clean).await;
        self.metrics.record_pass(&pass, self.clock.now().saturating_duration_since(started));
        self.count(state, &pass);
        self.note_issues(&pass);
        if let Some(e) = &pass.error {
            return tracing::error!(error = %chain(e), "reconcile failed; retrying");
        }
        let fips = pass.report(SubsystemKind::L3).map(|l3| self.floating_ip_status(state, l3));
        if let (Some(wiring), Some(l2)) = (&pass.wiring, pass.report(SubsystemKind::L2)) {
            self.log_progress(state, wiring, l2, &pass, started);
            let ports = self.port_status(state, wiring);
            self.send_status(ports, fips.unwrap_or_default()).await;
        }
    }

    /// The server could not bind these ports to this host: say why, once.
    fn note_binding_failures(&mut self, state: &HostState) {
        let failures: BTreeMap<String, String> =
            state.binding_failures.iter().map(|f| (f.port_id.clone(), f.reason.clone())).collect();
        for (port, reason) in &failures {
            if self.failures_seen.get(port) != Some(reason) {
                tracing::warn!(%port, %reason, "port meant for this host is not bound");
            }
        }
        self.failures_seen = failures;
    }

    /// The server has seen our reports if they show in its state.
    fn forget_acknowledged(&mut self, state: &HostState) {
        if state.revision == self.last_revision {
            return;
        }
        self.reported.retain(|id, (binding, s)| {
            state.ports.iter().any(|p| &p.id == id && p.binding == *binding && p.status != s.as_str())
        });
        self.reported_fips.retain(|id, s| {
            state.routers.iter().flat_map(|r| &r.floating_ips).any(|f| &f.id == id && f.status != s.as_str())
        });
        self.last_revision = state.revision;
    }

    /// The pass's issues (and what stopped it) become the heartbeat's conditions.
    fn note_issues(&self, pass: &Pass) {
        let mut issues: Vec<Issue> = pass.reports.iter().flat_map(|r| r.issues.iter().cloned()).collect();
        if let (Some(e), Some((kind, _))) = (&pass.error, pass.durations.last()) {
            issues.push(Issue { subsystem: *kind, object: Object::Host, reason: chain(e) });
        }
        self.counts.issues.replace(issues);
    }

    /// What the heartbeat reports, for the subsystems that ran.
    fn count(&self, state: &HostState, pass: &Pass) {
        let counts = &self.counts;
        if pass.report(SubsystemKind::Dhcp).is_some() {
            counts.dhcp_networks.store(state.dhcp.len() as u64, Ordering::Relaxed);
            counts.dhcp_subnets.store(state.dhcp.iter().map(|n| n.subnets.len() as u64).sum(), Ordering::Relaxed);
            counts.dhcp_ports.store(state.dhcp.iter().map(|n| n.hosts.len() as u64).sum(), Ordering::Relaxed);
        }
        if pass.report(SubsystemKind::L3).is_some() {
            counts.routers.store(state.routers.len() as u64, Ordering::Relaxed);
            let fips = state.routers.iter().map(|r| r.floating_ips.len() as u64).sum();
            counts.floating_ips.store(fips, Ordering::Relaxed);
        }
        if let Some(wiring) = &pass.wiring {
            let active = wiring.port_status.values().filter(|s| **s == WiredStatus::Active).count();
            counts.devices.store(active as u64, Ordering::Relaxed);
        }
    }

    /// A floating IP is ACTIVE once its router converged without an issue; the ones whose
    /// status the server does not show yet (and that were not reported already).
    fn floating_ip_status(&self, state: &HostState, l3: &Report) -> BTreeMap<String, WiredStatus> {
        let mut out = BTreeMap::new();
        for router in &state.routers {
            let broken = l3.concerns(&Object::Router(router.id.clone()));
            let up = router.admin_state_up && router.gateway.is_some() && !broken;
            let wired = if up { WiredStatus::Active } else { WiredStatus::Down };
            for fip in &router.floating_ips {
                if fip.status != wired.as_str() && self.reported_fips.get(&fip.id) != Some(&wired) {
                    out.insert(fip.id.clone(), wired);
                }
            }
        }
        out
    }

    /// The ports whose wired status the server does not show yet (and that were not
    /// reported already).
    fn port_status(&self, state: &HostState, wiring: &Wiring) -> BTreeMap<String, (BindingStatus, WiredStatus)> {
        state
            .ports
            .iter()
            .filter_map(|p| {
                let wired = *wiring.port_status.get(&p.id).unwrap_or(&WiredStatus::Down);
                let differs = p.status != wired.as_str() && self.reported.get(&p.id) != Some(&(p.binding, wired));
                differs.then(|| (p.id.clone(), (p.binding, wired)))
            })
            .collect()
    }

    fn log_progress(&mut self, state: &HostState, wiring: &Wiring, l2: &Report, pass: &Pass, started: Instant) {
        let reconcile_ms = self.clock.now().saturating_duration_since(started).as_millis() as u64;
        // Every pass that changed the kernel's wiring or filtering, with where its time went.
        if !l2.applied.is_empty() || pass.nft_apply.is_some() {
            tracing::info!(changes = l2.applied.len(), reconcile_ms, took = %pass_timings(pass), "reconciled");
        }
        if !self.synced {
            self.synced = true;
            let active = wiring.port_status.values().filter(|s| **s == WiredStatus::Active).count();
            tracing::info!(
                ports = state.ports.len(),
                active,
                changes = l2.applied.len(),
                reconcile_ms,
                took = %pass_timings(pass),
                since_start_ms = self.clock.now().saturating_duration_since(self.started).as_millis() as u64,
                "initial sync done"
            );
        }
    }

    /// Tells the server, and remembers what it was told until its state shows it.
    async fn send_status(
        &mut self,
        ports: BTreeMap<String, (BindingStatus, WiredStatus)>,
        fips: BTreeMap<String, WiredStatus>,
    ) {
        if ports.is_empty() && fips.is_empty() {
            return;
        }
        let wired = ports.iter().map(|(id, (_, w))| (id.clone(), *w)).collect();
        let msg = PortStatusReport { host: self.host.clone(), ports: wired, floating_ips: fips };
        match self.api.port_status(&msg).await {
            Ok(()) => {
                tracing::info!(ports = msg.ports.len(), floating_ips = msg.floating_ips.len(), "reported status");
                self.reported.extend(ports);
                self.reported_fips.extend(msg.floating_ips);
            }
            Err(e) => tracing::warn!(error = %chain(&e), "port status report failed; retrying next pass"),
        }
    }
}

/// Where a pass's time went, as `l2=12ms firewall=40ms nft=30ms`: what an operator reading
/// a slow pass in the log needs first.
fn pass_timings(pass: &Pass) -> String {
    let mut out: Vec<String> = pass
        .durations
        .iter()
        .map(|(kind, took)| format!("{}={}ms", crate::metrics::kind_label(*kind), took.as_millis()))
        .collect();
    if let Some(nft) = pass.nft_apply {
        out.push(format!("nft={}ms", nft.as_millis()));
    }
    out.join(" ")
}

#[cfg(test)]
mod tests;
