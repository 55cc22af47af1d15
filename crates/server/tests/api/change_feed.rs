//! The change feed as the agents' watches see it: a change wakes (rebuilds the state of)
//! only the hosts it concerns.

use crate::common::{l2_report, l3_report, TestServer};
use neutrino_server::app::host_deps::Deps;
use neutrino_server::app::{host_state, App};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn id(v: &Value, key: &str) -> String {
    v[key]["id"].as_str().unwrap_or_else(|| panic!("no {key} id in {v}")).to_string()
}

async fn port(s: &TestServer, net: &str, host: &str, groups: &[&str]) -> String {
    let (st, b) = s
        .post("/v2.0/ports", json!({"port": {"network_id": net, "binding:host_id": host, "security_groups": groups}}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    id(&b, "port")
}

async fn group(s: &TestServer, name: &str) -> String {
    let (st, b) = s.post("/v2.0/security-groups", json!({"security_group": {"name": name}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    id(&b, "security_group")
}

async fn rule(s: &TestServer, group: &str, extra: Value) -> String {
    let mut body = json!({"security_group_id": group, "direction": "ingress", "protocol": "tcp"});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (st, b) = s.post("/v2.0/security-group-rules", json!({ "security_group_rule": body })).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    id(&b, "security_group_rule")
}

fn app(s: &TestServer) -> Arc<App> {
    s.app.clone().expect("in-process app")
}

/// The feed's position now.
fn latest(s: &TestServer) -> u64 {
    *app(s).store.changes().borrow()
}

/// Whether the changes after `since` concern each of `deps`.
async fn concerned(s: &TestServer, since: u64, deps: &[&Deps]) -> Vec<bool> {
    let app = app(s);
    let mut out = Vec::new();
    for d in deps {
        out.push(app.change_index.any_since(&app, since, |t| d.concerned_by(t)).await.unwrap().0);
    }
    out
}

/// Two hosts on their own networks and one shared; each host's groups, one of whose rules
/// names a remote group and an address group.
struct Cloud {
    net_1: String,
    net_2: String,
    net_x: String,
    own_1: String,
    shared: String,
    remote: String,
    ag: String,
    port_1: String,
}

async fn cloud(s: &TestServer) -> Cloud {
    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    s.post("/agent/v1/agents/report", l2_report("compute-2", "198.18.1.2")).await;
    s.post("/agent/v1/agents/report", l2_report("compute-3", "198.18.1.3")).await;
    let net_1 = s.network("only-1").await;
    s.subnet(&net_1, "10.1.0.0/24", json!({"enable_dhcp": false})).await;
    let net_2 = s.network("only-2").await;
    s.subnet(&net_2, "10.2.0.0/24", json!({"enable_dhcp": false})).await;
    let net_x = s.network("nobody").await;
    s.subnet(&net_x, "10.3.0.0/24", json!({"enable_dhcp": false})).await;
    let own_1 = group(s, "own-1").await;
    let shared = group(s, "shared").await;
    let remote = group(s, "remote").await;
    let (_, ag) = s.post("/v2.0/address-groups", json!({"address_group": {"addresses": ["10.9.0.0/16"]}})).await;
    let ag = id(&ag, "address_group");
    rule(s, &own_1, json!({"remote_group_id": remote})).await;
    rule(s, &own_1, json!({"port_range_min": 22, "port_range_max": 22, "remote_address_group_id": ag})).await;
    let port_1 = port(s, &net_1, "compute-1", &[&own_1, &shared]).await;
    port(s, &net_2, "compute-2", &[&shared]).await;
    Cloud { net_1, net_2, net_x, own_1, shared, remote, ag, port_1 }
}

/// Each kind of change against the two hosts' dependency sets: woken and not woken.
#[tokio::test]
async fn each_change_concerns_the_hosts_it_touches() {
    let s = TestServer::start().await;
    let c = cloud(&s).await;
    let (_, d1) = host_state::host_state(&app(&s), "compute-1".into()).await.unwrap();
    let (_, d2) = host_state::host_state(&app(&s), "compute-2".into()).await.unwrap();
    let both = [&d1, &d2];
    let mut cases: Vec<(&str, Vec<bool>, Vec<bool>)> = Vec::new();
    macro_rules! case {
        ($name:expr, $want:expr, $act:expr) => {{
            let since = latest(&s);
            $act;
            cases.push(($name, concerned(&s, since, &both).await, $want.to_vec()));
        }};
    }
    case!("unbound port on compute-1's network", [true, false], port(&s, &c.net_1, "", &[]).await);
    case!("port bound to compute-3 on compute-1's network", [true, false], port(&s, &c.net_1, "compute-3", &[]).await);
    case!("port on nobody's network", [false, false], port(&s, &c.net_x, "", &[]).await);
    case!("port bound to compute-2 on a new network", [false, true], port(&s, &c.net_x, "compute-2", &[]).await);
    case!("port in compute-1's remote group", [true, false], port(&s, &c.net_x, "", &[&c.remote]).await);
    case!("port in the shared group (no rule names it)", [false, false], port(&s, &c.net_x, "", &[&c.shared]).await);
    case!(
        "rule of the shared group",
        [true, true],
        rule(&s, &c.shared, json!({"port_range_min": 80, "port_range_max": 80})).await
    );
    case!(
        "rule of compute-1's group",
        [true, false],
        rule(&s, &c.own_1, json!({"port_range_min": 81, "port_range_max": 81})).await
    );
    case!("rule of the remote group (not compute-1's own)", [false, false], rule(&s, &c.remote, json!({})).await);
    case!("address group named by compute-1's rule", [true, false], {
        s.put(&format!("/v2.0/address-groups/{}/add_addresses", c.ag), json!({"addresses": ["10.8.0.1"]})).await
    });
    case!(
        "network update",
        [false, true],
        s.put(&format!("/v2.0/networks/{}", c.net_2), json!({"network": {"name": "x"}})).await
    );
    case!(
        "subnet on compute-1's network",
        [true, false],
        s.subnet(&c.net_1, "10.1.1.0/24", json!({"enable_dhcp": false})).await
    );
    case!("update of compute-1's port", [true, false], {
        s.put(&format!("/v2.0/ports/{}", c.port_1), json!({"port": {"name": "renamed"}})).await
    });
    case!(
        "compute-2's agent",
        [false, true],
        s.post("/agent/v1/agents/report", l2_report("compute-2", "198.18.1.22")).await
    );
    case!("a router with no ports", [false, false], s.post("/v2.0/routers", json!({"router": {"name": "r"}})).await);
    case!("group deletion of nobody's group", [false, false], {
        let g = group(&s, "unused").await;
        s.delete(&format!("/v2.0/security-groups/{g}")).await
    });
    let wrong: Vec<_> = cases.iter().filter(|(_, got, want)| got != want).collect();
    assert!(wrong.is_empty(), "(change, concerned [compute-1, compute-2], expected): {wrong:#?}");
}

/// A port whose membership changes leaves the hosts that showed it concerned.
#[tokio::test]
async fn a_port_leaving_a_remote_group_concerns_the_hosts_that_showed_it() {
    let s = TestServer::start().await;
    let c = cloud(&s).await;
    let member = port(&s, &c.net_x, "", &[&c.remote]).await;
    let (_, d1) = host_state::host_state(&app(&s), "compute-1".into()).await.unwrap();
    let (_, d2) = host_state::host_state(&app(&s), "compute-2".into()).await.unwrap();
    let since = latest(&s);
    let (st, b) = s.put(&format!("/v2.0/ports/{member}"), json!({"port": {"security_groups": []}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(concerned(&s, since, &[&d1, &d2]).await, [true, false]);
    let since = latest(&s);
    s.delete(&format!("/v2.0/ports/{}", c.port_1)).await;
    assert_eq!(concerned(&s, since, &[&d1, &d2]).await, [true, false]);
}

async fn fingerprint(s: &TestServer, host: &str) -> String {
    let (st, b) = s.get(&format!("/agent/v1/hosts/{host}/state")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b["fingerprint"].as_str().unwrap().to_string()
}

type Poll = tokio::task::JoinHandle<(StatusCode, Duration)>;

fn watch(s: &TestServer, host: &str, known: &str, wait: u64) -> Poll {
    let url = format!("{}/agent/v1/hosts/{host}/state?known={known}&wait={wait}", s.url);
    let http = s.http.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let res = http.get(url).send().await.unwrap();
        (res.status(), started.elapsed())
    })
}

/// Two hosts watching: a port created on a network only one spans answers that one's watch
/// and leaves the other pending until its timeout, without rebuilding its state; a change
/// to a group both hosts use answers both.
#[tokio::test]
async fn a_change_wakes_only_the_watches_it_concerns() {
    let s = TestServer::start().await;
    let c = cloud(&s).await;
    let builds = || app(&s).host_state_builds.load(Ordering::Relaxed);

    let (fp1, fp2) = (fingerprint(&s, "compute-1").await, fingerprint(&s, "compute-2").await);
    let w1 = watch(&s, "compute-1", &fp1, 20);
    let w2 = watch(&s, "compute-2", &fp2, 3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = builds();
    port(&s, &c.net_1, "compute-3", &[]).await;
    let (st1, took1) = w1.await.unwrap();
    assert_eq!(st1, StatusCode::OK);
    assert!(took1 < Duration::from_secs(5), "compute-1 answered on the change: {took1:?}");
    // compute-1 rebuilt once; compute-2 passed the change without building.
    assert_eq!(builds() - before, 1, "only the concerned host's state was built");
    assert!(!w2.is_finished(), "compute-2's watch stays pending");
    let (st2, took2) = w2.await.unwrap();
    assert_eq!(st2, StatusCode::NOT_MODIFIED);
    assert!(took2 >= Duration::from_millis(2900), "compute-2 answered at its timeout: {took2:?}");

    let (fp1, fp2) = (fingerprint(&s, "compute-1").await, fingerprint(&s, "compute-2").await);
    let w1 = watch(&s, "compute-1", &fp1, 20);
    let w2 = watch(&s, "compute-2", &fp2, 20);
    tokio::time::sleep(Duration::from_millis(500)).await;
    rule(&s, &c.shared, json!({"port_range_min": 443, "port_range_max": 443})).await;
    for w in [w1, w2] {
        let (st, took) = w.await.unwrap();
        assert_eq!(st, StatusCode::OK);
        assert!(took < Duration::from_secs(5), "answered on the shared group's change: {took:?}");
    }
    let _ = c.net_2;
}

/// Routers and floating IPs concern the host whose L3 agent runs the router (and, through
/// the router's ports, the hosts of its networks), not an unrelated compute host.
#[tokio::test]
async fn routers_and_floating_ips_concern_their_l3_host() {
    let s = TestServer::start().await;
    let mut ext_l2 = l2_report("net-1", "198.18.1.1");
    ext_l2["configurations"]["interface_mappings"] = json!({"external": "eth1"});
    s.post("/agent/v1/agents/report", ext_l2).await;
    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.2")).await;
    s.post("/agent/v1/agents/report", l3_report("net-1")).await;
    let (_, ext) = s
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "public", "router:external": true,
            "provider:network_type": "flat", "provider:physical_network": "external"}}),
        )
        .await;
    let ext = id(&ext, "network");
    s.subnet(&ext, "203.0.113.0/24", json!({"enable_dhcp": false})).await;
    let inside = s.network("inside").await;
    let sub = s.subnet(&inside, "10.50.0.0/24", json!({"enable_dhcp": false})).await;
    let elsewhere = s.network("elsewhere").await;
    s.subnet(&elsewhere, "10.51.0.0/24", json!({"enable_dhcp": false})).await;
    port(&s, &elsewhere, "compute-1", &[]).await;
    let (_, r) =
        s.post("/v2.0/routers", json!({"router": {"name": "r", "external_gateway_info": {"network_id": ext}}})).await;
    let router = id(&r, "router");
    s.put(&format!("/v2.0/routers/{router}/add_router_interface"), json!({"subnet_id": sub})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, p) = s.get(&format!("/v2.0/ports?device_id={router}")).await;
        let ports = p["ports"].as_array().unwrap();
        if ports.len() == 2 && ports.iter().all(|p| p["binding:host_id"] == "net-1") {
            break;
        }
        assert!(Instant::now() < deadline, "router not scheduled: {p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let vm = port(&s, &inside, "", &[]).await;
    // Let the scheduling passes the last writes started settle before taking the sets.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, l3) = host_state::host_state(&app(&s), "net-1".into()).await.unwrap();
    let (_, compute) = host_state::host_state(&app(&s), "compute-1".into()).await.unwrap();
    let both = [&l3, &compute];

    let since = latest(&s);
    s.put(&format!("/v2.0/routers/{router}"), json!({"router": {"admin_state_up": false}})).await;
    assert_eq!(concerned(&s, since, &both).await, [true, false], "router update");
    let since = latest(&s);
    let (st, f) = s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": ext, "port_id": vm}})).await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    assert_eq!(concerned(&s, since, &both).await, [true, false], "floating IP on the router");
    let fip = id(&f, "floatingip");
    // The L3 host rebuilt on it, and its set now names the floating IP.
    let (_, l3) = host_state::host_state(&app(&s), "net-1".into()).await.unwrap();
    let both = [&l3, &compute];
    let since = latest(&s);
    s.put(&format!("/v2.0/floatingips/{fip}"), json!({"floatingip": {"port_id": null}})).await;
    assert_eq!(concerned(&s, since, &both).await, [true, false], "floating IP leaving the router");
    let since = latest(&s);
    port(&s, &inside, "", &[]).await;
    assert_eq!(concerned(&s, since, &both).await, [true, false], "a port on the router's network (metadata)");
    let since = latest(&s);
    s.post("/v2.0/routers", json!({"router": {"name": "unscheduled"}})).await;
    assert_eq!(concerned(&s, since, &both).await, [false, false], "a router with no ports");
}

/// Past the resolved window, a watch cannot know what changed: it rebuilds.
#[tokio::test]
async fn changes_older_than_the_window_concern_every_host() {
    let s = TestServer::start_with(|c| c.change_feed_retention = 3).await;
    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    let (_, deps) = host_state::host_state(&app(&s), "compute-1".into()).await.unwrap();
    let since = latest(&s);
    for i in 0..5 {
        s.network(&format!("n{i}")).await;
    }
    assert_eq!(concerned(&s, since, &[&deps]).await, [true], "beyond the window: rebuild");
    let since = latest(&s);
    s.network("one-more").await;
    assert_eq!(concerned(&s, since, &[&deps]).await, [false], "within it: an unrelated network");
}
