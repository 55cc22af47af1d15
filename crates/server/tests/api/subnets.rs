use crate::common::{assert_error, TestServer};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn ipv4_defaults() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let (st, b) =
        s.post("/v2.0/subnets", json!({"subnet": {"network_id": net, "cidr": "10.0.0.0/24", "ip_version": 4}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let sub = &b["subnet"];
    assert_eq!(sub["gateway_ip"], "10.0.0.1");
    assert_eq!(sub["allocation_pools"], json!([{"start": "10.0.0.2", "end": "10.0.0.254"}]));
    assert_eq!(sub["enable_dhcp"], true);
    assert_eq!(sub["dns_nameservers"], json!([]));
    assert_eq!(sub["host_routes"], json!([]));
    assert_eq!(sub["ipv6_ra_mode"], serde_json::Value::Null);
    assert_eq!(sub["subnetpool_id"], serde_json::Value::Null);
    let (_, n) = s.get(&format!("/v2.0/networks/{net}")).await;
    assert_eq!(n["network"]["subnets"], json!([sub["id"]]));
}

#[tokio::test]
async fn gateway_null_pools_dns_and_routes() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let (st, b) = s
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.1.0.0/24", "ip_version": 4, "gateway_ip": null,
            "allocation_pools": [{"start": "10.1.0.10", "end": "10.1.0.20"}], "dns_nameservers": ["8.8.8.8", "1.1.1.1"],
            "host_routes": [{"destination": "192.168.0.0/16", "nexthop": "10.1.0.5"}]}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["subnet"]["gateway_ip"], serde_json::Value::Null);
    assert_eq!(b["subnet"]["allocation_pools"], json!([{"start": "10.1.0.10", "end": "10.1.0.20"}]));
    assert_eq!(b["subnet"]["dns_nameservers"], json!(["8.8.8.8", "1.1.1.1"]));
    let id = b["subnet"]["id"].as_str().unwrap();
    let (st, u) = s
        .put(&format!("/v2.0/subnets/{id}"), json!({"subnet": {"gateway_ip": "10.1.0.1", "dns_nameservers": []}}))
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["subnet"]["gateway_ip"], "10.1.0.1");
    assert_eq!(u["subnet"]["dns_nameservers"], json!([]));
    assert_error(
        &s.put(&format!("/v2.0/subnets/{id}"), json!({"subnet": {"gateway_ip": "10.1.0.15"}})).await,
        409,
        "GatewayConflictWithAllocationPools",
    );
}

#[tokio::test]
async fn invalid_subnets() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let post = |body: serde_json::Value| {
        let mut sub = json!({"network_id": net, "ip_version": 4});
        sub.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        s.post("/v2.0/subnets", json!({"subnet": sub}))
    };
    assert_error(&post(json!({"cidr": "10.0.0.0/33"})).await, 400, "InvalidInput");
    assert_error(&post(json!({"cidr": "not-a-cidr"})).await, 400, "InvalidInput");
    assert_error(&post(json!({"cidr": "fd00::/64"})).await, 400, "InvalidInput");
    assert_error(
        &post(json!({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.1.2", "end": "10.0.1.9"}]})).await,
        400,
        "OutOfBoundsAllocationPool",
    );
    assert_error(
        &post(json!({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.9", "end": "10.0.0.2"}]})).await,
        400,
        "InvalidAllocationPool",
    );
    assert_error(
        &post(json!({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"}, {"start": "10.0.0.5", "end": "10.0.0.12"}]})).await,
        409,
        "OverlappingAllocationPools",
    );
    assert_error(
        &post(json!({"cidr": "10.0.0.0/24", "allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.9"}]})).await,
        409,
        "GatewayConflictWithAllocationPools",
    );
    assert_error(&post(json!({"cidr": "10.0.0.0/24", "dns_nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5", "1.1.1.6"]})).await, 400, "DNSNameServersExhausted");
    assert_error(&post(json!({"cidr": "10.0.0.0/24", "dns_nameservers": ["bogus"]})).await, 400, "HTTPBadRequest");
    assert_error(&post(json!({"cidr": "10.0.0.0/24", "ipv6_ra_mode": "slaac"})).await, 400, "InvalidInput");
    assert_error(&s.post("/v2.0/subnets", json!({"subnet": {"network_id": "6f9d1c4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f", "cidr": "10.9.0.0/24", "ip_version": 4}})).await, 404, "NetworkNotFound");
    assert_error(
        &s.post("/v2.0/subnets", json!({"subnet": {"network_id": net, "cidr": "10.9.0.0/24"}})).await,
        400,
        "HTTPBadRequest",
    );
    // Overlap within one network.
    assert_eq!(post(json!({"cidr": "10.5.0.0/16"})).await.0, StatusCode::CREATED);
    assert_error(&post(json!({"cidr": "10.5.3.0/24"})).await, 400, "InvalidInput");
    let (_, list) = s.get("/v2.0/subnets").await;
    assert_eq!(list["subnets"].as_array().unwrap().len(), 1, "failed creates leave nothing");
}

#[tokio::test]
async fn ipv6_slaac_and_stateful() {
    let s = TestServer::start().await;
    let net = s.network("v6").await;
    let (st, b) = s
        .post("/v2.0/subnets", json!({"subnet": {"network_id": net, "cidr": "fd00:0:0:1::/64", "ip_version": 6, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["subnet"]["cidr"], "fd00:0:0:1::/64");
    // Neutron gives IPv6 subnets the network address (the subnet-router anycast) as gateway.
    assert_eq!(b["subnet"]["gateway_ip"], "fd00:0:0:1::");
    assert_eq!(b["subnet"]["ipv6_address_mode"], "slaac");
    let (st, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "mac_address": "fa:16:3e:00:00:01"}})).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    assert_eq!(p["port"]["fixed_ips"][0]["ip_address"], "fd00::1:f816:3eff:fe00:1");
    let bad = json!({"subnet": {"network_id": net, "cidr": "fd00:0:0:2::/80", "ip_version": 6, "ipv6_address_mode": "slaac"}});
    assert_error(&s.post("/v2.0/subnets", bad).await, 400, "InvalidInput");
    let mismatch = json!({"subnet": {"network_id": net, "cidr": "fd00:0:0:3::/64", "ip_version": 6, "ipv6_ra_mode": "slaac", "ipv6_address_mode": "dhcpv6-stateful"}});
    assert_error(&s.post("/v2.0/subnets", mismatch).await, 400, "InvalidInput");
    let net2 = s.network("v6b").await;
    let (st, b) =
        s.post("/v2.0/subnets", json!({"subnet": {"network_id": net2, "cidr": "fd00:9::/120", "ip_version": 6}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net2}})).await;
    assert_eq!(p["port"]["fixed_ips"][0]["ip_address"], "fd00:9::1");
}

#[tokio::test]
async fn subnet_in_use_and_network_in_use() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let sub = s.subnet(&net, "10.2.0.0/24", json!({})).await;
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "device_owner": "compute:nova"}})).await;
    let port = p["port"]["id"].as_str().unwrap().to_string();
    assert_error(&s.delete(&format!("/v2.0/subnets/{sub}")).await, 409, "SubnetInUse");
    assert_error(&s.delete(&format!("/v2.0/networks/{net}")).await, 409, "NetworkInUse");
    assert_eq!(s.delete(&format!("/v2.0/ports/{port}")).await.0, StatusCode::NO_CONTENT);
    // A DHCP port does not hold the network.
    let (st, _) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "device_owner": "network:dhcp"}})).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(s.delete(&format!("/v2.0/subnets/{sub}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.delete(&format!("/v2.0/networks/{net}")).await.0, StatusCode::NO_CONTENT);
    let (_, ports) = s.get("/v2.0/ports").await;
    assert_eq!(ports["ports"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn slaac_addresses_join_explicit_fixed_ips() {
    let s = TestServer::start().await;
    let net = s.network("mixed").await;
    let v4 = s.subnet(&net, "10.30.0.0/24", json!({})).await;
    s.subnet(&net, "fd00:30::/64", json!({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})).await;
    let (st, p) = s
        .post("/v2.0/ports", json!({"port": {"network_id": net, "mac_address": "fa:16:3e:00:00:02", "fixed_ips": [{"subnet_id": v4, "ip_address": "10.30.0.9"}]}}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let ips: Vec<_> = p["port"]["fixed_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["ip_address"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ips, ["10.30.0.9", "fd00:30::f816:3eff:fe00:2"]);
}

#[tokio::test]
async fn slaac_subnet_deletes_under_ports_and_takes_their_addresses() {
    let s = TestServer::start().await;
    let net = s.network("slaac-del").await;
    let v4 = s.subnet(&net, "10.31.0.0/24", json!({})).await;
    let v6 = s.subnet(&net, "fd00:31::/64", json!({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})).await;
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net}})).await;
    let port = p["port"]["id"].as_str().unwrap().to_string();
    assert_eq!(p["port"]["fixed_ips"].as_array().unwrap().len(), 2);
    assert_eq!(s.delete(&format!("/v2.0/subnets/{v6}")).await.0, StatusCode::NO_CONTENT);
    let (_, p) = s.get(&format!("/v2.0/ports/{port}")).await;
    assert_eq!(p["port"]["fixed_ips"], json!([{"subnet_id": v4, "ip_address": "10.31.0.2"}]));
    assert_eq!(p["port"]["revision_number"], 1);
    assert_error(&s.delete(&format!("/v2.0/subnets/{v4}")).await, 409, "SubnetInUse");
}

#[tokio::test]
async fn dhcp_needs_room_and_a_31_has_no_default_gateway() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let create = |cidr: &str, extra: serde_json::Value| {
        let mut body = serde_json::json!({"network_id": net, "cidr": cidr, "ip_version": 4});
        if let (Some(o), serde_json::Value::Object(more)) = (body.as_object_mut(), extra) {
            o.extend(more);
        }
        serde_json::json!({ "subnet": body })
    };
    let got = s.post("/v2.0/subnets", create("10.9.9.0/31", serde_json::json!({}))).await;
    assert_error(&got, 400, "InvalidInput");
    assert!(got.1["NeutronError"]["message"].as_str().unwrap().contains("incompatible with DHCP"), "{}", got.1);
    let got = s.post("/v2.0/subnets", create("224.0.0.0/24", serde_json::json!({}))).await;
    assert_error(&got, 400, "InvalidInput");
    // Without DHCP a /31 is fine with an explicit gateway, but its defaulted one is refused.
    let got = s.post("/v2.0/subnets", create("10.9.9.0/31", serde_json::json!({"enable_dhcp": false}))).await;
    assert_error(&got, 409, "IpamValueInvalid");
    let (st, b) = s
        .post("/v2.0/subnets", create("10.9.9.0/31", serde_json::json!({"enable_dhcp": false, "gateway_ip": null})))
        .await;
    assert_eq!(st.as_u16(), 201, "{b}");
    // Turning DHCP on later is checked the same way, and changes nothing when refused.
    let id = b["subnet"]["id"].as_str().unwrap().to_string();
    let got = s.put(&format!("/v2.0/subnets/{id}"), serde_json::json!({"subnet": {"enable_dhcp": true}})).await;
    assert_error(&got, 400, "InvalidInput");
    let (_, b) = s.get(&format!("/v2.0/subnets/{id}")).await;
    assert_eq!(b["subnet"]["enable_dhcp"], false);
}

/// A subnet revises its network (Neutron's `revises_on_change`): its create, update and
/// delete each bump the network's revision.
#[tokio::test]
async fn subnet_changes_bump_the_network_revision() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let path = format!("/v2.0/networks/{net}");
    let revision = |b: &serde_json::Value| b["network"]["revision_number"].as_u64().unwrap();
    let r0 = revision(&s.get(&path).await.1);
    let id = s.subnet(&net, "10.9.0.0/24", json!({})).await;
    let r1 = revision(&s.get(&path).await.1);
    assert!(r1 > r0, "{r1} > {r0}");
    let (st, b) = s.put(&format!("/v2.0/subnets/{id}"), json!({"subnet": {"name": "x"}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let r2 = revision(&s.get(&path).await.1);
    assert!(r2 > r1, "{r2} > {r1}");
    assert_eq!(s.delete(&format!("/v2.0/subnets/{id}")).await.0, StatusCode::NO_CONTENT);
    let r3 = revision(&s.get(&path).await.1);
    assert!(r3 > r2, "{r3} > {r2}");
}

/// `GET /v2.0/subnets?shared=...`: a subnet is shared when its network is shared with the
/// caller (`*` or an RBAC policy naming its project); the attribute itself is never shown.
#[tokio::test]
async fn subnets_filter_on_their_networks_sharing() {
    use reqwest::Method;
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (member, member_project) = s.member(&admin, "sh1", "shuser1", "member").await;
    let call = |token: &str, method: Method, path: &str, body: Option<serde_json::Value>| {
        let (s, token, path) = (&s, token.to_string(), path.to_string());
        async move { s.call_with(method, &path, body, &[("X-Auth-Token", &token)]).await }
    };
    let create = |token: &str, net: serde_json::Value, cidr: &'static str| {
        let call = &call;
        let token = token.to_string();
        async move {
            let (st, n) = call(&token, Method::POST, "/v2.0/networks", Some(json!({"network": net}))).await;
            assert_eq!(st, StatusCode::CREATED, "{n}");
            let net = n["network"]["id"].as_str().unwrap().to_string();
            let body = json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4}});
            let (st, b) = call(&token, Method::POST, "/v2.0/subnets", Some(body)).await;
            assert_eq!(st, StatusCode::CREATED, "{b}");
            (net, b["subnet"]["id"].as_str().unwrap().to_string())
        }
    };
    let (_, shared) = create(&admin, json!({"name": "everyone", "shared": true}), "10.1.0.0/24").await;
    let (targeted_net, targeted) = create(&admin, json!({"name": "to-member"}), "10.2.0.0/24").await;
    let (_, private) = create(&member, json!({"name": "own"}), "10.3.0.0/24").await;
    let rbac = json!({"rbac_policy": {"object_type": "network", "object_id": targeted_net,
        "action": "access_as_shared", "target_tenant": member_project}});
    assert_eq!(call(&admin, Method::POST, "/v2.0/rbac-policies", Some(rbac)).await.0, StatusCode::CREATED);
    let ids = |token: &str, query: &'static str| {
        let call = &call;
        let token = token.to_string();
        async move {
            let (st, b) = call(&token, Method::GET, &format!("/v2.0/subnets?{query}"), None).await;
            assert_eq!(st, StatusCode::OK, "{b}");
            let items = b["subnets"].as_array().unwrap().clone();
            assert!(items.iter().all(|i| i.get("shared").is_none()), "{b}");
            let mut ids: Vec<String> = items.iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
            ids.sort();
            ids
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(ids(&member, "shared=True").await, sorted(vec![shared.clone(), targeted.clone()]));
    assert_eq!(ids(&member, "shared=false").await, vec![private.clone()]);
    // For the admin, the policy naming the member's project shares nothing.
    assert_eq!(ids(&admin, "shared=1").await, vec![shared.clone()]);
    assert_eq!(ids(&admin, "shared=False").await, sorted(vec![targeted, private]));
}

#[tokio::test]
async fn empty_allocation_pools_mean_no_automatic_addresses() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let (st, b) = s
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.70.0.0/24", "ip_version": 4, "allocation_pools": []}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["subnet"]["allocation_pools"], json!([]));
    let bare = b["subnet"]["id"].as_str().unwrap().to_string();
    assert_error(&s.post("/v2.0/ports", json!({"port": {"network_id": net}})).await, 409, "IpAddressGenerationFailure");
    assert_error(
        &s.post("/v2.0/ports", json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": bare}]}})).await,
        409,
        "IpAddressGenerationFailure",
    );
    // An explicit address is still allowed.
    let (st, b) =
        s.post("/v2.0/ports", json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.70.0.9"}]}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["port"]["fixed_ips"], json!([{"subnet_id": bare, "ip_address": "10.70.0.9"}]));
    // With a second subnet that has pools, automatic addresses come from that one.
    let other = s.subnet(&net, "10.71.0.0/24", json!({})).await;
    let (st, b) = s.post("/v2.0/ports", json!({"port": {"network_id": net}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["port"]["fixed_ips"], json!([{"subnet_id": other, "ip_address": "10.71.0.2"}]));
}

/// subnet-service-types: the attribute is validated as neutron-lib does (its prefix check
/// accepts any type starting with one of `compute:`'s letters), shown, updatable, and a
/// port's automatic address comes from the subnet serving its device owner.
#[tokio::test]
async fn service_types_steer_allocation() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let subnet = |cidr: &str, types: serde_json::Value| json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4, "service_types": types}});
    let (st, a) =
        s.post("/v2.0/subnets", subnet("192.168.1.0/24", json!(["test:type_1", "network:distributed"]))).await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    assert_eq!(a["subnet"]["service_types"], json!(["test:type_1", "network:distributed"]));
    let (st, b) = s.post("/v2.0/subnets", subnet("192.168.2.0/24", json!(["test:type_2"]))).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let port_ip = |owner: &'static str| {
        let s = &s;
        let net = net.clone();
        async move {
            let (st, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "device_owner": owner}})).await;
            (st, p)
        }
    };
    let (_, p1) = port_ip("test:type_1").await;
    assert_eq!(p1["port"]["fixed_ips"][0]["subnet_id"], a["subnet"]["id"], "{p1}");
    let (_, p2) = port_ip("test:type_2").await;
    assert_eq!(p2["port"]["fixed_ips"][0]["subnet_id"], b["subnet"]["id"], "{p2}");
    let got = port_ip("compute:nova").await;
    assert_error(&got, 409, "IpAddressGenerationFailureNoMatchingSubnet");
    assert_error(
        &s.post("/v2.0/subnets", subnet("192.168.3.0/24", json!(["network:x", "bogus"]))).await,
        400,
        "InvalidSubnetServiceType",
    );
    assert_error(
        &s.post("/v2.0/subnets", subnet("192.168.3.0/24", json!([1]))).await,
        400,
        "InvalidInputSubnetServiceType",
    );
    assert_error(&s.post("/v2.0/subnets", subnet("192.168.3.0/24", json!("compute:"))).await, 400, "HTTPBadRequest");
    let id = b["subnet"]["id"].as_str().unwrap();
    let (st, u) = s.put(&format!("/v2.0/subnets/{id}"), json!({"subnet": {"service_types": []}})).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["subnet"]["service_types"], json!([]));
    assert!(u["subnet"]["revision_number"].as_u64() > b["subnet"]["revision_number"].as_u64());
    let (_, p3) = port_ip("compute:nova").await;
    assert_eq!(p3["port"]["fixed_ips"][0]["subnet_id"], b["subnet"]["id"], "{p3}");
}
