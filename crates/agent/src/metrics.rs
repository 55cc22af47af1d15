//! The agent's `/metrics` (Prometheus text format), on `metrics_listen` when an operator
//! sets it (off by default: a compute host runs tenant VMs, so the agent opens no port of
//! its own unless asked; loopback or the management address is the usual choice).
//!
//! Everything here is about the last passes, counted by [`AgentMetrics::record_pass`]:
//! passes (and those that stopped early), pass time and each subsystem's, the nftables
//! apply time, the host's ports by wired status, and the issues of the last pass by
//! subsystem. Labels are the subsystem names and `active`/`down`: bounded, and no port,
//! network or project id ever becomes a label (the issues themselves are in the log and,
//! as conditions, on the server).

use crate::report::SubsystemKind;
use crate::subsystem::Pass;
use neutrino_agent_api::WiredStatus;
use neutrino_metrics::{Counter, Exposition, Histogram, LATENCY_BUCKETS};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Every subsystem, so each has its series from the start (a 0 is information).
const KINDS: [SubsystemKind; 5] =
    [SubsystemKind::Dhcp, SubsystemKind::L3, SubsystemKind::Metadata, SubsystemKind::Firewall, SubsystemKind::L2];

/// A subsystem as a label (its serialised name).
pub fn kind_label(kind: SubsystemKind) -> &'static str {
    match kind {
        SubsystemKind::Dhcp => "dhcp",
        SubsystemKind::L3 => "l3",
        SubsystemKind::Metadata => "metadata",
        SubsystemKind::Firewall => "firewall",
        SubsystemKind::L2 => "l2",
    }
}

/// The agent's counters, shared by the reconcile task and the metrics listener.
#[derive(Debug)]
pub struct AgentMetrics {
    passes: Counter,
    failed_passes: Counter,
    pass_seconds: Histogram,
    subsystem_seconds: BTreeMap<SubsystemKind, Histogram>,
    nft_apply_seconds: Histogram,
    ports_active: AtomicU64,
    ports_down: AtomicU64,
    /// Issues of the last pass, by subsystem (replaced by every pass that ran it).
    issues: Mutex<BTreeMap<SubsystemKind, u64>>,
}

impl Default for AgentMetrics {
    fn default() -> Self {
        Self {
            passes: Counter::default(),
            failed_passes: Counter::default(),
            pass_seconds: Histogram::new(LATENCY_BUCKETS),
            subsystem_seconds: KINDS.iter().map(|k| (*k, Histogram::new(LATENCY_BUCKETS))).collect(),
            nft_apply_seconds: Histogram::new(LATENCY_BUCKETS),
            ports_active: AtomicU64::new(0),
            ports_down: AtomicU64::new(0),
            issues: Mutex::new(KINDS.iter().map(|k| (*k, 0)).collect()),
        }
    }
}

impl AgentMetrics {
    /// Counts one pass that took `elapsed`.
    pub fn record_pass(&self, pass: &Pass, elapsed: Duration) {
        self.passes.inc();
        if pass.error.is_some() {
            self.failed_passes.inc();
        }
        self.pass_seconds.observe_duration(elapsed);
        for (kind, took) in &pass.durations {
            if let Some(h) = self.subsystem_seconds.get(kind) {
                h.observe_duration(*took);
            }
        }
        if let Some(took) = pass.nft_apply {
            self.nft_apply_seconds.observe_duration(took);
        }
        if let Some(wiring) = &pass.wiring {
            let active = wiring.port_status.values().filter(|s| **s == WiredStatus::Active).count() as u64;
            self.ports_active.store(active, Ordering::Relaxed);
            self.ports_down.store(wiring.port_status.len() as u64 - active, Ordering::Relaxed);
        }
        let mut issues = self.issues.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for report in &pass.reports {
            issues.insert(report.subsystem, report.issues.len() as u64);
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut e = Exposition::new();
        e.counter("neutrino_agent_passes_total", "Reconcile passes run.", [(&[][..], self.passes.get())]);
        e.counter(
            "neutrino_agent_failed_passes_total",
            "Passes that stopped before their last subsystem (the host's devices could not be read).",
            [(&[][..], self.failed_passes.get())],
        );
        e.histogram(
            "neutrino_agent_pass_duration_seconds",
            "Time of a whole pass.",
            [(&[][..], self.pass_seconds.snapshot())],
        );
        let per_kind: Vec<_> =
            self.subsystem_seconds.iter().map(|(k, h)| ([("subsystem", kind_label(*k))], h.snapshot())).collect();
        e.histogram(
            "neutrino_agent_subsystem_duration_seconds",
            "Time of each subsystem's part of a pass.",
            per_kind.iter().map(|(l, h)| (&l[..], h.clone())),
        );
        e.histogram(
            "neutrino_agent_nft_apply_duration_seconds",
            "Time of an nftables ruleset write (whole or incremental).",
            [(&[][..], self.nft_apply_seconds.snapshot())],
        );
        e.gauge(
            "neutrino_agent_ports",
            "The host's ports after the last L2 pass, by wired status.",
            [
                (&[("status", "active")][..], self.ports_active.load(Ordering::Relaxed) as f64),
                (&[("status", "down")][..], self.ports_down.load(Ordering::Relaxed) as f64),
            ],
        );
        let issues: Vec<_> = self
            .issues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, n)| ([("subsystem", kind_label(*k))], *n as f64))
            .collect();
        e.gauge(
            "neutrino_agent_issues",
            "Issues the last pass found, by subsystem (retried every pass).",
            issues.iter().map(|(l, n)| (&l[..], *n)),
        );
        e.finish()
    }
}

/// Serves `GET /metrics` on `listener` under `limits` until `shutdown` resolves.
pub async fn serve(
    metrics: std::sync::Arc<AgentMetrics>,
    listener: tokio::net::TcpListener,
    limits: neutrino_http::Limits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, neutrino_metrics::CONTENT_TYPE)], metrics.render()) }
        }),
    );
    let on_timeout: neutrino_http::TimeoutAnswer = std::sync::Arc::new(|_| {
        let mut res = axum::response::Response::new(axum::body::Body::empty());
        *res.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
        res
    });
    neutrino_http::serve(listener, limits, router, on_timeout, shutdown).await;
}

/// Connections the metrics listener serves at once unless configured: a scraper or two.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4;

/// The metrics listener's limits: `max_connections` (at most 2 per address), short timeouts.
pub fn limits(max_connections: usize) -> neutrino_http::Limits {
    neutrino_http::Limits {
        header_read_timeout: Duration::from_secs(5),
        keepalive_timeout: Duration::from_secs(30),
        request_timeout: Duration::from_secs(10),
        max_connections: max_connections.max(1),
        max_connections_per_address: 2,
    }
}

#[cfg(test)]
mod tests;
