use crate::common::{assert_error, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

pub(crate) struct Topology {
    pub(crate) ext: String,
    pub(crate) net: String,
    pub(crate) sub: String,
    pub(crate) router: String,
}

/// An external network, a router with its gateway there, and a private subnet behind it.
pub(crate) async fn topology(s: &TestServer, ext_cidr: &str, pool: Value) -> Topology {
    let (_, n) = s.post("/v2.0/networks", json!({"network": {"name": "public", "router:external": true}})).await;
    let ext = n["network"]["id"].as_str().unwrap().to_string();
    s.subnet(&ext, ext_cidr, json!({"enable_dhcp": false, "allocation_pools": pool})).await;
    let (_, r) =
        s.post("/v2.0/routers", json!({"router": {"name": "r", "external_gateway_info": {"network_id": ext}}})).await;
    let router = r["router"]["id"].as_str().unwrap().to_string();
    let net = s.network("private").await;
    let sub = s.subnet(&net, "10.70.0.0/24", json!({})).await;
    let (st, b) = s
        .call(Method::PUT, &format!("/v2.0/routers/{router}/add_router_interface"), Some(json!({"subnet_id": sub})))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    Topology { ext, net, sub, router }
}

#[tokio::test]
async fn allocate_associate_dissociate() {
    let s = TestServer::start().await;
    let t = topology(&s, "203.0.113.0/24", json!([{"start": "203.0.113.10", "end": "203.0.113.50"}])).await;
    let (st, f) = s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": t.ext}})).await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    let fip = f["floatingip"].clone();
    assert_eq!(fip["status"], "DOWN");
    assert_eq!(fip["port_id"], Value::Null);
    assert_eq!(fip["router_id"], Value::Null);
    assert!(fip["floating_ip_address"].as_str().unwrap().starts_with("203.0.113."));
    let id = fip["id"].as_str().unwrap().to_string();
    let path = format!("/v2.0/floatingips/{id}");

    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": t.net, "device_id": "vm-1"}})).await;
    let port = p["port"]["id"].as_str().unwrap().to_string();
    let fixed = p["port"]["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string();
    let (st, a) = s.put(&path, json!({"floatingip": {"port_id": port}})).await;
    assert_eq!(st, StatusCode::OK, "{a}");
    assert_eq!(a["floatingip"]["router_id"], t.router.as_str());
    assert_eq!(a["floatingip"]["fixed_ip_address"], fixed.as_str());

    // Another floating IP on the same fixed IP: conflict.
    let (_, f2) = s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": t.ext}})).await;
    let path2 = format!("/v2.0/floatingips/{}", f2["floatingip"]["id"].as_str().unwrap());
    assert_error(
        &s.put(&path2, json!({"floatingip": {"port_id": port}})).await,
        409,
        "FloatingIPPortAlreadyAssociated",
    );
    // The router cannot lose what the floating IP needs.
    let iface = s
        .call(
            Method::PUT,
            &format!("/v2.0/routers/{}/remove_router_interface", t.router),
            Some(json!({"subnet_id": t.sub})),
        )
        .await;
    assert_error(&iface, 409, "RouterInterfaceInUseByFloatingIP");
    let gw = s.put(&format!("/v2.0/routers/{}", t.router), json!({"router": {"external_gateway_info": null}})).await;
    assert_error(&gw, 409, "RouterExternalGatewayInUseByFloatingIp");

    // Unreachable: a port on a network no router connects to the external network.
    let lone = s.network("lone").await;
    s.subnet(&lone, "10.71.0.0/24", json!({})).await;
    let (_, lp) = s.post("/v2.0/ports", json!({"port": {"network_id": lone}})).await;
    assert_error(
        &s.put(&path2, json!({"floatingip": {"port_id": lp["port"]["id"]}})).await,
        404,
        "ExternalGatewayForFloatingIPNotFound",
    );

    // Dissociate, then deleting the port is fine; deleting a port dissociates too.
    let (st, d) = s.put(&path, json!({"floatingip": {"port_id": null}})).await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["floatingip"]["port_id"], Value::Null);
    assert_eq!(d["floatingip"]["router_id"], Value::Null);
    s.put(&path, json!({"floatingip": {"port_id": port}})).await;
    assert_eq!(s.delete(&format!("/v2.0/ports/{port}")).await.0, StatusCode::NO_CONTENT);
    let (_, after) = s.get(&path).await;
    assert_eq!(after["floatingip"]["port_id"], Value::Null);
    // Release returns the address to the pool.
    let address = fip["floating_ip_address"].as_str().unwrap().to_string();
    assert_eq!(s.delete(&path).await.0, StatusCode::NO_CONTENT);
    let (st, again) = s
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext, "floating_ip_address": address}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{again}");
    assert_eq!(again["floatingip"]["floating_ip_address"], address.as_str());
}

#[tokio::test]
async fn floating_ips_need_an_external_network() {
    let s = TestServer::start().await;
    let internal = s.network("internal").await;
    assert_error(
        &s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": internal}})).await,
        400,
        "BadRequest",
    );
    assert_error(&s.post("/v2.0/floatingips", json!({"floatingip": {}})).await, 400, "HTTPBadRequest");
    assert_error(&s.get("/v2.0/floatingips/6f9d1c4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f").await, 404, "FloatingIPNotFound");
}

/// 20 racing allocations on an external subnet with 5 free addresses: exactly 5 win.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_allocations_never_share_an_address() {
    let s = TestServer::start().await;
    // The router's gateway takes one of six addresses, leaving five.
    let t = topology(&s, "198.51.100.0/24", json!([{"start": "198.51.100.10", "end": "198.51.100.15"}])).await;
    let calls = (0..20).map(|_| s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": t.ext}})));
    let results = futures::future::join_all(calls).await;
    let mut seen = HashSet::new();
    let mut failed = 0;
    for (st, b) in &results {
        match st.as_u16() {
            201 => assert!(seen.insert(b["floatingip"]["floating_ip_address"].as_str().unwrap().to_string())),
            409 => {
                assert_eq!(b["NeutronError"]["type"], "IpAddressGenerationFailure", "{b}");
                failed += 1;
            }
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert_eq!((seen.len(), failed), (5, 15));
}

#[tokio::test]
async fn port_forwardings() {
    let s = TestServer::start().await;
    let t = topology(&s, "203.0.113.0/24", json!([{"start": "203.0.113.10", "end": "203.0.113.50"}])).await;
    let (_, f) = s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": t.ext}})).await;
    let fip = f["floatingip"]["id"].as_str().unwrap().to_string();
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": t.net}})).await;
    let port = p["port"]["id"].as_str().unwrap().to_string();
    let ip = p["port"]["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string();
    let base = format!("/v2.0/floatingips/{fip}/port_forwardings");
    let pf = json!({"port_forwarding": {"protocol": "tcp", "external_port": 2222, "internal_port": 22, "internal_ip_address": ip, "internal_port_id": port}});
    let (st, created) = s.post(&base, pf.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let id = created["port_forwarding"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["port_forwarding"]["external_port"], 2222);
    assert!(created["port_forwarding"].get("project_id").is_none());
    assert_error(&s.post(&base, pf).await, 400, "BadRequest");
    let (_, f) = s.get(&format!("/v2.0/floatingips/{fip}")).await;
    assert_eq!(f["floatingip"]["router_id"], t.router.as_str());
    // A floating IP with forwardings cannot also be associated.
    assert_error(
        &s.put(&format!("/v2.0/floatingips/{fip}"), json!({"floatingip": {"port_id": port}})).await,
        409,
        "FipInUseByPortForwarding",
    );
    let bad_proto = json!({"port_forwarding": {"protocol": "icmp", "external_port": 1, "internal_port": 1, "internal_ip_address": ip, "internal_port_id": port}});
    assert_error(&s.post(&base, bad_proto).await, 400, "HTTPBadRequest");
    let wrong_ip = json!({"port_forwarding": {"protocol": "udp", "external_port": 53, "internal_port": 53, "internal_ip_address": "10.70.0.250", "internal_port_id": port}});
    assert_error(&s.post(&base, wrong_ip).await, 400, "BadRequest");
    let (st, u) = s.put(&format!("{base}/{id}"), json!({"port_forwarding": {"external_port": 2200}})).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["port_forwarding"]["external_port"], 2200);
    let (_, list) = s.get(&base).await;
    assert_eq!(list["port_forwardings"].as_array().unwrap().len(), 1);
    assert_eq!(s.delete(&format!("{base}/{id}")).await.0, StatusCode::NO_CONTENT);
    assert_error(&s.get(&format!("{base}/{id}")).await, 404, "PortForwardingNotFound");
    let (_, f) = s.get(&format!("/v2.0/floatingips/{fip}")).await;
    assert_eq!(f["floatingip"]["router_id"], Value::Null);
}

/// Neutron's `_check_and_get_fip_assoc`: an empty update body dissociates, a description
/// alone keeps the association, a fixed IP needs a port.
#[tokio::test]
async fn a_blank_update_clears_the_association() {
    let s = TestServer::start().await;
    let t = topology(&s, "203.0.113.0/24", json!([{"start": "203.0.113.10", "end": "203.0.113.50"}])).await;
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": t.net}})).await;
    let port = p["port"]["id"].as_str().unwrap().to_string();
    let (st, f) = s
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": t.ext, "port_id": port, "description": "d1"}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    let path = format!("/v2.0/floatingips/{}", f["floatingip"]["id"].as_str().unwrap());
    let (_, d) = s.put(&path, json!({"floatingip": {"description": "d2"}})).await;
    assert_eq!(
        (d["floatingip"]["port_id"].as_str(), d["floatingip"]["description"].as_str()),
        (Some(port.as_str()), Some("d2"))
    );
    let (st, b) = s.put(&path, json!({"floatingip": {}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["floatingip"]["port_id"], Value::Null);
    assert_eq!(b["floatingip"]["router_id"], Value::Null);
    assert_eq!(b["floatingip"]["description"], "d2");
    let lone_ip = s.put(&path, json!({"floatingip": {"fixed_ip_address": "10.70.0.5"}})).await;
    assert_error(&lone_ip, 400, "BadRequest");
    assert_eq!(
        lone_ip.1["NeutronError"]["message"],
        "Bad floatingip request: fixed_ip_address cannot be specified without a port_id."
    );
}

/// Deleting an external network releases its free floating IPs; an associated one keeps
/// the network in use.
#[tokio::test]
async fn deleting_an_external_network_releases_its_free_floating_ips() {
    let s = TestServer::start().await;
    let (_, n) = s.post("/v2.0/networks", json!({"network": {"name": "public", "router:external": true}})).await;
    let ext = n["network"]["id"].as_str().unwrap().to_string();
    let sub = s.subnet(&ext, "198.51.100.0/24", json!({"enable_dhcp": false})).await;
    let (_, f) = s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": ext}})).await;
    let fip = f["floatingip"]["id"].as_str().unwrap().to_string();
    assert_eq!(s.delete(&format!("/v2.0/networks/{ext}")).await.0, StatusCode::NO_CONTENT);
    assert_error(&s.get(&format!("/v2.0/floatingips/{fip}")).await, 404, "FloatingIPNotFound");
    assert_error(&s.get(&format!("/v2.0/subnets/{sub}")).await, 404, "SubnetNotFound");
    let (_, ports) = s.get("/v2.0/ports?device_owner=network:floatingip").await;
    assert_eq!(ports["ports"], json!([]));

    let t = topology(&s, "203.0.113.0/24", json!([{"start": "203.0.113.10", "end": "203.0.113.50"}])).await;
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": t.net}})).await;
    let (_, f) = s
        .post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": t.ext, "port_id": p["port"]["id"]}}))
        .await;
    assert_error(&s.delete(&format!("/v2.0/networks/{}", t.ext)).await, 409, "NetworkInUse");
    assert_eq!(
        s.get(&format!("/v2.0/floatingips/{}", f["floatingip"]["id"].as_str().unwrap())).await.0,
        StatusCode::OK
    );
}

/// Neutron's port forwarding plugin: a floating IP with forwardings cannot be released, an
/// associated one takes none, and `port_id: null` leaves the forwardings' router.
#[tokio::test]
async fn a_floating_ip_with_port_forwardings_follows_neutrons_rules() {
    let s = TestServer::start().await;
    let t = topology(&s, "203.0.113.0/24", json!([{"start": "203.0.113.10", "end": "203.0.113.50"}])).await;
    let new_port = async |s: &TestServer| {
        let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": t.net}})).await;
        (
            p["port"]["id"].as_str().unwrap().to_string(),
            p["port"]["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string(),
        )
    };
    let forward = |port: &str, ip: &str| json!({"port_forwarding": {"protocol": "tcp", "external_port": 2222, "internal_port": 22, "internal_ip_address": ip, "internal_port_id": port}});
    let (_, f) = s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": t.ext}})).await;
    let fip = f["floatingip"]["id"].as_str().unwrap().to_string();
    let (p1, ip1) = new_port(&s).await;
    let (st, pf) = s.post(&format!("/v2.0/floatingips/{fip}/port_forwardings"), forward(&p1, &ip1)).await;
    assert_eq!(st, StatusCode::CREATED, "{pf}");
    let refused = s.delete(&format!("/v2.0/floatingips/{fip}")).await;
    assert_error(&refused, 409, "FipInUseByPortForwarding");
    assert_eq!(refused.1["NeutronError"]["message"], format!("Floating IP {fip} in use by Port Forwarding resources."));
    let (st, d) = s.put(&format!("/v2.0/floatingips/{fip}"), json!({"floatingip": {"port_id": null}})).await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["floatingip"]["router_id"], t.router.as_str());

    // An associated floating IP takes no forwarding.
    let (p2, _) = new_port(&s).await;
    let (_, used) =
        s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": t.ext, "port_id": p2}})).await;
    let used_id = used["floatingip"]["id"].as_str().unwrap();
    let (p3, ip3) = new_port(&s).await;
    let refused = s.post(&format!("/v2.0/floatingips/{used_id}/port_forwardings"), forward(&p3, &ip3)).await;
    assert_error(&refused, 409, "FloatingIPPortAlreadyAssociated");
    let address = used["floatingip"]["floating_ip_address"].as_str().unwrap();
    assert_eq!(
        refused.1["NeutronError"]["message"],
        format!("Cannot associate floating IP {address} ({used_id}) with port {p3} using fixed IP {ip3}, as that fixed IP already has a floating IP on external network {}.", t.ext)
    );
}

/// A floating IP shows its forwardings as Neutron's `_extend_floatingip_dict` does (with
/// `floating-ip-port-forwarding-detail`): id, protocol, internal address, internal port id,
/// internal and external port, in that order, no description; the forwarding API keeps it.
#[tokio::test]
async fn a_floating_ip_shows_its_forwardings_as_neutron_does() {
    let s = TestServer::start().await;
    let t = topology(&s, "203.0.113.0/24", json!([{"start": "203.0.113.10", "end": "203.0.113.50"}])).await;
    let (_, f) = s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": t.ext}})).await;
    let fip = f["floatingip"]["id"].as_str().unwrap().to_string();
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": t.net}})).await;
    let port = p["port"]["id"].as_str().unwrap().to_string();
    let ip = p["port"]["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string();
    let base = format!("/v2.0/floatingips/{fip}/port_forwardings");
    let body = json!({"port_forwarding": {"protocol": "tcp", "external_port": 2222, "internal_port": 1111, "internal_ip_address": ip, "internal_port_id": port, "description": "ssh"}});
    let (st, pf) = s.post(&base, body).await;
    assert_eq!(st, StatusCode::CREATED, "{pf}");
    let pf_id = pf["port_forwarding"]["id"].as_str().unwrap().to_string();
    let expected = format!(
        r#"[{{"id":"{pf_id}","protocol":"tcp","internal_ip_address":"{ip}","internal_port_id":"{port}","internal_port":1111,"external_port":2222}}]"#
    );
    // Both the show and the list serve the stored document as it is.
    let (_, shown) = s.get(&format!("/v2.0/floatingips/{fip}")).await;
    assert_eq!(shown["floatingip"]["port_forwardings"].to_string(), expected);
    let (_, listed) = s.get("/v2.0/floatingips").await;
    assert_eq!(listed["floatingips"][0]["port_forwardings"].to_string(), expected);
    let (_, one) = s.get(&format!("{base}/{pf_id}")).await;
    assert_eq!(one["port_forwarding"]["description"], "ssh");
    let (_, all) = s.get(&base).await;
    assert_eq!(all["port_forwardings"][0]["description"], "ssh");
    let (st, u) = s.put(&format!("{base}/{pf_id}"), json!({"port_forwarding": {"internal_port": 3333}})).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(
        (u["port_forwarding"]["internal_port"].as_u64(), u["port_forwarding"]["description"].as_str()),
        (Some(3333), Some("ssh"))
    );
    let (_, shown) = s.get(&format!("/v2.0/floatingips/{fip}")).await;
    assert_eq!(shown["floatingip"]["port_forwardings"][0]["internal_port"], 3333);
    assert_eq!(s.delete(&format!("{base}/{pf_id}")).await.0, StatusCode::NO_CONTENT);
    let (_, shown) = s.get(&format!("/v2.0/floatingips/{fip}")).await;
    assert_eq!(shown["floatingip"]["port_forwardings"], json!([]));
    assert_eq!(s.get(&base).await.1["port_forwardings"], json!([]));
}

/// `fip-port-details`: the associated port's fields as the port is now, in every answer
/// (create, show, list, update); `null` without a port.
#[tokio::test]
async fn a_floating_ip_shows_its_ports_details() {
    let s = TestServer::start().await;
    let t = topology(&s, "203.0.113.0/24", json!([{"start": "203.0.113.10", "end": "203.0.113.50"}])).await;
    let (_, p) =
        s.post("/v2.0/ports", json!({"port": {"network_id": t.net, "name": "vm-port", "device_id": "vm-1"}})).await;
    let port = p["port"].clone();
    let details = |port: &Value| {
        json!({
            "name": port["name"], "network_id": port["network_id"], "mac_address": port["mac_address"],
            "admin_state_up": port["admin_state_up"], "status": port["status"], "device_id": port["device_id"],
            "device_owner": port["device_owner"],
        })
    };
    let (st, f) =
        s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": t.ext, "port_id": port["id"]}})).await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    assert_eq!(f["floatingip"]["port_details"], details(&port));
    let path = format!("/v2.0/floatingips/{}", f["floatingip"]["id"].as_str().unwrap());

    // The port changes; the floating IP shows it as it is now.
    let (_, renamed) =
        s.put(&format!("/v2.0/ports/{}", port["id"].as_str().unwrap()), json!({"port": {"name": "renamed"}})).await;
    let now = details(&renamed["port"]);
    assert_eq!(now["name"], "renamed");
    assert_eq!(s.get(&path).await.1["floatingip"]["port_details"], now);
    assert_eq!(s.get("/v2.0/floatingips").await.1["floatingips"][0]["port_details"], now);
    let (_, fields) = s.get(&format!("{path}?fields=port_details")).await;
    assert_eq!(fields["floatingip"], json!({"port_details": now}));
    let (_, d2) = s.put(&path, json!({"floatingip": {"description": "d2"}})).await;
    assert_eq!(d2["floatingip"]["port_details"], now);

    let (_, free) = s.put(&path, json!({"floatingip": {"port_id": null}})).await;
    assert_eq!(free["floatingip"]["port_details"], Value::Null);
    assert_eq!(s.get(&path).await.1["floatingip"]["port_details"], Value::Null);
    assert_eq!(s.get("/v2.0/floatingips").await.1["floatingips"][0]["port_details"], Value::Null);
}

/// `floatingip-pools`: every IPv4 subnet of an external network, for any project (read
/// elevated), each naming the caller's project; IPv6 subnets only with `fip64`.
#[tokio::test]
async fn floating_ip_pools_are_the_ipv4_subnets_of_external_networks() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (member, member_project) = s.member(&admin, "project-b", "bob", "member").await;
    let as_admin = [("X-Auth-Token", admin.as_str())];
    let post = |path: &'static str, body: Value| s.call_with(Method::POST, path, Some(body), &as_admin);
    let (_, n) = post("/v2.0/networks", json!({"network": {"name": "public", "router:external": true}})).await;
    let ext = n["network"]["id"].as_str().unwrap().to_string();
    let (_, v4) = post(
        "/v2.0/subnets",
        json!({"subnet": {"network_id": ext, "cidr": "203.0.113.0/24", "ip_version": 4, "name": "pub4"}}),
    )
    .await;
    let (st, v6) =
        post("/v2.0/subnets", json!({"subnet": {"network_id": ext, "cidr": "2001:db8::/64", "ip_version": 6}})).await;
    assert_eq!(st, StatusCode::CREATED, "{v6}");
    let (_, private) = post("/v2.0/networks", json!({"network": {"name": "private"}})).await;
    let private = private["network"]["id"].as_str().unwrap().to_string();
    post("/v2.0/subnets", json!({"subnet": {"network_id": private, "cidr": "10.9.0.0/24", "ip_version": 4}})).await;

    let (st, pools) =
        s.call_with(Method::GET, "/v2.0/floatingip-pools", None, &[("X-Auth-Token", member.as_str())]).await;
    assert_eq!(st, StatusCode::OK, "{pools}");
    assert_eq!(
        pools,
        json!({"floatingip_pools": [{
            "subnet_id": v4["subnet"]["id"], "subnet_name": "pub4", "tenant_id": member_project,
            "network_id": ext, "cidr": "203.0.113.0/24", "project_id": member_project,
        }]})
    );
    let (_, only) =
        s.call_with(Method::GET, "/v2.0/floatingip-pools?fields=cidr&fields=network_id", None, &as_admin).await;
    assert_eq!(only, json!({"floatingip_pools": [{"network_id": ext, "cidr": "203.0.113.0/24"}]}));
}
