//! One phase = a barrier: C workers (tokio tasks, each with its own keep-alive connection)
//! pull the phase's jobs from a shared queue; the phase ends when the queue is empty and
//! every reply is in. Each phase prints its row as soon as it is done.

use crate::http::{Connection, Endpoint, Job, Reply};
use crate::procfs::{CpuMeter, CpuSample};
use crate::report::{table_row, Row};
use crate::stats::{round_to, LatencySummary};
use crate::BenchError;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Runs phases against the endpoint's servers and keeps their rows and failure counts.
pub struct Runner {
    pub endpoint: Endpoint,
    pub meter: CpuMeter,
    /// Print failed requests and diagnostics to stderr.
    pub verbose: bool,
    pub rows: Vec<Row>,
    /// Requests that failed or got an unexpected status, over all phases.
    pub failed_requests: usize,
    /// Rounds given up because a phase they depend on produced nothing.
    pub aborted_rounds: usize,
}

/// How one job ended: its reply (with any status) or why there was none.
type Outcome = Result<Reply, String>;

impl Runner {
    pub fn new(endpoint: Endpoint, meter: CpuMeter, verbose: bool) -> Self {
        Self { endpoint, meter, verbose, rows: Vec::new(), failed_requests: 0, aborted_rounds: 0 }
    }

    /// Runs `jobs` through `concurrency` workers and records the phase's row. Returns, in job
    /// order, the decoded body of each request that got the `expect`ed status (`Null` if the
    /// body is not JSON) and `None` for the others.
    pub async fn phase(
        &mut self,
        name: &str,
        jobs: Vec<Job>,
        concurrency: usize,
        expect: u16,
    ) -> Result<Vec<Option<Value>>, BenchError> {
        let connections: Vec<Connection> =
            (0..concurrency.max(1)).map(|_| self.endpoint.connect()).collect::<Result<_, _>>()?;
        let jobs = Arc::new(jobs);
        let next = Arc::new(AtomicUsize::new(0));
        let cpu_before = self.meter.sample();
        let started = Instant::now();
        let workers: Vec<_> = connections
            .into_iter()
            .map(|connection| tokio::spawn(work(connection, jobs.clone(), next.clone())))
            .collect();
        let mut outcomes: Vec<(usize, Outcome)> = Vec::with_capacity(jobs.len());
        for worker in workers {
            outcomes.extend(worker.await.map_err(|e| BenchError::Worker(e.to_string()))?);
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu_after = self.meter.sample();

        let mut bodies: Vec<Option<Value>> = vec![None; jobs.len()];
        let mut latencies = Vec::with_capacity(jobs.len());
        let mut errors = Vec::new();
        for (i, outcome) in outcomes {
            let job = &jobs[i];
            match outcome {
                Ok(reply) if reply.status == expect => {
                    latencies.push(reply.latency);
                    bodies[i] = Some(serde_json::from_slice(&reply.body).unwrap_or(Value::Null));
                }
                Ok(reply) => errors.push(format!(
                    "{} {} -> {} {}",
                    job.method,
                    job.path,
                    reply.status,
                    String::from_utf8_lossy(&reply.body).chars().take(300).collect::<String>()
                )),
                Err(e) => errors.push(e),
            }
        }
        let cost = PhaseCost { wall, before: cpu_before, after: cpu_after };
        let row = phase_row(name, concurrency, jobs.len(), &latencies, errors.len(), cost);
        println!("{}", table_row(&row));
        if self.verbose {
            for e in errors.iter().take(5) {
                eprintln!("    ! {e}");
            }
        }
        self.failed_requests += errors.len();
        self.rows.push(row);
        Ok(bodies)
    }
}

/// A worker: takes the next job until none is left; returns (job index, outcome) pairs.
async fn work(connection: Connection, jobs: Arc<Vec<Job>>, next: Arc<AtomicUsize>) -> Vec<(usize, Outcome)> {
    let mut done = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = jobs.get(i) else { return done };
        done.push((i, connection.send_to(i, job).await));
    }
}

/// Wall time of a phase and the server's CPU counters around it.
#[derive(Debug, Clone, Copy)]
struct PhaseCost {
    wall: f64,
    before: CpuSample,
    after: CpuSample,
}

/// The row of a phase, rounded as load.py rounds: CPU per request over all requests sent,
/// throughput over successful ones.
fn phase_row(
    name: &str,
    concurrency: usize,
    requests: usize,
    latencies: &[f64],
    errors: usize,
    cost: PhaseCost,
) -> Row {
    let PhaseCost { wall, before, after } = cost;
    let used = |b: Option<f64>, a: Option<f64>| match (b, a) {
        (Some(b), Some(a)) => a - b,
        _ => f64::NAN,
    };
    let server = used(before.server, after.server);
    let db = used(before.db, after.db);
    let per_request = |cpu: f64| if requests > 0 { round_to(cpu * 1000.0 / requests as f64, 2) } else { f64::NAN };
    let latency = LatencySummary::of_seconds(latencies);
    Row {
        op: name.to_string(),
        concurrency,
        requests,
        ok: latencies.len(),
        errors,
        wall_s: round_to(wall, 3),
        rps: if wall > 0.0 { round_to(latencies.len() as f64 / wall, 2) } else { 0.0 },
        p50_ms: latency.p50_ms,
        p90_ms: latency.p90_ms,
        p99_ms: latency.p99_ms,
        max_ms: latency.max_ms,
        mean_ms: latency.mean_ms,
        srv_cpu_ms_per_req: per_request(server),
        db_cpu_ms_per_req: per_request(db),
        srv_cpu_util: if wall > 0.0 { round_to(server / wall, 2) } else { f64::NAN },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_counts_throughput_and_cpu() {
        let before = CpuSample { server: Some(10.0), db: None };
        let after = CpuSample { server: Some(10.5), db: None };
        let row = phase_row("create_port", 8, 100, &[0.002; 98], 2, PhaseCost { wall: 0.5, before, after });
        assert_eq!((row.requests, row.ok, row.errors), (100, 98, 2));
        assert_eq!(row.rps, 196.0);
        assert_eq!(row.p50_ms, 2.0);
        assert_eq!(row.srv_cpu_ms_per_req, 5.0);
        assert_eq!(row.srv_cpu_util, 1.0);
        assert!(row.db_cpu_ms_per_req.is_nan());
    }

    #[test]
    fn row_without_meter_or_successes() {
        let cost = PhaseCost { wall: 0.01, before: CpuSample::default(), after: CpuSample::default() };
        let row = phase_row("delete_port", 1, 3, &[], 3, cost);
        assert_eq!(row.ok, 0);
        assert_eq!(row.rps, 0.0);
        assert!(row.p99_ms.is_nan() && row.srv_cpu_ms_per_req.is_nan() && row.srv_cpu_util.is_nan());
    }
}
