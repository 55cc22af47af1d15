//! One measured round: K port creates by `concurrency` workers, each create registered
//! with the tracker (its MAC and concerned hosts) before it is sent, and each worker's next
//! create sent once every concerned host has its last one (at most `concurrency` changes in
//! flight, so the figures are those of a steady rate the server keeps up with); the server's CPU is read around the round, and over an idle window before it
//! (heartbeats, expired long polls) so the cost of the changes themselves can be told apart.

use super::agent::Fleet;
use super::topology::change_mac;
use super::tracker::{RoundSummary, Tracker};
use super::{ms, port_body, wait_until, HostsPlan};
use crate::http::Job;
use crate::procfs::CpuSample;
use crate::report::num;
use crate::runner::Runner;
use crate::stats::round_to;
use crate::BenchError;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Idle window measured before each round: long enough to hold a few hundred heartbeats
/// and expired long polls at a thousand hosts (each sends one of each every 30 s).
const IDLE_WINDOW: Duration = Duration::from_secs(5);
/// Server cores below which it counts as quiet: the tail of earlier work (the watches'
/// first rebuilds, the status reports of the last changes and what they wake) is over.
const QUIET_CORES: f64 = 0.1;
/// Longest wait for quiet; without a server pid, the fixed pause instead.
const QUIET_MAX: Duration = Duration::from_secs(20);
const QUIET_PAUSE: Duration = Duration::from_secs(1);
const QUIET_STEP: Duration = Duration::from_millis(250);

/// What one round works with.
pub struct Round<'a> {
    pub plan: &'a HostsPlan,
    pub networks: &'a [String],
    pub hosts_of: &'a [Vec<usize>],
    /// Index of the round's first change over the run (MACs stay distinct across rounds).
    pub first_change: usize,
    pub concurrency: usize,
}

/// One round's figures (also a JSON row).
#[derive(Debug, Clone, Serialize)]
pub struct HostsRow {
    pub hosts: usize,
    pub networks: usize,
    pub concurrency: usize,
    /// Creates the API accepted.
    pub changes: usize,
    pub failed_creates: usize,
    pub undelivered: usize,
    pub concerned_per_change: f64,
    /// Create answered -> last concerned host has the port, per change.
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// Host states sent per change, in all, then those that brought a concerned host the
    /// port and the others.
    pub sends_per_change: f64,
    pub sends_concerned_per_change: f64,
    pub sends_other_per_change: f64,
    /// Status reports the agents sent during the round.
    pub status_reports: usize,
    /// Seconds to send every create, and to the last delivery.
    pub create_wall_s: f64,
    pub deliver_wall_s: f64,
    /// Server CPU over the round (to the last delivery and until the server is quiet again)
    /// per change.
    pub srv_cpu_ms_per_change: f64,
    /// The same less the idle rate measured just before (heartbeats and the like).
    pub srv_cpu_ms_per_change_net: f64,
    /// That net figure per concerned host: what delivering a change to one host costs,
    /// which stays flat when only the fan-out grows.
    pub srv_cpu_ms_per_concerned_host: f64,
    /// Server cores busy while idle (nothing but the agents' background).
    pub idle_srv_cores: f64,
}

/// Table header of the rounds.
pub const HOSTS_HEADER: &str = "| hosts | nets | conc | changes | lost | concerned/chg | p50 ms | p90 ms | p99 ms | \
                                max ms | sends/chg | to concerned | to others | srv cpu ms/chg | net of idle | \
                                per concerned host | idle cores | wall s |";
/// Alignment line under [`HOSTS_HEADER`].
pub const HOSTS_RULE: &str =
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

pub fn table_row(r: &HostsRow) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.hosts,
        r.networks,
        r.concurrency,
        r.changes,
        r.failed_creates + r.undelivered,
        num(r.concerned_per_change, 1),
        num(r.p50_ms, 1),
        num(r.p90_ms, 1),
        num(r.p99_ms, 1),
        num(r.max_ms, 1),
        num(r.sends_per_change, 2),
        num(r.sends_concerned_per_change, 2),
        num(r.sends_other_per_change, 2),
        num(r.srv_cpu_ms_per_change, 2),
        num(r.srv_cpu_ms_per_change_net, 2),
        num(r.srv_cpu_ms_per_concerned_host, 3),
        num(r.idle_srv_cores, 3),
        num(r.deliver_wall_s, 2),
    )
}

/// A create of the round, ready to send.
struct Spec {
    mac: String,
    concerned: BTreeSet<usize>,
    job: Job,
}

fn specs(round: &Round<'_>) -> Vec<Spec> {
    let plan = round.plan;
    let t = plan.topology;
    (0..plan.changes)
        .map(|i| {
            let k = round.first_change + i;
            let (n, h) = t.change_target(k, round.hosts_of);
            let mac = change_mac(plan.mac_byte, k);
            let host = super::topology::host_name(&plan.tag, h);
            let name = format!("{}-c{}-port-{i}", plan.tag, round.concurrency);
            let job = Job::post("/v2.0/ports", &port_body(plan, name, &round.networks[n], &host, Some(&mac)));
            Spec { mac, concerned: t.concerned(&round.hosts_of[n], h), job }
        })
        .collect()
}

/// Server cores busy between two samples `wall` apart (NaN without a server pid).
fn cores(before: CpuSample, after: CpuSample, wall: Duration) -> f64 {
    match (before.server, after.server) {
        (Some(b), Some(a)) if !wall.is_zero() => (a - b) / wall.as_secs_f64(),
        _ => f64::NAN,
    }
}

/// Waits until the server is quiet (below [`QUIET_CORES`] over a [`QUIET_STEP`]), at most
/// [`QUIET_MAX`].
async fn quiesce(r: &Runner) {
    if r.meter.server_pids.is_empty() {
        return tokio::time::sleep(QUIET_PAUSE).await;
    }
    let deadline = Instant::now() + QUIET_MAX;
    let mut last = (r.meter.sample(), Instant::now());
    while Instant::now() < deadline {
        tokio::time::sleep(QUIET_STEP).await;
        let now = (r.meter.sample(), Instant::now());
        if cores(last.0, now.0, now.1 - last.1) < QUIET_CORES {
            return;
        }
        last = now;
    }
}

/// Runs one round and returns its row.
pub async fn round(r: &mut Runner, fleet: &Arc<Fleet>, round: &Round<'_>) -> Result<HostsRow, BenchError> {
    quiesce(r).await;
    let idle_started = Instant::now();
    let idle_before = r.meter.sample();
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle_cores = cores(idle_before, r.meter.sample(), idle_started.elapsed());

    let specs = Arc::new(specs(round));
    *fleet.tracker() = Tracker::default();
    let status_before = fleet.status_reports.load(Ordering::Relaxed);
    let cpu_before = r.meter.sample();
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..round.concurrency.max(1) {
        let (conn, specs, next, fleet, verbose) =
            (r.endpoint.connect()?, specs.clone(), next.clone(), fleet.clone(), r.verbose);
        let deliver_timeout = round.plan.deliver_timeout;
        workers.push(tokio::spawn(async move {
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(spec) = specs.get(k) else { break };
                let idx = fleet.tracker().expect(&spec.mac, spec.concerned.clone());
                // Round-robin over the servers: a change made through any of them.
                let reply = conn.send_to(k, &spec.job).await;
                let at = Instant::now();
                let ok = matches!(&reply, Ok(reply) if reply.status == 201);
                fleet.tracker().answered(idx, at, ok);
                // Paced: a worker's next change waits until this one reached its hosts, so
                // the round has at most `concurrency` changes in flight.
                wait_until(deliver_timeout, || fleet.tracker().settled(idx)).await;
                if !ok && verbose {
                    match reply {
                        Ok(reply) => {
                            eprintln!("create_port -> {} {}", reply.status, String::from_utf8_lossy(&reply.body))
                        }
                        Err(e) => eprintln!("{e}"),
                    }
                }
            }
        }));
    }
    for worker in workers {
        worker.await.map_err(|e| BenchError::Worker(e.to_string()))?;
    }
    let create_wall = started.elapsed();
    wait_until(round.plan.deliver_timeout, || fleet.tracker().outstanding() == 0).await;
    let deliver_wall = started.elapsed();
    quiesce(r).await;
    let busy = cores(cpu_before, r.meter.sample(), started.elapsed()) * started.elapsed().as_secs_f64();
    let summary = fleet.tracker().summary();
    let status_reports = fleet.status_reports.load(Ordering::Relaxed) - status_before;
    let idle_busy = idle_cores * started.elapsed().as_secs_f64();
    Ok(row(round, &summary, status_reports, (create_wall, deliver_wall), (busy, idle_busy, idle_cores)))
}

fn row(
    round: &Round<'_>,
    s: &RoundSummary,
    status_reports: usize,
    (create_wall, deliver_wall): (Duration, Duration),
    (busy, idle_busy, idle_cores): (f64, f64, f64),
) -> HostsRow {
    let t = round.plan.topology;
    let per_change = |v: f64| if s.changes == 0 { f64::NAN } else { v / s.changes as f64 };
    HostsRow {
        hosts: t.hosts,
        networks: t.networks,
        concurrency: round.concurrency,
        changes: s.changes,
        failed_creates: s.failed_creates,
        undelivered: s.undelivered,
        concerned_per_change: round_to(s.concerned_per_change, 2),
        p50_ms: s.latency.p50_ms,
        p90_ms: s.latency.p90_ms,
        p99_ms: s.latency.p99_ms,
        max_ms: s.latency.max_ms,
        mean_ms: s.latency.mean_ms,
        sends_per_change: round_to(per_change((s.sends_concerned + s.sends_other) as f64), 2),
        sends_concerned_per_change: round_to(per_change(s.sends_concerned as f64), 2),
        sends_other_per_change: round_to(per_change(s.sends_other as f64), 2),
        status_reports,
        create_wall_s: round_to(create_wall.as_secs_f64(), 2),
        deliver_wall_s: round_to(deliver_wall.as_secs_f64(), 2),
        srv_cpu_ms_per_change: ms(per_change(busy)),
        srv_cpu_ms_per_change_net: ms(per_change((busy - idle_busy).max(0.0))),
        srv_cpu_ms_per_concerned_host: round_to(
            ms(per_change((busy - idle_busy).max(0.0))) / s.concerned_per_change.max(1.0),
            3,
        ),
        idle_srv_cores: round_to(idle_cores, 3),
    }
}
