//! Several servers on one PostgreSQL database, as replicas behind a load balancer: what is
//! written through one reaches the agents, schedulers and token checks of the others within
//! the latency of one. Skipped (with the reason printed) where PostgreSQL is not installed,
//! except under `CI`.

use crate::common::TestServer;
use neutrino_server::app::{dhcp, l3};
use neutrino_store::postgres::testing::TestCluster;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A server on the cluster whose change-feed listener never polls within a test: only the
/// notifications can wake it in time.
async fn replica(cluster: &TestCluster, tweak: impl FnOnce(&mut neutrino_server::config::Config)) -> TestServer {
    let url = cluster.url();
    TestServer::start_with(|c| {
        c.database_url = url;
        c.store.change_poll_ms = 60_000;
        tweak(c);
    })
    .await
}

fn l2_report(host: &str, ip: &str) -> Value {
    json!({"host": host, "agent_type": "Linux bridge agent", "binary": "neutrino-agent", "start_flag": true,
           "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": ip, "l2_population": true,
                              "interface_mappings": {"physnet1": "eth1"}, "devices": 0}})
}

fn dhcp_report(host: &str) -> Value {
    json!({"host": host, "agent_type": "DHCP agent", "binary": "neutrino-agent", "start_flag": true,
           "configurations": {"dhcp_driver": "dnsmasq", "dhcp_lease_duration": 86400, "networks": 0,
                              "subnets": 0, "ports": 0, "notifies_port_ready": true}})
}

async fn fingerprint(s: &TestServer, host: &str) -> String {
    let (st, b) = s.get(&format!("/agent/v1/hosts/{host}/state")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b["fingerprint"].as_str().unwrap().to_string()
}

/// Starts an agent's long poll on `s`; resolves to its status and how long it took.
fn watch(s: &TestServer, host: &str, known: &str) -> tokio::task::JoinHandle<(StatusCode, Duration)> {
    let url = format!("{}/agent/v1/hosts/{host}/state?known={known}&wait=20", s.url);
    let http = s.http.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let res = http.get(url).send().await.unwrap();
        (res.status(), started.elapsed())
    })
}

/// A port bound to a host, created through B, answers the host's watch on A within the
/// latency of a port created through A itself (not at the watch's 20 s timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_watching_one_replica_sees_a_change_written_through_another() {
    let Some(cluster) = TestCluster::for_test() else { return };
    let a = replica(&cluster, |_| {}).await;
    let b = replica(&cluster, |_| {}).await;
    a.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    let net = b.network("n").await;
    b.subnet(&net, "10.8.0.0/24", json!({"enable_dhcp": false})).await;
    let mut took = Vec::new();
    for (through, name) in [(&a, "via-a"), (&b, "via-b"), (&b, "via-b-again")] {
        let known = fingerprint(&a, "compute-1").await;
        let poll = watch(&a, "compute-1", &known);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        let body = json!({"port": {"network_id": net, "name": name, "binding:host_id": "compute-1"}});
        let (st, p) = through.post("/v2.0/ports", body).await;
        assert_eq!(st, StatusCode::CREATED, "{p}");
        let (st, _) = poll.await.unwrap();
        assert_eq!(st, StatusCode::OK, "the watch answers with the new state");
        took.push((name, started.elapsed()));
    }
    assert!(took.iter().all(|(_, t)| *t < Duration::from_secs(1)), "port create to watch answer: {took:?}");
}

/// Both replicas run their DHCP and L3 passes on one database, one after the other and at
/// once: a network gets exactly `dhcp_agents_per_network` agents, and passes after that
/// change nothing (no flapping between the replicas).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduling_passes_of_two_replicas_agree_and_settle() {
    let Some(cluster) = TestCluster::for_test() else { return };
    let a = replica(&cluster, |c| c.dhcp_agents_per_network = 2).await;
    let b = replica(&cluster, |c| c.dhcp_agents_per_network = 2).await;
    for (i, host) in ["compute-1", "compute-2", "compute-3"].into_iter().enumerate() {
        let s = if i % 2 == 0 { &a } else { &b };
        s.post("/agent/v1/agents/report", l2_report(host, &format!("198.18.1.{}", i + 1))).await;
        let (st, body) = s.post("/agent/v1/agents/report", dhcp_report(host)).await;
        assert_eq!(st, StatusCode::OK, "{body}");
    }
    let net = a.network("n").await;
    a.subnet(&net, "10.9.0.0/24", json!({})).await;
    // Both replicas' change-driven passes run on that; let them settle.
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let (_, agents) = b.get(&format!("/v2.0/networks/{net}/dhcp-agents")).await;
        let agents = agents["agents"].as_array().cloned().unwrap_or_default();
        if agents.len() >= 2 {
            break agents;
        }
        assert!(Instant::now() < deadline, "network not scheduled: {agents:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (app_a, app_b) = (a.app.clone().unwrap(), b.app.clone().unwrap());
    // Passes one after the other, then at once: none changes anything.
    for app in [&app_a, &app_b, &app_a] {
        assert_eq!(dhcp::schedule(app).await.unwrap(), dhcp::Pass::default(), "a later DHCP pass changed assignments");
        assert_eq!(l3::schedule(app).await.unwrap(), l3::Pass::default(), "a later L3 pass changed assignments");
    }
    let (one, two) = tokio::join!(dhcp::schedule(&app_a), dhcp::schedule(&app_b));
    assert_eq!((one.unwrap(), two.unwrap()), (dhcp::Pass::default(), dhcp::Pass::default()));
    for s in [&a, &b] {
        let (_, agents) = s.get(&format!("/v2.0/networks/{net}/dhcp-agents")).await;
        let mut ids: Vec<_> = agents["agents"].as_array().unwrap().iter().map(|a| a["id"].clone()).collect();
        let mut want: Vec<_> = first.iter().map(|a| a["id"].clone()).collect();
        ids.sort_by_key(Value::to_string);
        want.sort_by_key(Value::to_string);
        assert_eq!(ids, want, "exactly two agents, the same ones on both replicas");
        let (_, ports) = s.get(&format!("/v2.0/ports?network_id={net}&device_owner=network:dhcp")).await;
        assert_eq!(ports["ports"].as_array().unwrap().len(), 2, "one DHCP port per agent: {ports}");
    }
}
