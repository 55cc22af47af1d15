//! One simulated host agent: a Linux bridge agent's report (its heartbeat, every
//! [`REPORT_INTERVAL`]), a long poll of its host's state as `neutrino agent` does it, and
//! a port status report (ACTIVE) for each port it is told to wire. No kernel work: a state
//! is parsed, handed to the [`Tracker`], and acted on at once.

use super::topology::tunneling_ip;
use super::tracker::Tracker;
use crate::http::{quote, Connection, Job};
use neutrino_agent_api::{
    AgentReport, HostState, L2Configurations, PortStatusReport, WiredStatus, AGENT_BINARY, AGENT_TYPE_LINUXBRIDGE,
    TUNNEL_TYPE_VXLAN,
};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// `neutrino agent`'s default heartbeat period.
pub const REPORT_INTERVAL: Duration = Duration::from_secs(30);
/// `neutrino agent`'s default long-poll wait (the server caps it at `agent_watch_timeout`).
pub const WATCH_WAIT_SECONDS: u64 = 30;
/// Pause after a failed call before the next, so a struggling server is not hammered.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// What every simulated agent shares.
pub struct Fleet {
    /// One client for every agent: each watch holds one pooled keep-alive connection. Host
    /// `h` talks to server `h mod S` only (as an agent sticks to the server it reached).
    pub conn: Connection,
    /// Bounds the heartbeats and status reports in flight at once (the watches are one
    /// per host by nature).
    pub calls: Semaphore,
    pub tracker: Mutex<Tracker>,
    /// Hosts that have received their first state.
    pub ready: AtomicUsize,
    /// Calls that failed (transport error or unexpected status), over the run.
    pub errors: AtomicUsize,
    /// Port status reports sent.
    pub status_reports: AtomicUsize,
}

impl Fleet {
    pub fn new(conn: Connection, max_calls: usize) -> Self {
        Self {
            conn,
            calls: Semaphore::new(max_calls.max(1)),
            tracker: Mutex::new(Tracker::default()),
            ready: AtomicUsize::new(0),
            errors: AtomicUsize::new(0),
            status_reports: AtomicUsize::new(0),
        }
    }

    /// The tracker, even if a watcher panicked while holding it (its counts stay usable).
    pub fn tracker(&self) -> MutexGuard<'_, Tracker> {
        self.tracker.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sends host `h`'s heartbeat or status report under the [`Fleet::calls`] bound; false
    /// (counted) when it failed.
    async fn call(&self, h: usize, job: &Job) -> bool {
        let Ok(_permit) = self.calls.acquire().await else { return false };
        let ok = matches!(self.conn.send_to(h, job).await, Ok(reply) if reply.status == 200);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        ok
    }
}

/// Host `h`'s Linux bridge agent report, as `neutrino agent` sends it with a VXLAN endpoint.
pub fn report(host: &str, h: usize, start_flag: bool) -> AgentReport {
    let configurations = L2Configurations {
        tunnel_types: vec![TUNNEL_TYPE_VXLAN.into()],
        tunneling_ip: Some(tunneling_ip(h).into()),
        l2_population: true,
        ..L2Configurations::default()
    };
    AgentReport {
        host: host.into(),
        agent_type: AGENT_TYPE_LINUXBRIDGE.into(),
        binary: AGENT_BINARY.into(),
        availability_zone: None,
        configurations: serde_json::to_value(configurations).unwrap_or_default(),
        start_flag,
        conditions: vec![],
    }
}

/// `POST /agent/v1/agents/report`.
pub fn report_job(host: &str, h: usize, start_flag: bool) -> Job {
    Job::post("/agent/v1/agents/report", &serde_json::to_value(report(host, h, start_flag)).unwrap_or_default())
}

/// `POST /agent/v1/hosts/{host}/port-status`: these ports are wired.
pub fn status_job<'a>(host: &str, ports: impl IntoIterator<Item = &'a str>) -> Job {
    let report = PortStatusReport {
        host: host.into(),
        ports: ports.into_iter().map(|p| (p.to_string(), WiredStatus::Active)).collect(),
        floating_ips: BTreeMap::new(),
    };
    Job::post(format!("/agent/v1/hosts/{}/port-status", quote(host)), &serde_json::to_value(report).unwrap_or_default())
}

/// `GET /agent/v1/hosts/{host}/state?known=..&wait=..`.
pub fn watch_job(host: &str, known: &str, wait: u64) -> Job {
    Job::get(format!("/agent/v1/hosts/{}/state?known={}&wait={wait}", quote(host), quote(known)))
}

/// The MACs a state tells its host about: its own ports' and every remote port's.
pub fn macs(state: &HostState) -> impl Iterator<Item = &str> {
    let own = state.ports.iter().map(|p| p.mac_address.as_str());
    own.chain(state.networks.iter().flat_map(|n| n.remote_ports.iter().map(|r| r.mac_address.as_str())))
}

/// Ports of the state the agent would wire now: admin up and not yet ACTIVE, and not
/// already reported (the status may lag the report by one state).
pub fn to_report<'a>(state: &'a HostState, reported: &HashSet<String>) -> Vec<&'a str> {
    state
        .ports
        .iter()
        .filter(|p| p.admin_state_up && p.status != WiredStatus::Active.as_str() && !reported.contains(&p.id))
        .map(|p| p.id.as_str())
        .collect()
}

/// Host `h`'s long poll, forever (the run aborts it): first an immediate answer, then waits.
pub async fn watch(fleet: Arc<Fleet>, h: usize, host: String) {
    let mut known = String::new();
    let mut reported: HashSet<String> = HashSet::new();
    let mut first = true;
    loop {
        let wait = if first { 0 } else { WATCH_WAIT_SECONDS };
        let reply = fleet.conn.send_to(h, &watch_job(&host, &known, wait)).await;
        let at = Instant::now();
        let state = match reply {
            Ok(reply) if reply.status == 304 => continue,
            Ok(reply) if reply.status == 200 => serde_json::from_slice::<HostState>(&reply.body).ok(),
            _ => None,
        };
        let Some(state) = state else {
            fleet.errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(RETRY_PAUSE).await;
            continue;
        };
        fleet.tracker().received(h, macs(&state), at);
        if std::mem::take(&mut first) {
            fleet.ready.fetch_add(1, Ordering::Relaxed);
        }
        known.clone_from(&state.fingerprint);
        let wired = to_report(&state, &reported);
        if !wired.is_empty() && fleet.call(h, &status_job(&host, wired.iter().copied())).await {
            fleet.status_reports.fetch_add(1, Ordering::Relaxed);
            reported.extend(wired.into_iter().map(str::to_string));
        }
    }
}

/// Host `h`'s heartbeat, forever: hosts are spread over the interval so the reports of
/// many hosts do not arrive together.
pub async fn heartbeat(fleet: Arc<Fleet>, h: usize, hosts: usize, host: String) {
    let offset = REPORT_INTERVAL.mul_f64(h as f64 / hosts.max(1) as f64);
    tokio::time::sleep(offset).await;
    loop {
        fleet.call(h, &report_job(&host, h, false)).await;
        tokio::time::sleep(REPORT_INTERVAL).await;
    }
}

/// The ids of created ports whose binding failed (`binding:vif_type` `binding_failed`).
pub fn binding_failures(bodies: &[Option<Value>]) -> Vec<String> {
    bodies
        .iter()
        .flatten()
        .filter(|b| b["port"]["binding:vif_type"] == "binding_failed")
        .filter_map(|b| b["port"]["id"].as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use neutrino_agent_api::{NetworkState, PortState, RemotePort};

    fn port(id: &str, mac: &str, status: &str, up: bool) -> PortState {
        PortState {
            id: id.into(),
            network_id: "n".into(),
            mac_address: mac.into(),
            ip_addresses: vec![],
            admin_state_up: up,
            device_owner: "compute:nova".into(),
            status: status.into(),
            binding: Default::default(),
        }
    }

    #[test]
    fn the_report_is_a_linux_bridge_agent_with_an_endpoint() {
        let job = report_job("lg-host-3", 3, true);
        assert_eq!(job.path, "/agent/v1/agents/report");
        let body: Value = serde_json::from_slice(job.body.as_deref().unwrap_or_default()).unwrap_or_default();
        assert_eq!(body["agent_type"], "Linux bridge agent");
        assert_eq!(body["configurations"]["tunneling_ip"], "100.64.0.3");
        assert_eq!(body["configurations"]["tunnel_types"], serde_json::json!(["vxlan"]));
        assert_eq!(body["start_flag"], true);
    }

    #[test]
    fn watch_and_status_paths_are_quoted() {
        assert_eq!(watch_job("h 1", "a+b", 30).path, "/agent/v1/hosts/h%201/state?known=a%2Bb&wait=30");
        let job = status_job("h1", ["p1", "p2"]);
        assert_eq!(job.path, "/agent/v1/hosts/h1/port-status");
        let body: Value = serde_json::from_slice(job.body.as_deref().unwrap_or_default()).unwrap_or_default();
        assert_eq!(body["ports"], serde_json::json!({"p1": "ACTIVE", "p2": "ACTIVE"}));
    }

    #[test]
    fn a_state_yields_its_macs_and_the_ports_to_report() {
        let remote = RemotePort { mac_address: "r1".into(), ip_addresses: vec![], endpoint: tunneling_ip(9).into() };
        let state = HostState {
            ports: vec![
                port("a", "m-a", "DOWN", true),
                port("b", "m-b", "ACTIVE", true),
                port("c", "m-c", "DOWN", false),
            ],
            networks: vec![NetworkState {
                id: "n".into(),
                network_type: "vxlan".into(),
                segmentation_id: Some(1),
                physical_network: None,
                mtu: 1450,
                remote_endpoints: vec![],
                remote_ports: vec![remote],
            }],
            ..HostState::default()
        };
        assert_eq!(macs(&state).collect::<Vec<_>>(), ["m-a", "m-b", "m-c", "r1"]);
        assert_eq!(to_report(&state, &HashSet::new()), ["a"]);
        assert!(to_report(&state, &HashSet::from(["a".to_string()])).is_empty());
    }

    #[test]
    fn failed_bindings_are_found() {
        let bodies = vec![
            Some(serde_json::json!({"port": {"id": "p1", "binding:vif_type": "bridge"}})),
            None,
            Some(serde_json::json!({"port": {"id": "p2", "binding:vif_type": "binding_failed"}})),
        ];
        assert_eq!(binding_failures(&bodies), ["p2"]);
    }
}
