//! Several servers on one PostgreSQL database, as replicas behind a load balancer: what is
//! written through one reaches the agents, schedulers and token checks of the others within
//! the latency of one. Skipped (with the reason printed) where PostgreSQL is not installed,
//! except under `CI`.

use crate::common::{dhcp_report, l2_report, TestServer};
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

/// `GET /v2.0/networks` with `token` on `s`.
async fn status_with(s: &TestServer, token: &str) -> StatusCode {
    s.call_with(reqwest::Method::GET, "/v2.0/networks", None, &[("X-Auth-Token", token)]).await.0
}

/// Waits until `s` answers `want` to `token`; panics after `limit`.
async fn answers_within(s: &TestServer, token: &str, want: StatusCode, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let got = status_with(s, token).await;
        if got == want {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "still {got} after {limit:?}, not {want}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The key id a token was signed with (`nt1.<key id>.<payload>.<signature>`).
fn key_of(token: &str) -> u32 {
    token.split('.').nth(1).and_then(|k| k.parse().ok()).unwrap_or_else(|| panic!("not one of ours: {token}"))
}

/// A token revoked through A, and a user disabled through A, are refused by B within the
/// feed's latency (the periodic refresh is 30 s away and the listener's poll a minute).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_through_one_replica_reaches_the_other_within_seconds() {
    let Some(cluster) = TestCluster::for_test() else { return };
    let a = replica(&cluster, |c| c.noauth = false).await;
    let b = replica(&cluster, |c| c.noauth = false).await;
    let admin = a.admin_token().await;
    let doomed = b.admin_token().await;
    assert_eq!(status_with(&a, &doomed).await, StatusCode::OK, "the replicas share their signing keys");
    assert_eq!(status_with(&b, &doomed).await, StatusCode::OK);
    let headers = [("X-Auth-Token", admin.as_str()), ("X-Subject-Token", doomed.as_str())];
    let (st, _) = a.call_with(reqwest::Method::DELETE, "/v3/auth/tokens", None, &headers).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let took = answers_within(&b, &doomed, StatusCode::UNAUTHORIZED, Duration::from_secs(2)).await;
    assert_eq!(status_with(&b, &admin).await, StatusCode::OK, "only that token went");

    let (member, _) = a.member(&admin, "p1", "u1", "member").await;
    assert_eq!(status_with(&b, &member).await, StatusCode::OK);
    let (_, users) = a.call_with(reqwest::Method::GET, "/v3/users?name=u1", None, &[("X-Auth-Token", &admin)]).await;
    let uid = users["users"][0]["id"].as_str().unwrap().to_string();
    let off = Some(json!({"user": {"enabled": false}}));
    let (st, _) =
        a.call_with(reqwest::Method::PATCH, &format!("/v3/users/{uid}"), off, &[("X-Auth-Token", &admin)]).await;
    assert_eq!(st, StatusCode::OK);
    let took_event = answers_within(&b, &member, StatusCode::UNAUTHORIZED, Duration::from_secs(2)).await;
    eprintln!("revoked token refused by B after {took:?}, disabled user's token after {took_event:?}");
}

/// A rotation (`neutrino keys rotate` against the database) reaches both replicas within
/// seconds: both sign with the new primary, which the other validates at once (it was the
/// staged key), and tokens of the old primary stay valid while it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_rotation_reaches_every_replica_and_old_tokens_stay_valid() {
    let Some(cluster) = TestCluster::for_test() else { return };
    let a = replica(&cluster, |c| c.noauth = false).await;
    let b = replica(&cluster, |c| c.noauth = false).await;
    let old = a.admin_token().await;
    assert_eq!(key_of(&old), key_of(&b.admin_token().await), "one primary for both");
    neutrino_server::rotate_keys(neutrino_server::RotateArgs {
        config: None,
        data_dir: Some(a.app.as_ref().unwrap().config.data_dir.clone()),
        database_url: Some(cluster.url()),
    })
    .await
    .unwrap();
    for (signer, checker) in [(&a, &b), (&b, &a)] {
        let started = Instant::now();
        let fresh = loop {
            let token = signer.admin_token().await;
            if key_of(&token) > key_of(&old) {
                break token;
            }
            assert!(started.elapsed() < Duration::from_secs(2), "still signing with key {}", key_of(&token));
            tokio::time::sleep(Duration::from_millis(25)).await;
        };
        assert_eq!(status_with(checker, &fresh).await, StatusCode::OK, "the new primary validates everywhere");
        assert_eq!(status_with(checker, &old).await, StatusCode::OK, "the old primary is kept");
    }
}
