use crate::common::{assert_error, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn external_network(s: &TestServer) -> (String, String) {
    let (st, n) = s.post("/v2.0/networks", json!({"network": {"name": "public", "router:external": true}})).await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    let net = n["network"]["id"].as_str().unwrap().to_string();
    let sub = s.subnet(&net, "203.0.113.0/24", json!({"enable_dhcp": false})).await;
    (net, sub)
}

async fn router(s: &TestServer, body: Value) -> Value {
    let (st, r) = s.post("/v2.0/routers", json!({"router": body})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    r["router"].clone()
}

async fn action(s: &TestServer, router: &str, action: &str, body: Value) -> (StatusCode, Value) {
    s.call(Method::PUT, &format!("/v2.0/routers/{router}/{action}"), Some(body)).await
}

#[tokio::test]
async fn gateway_and_interfaces() {
    let s = TestServer::start().await;
    let (ext, ext_sub) = external_network(&s).await;
    let r = router(&s, json!({"name": "r1", "external_gateway_info": {"network_id": ext}})).await;
    let rid = r["id"].as_str().unwrap().to_string();
    let gw = &r["external_gateway_info"];
    assert_eq!(gw["network_id"], ext.as_str());
    assert_eq!(gw["enable_snat"], true);
    assert_eq!(gw["external_fixed_ips"][0]["subnet_id"], ext_sub.as_str());
    assert_eq!(gw["external_fixed_ips"][0]["ip_address"], "203.0.113.2");
    assert_eq!(r["status"], "ACTIVE");
    let (_, gwp) = s.get(&format!("/v2.0/ports?device_id={rid}&device_owner=network:router_gateway")).await;
    assert_eq!(gwp["ports"].as_array().unwrap().len(), 1);

    let net = s.network("private").await;
    let sub = s.subnet(&net, "10.60.0.0/24", json!({})).await;
    let (st, body) = action(&s, &rid, "add_router_interface", json!({"subnet_id": sub})).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "subnet_id", "subnet_ids", "port_id", "network_id", "project_id", "tenant_id", "tags"]);
    assert_eq!(body["id"], rid.as_str());
    assert_eq!(body["subnet_ids"], json!([sub]));
    assert_eq!(body["network_id"], net.as_str());
    let port_id = body["port_id"].as_str().unwrap().to_string();
    let (_, p) = s.get(&format!("/v2.0/ports/{port_id}")).await;
    assert_eq!(p["port"]["fixed_ips"][0]["ip_address"], "10.60.0.1");
    assert_eq!(p["port"]["device_owner"], "network:router_interface");

    // Conflicts.
    assert_error(&action(&s, &rid, "add_router_interface", json!({"subnet_id": sub})).await, 400, "BadRequest");
    let net2 = s.network("overlap").await;
    let sub2 = s.subnet(&net2, "10.60.0.0/16", json!({})).await;
    assert_error(&action(&s, &rid, "add_router_interface", json!({"subnet_id": sub2})).await, 400, "BadRequest");
    assert_error(&action(&s, &rid, "add_router_interface", json!({})).await, 400, "BadRequest");
    assert_error(
        &action(&s, &rid, "add_router_interface", json!({"subnet_id": sub, "port_id": port_id})).await,
        400,
        "BadRequest",
    );
    assert_error(&s.delete(&format!("/v2.0/routers/{rid}")).await, 409, "RouterInUse");
    assert_error(&s.delete(&format!("/v2.0/ports/{port_id}")).await, 409, "L3PortInUse");
    assert_error(&s.delete(&format!("/v2.0/networks/{net}")).await, 409, "NetworkInUse");
    assert_error(&s.delete(&format!("/v2.0/subnets/{sub}")).await, 409, "SubnetInUse");
    assert_error(
        &s.put(&format!("/v2.0/networks/{ext}"), json!({"network": {"router:external": false}})).await,
        409,
        "ExternalNetworkInUse",
    );

    // Extra routes go through a connected subnet, and keep their interface.
    assert_error(
        &s.put(
            &format!("/v2.0/routers/{rid}"),
            json!({"router": {"routes": [{"destination": "192.168.0.0/16", "nexthop": "10.99.0.5"}]}}),
        )
        .await,
        400,
        "InvalidRoutes",
    );
    let (st, u) = s
        .put(
            &format!("/v2.0/routers/{rid}"),
            json!({"router": {"routes": [{"destination": "192.168.0.0/16", "nexthop": "10.60.0.5"}]}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_error(
        &action(&s, &rid, "remove_router_interface", json!({"subnet_id": sub})).await,
        409,
        "RouterInterfaceInUseByRoute",
    );
    let (st, u) = action(
        &s,
        &rid,
        "remove_extraroutes",
        json!({"router": {"routes": [{"destination": "192.168.0.0/16", "nexthop": "10.60.0.5"}]}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["router"]["routes"], json!([]));
    let (st, u) = action(
        &s,
        &rid,
        "add_extraroutes",
        json!({"router": {"routes": [{"destination": "172.16.0.0/12", "nexthop": "10.60.0.6"}]}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["router"]["routes"].as_array().unwrap().len(), 1);
    action(
        &s,
        &rid,
        "remove_extraroutes",
        json!({"router": {"routes": [{"destination": "172.16.0.0/12", "nexthop": "10.60.0.6"}]}}),
    )
    .await;

    // Removal: by subnet answers the same body; unknown ones are 404.
    let (st, removed) = action(&s, &rid, "remove_router_interface", json!({"subnet_id": sub})).await;
    assert_eq!(st, StatusCode::OK, "{removed}");
    assert_eq!(removed["port_id"], port_id.as_str());
    assert_error(&s.get(&format!("/v2.0/ports/{port_id}")).await, 404, "PortNotFound");
    assert_error(
        &action(&s, &rid, "remove_router_interface", json!({"subnet_id": sub})).await,
        404,
        "RouterInterfaceNotFoundForSubnet",
    );
    assert_error(
        &action(&s, &rid, "remove_router_interface", json!({"port_id": port_id})).await,
        404,
        "RouterInterfaceNotFound",
    );

    // By port: the port becomes the interface.
    let (_, p) = s
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": sub, "ip_address": "10.60.0.254"}]}}),
        )
        .await;
    let pid = p["port"]["id"].as_str().unwrap().to_string();
    let (st, body) = action(&s, &rid, "add_router_interface", json!({"port_id": pid})).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["subnet_id"], sub.as_str());
    let (_, p) = s.get(&format!("/v2.0/ports/{pid}")).await;
    assert_eq!(p["port"]["device_id"], rid.as_str());
    assert_eq!(p["port"]["security_groups"], json!([]));
    let (_, other) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "device_id": "vm-1"}})).await;
    assert_error(
        &action(&s, &rid, "add_router_interface", json!({"port_id": other["port"]["id"]})).await,
        409,
        "PortInUse",
    );
    assert_eq!(action(&s, &rid, "remove_router_interface", json!({"port_id": pid})).await.0, StatusCode::OK);

    // Clearing the gateway frees its address; then the router deletes.
    let (st, u) = s.put(&format!("/v2.0/routers/{rid}"), json!({"router": {"external_gateway_info": null}})).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["router"]["external_gateway_info"], Value::Null);
    let (_, gwp) = s.get(&format!("/v2.0/ports?device_id={rid}")).await;
    assert_eq!(gwp["ports"].as_array().unwrap().len(), 0);
    assert_eq!(s.delete(&format!("/v2.0/routers/{rid}")).await.0, StatusCode::NO_CONTENT);
    assert_error(&s.get(&format!("/v2.0/routers/{rid}")).await, 404, "RouterNotFound");
}

#[tokio::test]
async fn gateway_validation() {
    let s = TestServer::start().await;
    let internal = s.network("internal").await;
    let (st, r) = s.post("/v2.0/routers", json!({"router": {"external_gateway_info": {"network_id": internal}}})).await;
    assert_error(&(st, r), 400, "BadRequest");
    let (_, list) = s.get("/v2.0/routers").await;
    assert_eq!(list["routers"].as_array().unwrap().len(), 0, "a failed create leaves nothing");
    let (ext, ext_sub) = external_network(&s).await;
    let r = router(&s, json!({"external_gateway_info": {"network_id": ext, "enable_snat": false, "external_fixed_ips": [{"subnet_id": ext_sub, "ip_address": "203.0.113.77"}]}})).await;
    assert_eq!(r["external_gateway_info"]["enable_snat"], false);
    assert_eq!(r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"], "203.0.113.77");
    assert_error(
        &s.post("/v2.0/routers", json!({"router": {"external_gateway_info": {"bogus": 1}}})).await,
        400,
        "HTTPBadRequest",
    );
}

#[tokio::test]
async fn an_empty_gateway_clears_it() {
    let s = TestServer::start().await;
    let (ext, _) = external_network(&s).await;
    let r = router(&s, json!({"external_gateway_info": {"network_id": ext}})).await;
    let (st, u) = s
        .put(&format!("/v2.0/routers/{}", r["id"].as_str().unwrap()), json!({"router": {"external_gateway_info": {}}}))
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["router"]["external_gateway_info"], Value::Null);
}

/// The host's firewall trusts a router's ports only when the server placed them there (the
/// host's L3 agent runs the router); a port that merely calls itself a router interface,
/// bound to the same host, keeps its filtering.
#[tokio::test]
async fn only_the_routers_own_ports_go_unfiltered() {
    let s = TestServer::start().await;
    for report in [
        json!({"host": "net-1", "agent_type": "Linux bridge agent", "binary": "neutrino-agent", "start_flag": true,
               "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": "198.18.9.1", "interface_mappings": {}}}),
        json!({"host": "net-1", "agent_type": "L3 agent", "binary": "neutrino-agent", "start_flag": true,
               "configurations": {"agent_mode": "legacy", "routers": 0}}),
    ] {
        let (st, b) = s.post("/agent/v1/agents/report", report).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let net = s.network("inside").await;
    let sub = s.subnet(&net, "10.60.0.0/24", json!({"enable_dhcp": false})).await;
    let (_, r) = s.post("/v2.0/routers", json!({"router": {"name": "r"}})).await;
    let router = r["router"]["id"].as_str().unwrap().to_string();
    let (st, b) = s.put(&format!("/v2.0/routers/{router}/add_router_interface"), json!({"subnet_id": sub})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let interface = b["port_id"].as_str().unwrap().to_string();
    let (st, p) = s
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "binding:host_id": "net-1", "device_owner": "network:router_interface",
                   "device_id": "not-a-router"}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let impostor = p["port"]["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, state) = s.get("/agent/v1/hosts/net-1/state").await;
        let entry =
            |id: &str| state["port_security"].as_array().and_then(|ps| ps.iter().find(|p| p["port_id"] == id).cloned());
        if let (Some(own), Some(other)) = (entry(&interface), entry(&impostor)) {
            assert_eq!(own["port_security_enabled"], false, "the router's interface: {own}");
            assert_eq!(other["port_security_enabled"], true, "a port calling itself one: {other}");
            assert_eq!(other["security_group_ids"].as_array().map(Vec::len), Some(1), "{other}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "router not scheduled to net-1: {state}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Adding or removing an interface revises the router (Neutron's `RouterPort` revises its
/// router): its `revision_number` grows, as neutron-tempest-plugin's
/// `test_update_router_bumps_revision` checks.
#[tokio::test]
async fn interfaces_revise_the_router() {
    let s = TestServer::start().await;
    let r = router(&s, json!({"name": "r"})).await;
    let rid = r["id"].as_str().unwrap().to_string();
    let r0 = revision(&s, &rid).await;
    let net = s.network("n").await;
    let sub = s.subnet(&net, "10.61.0.0/24", json!({})).await;
    let (st, b) = action(&s, &rid, "add_router_interface", json!({"subnet_id": sub})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let r1 = revision(&s, &rid).await;
    assert!(r1 > r0, "{r0} -> {r1}");

    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net}})).await;
    let pid = p["port"]["id"].as_str().unwrap().to_string();
    let net2 = s.network("n2").await;
    s.subnet(&net2, "10.62.0.0/24", json!({})).await;
    let (_, p2) = s.post("/v2.0/ports", json!({"port": {"network_id": net2}})).await;
    let pid2 = p2["port"]["id"].as_str().unwrap().to_string();
    let (st, b) = action(&s, &rid, "add_router_interface", json!({"port_id": pid2})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let r2 = revision(&s, &rid).await;
    assert!(r2 > r1, "{r1} -> {r2}");

    let (st, b) = action(&s, &rid, "remove_router_interface", json!({"subnet_id": sub})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let r3 = revision(&s, &rid).await;
    assert!(r3 > r2, "{r2} -> {r3}");
    // A refused change revises nothing.
    assert_error(
        &action(&s, &rid, "remove_router_interface", json!({"port_id": pid})).await,
        404,
        "RouterInterfaceNotFound",
    );
    assert_eq!(revision(&s, &rid).await, r3);
}

/// `/v2.0/routers/{id}/tags` is the tags API, not a router action (it answered 404).
#[tokio::test]
async fn router_tags() {
    let s = TestServer::start().await;
    let rid = router(&s, json!({"name": "r"})).await["id"].as_str().unwrap().to_string();
    let (st, b) = s.put(&format!("/v2.0/routers/{rid}/tags"), json!({"tags": ["red", "blue"]})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let mut tags: Vec<String> = serde_json::from_value(b["tags"].clone()).unwrap();
    tags.sort();
    assert_eq!(tags, ["blue", "red"]);
    let (st, b) = s.get(&format!("/v2.0/routers/{rid}/tags")).await;
    assert_eq!((st, b["tags"].as_array().unwrap().len()), (StatusCode::OK, 2), "{b}");
    let (st, _) = s.call(Method::PUT, &format!("/v2.0/routers/{rid}/tags/green"), None).await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = s.call(Method::GET, &format!("/v2.0/routers/{rid}/tags/green"), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.call(Method::DELETE, &format!("/v2.0/routers/{rid}/tags"), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, r) = s.get(&format!("/v2.0/routers/{rid}")).await;
    assert_eq!(r["router"]["tags"], json!([]));
}

async fn revision(s: &TestServer, router: &str) -> u64 {
    s.get(&format!("/v2.0/routers/{router}")).await.1["router"]["revision_number"].as_u64().unwrap()
}

/// A subnet's gateway may not move or go while a router interface holds it (Neutron's
/// `GatewayIpInUse`); before an interface is added it may.
#[tokio::test]
async fn a_routed_gateway_stays() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let pools = json!({"allocation_pools": [{"start": "10.63.0.58", "end": "10.63.0.62"}]});
    let sub = s.subnet(&net, "10.63.0.48/28", pools).await;
    let url = format!("/v2.0/subnets/{sub}");
    let (st, b) = s.put(&url, json!({"subnet": {"gateway_ip": "10.63.0.50"}})).await;
    assert_eq!(st, StatusCode::OK, "free to move without a router port: {b}");
    let rid = router(&s, json!({"name": "r"})).await["id"].as_str().unwrap().to_string();
    let (st, b) = action(&s, &rid, "add_router_interface", json!({"subnet_id": sub})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let port = b["port_id"].as_str().unwrap().to_string();
    let (st, b) = s.put(&url, json!({"subnet": {"gateway_ip": "10.63.0.52"}})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{b}");
    assert_eq!(
        b["NeutronError"],
        json!({"type": "GatewayIpInUse", "detail": "",
               "message": format!("Current gateway ip 10.63.0.50 already in use by port {port}. Unable to update.")})
    );
    assert_error(&s.put(&url, json!({"subnet": {"gateway_ip": null}})).await, 409, "GatewayIpInUse");
    // Naming the same gateway again is no change.
    let (st, b) = s.put(&url, json!({"subnet": {"gateway_ip": "10.63.0.50", "name": "x"}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
}

/// An external network without subnets still takes a router gateway, with no addresses
/// (Neutron's `_create_router_gw_port` only logs "No IPs available").
#[tokio::test]
async fn a_gateway_on_an_external_network_without_subnets() {
    let s = TestServer::start().await;
    let (st, n) = s.post("/v2.0/networks", json!({"network": {"name": "bare", "router:external": true}})).await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    let ext = n["network"]["id"].as_str().unwrap().to_string();
    let r = router(&s, json!({"name": "r", "external_gateway_info": {"network_id": ext}})).await;
    assert_eq!(r["external_gateway_info"]["network_id"], ext.as_str());
    assert_eq!(r["external_gateway_info"]["external_fixed_ips"], json!([]));
}
