//! `--scenario hosts`: N simulated host agents in this process, each a real HTTP client of
//! the server with its own host name (report, long poll, port status; see [`agent`]), and
//! port creates bound to them. It measures how a change reaches the hosts it concerns: the
//! time from the create's answer to every concerned host holding a state with the port,
//! how many host states the server sent per change (to concerned hosts and to others), and
//! the server's CPU per change.
//!
//! Setup (not measured): the agents register, M networks with a /24 each are created, each
//! host gets a port on `span` networks (so it spans them; [`topology`]) which it reports
//! ACTIVE, and only then do the watches start, so the setup's own commits wake no one.
//! Each round (one per concurrency level) then creates K ports, each on one network and
//! bound to one of the hosts spanning it.
//!
//! Against several servers (replicas on one database), host `h` registers, watches and
//! reports through server `h mod S` only, and the round's i-th create goes to server
//! `i mod S`: most changes reach their hosts through another server than the one that
//! made them, so the figures include the replicas' change feed.

pub mod agent;
mod measure;
pub mod topology;
pub mod tracker;

use crate::http::Job;
use crate::runner::Runner;
use crate::scenario::{create_network_jobs, create_subnet_jobs, created_ids, Round};
use crate::stats::round_to;
use crate::BenchError;
use agent::Fleet;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use topology::{host_name, Topology};

pub use measure::{HostsRow, HOSTS_HEADER, HOSTS_RULE};

/// Concurrency of the setup phases (registering, creating, reporting).
const SETUP_CONCURRENCY: usize = 16;
/// Heartbeats and status reports in flight at once across all simulated agents.
const AGENT_CALLS: usize = 64;

/// What the scenario needs from the command line.
#[derive(Debug, Clone)]
pub struct HostsPlan {
    /// Prefix of every name (ports, networks, subnets, hosts).
    pub tag: String,
    pub project: String,
    pub topology: Topology,
    /// Port creates per round.
    pub changes: usize,
    pub levels: Vec<usize>,
    /// Longest a round waits for its changes to reach every concerned host.
    pub deliver_timeout: Duration,
    /// The run's byte in the measured ports' MACs (random: reruns do not collide).
    pub mac_byte: u8,
}

/// The run's results beyond the setup phases' rows.
#[derive(Debug, Default, Serialize)]
pub struct HostsOutcome {
    pub rows: Vec<HostsRow>,
    /// Watches, heartbeats and status reports that failed.
    pub agent_errors: usize,
    /// Setup ports the server could not bind to their host.
    pub binding_failures: usize,
}

impl HostsOutcome {
    /// Creates that failed or never reached every concerned host, over all rounds.
    pub fn lost_changes(&self) -> usize {
        self.rows.iter().map(|r| r.failed_creates + r.undelivered).sum()
    }
}

/// Runs the setup, starts the agents, runs one measured round per level, stops the agents.
pub async fn run(r: &mut Runner, plan: &HostsPlan) -> Result<HostsOutcome, BenchError> {
    let t = plan.topology;
    let names: Vec<String> = (0..t.hosts).map(|h| host_name(&plan.tag, h)).collect();
    let reports = names.iter().enumerate().map(|(h, name)| agent::report_job(name, h, true)).collect();
    r.phase("agent_report", reports, SETUP_CONCURRENCY, 200).await?;
    let networks = create_networks(r, plan).await?;
    if networks.len() < t.networks {
        return Err(BenchError::Args(format!("only {} of {} networks could be created", networks.len(), t.networks)));
    }
    let mut outcome =
        HostsOutcome { binding_failures: setup_ports(r, plan, &names, &networks).await?, ..Default::default() };

    let fleet = Arc::new(Fleet::new(r.endpoint.pool(t.hosts + AGENT_CALLS)?, AGENT_CALLS));
    let mut agents = tokio::task::JoinSet::new();
    for (h, name) in names.iter().enumerate() {
        agents.spawn(agent::watch(fleet.clone(), h, name.clone()));
        agents.spawn(agent::heartbeat(fleet.clone(), h, t.hosts, name.clone()));
    }
    let ready = wait_until(plan.deliver_timeout, || fleet.ready.load(Ordering::Relaxed) >= t.hosts).await;
    if !ready {
        eprintln!(
            "only {} of {} hosts got their state; measuring anyway",
            fleet.ready.load(Ordering::Relaxed),
            t.hosts
        );
    }
    println!(
        "\n## host fan-out ({} hosts, {} networks, span {}, project {})\n",
        t.hosts, t.networks, t.span, plan.project
    );
    println!("{HOSTS_HEADER}\n{HOSTS_RULE}");
    let hosts_of: Vec<Vec<usize>> = (0..t.networks).map(|n| t.hosts_of(n)).collect();
    let mut first_change = 0;
    for &concurrency in &plan.levels {
        let round = measure::Round { plan, networks: &networks, hosts_of: &hosts_of, first_change, concurrency };
        let row = measure::round(r, &fleet, &round).await?;
        println!("{}", measure::table_row(&row));
        outcome.rows.push(row);
        first_change += plan.changes;
    }
    agents.abort_all();
    while agents.join_next().await.is_some() {}
    outcome.agent_errors = fleet.errors.load(Ordering::Relaxed);
    Ok(outcome)
}

/// M networks with one IPv4 /24 each; their ids in order.
async fn create_networks(r: &mut Runner, plan: &HostsPlan) -> Result<Vec<String>, BenchError> {
    let round = Round {
        tag: plan.tag.clone(),
        project: plan.project.clone(),
        networks: plan.topology.networks,
        ports: 0,
        list_reps: 0,
        concurrency: SETUP_CONCURRENCY,
    };
    let networks =
        created_ids(&r.phase("create_network", create_network_jobs(&round), SETUP_CONCURRENCY, 201).await?, "network");
    r.phase("create_subnet", create_subnet_jobs(&round, &networks), SETUP_CONCURRENCY, 201).await?;
    Ok(networks)
}

/// A compute port bound to `host`, as Nova creates it (the MAC chosen by the caller when given).
/// It is in no security group: the project's default group has rules whose remote is the
/// group itself, which would make every port create concern every host of the project
/// (their firewalls must learn the new member); the scenario measures the network fan-out.
pub fn port_body(plan: &HostsPlan, name: String, network: &str, host: &str, mac: Option<&str>) -> serde_json::Value {
    let mut port = json!({"name": name, "network_id": network, "project_id": plan.project,
        "binding:host_id": host, "device_owner": "compute:nova", "security_groups": [],
        "device_id": uuid::Uuid::new_v4().to_string()});
    if let Some(mac) = mac {
        port["mac_address"] = json!(mac);
    }
    json!({ "port": port })
}

/// Each host's ports on the networks it spans, reported ACTIVE by their hosts (as the
/// agents would once wired). Returns how many could not be bound.
async fn setup_ports(
    r: &mut Runner,
    plan: &HostsPlan,
    names: &[String],
    networks: &[String],
) -> Result<usize, BenchError> {
    let t = plan.topology;
    let mut owners = Vec::new();
    let mut jobs = Vec::new();
    for (h, host) in names.iter().enumerate() {
        for n in t.networks_of(h) {
            let body = port_body(plan, format!("{}-setup-{h}-{n}", plan.tag), &networks[n], host, None);
            jobs.push(Job::post("/v2.0/ports", &body));
            owners.push(h);
        }
    }
    let bodies = r.phase("create_port_setup", jobs, SETUP_CONCURRENCY, 201).await?;
    let failures = agent::binding_failures(&bodies);
    if !failures.is_empty() {
        eprintln!("{} setup ports could not be bound (first: {})", failures.len(), failures[0]);
    }
    let mut by_host: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (h, body) in owners.into_iter().zip(&bodies) {
        if let Some(id) = body.as_ref().and_then(|b| b["port"]["id"].as_str()) {
            by_host.entry(h).or_default().push(id.to_string());
        }
    }
    let reports =
        by_host.iter().map(|(&h, ports)| agent::status_job(&names[h], ports.iter().map(String::as_str))).collect();
    r.phase("port_status_setup", reports, SETUP_CONCURRENCY, 200).await?;
    Ok(failures.len())
}

/// Polls `done` every few milliseconds until it holds (true) or `timeout` passes (false).
pub async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Seconds as milliseconds rounded to 0.01.
fn ms(seconds: f64) -> f64 {
    round_to(seconds * 1000.0, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_bound_compute_ports_in_no_security_group() {
        let plan = HostsPlan {
            tag: "lg".into(),
            project: "p".into(),
            topology: Topology { hosts: 1, networks: 1, span: 1 },
            changes: 1,
            levels: vec![1],
            deliver_timeout: Duration::from_secs(1),
            mac_byte: 7,
        };
        let body = port_body(&plan, "lg-x".into(), "net", "lg-host-0", Some("fa:16:3e:07:00:01"));
        let port = &body["port"];
        assert_eq!((&port["binding:host_id"], &port["network_id"]), (&json!("lg-host-0"), &json!("net")));
        assert_eq!((&port["device_owner"], &port["security_groups"]), (&json!("compute:nova"), &json!([])));
        assert_eq!((&port["mac_address"], &port["project_id"]), (&json!("fa:16:3e:07:00:01"), &json!("p")));
        assert!(port_body(&plan, "lg-y".into(), "net", "h", None)["port"].get("mac_address").is_none());
    }
}
