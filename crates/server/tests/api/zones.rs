//! Availability zones: listed from the DHCP and L3 agents' zones (and filtered), hints on
//! networks and routers checked against them and honoured by the schedulers, and the
//! zones of the agents serving a network or router shown on it.

use crate::common::{assert_error, assert_error_message, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn report(host: &str, agent_type: &str, zone: &str) -> Value {
    let configurations = match agent_type {
        "Linux bridge agent" => json!({"tunnel_types": ["vxlan"], "tunneling_ip": format!("198.18.1.{}", host.len()),
            "l2_population": true, "interface_mappings": {"external": "eth1"}, "devices": 0}),
        "DHCP agent" => json!({"dhcp_driver": "dnsmasq", "dhcp_lease_duration": 86400, "networks": 0,
            "subnets": 0, "ports": 0, "notifies_port_ready": true}),
        _ => json!({"agent_mode": "legacy", "routers": 0}),
    };
    json!({"host": host, "agent_type": agent_type, "binary": "neutrino-agent", "start_flag": true,
           "availability_zone": zone, "configurations": configurations})
}

/// A host with an L2 agent and a DHCP or L3 agent in `zone`; the agent's id.
async fn host(s: &TestServer, name: &str, agent_type: &str, zone: &str) -> String {
    let mut l2 = report(name, "Linux bridge agent", "");
    l2["configurations"]["tunneling_ip"] = json!(format!("198.18.2.{}", name.bytes().last().unwrap()));
    assert_eq!(s.post("/agent/v1/agents/report", l2).await.0, StatusCode::OK);
    let (st, b) = s.post("/agent/v1/agents/report", report(name, agent_type, zone)).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b["agent_id"].as_str().unwrap().to_string()
}

async fn wait_for(s: &TestServer, path: &str, key: &str, want: Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = s.get(path).await;
        if b[key]["availability_zones"] == want {
            return b;
        }
        assert!(Instant::now() < deadline, "{path}: {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn zones_are_listed_per_resource_and_filtered() {
    let s = TestServer::start().await;
    host(&s, "host-a", "DHCP agent", "az-1").await;
    host(&s, "host-b", "L3 agent", "az-2").await;
    let disabled = host(&s, "host-c", "DHCP agent", "az-2").await;
    host(&s, "host-d", "DHCP agent", "").await;
    let (st, _) = s.put(&format!("/v2.0/agents/{disabled}"), json!({"agent": {"admin_state_up": false}})).await;
    assert_eq!(st, StatusCode::OK);
    let (st, l) = s.get("/v2.0/availability_zones").await;
    assert_eq!(st, StatusCode::OK, "{l}");
    let all = json!([
        {"name": "az-1", "resource": "network", "state": "available"},
        {"name": "az-2", "resource": "network", "state": "unavailable"},
        {"name": "az-2", "resource": "router", "state": "available"},
    ]);
    assert_eq!(l["availability_zones"], all);
    let (_, l) = s.get("/v2.0/availability_zones?name=az-2&resource=router").await;
    assert_eq!(l["availability_zones"], json!([all[2]]));
    let (_, l) = s.get("/v2.0/availability_zones?state=unavailable&fields=name").await;
    assert_eq!(l["availability_zones"], json!([{"name": "az-2"}]));
    let (_, l) = s.get("/v2.0/availability_zones?resource=network&resource=router&name=az-1").await;
    assert_eq!(l["availability_zones"], json!([all[0]]));
    let bad = s.get("/v2.0/availability_zones?bogus=1").await;
    assert_error_message(&bad, 400, "HTTPBadRequest", "['bogus'] is invalid attribute for filtering");
}

#[tokio::test]
async fn members_read_zones() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let h = [("X-Auth-Token", admin.as_str())];
    let (st, _) =
        s.call_with(Method::POST, "/agent/v1/agents/report", Some(report("h1", "L3 agent", "az-1")), &h).await;
    assert_eq!(st, StatusCode::OK);
    let (member, _) = s.member(&admin, "project-b", "bob", "member").await;
    let (st, l) = s.call_with(Method::GET, "/v2.0/availability_zones", None, &[("X-Auth-Token", &member)]).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(l["availability_zones"], json!([{"name": "az-1", "resource": "router", "state": "available"}]));
}

#[tokio::test]
async fn hints_must_name_zones_of_the_right_agents() {
    let s = TestServer::start().await;
    host(&s, "host-a", "DHCP agent", "az-1").await;
    host(&s, "host-b", "L3 agent", "az-2").await;
    let (st, n) = s.post("/v2.0/networks", json!({"network": {"availability_zone_hints": ["az-1"]}})).await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    assert_eq!(
        (&n["network"]["availability_zone_hints"], &n["network"]["availability_zones"]),
        (&json!(["az-1"]), &json!([]))
    );
    let missing = s.post("/v2.0/networks", json!({"network": {"availability_zone_hints": ["az-1", "az-2"]}})).await;
    assert_error_message(&missing, 404, "AvailabilityZoneNotFound", "AvailabilityZone az-2 could not be found.");
    let (st, r) = s.post("/v2.0/routers", json!({"router": {"availability_zone_hints": ["az-2"]}})).await;
    assert_eq!((st, &r["router"]["availability_zone_hints"]), (StatusCode::CREATED, &json!(["az-2"])), "{r}");
    assert_error(
        &s.post("/v2.0/routers", json!({"router": {"availability_zone_hints": ["az-1"]}})).await,
        404,
        "AvailabilityZoneNotFound",
    );
    let (_, plain) = s.post("/v2.0/routers", json!({"router": {"name": "r"}})).await;
    assert_eq!(plain["router"]["availability_zone_hints"], json!([]));

    let not_list = s.post("/v2.0/networks", json!({"network": {"availability_zone_hints": "az-1"}})).await;
    assert_error_message(
        &not_list,
        400,
        "HTTPBadRequest",
        "Invalid input for availability_zone_hints. Reason: 'az-1' is not a list.",
    );
    let dup = s.post("/v2.0/networks", json!({"network": {"availability_zone_hints": ["az-1", "az-1"]}})).await;
    assert_error_message(
        &dup,
        400,
        "HTTPBadRequest",
        "Invalid input for availability_zone_hints. Reason: Duplicate items in the list: 'az-1'.",
    );
    let long = s.post("/v2.0/routers", json!({"router": {"availability_zone_hints": ["a".repeat(300)]}})).await;
    assert_error_message(
        &long,
        400,
        "InvalidInput",
        "Invalid input for operation: Too many availability_zone_hints specified.",
    );
    let net = n["network"]["id"].as_str().unwrap();
    let update = s.put(&format!("/v2.0/networks/{net}"), json!({"network": {"availability_zone_hints": []}})).await;
    assert_error(&update, 400, "HTTPBadRequest");
}

#[tokio::test]
async fn dhcp_agents_follow_hints_and_networks_show_their_zones() {
    let s = TestServer::start_with(|c| c.dhcp_agents_per_network = 2).await;
    host(&s, "host-1", "DHCP agent", "az-1").await;
    host(&s, "host-2", "DHCP agent", "az-1").await;
    host(&s, "host-3", "DHCP agent", "az-2").await;
    let (_, n) = s.post("/v2.0/networks", json!({"network": {"availability_zone_hints": ["az-2"]}})).await;
    let hinted = n["network"]["id"].as_str().unwrap().to_string();
    s.subnet(&hinted, "10.1.0.0/24", json!({})).await;
    let shown = wait_for(&s, &format!("/v2.0/networks/{hinted}"), "network", json!(["az-2"])).await;
    assert_eq!(shown["network"]["revision_number"], json!(1), "zones are computed, not a revision: {shown}");
    let (_, agents) = s.get(&format!("/v2.0/networks/{hinted}/dhcp-agents")).await;
    let hosts: Vec<&str> = agents["agents"].as_array().unwrap().iter().map(|a| a["host"].as_str().unwrap()).collect();
    assert_eq!(hosts, ["host-3"], "only the hinted zone, even short of two agents");

    // Without hints, two agents spread over both zones.
    let free = s.network("free").await;
    s.subnet(&free, "10.2.0.0/24", json!({})).await;
    wait_for(&s, &format!("/v2.0/networks/{free}"), "network", json!(["az-1", "az-2"])).await;
}

#[tokio::test]
async fn l3_agents_follow_hints_and_routers_show_their_zone() {
    let s = TestServer::start().await;
    host(&s, "host-1", "L3 agent", "az-1").await;
    host(&s, "host-2", "L3 agent", "az-2").await;
    let (_, ext) = s
        .post("/v2.0/networks", json!({"network": {"router:external": true, "provider:network_type": "flat", "provider:physical_network": "external"}}))
        .await;
    let ext = ext["network"]["id"].as_str().unwrap().to_string();
    s.subnet(&ext, "203.0.113.0/24", json!({"enable_dhcp": false})).await;
    for zone in ["az-1", "az-2"] {
        let body = json!({"router": {"availability_zone_hints": [zone], "external_gateway_info": {"network_id": ext}}});
        let (st, r) = s.post("/v2.0/routers", body).await;
        assert_eq!(st, StatusCode::CREATED, "{r}");
        let id = r["router"]["id"].as_str().unwrap();
        wait_for(&s, &format!("/v2.0/routers/{id}"), "router", json!([zone])).await;
        let (_, agents) = s.get(&format!("/v2.0/routers/{id}/l3-agents")).await;
        assert_eq!(agents["agents"][0]["availability_zone"], json!(zone));
    }
}
