//! Nova's external events: a stand-in Nova (an HTTP server that checks every token with our
//! Keystone and records the events it is sent) and ports driven as Nova and the agents drive
//! them. The server names the stand-in with `nova.endpoint_override` here; the dataplane test
//! (crates/cli/tests/dataplane/nova.rs) finds it through the Keystone catalog instead.

use crate::common::{TestServer, ADMIN_PASSWORD};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::response::IntoResponse;
use axum::Json;
use neutrino_server::nova::Counters;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the stand-in saw.
#[derive(Default)]
struct Seen {
    /// Every event taken, with when it arrived.
    events: Vec<(Instant, Value)>,
    /// Tokens that Keystone vouched for (admin or service role).
    tokens: HashSet<String>,
    /// Requests refused with 401.
    refused: usize,
    /// Servers this Nova does not know (their events answer 404).
    unknown_servers: HashSet<String>,
}

/// A Nova that can be stopped (connections refused) and started again on the same port.
struct StandInNova {
    addr: SocketAddr,
    keystone: String,
    seen: Arc<Mutex<Seen>>,
    stop: Option<(tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>)>,
}

#[derive(Clone)]
struct NovaState {
    keystone: String,
    seen: Arc<Mutex<Seen>>,
    http: reqwest::Client,
}

/// The token must be valid in Keystone, with a role Nova's policy accepts for external events.
async fn token_ok(state: &NovaState, headers: &HeaderMap) -> Option<String> {
    let token = headers.get("x-auth-token")?.to_str().ok()?.to_string();
    let res = state
        .http
        .get(format!("{}/v3/auth/tokens", state.keystone))
        .header("X-Auth-Token", &token)
        .header("X-Subject-Token", &token)
        .send()
        .await
        .ok()?;
    if res.status() != StatusCode::OK {
        return None;
    }
    let body: Value = res.json().await.ok()?;
    let roles = body["token"]["roles"].as_array()?;
    roles.iter().any(|r| r["name"] == "admin" || r["name"] == "service").then_some(token)
}

async fn external_events(
    State(state): State<NovaState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let close = [("connection", "close")];
    let Some(token) = token_ok(&state, &headers).await else {
        state.seen.lock().unwrap().refused += 1;
        return (AxStatus::UNAUTHORIZED, close, Json(json!({"error": {"code": 401}})));
    };
    assert_eq!(headers.get("x-openstack-nova-api-version").and_then(|v| v.to_str().ok()), Some("2.1"));
    let mut seen = state.seen.lock().unwrap();
    seen.tokens.insert(token);
    let now = Instant::now();
    let mut answers = Vec::new();
    for e in body["events"].as_array().cloned().unwrap_or_default() {
        for key in ["name", "server_uuid", "tag"] {
            assert!(e[key].is_string(), "event without {key}: {e}");
        }
        let known = !seen.unknown_servers.contains(e["server_uuid"].as_str().unwrap());
        let mut a = e.clone();
        a["code"] = json!(if known { 200 } else { 404 });
        a["status"] = e.get("status").cloned().unwrap_or(json!("completed"));
        answers.push(a);
        seen.events.push((now, e));
    }
    let ok = answers.iter().filter(|a| a["code"] == 200).count();
    let status = match ok {
        0 => AxStatus::NOT_FOUND,
        n if n == answers.len() => AxStatus::OK,
        _ => AxStatus::MULTI_STATUS,
    };
    (status, close, Json(json!({ "events": answers })))
}

impl StandInNova {
    async fn start(keystone: &str) -> Self {
        let mut nova = StandInNova {
            addr: "127.0.0.1:0".parse().unwrap(),
            keystone: keystone.to_string(),
            seen: Arc::default(),
            stop: None,
        };
        nova.up().await;
        nova
    }

    /// The compute endpoint as a catalog would list it.
    fn url(&self) -> String {
        format!("http://{}/v2.1", self.addr)
    }

    async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.addr = listener.local_addr().unwrap();
        let state =
            NovaState { keystone: self.keystone.clone(), seen: self.seen.clone(), http: reqwest::Client::new() };
        let app = axum::Router::new()
            .route("/v2.1/os-server-external-events", axum::routing::post(external_events))
            .with_state(state);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        self.stop = Some((tx, task));
    }

    /// Stops listening: connections are refused until [`StandInNova::up`].
    async fn down(&mut self) {
        if let Some((tx, task)) = self.stop.take() {
            let _ = tx.send(());
            let _ = task.await;
        }
    }

    fn events(&self) -> Vec<Value> {
        self.seen.lock().unwrap().events.iter().map(|(_, e)| e.clone()).collect()
    }

    fn events_for(&self, port: &str) -> Vec<Value> {
        self.events().into_iter().filter(|e| e["tag"] == port).collect()
    }

    /// Waits until `done` holds for the events of `port`, up to `limit`.
    async fn wait_for(&self, port: &str, limit: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let got = self.events_for(port);
            if done(&got) {
                return got;
            }
            assert!(start.elapsed() < limit, "events for {port} after {limit:?}: {got:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn names(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["status"].as_str().unwrap_or("-").to_string()))
        .collect()
}

fn pair(name: &str, status: &str) -> (String, String) {
    (name.to_string(), status.to_string())
}

/// A server with authentication on, telling the stand-in Nova; every request of `s.call`
/// and friends carries the admin's token.
async fn cloud(tweak: impl FnOnce(&mut neutrino_server::config::Config)) -> (TestServer, StandInNova) {
    // The stand-in needs Keystone's URL and the server the stand-in's: the stand-in takes a
    // port first, then restarts on it pointing at the server's Keystone.
    let mut nova = StandInNova::start("http://unset").await;
    let nova_url = nova.url();
    let mut s = TestServer::start_with_url(|c, url| {
        c.noauth = false;
        c.nova.auth_url = format!("{url}/v3");
        c.nova.username = "admin".into();
        c.nova.password = ADMIN_PASSWORD.into();
        c.nova.project_name = "admin".into();
        c.nova.endpoint_override = nova_url;
        tweak(c);
    })
    .await;
    nova.down().await;
    nova.keystone = s.url.clone();
    nova.up().await;
    let token = s.admin_token().await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-auth-token", token.parse().unwrap());
    s.http = reqwest::Client::builder().default_headers(headers).build().unwrap();
    let report = json!({"host": "compute-1", "agent_type": "Linux bridge agent", "binary": "neutrino-agent",
        "start_flag": true, "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": "198.18.1.1",
            "l2_population": true, "interface_mappings": {"physnet1": "eth1"}, "devices": 0}});
    let (st, b) = s.post("/agent/v1/agents/report", report).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    (s, nova)
}

/// Creates a port and binds it as Nova does (create without binding, then one update with
/// host, owner and server); returns the port's id.
async fn boot_port(s: &TestServer, net: &str, server: &str, host: &str) -> String {
    let (st, p) =
        s.post("/v2.0/ports", json!({"port": {"network_id": net, "device_id": server, "admin_state_up": true}})).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let id = p["port"]["id"].as_str().unwrap().to_string();
    let bind = json!({"port": {"binding:host_id": host, "device_owner": "compute:nova", "device_id": server}});
    let (st, b) = s.put(&format!("/v2.0/ports/{id}"), bind).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    id
}

/// The agent of `host` reports the port wired (`ACTIVE`) or not (`DOWN`).
async fn agent_reports(s: &TestServer, host: &str, port: &str, status: &str) {
    let (st, b) =
        s.post(&format!("/agent/v1/hosts/{host}/port-status"), json!({"host": host, "ports": {port: status}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
}

fn server_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

const SOON: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_port_bound_as_nova_binds_it_gets_one_vif_plugged_when_active_then_unplugged_and_deleted() {
    let (s, nova) = cloud(|_| {}).await;
    let net = s.network("n").await;
    s.subnet(&net, "10.1.0.0/24", json!({})).await;
    let server = server_id();
    let port = boot_port(&s, &net, &server, "compute-1").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(nova.events_for(&port), Vec::<Value>::new(), "nothing before the agent wires the port");

    let wired = Instant::now();
    agent_reports(&s, "compute-1", &port, "ACTIVE").await;
    let got = nova.wait_for(&port, SOON, |e| !e.is_empty()).await;
    assert_eq!(
        got,
        [json!({"name": "network-vif-plugged", "server_uuid": server, "tag": port, "status": "completed"})]
    );
    let arrived = nova.seen.lock().unwrap().events[0].0;
    assert!(arrived - wired < Duration::from_secs(1), "vif-plugged {:?} after the report", arrived - wired);

    // The agent saying it again (a resync) is no new event.
    agent_reports(&s, "compute-1", &port, "ACTIVE").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(nova.events_for(&port).len(), 1, "exactly one vif-plugged");

    agent_reports(&s, "compute-1", &port, "DOWN").await;
    let got = nova.wait_for(&port, SOON, |e| e.len() == 2).await;
    assert_eq!(names(&got[1..]), [pair("network-vif-unplugged", "completed")]);

    let (st, _) = s.delete(&format!("/v2.0/ports/{port}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let got = nova.wait_for(&port, SOON, |e| e.len() == 3).await;
    assert_eq!(got[2], json!({"name": "network-vif-deleted", "server_uuid": server, "tag": port}));
    assert_eq!(nova.seen.lock().unwrap().refused, 0, "every request carried a valid token");
    let c = s.app.as_ref().unwrap().nova.counters();
    assert_eq!(Counters::get(&c.sent), 3);
    assert_eq!(Counters::get(&c.failed), 0);
}

#[tokio::test]
async fn a_failed_binding_sends_vif_plugged_failed() {
    let (s, nova) = cloud(|_| {}).await;
    let net = s.network("n").await;
    let server = server_id();
    // No agent on compute-9: the binding fails.
    let port = boot_port(&s, &net, &server, "compute-9").await;
    let (_, p) = s.get(&format!("/v2.0/ports/{port}")).await;
    assert_eq!(p["port"]["binding:vif_type"], "binding_failed");
    let got = nova.wait_for(&port, SOON, |e| !e.is_empty()).await;
    assert_eq!(got, [json!({"name": "network-vif-plugged", "server_uuid": server, "tag": port, "status": "failed"})]);

    // Created with the binding at once (as a user may), failing too.
    let (st, p) = s
        .post("/v2.0/ports", json!({"port": {"network_id": net, "device_id": server, "device_owner": "compute:az1", "binding:host_id": "compute-9"}}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let second = p["port"]["id"].as_str().unwrap().to_string();
    let got = nova.wait_for(&second, SOON, |e| !e.is_empty()).await;
    assert_eq!(names(&got), [pair("network-vif-plugged", "failed")]);
}

#[tokio::test]
async fn address_and_floating_ip_changes_send_network_changed() {
    let (s, nova) = cloud(|_| {}).await;
    let t =
        crate::floatingips::topology(&s, "203.0.113.0/24", json!([{"start": "203.0.113.10", "end": "203.0.113.50"}]))
            .await;
    let (ext, net, sub) = (t.ext, t.net, t.sub);
    let server = server_id();
    let port = boot_port(&s, &net, &server, "compute-1").await;

    // Associated at creation, dissociated, associated again by update, released.
    let (st, f) =
        s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": ext, "port_id": port}})).await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    let fip = format!("/v2.0/floatingips/{}", f["floatingip"]["id"].as_str().unwrap());
    nova.wait_for(&port, SOON, |e| e.len() == 1).await;
    assert_eq!(s.put(&fip, json!({"floatingip": {"port_id": null}})).await.0, StatusCode::OK);
    nova.wait_for(&port, SOON, |e| e.len() == 2).await;
    // A description change is nothing Nova caches.
    assert_eq!(s.put(&fip, json!({"floatingip": {"description": "d"}})).await.0, StatusCode::OK);
    assert_eq!(s.put(&fip, json!({"floatingip": {"port_id": port}})).await.0, StatusCode::OK);
    nova.wait_for(&port, SOON, |e| e.len() == 3).await;
    assert_eq!(s.delete(&fip).await.0, StatusCode::NO_CONTENT);
    nova.wait_for(&port, SOON, |e| e.len() == 4).await;

    // A new fixed IP; then an update that changes nothing Nova caches.
    let (st, b) = s
        .put(
            &format!("/v2.0/ports/{port}"),
            json!({"port": {"fixed_ips": [{"subnet_id": sub, "ip_address": "10.70.0.77"}]}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, _) = s.put(&format!("/v2.0/ports/{port}"), json!({"port": {"name": "renamed"}})).await;
    assert_eq!(st, StatusCode::OK);
    let got = nova.wait_for(&port, SOON, |e| e.len() == 5).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(nova.events_for(&port).len(), 5, "{got:?}");
    for e in &got {
        assert_eq!(*e, json!({"name": "network-changed", "server_uuid": server, "tag": port}));
    }
}

#[tokio::test]
async fn only_compute_ports_of_a_server_are_told_and_unknown_servers_are_no_error() {
    let (s, nova) = cloud(|_| {}).await;
    let net = s.network("n").await;
    // Not a server's port: a network owner, or a compute owner without a UUID device.
    for (owner, device) in
        [("network:custom", server_id()), ("compute:nova", "not-a-uuid".to_string()), ("", server_id())]
    {
        let (st, p) = s
            .post("/v2.0/ports", json!({"port": {"network_id": net, "device_id": device, "device_owner": owner, "binding:host_id": "compute-1"}}))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{p}");
        let id = p["port"]["id"].as_str().unwrap().to_string();
        agent_reports(&s, "compute-1", &id, "ACTIVE").await;
        assert_eq!(s.delete(&format!("/v2.0/ports/{id}")).await.0, StatusCode::NO_CONTENT);
    }
    // A server Nova does not know: 404 for its event, counted, not retried.
    let gone = server_id();
    nova.seen.lock().unwrap().unknown_servers.insert(gone.clone());
    let port = boot_port(&s, &net, &gone, "compute-1").await;
    agent_reports(&s, "compute-1", &port, "ACTIVE").await;
    nova.wait_for(&port, SOON, |e| e.len() == 1).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(nova.events().len(), 1, "only the compute port's event: {:?}", nova.events());
    let c = s.app.as_ref().unwrap().nova.counters();
    assert_eq!((Counters::get(&c.server_not_found), Counters::get(&c.retried_batches)), (1, 0));
}

#[tokio::test]
async fn status_events_can_be_switched_off() {
    let (s, nova) = cloud(|c| c.notify_nova_on_port_status_changes = false).await;
    let net = s.network("n").await;
    let port = boot_port(&s, &net, &server_id(), "compute-1").await;
    agent_reports(&s, "compute-1", &port, "ACTIVE").await;
    assert_eq!(s.delete(&format!("/v2.0/ports/{port}")).await.0, StatusCode::NO_CONTENT);
    let got = nova.wait_for(&port, SOON, |e| !e.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(names(&nova.events_for(&port)), [pair("network-vif-deleted", "-")], "{got:?}");
}

#[tokio::test]
async fn while_nova_is_down_requests_go_on_and_no_event_is_lost() {
    let (s, mut nova) = cloud(|c| c.send_events_interval = 1).await;
    let net = s.network("n").await;
    s.subnet(&net, "10.1.0.0/24", json!({})).await;
    nova.down().await;
    let mut ports = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let port = boot_port(&s, &net, &server_id(), "compute-1").await;
        agent_reports(&s, "compute-1", &port, "ACTIVE").await;
        assert!(started.elapsed() < Duration::from_secs(1), "a request waited for Nova: {:?}", started.elapsed());
        ports.push(port);
    }
    assert_eq!(s.delete(&format!("/v2.0/ports/{}", ports[2])).await.0, StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let c = s.app.as_ref().unwrap().nova.counters();
    assert!(Counters::get(&c.retried_batches) >= 2, "the notifier kept trying");
    assert!(nova.events().is_empty());

    nova.up().await;
    for (i, port) in ports.iter().enumerate() {
        let want = if i == 2 { 2 } else { 1 };
        nova.wait_for(port, Duration::from_secs(20), |e| e.len() == want).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = nova.events();
    let distinct: HashSet<String> = got.iter().map(Value::to_string).collect();
    assert_eq!((got.len(), distinct.len()), (4, 4), "each event exactly once: {got:?}");
    assert_eq!(
        names(&nova.events_for(&ports[2])),
        [pair("network-vif-plugged", "completed"), pair("network-vif-deleted", "-")]
    );
    assert_eq!((Counters::get(&c.sent), Counters::get(&c.dropped)), (4, 0));
}

#[tokio::test]
async fn a_token_nova_refuses_is_renewed() {
    let (s, nova) = cloud(|_| {}).await;
    let net = s.network("n").await;
    let first = boot_port(&s, &net, &server_id(), "compute-1").await;
    agent_reports(&s, "compute-1", &first, "ACTIVE").await;
    nova.wait_for(&first, SOON, |e| e.len() == 1).await;
    // Revoke the notifier's token in Keystone: Nova refuses it from now on.
    let token = nova.seen.lock().unwrap().tokens.iter().next().unwrap().clone();
    let (st, _) = s.call_with(Method::DELETE, "/v3/auth/tokens", None, &[("X-Subject-Token", &token)]).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let second = boot_port(&s, &net, &server_id(), "compute-1").await;
    agent_reports(&s, "compute-1", &second, "ACTIVE").await;
    nova.wait_for(&second, SOON, |e| e.len() == 1).await;
    let seen = nova.seen.lock().unwrap();
    assert_eq!(seen.refused, 1, "one refusal, then a new token");
    assert_eq!(seen.tokens.len(), 2);
}

#[tokio::test]
async fn a_live_migration_tells_nova_when_the_target_host_wires_the_port() {
    let (s, nova) = cloud(|_| {}).await;
    let report = json!({"host": "compute-2", "agent_type": "Linux bridge agent", "binary": "neutrino-agent",
        "start_flag": true, "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": "198.18.1.2",
            "l2_population": true, "interface_mappings": {}, "devices": 0}});
    assert_eq!(s.post("/agent/v1/agents/report", report).await.0, StatusCode::OK);
    let admin = s.admin_token().await;
    let (service, _) = s.member(&admin, "service", "nova", "service").await;
    let as_nova = [("x-auth-token", service.as_str())];
    let net = s.network("n").await;
    s.subnet(&net, "10.1.0.0/24", json!({})).await;
    let server = server_id();
    let port = boot_port(&s, &net, &server, "compute-1").await;
    agent_reports(&s, "compute-1", &port, "ACTIVE").await;
    nova.wait_for(&port, SOON, |e| e.len() == 1).await;

    let bindings = format!("/v2.0/ports/{port}/bindings");
    let body = json!({"binding": {"host": "compute-2"}});
    let (st, b) = s.call_with(Method::POST, &bindings, Some(body), &as_nova).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    // The instance's tap appears on compute-2 and its agent wires it: Nova hears it at once,
    // though the port stays ACTIVE on compute-1.
    agent_reports(&s, "compute-2", &port, "ACTIVE").await;
    let got = nova.wait_for(&port, SOON, |e| e.len() == 2).await;
    assert_eq!(
        got[1],
        json!({"name": "network-vif-plugged", "server_uuid": server, "tag": port, "status": "completed"})
    );
    assert_eq!(s.get(&format!("/v2.0/ports/{port}")).await.1["port"]["status"], "ACTIVE");

    // Activation turns the port DOWN (unplugged), the new host's report ACTIVE (plugged).
    let (st, b) = s.call_with(Method::PUT, &format!("{bindings}/compute-2/activate"), None, &as_nova).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    agent_reports(&s, "compute-2", &port, "ACTIVE").await;
    let got = nova.wait_for(&port, SOON, |e| e.len() == 4).await;
    assert_eq!(
        names(&got),
        [
            pair("network-vif-plugged", "completed"),
            pair("network-vif-plugged", "completed"),
            pair("network-vif-unplugged", "completed"),
            pair("network-vif-plugged", "completed"),
        ]
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(nova.events_for(&port).len(), 4, "nothing more");
}
