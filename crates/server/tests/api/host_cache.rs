//! The host-state caches (`app::host_cache`, `app::net_views`): a state served from them is
//! the state read afresh, a network's view is read once for all the hosts a change of it
//! concerns, and an agent's next watch starts from its host's cached state.

use crate::common::TestServer;
use neutrino_server::app::{host_state, App};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

const HOSTS: [&str; 3] = ["compute-1", "compute-2", "compute-3"];

fn vxlan_report(host: &str, ip: &str) -> Value {
    json!({"host": host, "agent_type": "Linux bridge agent", "binary": "neutrino-agent", "start_flag": true,
           "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": ip, "l2_population": true, "devices": 0}})
}

fn app(s: &TestServer) -> Arc<App> {
    s.app.clone().expect("in-process app")
}

async fn port(s: &TestServer, net: &str, host: &str) -> String {
    let body = json!({"port": {"network_id": net, "binding:host_id": host, "security_groups": []}});
    let (st, b) = s.post("/v2.0/ports", body).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    b["port"]["id"].as_str().unwrap().to_string()
}

/// Three hosts with a port each on one VXLAN network; the network's id.
async fn cloud(s: &TestServer) -> String {
    for (i, host) in HOSTS.iter().enumerate() {
        s.post("/agent/v1/agents/report", vxlan_report(host, &format!("198.18.1.{}", i + 1))).await;
    }
    let net = s.network("shared").await;
    s.subnet(&net, "10.1.0.0/24", json!({"enable_dhcp": false})).await;
    for host in HOSTS {
        port(s, &net, host).await;
    }
    net
}

/// The state a watch answers (from the caches where they hold).
async fn served(s: &TestServer, host: &str) -> Value {
    let (st, b) = s.get(&format!("/agent/v1/hosts/{host}/state?known=&wait=0")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b
}

/// The state read afresh: no shared view reused.
async fn fresh(s: &TestServer, host: &str) -> Value {
    let app = app(s);
    app.net_views.clear();
    let (state, _) = host_state::host_state(&app, host.into()).await.unwrap();
    serde_json::to_value(state).unwrap()
}

/// After each kind of change to what the hosts share, every host's served state is the
/// state read afresh (fingerprint and content), though it was built from cached views.
#[tokio::test]
async fn states_served_from_the_caches_are_the_states_read_afresh() {
    let s = TestServer::start().await;
    let net = cloud(&s).await;
    let mut moved = String::new();
    for step in ["start", "create", "endpoint", "address", "move", "delete", "network"] {
        match step {
            "create" => moved = port(&s, &net, "compute-3").await,
            "endpoint" => {
                s.post("/agent/v1/agents/report", vxlan_report("compute-2", "198.18.2.2")).await;
            }
            "address" => {
                let body = json!({"port": {"fixed_ips": [{"ip_address": "10.1.0.77"}]}});
                let (st, b) = s.put(&format!("/v2.0/ports/{moved}"), body).await;
                assert_eq!(st, StatusCode::OK, "{b}");
            }
            "move" => {
                let body = json!({"port": {"binding:host_id": "compute-2"}});
                let (st, b) = s.put(&format!("/v2.0/ports/{moved}"), body).await;
                assert_eq!(st, StatusCode::OK, "{b}");
            }
            "delete" => {
                let (st, b) = s.delete(&format!("/v2.0/ports/{moved}")).await;
                assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
            }
            "network" => {
                let (st, b) = s.put(&format!("/v2.0/networks/{net}"), json!({"network": {"mtu": 1400}})).await;
                assert_eq!(st, StatusCode::OK, "{b}");
            }
            _ => {}
        }
        let mut got = Vec::new();
        for host in HOSTS {
            got.push(served(&s, host).await);
        }
        for (host, got) in HOSTS.iter().zip(got) {
            let want = fresh(&s, host).await;
            assert_eq!(got["fingerprint"], want["fingerprint"], "{step}: {host}");
            assert_eq!(got["networks"], want["networks"], "{step}: {host}");
        }
        if step == "delete" {
            let remote = |b: &Value| b["networks"][0]["remote_ports"].as_array().map_or(0, Vec::len);
            assert_eq!(remote(&served(&s, "compute-1").await), 2, "the deleted port is gone");
        }
    }
}

/// A port created on a network concerns every host spanning it; the network's view is
/// read once for all of them, and each host's state is built once.
#[tokio::test]
async fn a_change_of_a_network_reads_its_view_once_for_all_its_hosts() {
    let s = TestServer::start().await;
    let net = cloud(&s).await;
    let app = app(&s);
    for host in HOSTS {
        served(&s, host).await;
    }
    let (reads, builds) = (app.net_views.reads(), app.host_state_builds.load(Ordering::Relaxed));
    port(&s, &net, "compute-1").await;
    for host in HOSTS {
        served(&s, host).await;
    }
    assert_eq!(app.net_views.reads() - reads, 1, "one read of the network for three hosts");
    assert_eq!(app.host_state_builds.load(Ordering::Relaxed) - builds, 3);
    // Nothing changed since: the next watches start from the cached states.
    for host in HOSTS {
        served(&s, host).await;
    }
    assert_eq!(app.host_state_builds.load(Ordering::Relaxed) - builds, 3, "no rebuild without a change");
}

/// An agent's next watch with the fingerprint it holds starts from the cached state: no
/// build, and at its deadline a 304 without one when no change passed.
#[tokio::test]
async fn the_next_watch_starts_from_the_cached_state() {
    let s = TestServer::start().await;
    cloud(&s).await;
    let app = app(&s);
    let fp = served(&s, "compute-1").await["fingerprint"].as_str().unwrap().to_string();
    let builds = app.host_state_builds.load(Ordering::Relaxed);
    let url = format!("{}/agent/v1/hosts/compute-1/state?known={fp}&wait=1", s.url);
    let st = s.http.get(url).send().await.unwrap().status();
    assert_eq!(st, StatusCode::NOT_MODIFIED);
    assert_eq!(app.host_state_builds.load(Ordering::Relaxed), builds, "no build for an unchanged host");
}

/// With the caches off (`host_state_cache_entries = 0`) every watch builds and reads.
#[tokio::test]
async fn no_cache_entries_keeps_nothing() {
    let s = TestServer::start_with(|c| c.host_state_cache_entries = 0).await;
    cloud(&s).await;
    let app = app(&s);
    served(&s, "compute-1").await;
    let (reads, builds) = (app.net_views.reads(), app.host_state_builds.load(Ordering::Relaxed));
    served(&s, "compute-1").await;
    assert_eq!(app.host_state_builds.load(Ordering::Relaxed) - builds, 1);
    assert_eq!(app.net_views.reads() - reads, 1);
    assert!(app.host_cache.is_empty() && app.net_views.is_empty());
}
