//! Agents: registration and liveness, port binding against the agents' reach, each host's
//! desired state (its long poll), and port status reported back.

use crate::common::{assert_error, dhcp_report, l2_report, l3_report, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn bound_port(s: &TestServer, net: &str, host: &str) -> Value {
    let (st, b) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "binding:host_id": host}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    b["port"].clone()
}

async fn state(s: &TestServer, host: &str) -> Value {
    let (st, b) = s.get(&format!("/agent/v1/hosts/{host}/state")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b
}

#[tokio::test]
async fn agents_register_and_go_dead_when_silent() {
    let s = TestServer::start_with(|c| c.agent_down_time = 1).await;
    let (st, first) = s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    assert_eq!(st, StatusCode::OK, "{first}");
    let id = first["agent_id"].as_str().unwrap().to_string();
    assert_eq!(first["agent_down_time"], 1);
    let (_, again) = s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    assert_eq!(again["agent_id"], id.as_str(), "a host's agent keeps its id");

    let (st, b) = s.get("/v2.0/agents?agent_type=Linux%20bridge%20agent&host=compute-1").await;
    assert_eq!(st, StatusCode::OK);
    let a = &b["agents"][0];
    assert_eq!(b["agents"].as_array().unwrap().len(), 1);
    assert_eq!(a["id"], id.as_str());
    assert_eq!(a["alive"], true);
    assert_eq!(a["binary"], "neutrino-agent");
    assert_eq!(a["topic"], "N/A");
    assert_eq!(a["admin_state_up"], true);
    assert_eq!(a["configurations"]["tunneling_ip"], "198.18.1.1");
    assert_eq!(a["configurations"]["tunnel_types"], json!(["vxlan"]));
    let hb = a["heartbeat_timestamp"].as_str().unwrap();
    assert_eq!(hb.len(), 19, "Neutron's 'YYYY-MM-DD HH:MM:SS': {hb}");
    assert_eq!(s.get("/v2.0/agents?host=elsewhere").await.1["agents"], json!([]));
    // String filters ignore ASCII case, as upstream's MySQL collation does (Tempest asks for
    // `agent_type=DHCP Agent`).
    let (_, b) = s.get("/v2.0/agents?agent_type=LINUX%20Bridge%20Agent&host=Compute-1&fields=id").await;
    assert_eq!(b["agents"], json!([{"id": id}]));

    let (st, b) = s.put(&format!("/v2.0/agents/{id}"), json!({"agent": {"description": "rack 4"}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["agent"]["description"], "rack 4");
    assert_error(&s.put(&format!("/v2.0/agents/{id}"), json!({"agent": {"host": "x"}})).await, 400, "HTTPBadRequest");

    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (_, b) = s.get(&format!("/v2.0/agents/{id}?fields=alive&fields=host")).await;
    assert_eq!(b["agent"], json!({"host": "compute-1", "alive": false}));
    assert_eq!(s.get("/v2.0/agents?alive=false").await.1["agents"].as_array().unwrap().len(), 1);

    let (st, _) = s.delete(&format!("/v2.0/agents/{id}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_error(&s.get(&format!("/v2.0/agents/{id}")).await, 404, "AgentNotFound");
}

#[tokio::test]
async fn binding_follows_the_hosts_agent_and_reach() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    s.subnet(&net, "10.5.0.0/24", json!({})).await;

    let p = bound_port(&s, &net, "compute-1").await;
    assert_eq!(p["binding:vif_type"], "binding_failed", "no agent on the host yet");
    assert_eq!(p["status"], "DOWN");
    // The host's agent sees the failure and its reason.
    let st = state(&s, "compute-1").await;
    assert_eq!(st["ports"], json!([]));
    assert_eq!(st["binding_failures"][0]["port_id"], p["id"]);
    let reason = st["binding_failures"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("no Linux bridge agent or Open vSwitch agent registered on host compute-1"), "{reason}");

    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    // Any update retries a failed binding, as ML2 does.
    let (_, b) = s.put(&format!("/v2.0/ports/{}", p["id"].as_str().unwrap()), json!({"port": {"name": "vm1"}})).await;
    assert_eq!(b["port"]["binding:vif_type"], "bridge", "{b}");
    assert_eq!(b["port"]["binding:vif_details"], json!({"connectivity": "l2", "port_filter": true}));
    assert_eq!(b["port"]["status"], "DOWN", "DOWN until the agent wires it");
    assert_eq!(state(&s, "compute-1").await["binding_failures"], json!([]));

    // A flat network on a physnet the host does not map fails; a mapped one binds.
    let (_, flat) = s
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "f", "provider:network_type": "flat", "provider:physical_network": "physnet9"}}),
        )
        .await;
    let flat_id = flat["network"]["id"].as_str().unwrap().to_string();
    assert_eq!(bound_port(&s, &flat_id, "compute-1").await["binding:vif_type"], "binding_failed");
    let reason = state(&s, "compute-1").await["binding_failures"][0]["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("flat:physnet9") && reason.contains("interface_mappings"), "{reason}");
    let (_, flat1) = s
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "f1", "provider:network_type": "flat", "provider:physical_network": "physnet1"}}),
        )
        .await;
    let flat1_id = flat1["network"]["id"].as_str().unwrap().to_string();
    assert_eq!(bound_port(&s, &flat1_id, "compute-1").await["binding:vif_type"], "bridge");
}

#[tokio::test]
async fn host_state_spans_hosts_and_ports_report_status() {
    let s = TestServer::start().await;
    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    s.post("/agent/v1/agents/report", l2_report("compute-2", "198.18.1.2")).await;
    let net = s.network("n").await;
    s.subnet(&net, "10.6.0.0/24", json!({})).await;
    let p1 = bound_port(&s, &net, "compute-1").await;
    let p2 = bound_port(&s, &net, "compute-2").await;
    let other_net = s.network("unrelated").await;
    bound_port(&s, &other_net, "compute-2").await;

    let st1 = state(&s, "compute-1").await;
    assert_eq!(st1["host"], "compute-1");
    assert_eq!(st1["ports"].as_array().unwrap().len(), 1);
    assert_eq!(st1["ports"][0]["id"], p1["id"]);
    assert_eq!(st1["ports"][0]["mac_address"], p1["mac_address"]);
    assert_eq!(st1["ports"][0]["ip_addresses"], json!(["10.6.0.2"]));
    let n = &st1["networks"][0];
    assert_eq!(st1["networks"].as_array().unwrap().len(), 1, "only networks with ports here");
    assert_eq!(n["id"], net.as_str());
    assert_eq!(n["network_type"], "vxlan");
    assert!(n["segmentation_id"].as_u64().unwrap() >= 1);
    assert_eq!(n["mtu"], 1450);
    assert_eq!(n["remote_endpoints"], json!(["198.18.1.2"]));
    assert_eq!(
        n["remote_ports"],
        json!([{"mac_address": p2["mac_address"], "ip_addresses": ["10.6.0.3"], "endpoint": "198.18.1.2"}])
    );
    assert_eq!(state(&s, "compute-2").await["networks"].as_array().unwrap().len(), 2);
    assert_eq!(state(&s, "nowhere").await["ports"], json!([]));

    // The agent reports the port wired; a report from another host is stale and ignored.
    let p1_id = p1["id"].as_str().unwrap();
    let (st, b) =
        s.post("/agent/v1/hosts/compute-2/port-status", json!({"host": "compute-2", "ports": {p1_id: "ACTIVE"}})).await;
    assert_eq!((st, &b["changed"]), (StatusCode::OK, &json!(0)));
    let (_, b) =
        s.post("/agent/v1/hosts/compute-1/port-status", json!({"host": "compute-1", "ports": {p1_id: "ACTIVE"}})).await;
    assert_eq!(b["changed"], 1);
    let (_, b) = s.get(&format!("/v2.0/ports/{p1_id}")).await;
    assert_eq!(b["port"]["status"], "ACTIVE");

    // Unbinding takes the port out of the host's state and turns it DOWN; moving the other
    // port away empties compute-1's remote view.
    let (_, b) = s.put(&format!("/v2.0/ports/{p1_id}"), json!({"port": {"binding:host_id": ""}})).await;
    assert_eq!(b["port"]["status"], "DOWN");
    assert_eq!(b["port"]["binding:vif_type"], "unbound");
    assert_eq!(state(&s, "compute-1").await["ports"], json!([]));
    s.put(&format!("/v2.0/ports/{p1_id}"), json!({"port": {"binding:host_id": "compute-1"}})).await;
    s.delete(&format!("/v2.0/ports/{}", p2["id"].as_str().unwrap())).await;
    let n = &state(&s, "compute-1").await["networks"][0];
    assert_eq!(n["remote_endpoints"], json!([]));
    assert_eq!(n["remote_ports"], json!([]));

    assert_error(
        &s.post("/agent/v1/hosts/compute-1/port-status", json!({"host": "compute-1", "ports": {p1_id: "UP"}})).await,
        400,
        "HTTPBadRequest",
    );
}

#[tokio::test]
async fn the_watch_answers_on_change_and_times_out_without() {
    let s = TestServer::start().await;
    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    let net = s.network("n").await;
    let fp = state(&s, "compute-1").await["fingerprint"].as_str().unwrap().to_string();

    // Unchanged: 304 after the wait; unrelated writes do not answer it.
    let started = Instant::now();
    let res = s.http.get(format!("{}/agent/v1/hosts/compute-1/state?known={fp}&wait=1", s.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert!(started.elapsed() >= Duration::from_millis(900));

    // A port bound to the host meanwhile answers the poll at once.
    let url = format!("{}/agent/v1/hosts/compute-1/state?known={fp}&wait=20", s.url);
    let http = s.http.clone();
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let res = http.get(url).send().await.unwrap();
        (res.status(), res.json::<Value>().await.unwrap(), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.network("unrelated").await;
    let p = bound_port(&s, &net, "compute-1").await;
    let (status, body, took) = poll.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ports"][0]["id"], p["id"]);
    assert!(took < Duration::from_secs(5), "answered on the change, not the timeout: {took:?}");
    assert_ne!(body["fingerprint"], fp.as_str());
}

#[tokio::test]
async fn agent_endpoints_need_admin_or_service() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (member, _) = s.member(&admin, "p1", "u1", "member").await;
    let (st, b) = s
        .call_with(
            reqwest::Method::POST,
            "/agent/v1/agents/report",
            Some(l2_report("h", "198.18.1.9")),
            &[("x-auth-token", &member)],
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    let (st, _) = s
        .call_with(
            reqwest::Method::POST,
            "/agent/v1/agents/report",
            Some(l2_report("h", "198.18.1.9")),
            &[("x-auth-token", &admin)],
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, b) = s.call_with(reqwest::Method::GET, "/v2.0/agents", None, &[("x-auth-token", &member)]).await;
    assert_eq!(b["agents"], json!([]), "agents are admin-only reads");
    let (st, _) =
        s.call_with(reqwest::Method::GET, "/agent/v1/hosts/h/state", None, &[("x-auth-token", &member)]).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

async fn dhcp_ports(s: &TestServer, net: &str) -> Vec<Value> {
    let (_, b) = s.get(&format!("/v2.0/ports?network_id={net}&device_owner=network:dhcp")).await;
    b["ports"].as_array().cloned().unwrap_or_default()
}

async fn wait_for<F: Fn(&[Value]) -> bool>(s: &TestServer, net: &str, what: &str, ok: F) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ports = dhcp_ports(s, net).await;
        if ok(&ports) {
            return ports;
        }
        assert!(Instant::now() < deadline, "{what}: {ports:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn dhcp_networks_are_scheduled_served_and_fail_over() {
    let s = TestServer::start_with(|c| c.agent_down_time = 2).await;
    for h in ["compute-1", "compute-2"] {
        s.post("/agent/v1/agents/report", l2_report(h, if h == "compute-1" { "198.18.1.1" } else { "198.18.1.2" }))
            .await;
    }
    let (st, b) = s.post("/agent/v1/agents/report", dhcp_report("compute-1")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let dhcp1 = b["agent_id"].as_str().unwrap().to_string();
    let (_, a) = s.get(&format!("/v2.0/agents/{dhcp1}")).await;
    assert_eq!(a["agent"]["agent_type"], "DHCP agent");
    assert_eq!(a["agent"]["topic"], "dhcp_agent");

    let net = s.network("n").await;
    let sub = s.subnet(&net, "10.7.0.0/24", json!({"dns_nameservers": ["10.7.0.53"], "host_routes": [{"destination": "10.99.0.0/16", "nexthop": "10.7.0.254"}]})).await;
    let ports = wait_for(&s, &net, "a DHCP port on compute-1", |p| p.len() == 1).await;
    let dport = &ports[0];
    assert_eq!(dport["binding:host_id"], "compute-1");
    assert_eq!(dport["binding:vif_type"], "bridge");
    assert_eq!(dport["fixed_ips"][0]["subnet_id"], sub.as_str());
    assert!(dport["device_id"].as_str().unwrap().starts_with("dhcp"));
    assert!(dport["device_id"].as_str().unwrap().ends_with(&net));
    let (_, b) = s.get(&format!("/v2.0/networks/{net}/dhcp-agents")).await;
    assert_eq!(b["agents"][0]["id"], dhcp1.as_str());
    let (_, b) = s.get(&format!("/v2.0/agents/{dhcp1}/dhcp-networks")).await;
    assert_eq!(b["networks"][0]["id"], net.as_str());

    // The DHCP host's state carries the network, its subnet options and every port.
    let vm = bound_port(&s, &net, "compute-2").await;
    let (_, st1) = s.get("/agent/v1/hosts/compute-1/state").await;
    let d = &st1["dhcp"][0];
    assert_eq!(d["network_id"], net.as_str());
    assert_eq!(d["port"]["id"], dport["id"]);
    assert_eq!(d["subnets"][0]["dns_nameservers"], json!(["10.7.0.53"]));
    assert_eq!(d["subnets"][0]["host_routes"][0]["nexthop"], "10.7.0.254");
    assert_eq!(d["hosts"][0]["port_id"], vm["id"]);
    assert_eq!(d["hosts"][0]["mac_address"], vm["mac_address"]);
    let ip = vm["fixed_ips"][0]["ip_address"].as_str().unwrap();
    assert_eq!(d["hosts"][0]["hostname"], format!("host-{}", ip.replace('.', "-")));
    assert!(st1["ports"].as_array().unwrap().iter().any(|p| p["id"] == dport["id"]), "the L2 side wires the DHCP port");

    // compute-1's DHCP agent dies; a DHCP agent on compute-2 takes the network and the same port.
    let (_, b) = s.post("/agent/v1/agents/report", dhcp_report("compute-2")).await;
    let dhcp2 = b["agent_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // compute-2 stays alive (its reports go on); compute-1 falls silent.
        s.post("/agent/v1/agents/report", l2_report("compute-2", "198.18.1.2")).await;
        s.post("/agent/v1/agents/report", dhcp_report("compute-2")).await;
        let ports = dhcp_ports(&s, &net).await;
        if ports.len() == 1 && ports[0]["binding:host_id"] == "compute-2" {
            assert_eq!(ports[0]["id"], dport["id"], "the port moves with its address");
            assert_eq!(ports[0]["fixed_ips"], dport["fixed_ips"]);
            break;
        }
        assert!(Instant::now() < deadline, "no failover: {ports:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (_, b) = s.get(&format!("/v2.0/networks/{net}/dhcp-agents")).await;
    assert_eq!(b["agents"].as_array().unwrap().len(), 1);
    assert_eq!(b["agents"][0]["id"], dhcp2.as_str());

    // Operators' calls: a second assignment, its refusals, its removal.
    assert_error(
        &s.post(&format!("/v2.0/agents/{dhcp2}/dhcp-networks"), json!({"network_id": net})).await,
        409,
        "NetworkHostedByDHCPAgent",
    );
    let l2 = s.get("/v2.0/agents?agent_type=Linux%20bridge%20agent&host=compute-2").await.1["agents"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_error(
        &s.post(&format!("/v2.0/agents/{l2}/dhcp-networks"), json!({"network_id": net})).await,
        409,
        "InvalidDHCPAgent",
    );
    assert_error(
        &s.delete(&format!("/v2.0/agents/{dhcp1}/dhcp-networks/{net}")).await,
        409,
        "NetworkNotHostedByDhcpAgent",
    );

    // Disabling DHCP on the subnet drops the port; the network stays with its agent, as
    // Neutron's bindings do (only a dead agent or an operator removes one).
    s.put(&format!("/v2.0/subnets/{sub}"), json!({"subnet": {"enable_dhcp": false}})).await;
    wait_for(&s, &net, "DHCP port gone", |p| p.is_empty()).await;
    let (_, b) = s.get(&format!("/v2.0/networks/{net}/dhcp-agents")).await;
    assert_eq!(b["agents"][0]["id"], dhcp2.as_str());

    // An operator may host a network before it has a subnet; the passes keep it there.
    let bare = s.network("bare").await;
    let (st, b) = s.post(&format!("/v2.0/agents/{dhcp2}/dhcp-networks"), json!({"network_id": bare})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, b) = s.get(&format!("/v2.0/agents/{dhcp2}/dhcp-networks")).await;
    assert!(b["networks"].as_array().unwrap().iter().any(|n| n["id"] == bare.as_str()), "{b}");
    assert!(dhcp_ports(&s, &bare).await.is_empty(), "no DHCP port without a DHCP subnet");
}

/// A new DHCP subnet gives the network's DHCP port one more address, and a subnet that stops
/// serving DHCP takes its address back: the same port throughout (its MAC and the server's
/// address stay what the guests know), never a moment without one.
#[tokio::test]
async fn dhcp_ports_follow_subnet_changes_in_place() {
    let s = TestServer::start_with(|c| c.agent_down_time = 30).await;
    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    s.post("/agent/v1/agents/report", dhcp_report("compute-1")).await;
    let net = s.network("n").await;
    let first = s.subnet(&net, "10.7.0.0/24", json!({})).await;
    let ports = wait_for(&s, &net, "a DHCP port", |p| p.len() == 1).await;
    let id = ports[0]["id"].clone();
    let second = s.subnet(&net, "10.8.0.0/24", json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ports = dhcp_ports(&s, &net).await;
        assert_eq!(ports.len(), 1, "always exactly one DHCP port: {ports:?}");
        assert_eq!(ports[0]["id"], id, "the same port");
        let subnets: Vec<&str> =
            ports[0]["fixed_ips"].as_array().unwrap().iter().map(|f| f["subnet_id"].as_str().unwrap()).collect();
        if subnets == [first.as_str(), second.as_str()] {
            break;
        }
        assert!(Instant::now() < deadline, "no address on the new subnet: {ports:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.put(&format!("/v2.0/subnets/{first}"), json!({"subnet": {"enable_dhcp": false}})).await;
    let ports = wait_for(&s, &net, "the address on the first subnet released", |p| {
        p.len() == 1 && p[0]["fixed_ips"].as_array().unwrap().len() == 1
    })
    .await;
    assert_eq!(ports[0]["id"], id);
    assert_eq!(ports[0]["fixed_ips"][0]["subnet_id"], second.as_str());
}

fn ext_report(host: &str, ip: &str) -> Value {
    let mut r = l2_report(host, ip);
    r["configurations"]["interface_mappings"] = json!({"external": "eth1"});
    r
}

#[tokio::test]
async fn routers_are_scheduled_with_their_ports_and_hosts_get_filters() {
    let s = TestServer::start().await;
    s.post("/agent/v1/agents/report", ext_report("net-1", "198.18.1.1")).await;
    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.2")).await;
    let (st, b) = s.post("/agent/v1/agents/report", l3_report("net-1")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let l3 = b["agent_id"].as_str().unwrap().to_string();

    let (_, ext) = s
        .post(
            "/v2.0/networks",
            json!({"network": {"name": "public", "router:external": true,
            "provider:network_type": "flat", "provider:physical_network": "external"}}),
        )
        .await;
    let ext_id = ext["network"]["id"].as_str().unwrap().to_string();
    s.subnet(
        &ext_id,
        "203.0.113.0/24",
        json!({"enable_dhcp": false, "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.100"}]}),
    )
    .await;
    let net = s.network("inside").await;
    let sub = s.subnet(&net, "10.50.0.0/24", json!({"enable_dhcp": false})).await;
    let (_, r) = s
        .post("/v2.0/routers", json!({"router": {"name": "r", "external_gateway_info": {"network_id": ext_id}}}))
        .await;
    let router = r["router"]["id"].as_str().unwrap().to_string();
    let (st, b) = s.put(&format!("/v2.0/routers/{router}/add_router_interface"), json!({"subnet_id": sub})).await;
    assert_eq!(st, StatusCode::OK, "{b}");

    // Scheduled to net-1's L3 agent; its ports bound there.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = s.get(&format!("/v2.0/routers/{router}/l3-agents")).await;
        let (_, p) = s.get(&format!("/v2.0/ports?device_id={router}")).await;
        let bound = p["ports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["binding:host_id"] == "net-1" && p["binding:vif_type"] == "bridge");
        if b["agents"][0]["id"] == l3.as_str() && bound && p["ports"].as_array().unwrap().len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "not scheduled: {b} {p}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, b) = s.get(&format!("/v2.0/agents/{l3}/l3-routers")).await;
    assert_eq!(b["routers"][0]["id"], router.as_str());

    // A VM port with a floating IP and a port forwarding.
    let vm = bound_port(&s, &net, "compute-1").await;
    let (_, f) =
        s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": ext_id, "port_id": vm["id"]}})).await;
    let fip = f["floatingip"]["floating_ip_address"].as_str().unwrap().to_string();
    let vm2 = bound_port(&s, &net, "compute-1").await;
    let (_, f2) = s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": ext_id}})).await;
    let (st, b) = s
        .post(
            &format!("/v2.0/floatingips/{}/port_forwardings", f2["floatingip"]["id"].as_str().unwrap()),
            json!({"port_forwarding": {"protocol": "tcp", "external_port": 2222, "internal_port": 22,
                   "internal_ip_address": vm2["fixed_ips"][0]["ip_address"], "internal_port_id": vm2["id"]}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");

    let st_net = state(&s, "net-1").await;
    let rs = &st_net["routers"][0];
    assert_eq!(rs["id"], router.as_str());
    assert_eq!(rs["gateway"]["enable_snat"], true);
    assert_eq!(rs["gateway"]["gateway_ips"], json!(["203.0.113.1"]));
    assert!(rs["gateway"]["port"]["addresses"][0].as_str().unwrap().ends_with("/24"));
    assert_eq!(rs["interfaces"][0]["addresses"], json!(["10.50.0.1/24"]));
    assert_eq!(rs["interfaces"][0]["cidrs"], json!(["10.50.0.0/24"]));
    assert_eq!(rs["floating_ips"][0]["floating_ip_address"], fip.as_str());
    assert_eq!(rs["floating_ips"][0]["fixed_ip_address"], vm["fixed_ips"][0]["ip_address"]);
    assert_eq!(rs["port_forwardings"][0]["external_port"], 2222);
    assert_eq!(rs["port_forwardings"][0]["floating_ip_address"], f2["floatingip"]["floating_ip_address"]);
    assert_eq!(rs["port_forwardings"][0]["internal_port"], 22);

    // compute-1's filters: its VM port with the default group, and that group's members.
    let st_c = state(&s, "compute-1").await;
    let ps = st_c["port_security"].as_array().unwrap().iter().find(|p| p["port_id"] == vm["id"]).unwrap().clone();
    assert_eq!(ps["port_security_enabled"], true);
    let group = ps["security_group_ids"][0].as_str().unwrap();
    let g = st_c["security_groups"].as_array().unwrap().iter().find(|g| g["id"] == group).unwrap();
    assert_eq!(g["rules"].as_array().unwrap().len(), 4, "Neutron's default group: {g}");
    assert!(g["rules"].as_array().unwrap().iter().any(|r| r["remote_group_id"] == group));
    let mut members = vec![vm["fixed_ips"][0]["ip_address"].clone(), vm2["fixed_ips"][0]["ip_address"].clone()];
    members.sort_by_key(|v| v.as_str().unwrap().to_string());
    assert_eq!(st_c["group_members"][group], json!(members));

    assert_error(
        &s.post(&format!("/v2.0/agents/{l3}/l3-routers"), json!({"router_id": router})).await,
        409,
        "RouterHostedByL3Agent",
    );
    let (st, _) = s.delete(&format!("/v2.0/agents/{l3}/l3-routers/{router}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_network_whose_dhcp_port_gets_no_address_blocks_no_other() {
    let s = TestServer::start().await;
    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    let no_pools = s.network("no-pools").await;
    s.subnet(&no_pools, "10.61.0.0/24", json!({"allocation_pools": []})).await;
    let full = s.network("full").await;
    let sub = s.subnet(&full, "10.62.0.0/30", json!({})).await;
    let (st, b) = s.post("/v2.0/ports", json!({"port": {"network_id": full}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["port"]["fixed_ips"][0]["subnet_id"], sub.as_str());
    let ok = s.network("ok").await;
    s.subnet(&ok, "10.63.0.0/24", json!({})).await;

    let (st, b) = s.post("/agent/v1/agents/report", dhcp_report("compute-1")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let agent = b["agent_id"].as_str().unwrap().to_string();
    let ports = wait_for(&s, &ok, "a DHCP port on the healthy network", |p| p.len() == 1).await;
    assert_eq!(ports[0]["binding:host_id"], "compute-1");
    for net in [&no_pools, &full] {
        assert!(dhcp_ports(&s, net).await.is_empty(), "no DHCP port without an address");
        let (_, b) = s.get(&format!("/v2.0/networks/{net}/dhcp-agents")).await;
        assert_eq!(b["agents"][0]["id"], agent.as_str(), "the network stays scheduled: {b}");
    }
}

#[tokio::test]
async fn a_hosts_filters_carry_the_address_groups_its_rules_name_and_wake_on_their_change() {
    let s = TestServer::start().await;
    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    let net = s.network("n").await;
    s.subnet(&net, "10.60.0.0/24", json!({"enable_dhcp": false})).await;
    let (_, g) =
        s.post("/v2.0/address-groups", json!({"address_group": {"addresses": ["10.5.0.0/16", "2001:db8::/64"]}})).await;
    let ag = g["address_group"]["id"].as_str().unwrap().to_string();
    let (_, unused) = s.post("/v2.0/address-groups", json!({"address_group": {"addresses": ["10.6.0.0/16"]}})).await;
    let (_, sg) = s.post("/v2.0/security-groups", json!({"security_group": {"name": "web"}})).await;
    let sg = sg["security_group"]["id"].as_str().unwrap().to_string();
    let rule = json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp",
        "port_range_min": 80, "port_range_max": 80, "remote_address_group_id": ag}});
    let (st, r) = s.post("/v2.0/security-group-rules", rule).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let (st, p) = s
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "binding:host_id": "compute-1", "security_groups": [sg]}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");

    let st_c = state(&s, "compute-1").await;
    let g = st_c["security_groups"].as_array().unwrap().iter().find(|g| g["id"] == sg.as_str()).unwrap();
    let r = g["rules"].as_array().unwrap().iter().find(|r| r["protocol"] == "tcp").unwrap();
    assert_eq!(r["remote_address_group_id"], ag.as_str());
    // Only the groups its rules name, with their addresses.
    assert_eq!(st_c["address_groups"], json!({ ag.as_str(): ["10.5.0.0/16", "2001:db8::/64"] }));
    assert!(st_c["address_groups"].get(unused["address_group"]["id"].as_str().unwrap()).is_none());

    // A change of the group's addresses answers the host's watch at once.
    let fp = st_c["fingerprint"].as_str().unwrap().to_string();
    let url = format!("{}/agent/v1/hosts/compute-1/state?known={fp}&wait=20", s.url);
    let http = s.http.clone();
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let res = http.get(url).send().await.unwrap();
        (res.status(), res.json::<Value>().await.unwrap(), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (st, _) = s.put(&format!("/v2.0/address-groups/{ag}/add_addresses"), json!({"addresses": ["10.7.7.7"]})).await;
    assert_eq!(st, StatusCode::OK);
    let (status, body, took) = poll.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(took < Duration::from_secs(5), "answered on the change, not the timeout: {took:?}");
    assert_eq!(body["address_groups"][ag.as_str()], json!(["10.5.0.0/16", "10.7.7.7/32", "2001:db8::/64"]));
}

#[tokio::test]
async fn an_agents_conditions_show_in_its_configurations_until_a_report_without_them() {
    let s = TestServer::start_with(|c| {
        c.agent_max_conditions = 2;
        c.agent_condition_max_length = 10;
    })
    .await;
    let mut report = l2_report("compute-1", "198.18.1.1");
    report["conditions"] = json!([
        {"subsystem": "l3", "object": {"type": "router", "id": "r1"}, "reason": "router r1: no gateway port"},
        {"subsystem": "check", "object": {"type": "check", "id": "mtu"}, "reason": "mtu too small"},
        {"subsystem": "l2", "object": {"type": "host"}, "reason": "dropped: over the cap"},
    ]);
    let (st, b) = s.post("/agent/v1/agents/report", report.clone()).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let id = b["agent_id"].as_str().unwrap().to_string();

    let (st, b) = s.get(&format!("/v2.0/agents/{id}")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let conditions = b["agent"]["configurations"]["neutrino_conditions"].as_array().unwrap().clone();
    assert_eq!(conditions.len(), 2, "capped at agent_max_conditions: {conditions:?}");
    assert_eq!(conditions[0]["subsystem"], "l3");
    assert_eq!(conditions[0]["object"], json!({"type": "router", "id": "r1"}));
    assert_eq!(conditions[0]["reason"], "router r1:", "cut at agent_condition_max_length");
    assert_eq!(conditions[0]["since"].as_str().unwrap().len(), 19, "Neutron's timestamp format");
    assert_eq!(conditions[1]["object"], json!({"type": "check", "id": "mtu"}));
    // The reach is shown as before, beside them; the list shows them too.
    assert_eq!(b["agent"]["configurations"]["tunneling_ip"], "198.18.1.1");
    let (_, list) = s.get("/v2.0/agents?host=compute-1").await;
    assert_eq!(list["agents"][0]["configurations"]["neutrino_conditions"], json!(conditions));

    // The same problem reported again keeps its `since`.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    s.post("/agent/v1/agents/report", report).await;
    let (_, b) = s.get(&format!("/v2.0/agents/{id}")).await;
    assert_eq!(b["agent"]["configurations"]["neutrino_conditions"], json!(conditions));

    // Healed: a report without conditions clears them.
    let (st, _) = s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    assert_eq!(st, StatusCode::OK);
    let (_, b) = s.get(&format!("/v2.0/agents/{id}")).await;
    assert_eq!(b["agent"]["configurations"]["neutrino_conditions"], json!([]));
}
