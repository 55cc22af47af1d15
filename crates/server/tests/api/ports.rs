use crate::common::{assert_error, assert_error_message, TestServer};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashSet;

#[tokio::test]
async fn auto_and_explicit_addresses() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let sub = s.subnet(&net, "10.3.0.0/24", json!({})).await;
    let (st, b) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "name": "p1"}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let p = &b["port"];
    assert_eq!(p["fixed_ips"], json!([{"subnet_id": sub, "ip_address": "10.3.0.2"}]));
    assert!(p["mac_address"].as_str().unwrap().starts_with("fa:16:3e:"));
    assert_eq!(p["status"], "DOWN");
    assert_eq!(p["admin_state_up"], true);
    assert_eq!(p["port_security_enabled"], true);
    assert_eq!(p["binding:vif_type"], "unbound");
    assert_eq!(p["binding:vnic_type"], "normal");
    assert_eq!(p["device_owner"], "");
    let (st, b) = s
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": sub, "ip_address": "10.3.0.50"}]}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["port"]["fixed_ips"][0]["ip_address"], "10.3.0.50");
    assert_error(
        &s.post("/v2.0/ports", json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.3.0.50"}]}})).await,
        409,
        "IpAddressAlreadyAllocated",
    );
    assert_error(
        &s.post("/v2.0/ports", json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.9.0.5"}]}})).await,
        400,
        "InvalidIpForNetwork",
    );
    assert_error(
        &s.post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": sub, "ip_address": "10.4.0.5"}]}}),
        )
        .await,
        400,
        "InvalidIpForSubnet",
    );
    assert_error(
        &s.post("/v2.0/ports", json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.3.0.256"}]}})).await,
        400,
        "HTTPBadRequest",
    );
    // Changing the address releases the old one.
    let id = b["port"]["id"].as_str().unwrap();
    let (st, u) = s
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"fixed_ips": [{"subnet_id": sub, "ip_address": "10.3.0.60"}]}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    let (st, _) =
        s.post("/v2.0/ports", json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.3.0.50"}]}})).await;
    assert_eq!(st, StatusCode::CREATED);
}

#[tokio::test]
async fn mac_addresses() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let (st, _) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "mac_address": "FA:16:3E:AA:BB:CC"}})).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_error(
        &s.post("/v2.0/ports", json!({"port": {"network_id": net, "mac_address": "fa:16:3e:aa:bb:cc"}})).await,
        409,
        "MacAddressInUse",
    );
    assert_error(
        &s.post("/v2.0/ports", json!({"port": {"network_id": net, "mac_address": "nope"}})).await,
        400,
        "HTTPBadRequest",
    );
    let other = s.network("m").await;
    assert_eq!(
        s.post("/v2.0/ports", json!({"port": {"network_id": other, "mac_address": "fa:16:3e:aa:bb:cc"}})).await.0,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn exhaustion_is_exact() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    s.subnet(&net, "10.4.0.0/29", json!({})).await;
    for _ in 0..5 {
        assert_eq!(s.post("/v2.0/ports", json!({"port": {"network_id": net}})).await.0, StatusCode::CREATED);
    }
    assert_error(&s.post("/v2.0/ports", json!({"port": {"network_id": net}})).await, 409, "IpAddressGenerationFailure");
}

#[tokio::test]
async fn port_security_pairs_and_dhcp_opts() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    s.subnet(&net, "10.6.0.0/24", json!({})).await;
    let (st, b) = s
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "allowed_address_pairs": [{"ip_address": "10.6.0.0/28"}],
            "extra_dhcp_opts": [{"opt_name": "mtu", "opt_value": "1400"}]}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let p = &b["port"];
    assert_eq!(p["allowed_address_pairs"][0]["mac_address"], p["mac_address"]);
    assert_eq!(p["extra_dhcp_opts"], json!([{"opt_name": "mtu", "opt_value": "1400", "ip_version": 4}]));
    let id = p["id"].as_str().unwrap();
    assert_error(
        &s.put(&format!("/v2.0/ports/{id}"), json!({"port": {"port_security_enabled": false}})).await,
        409,
        "PortSecurityPortHasSecurityGroup",
    );
    let (st, u) = s.put(&format!("/v2.0/ports/{id}"), json!({"port": {"security_groups": []}})).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_error(
        &s.put(&format!("/v2.0/ports/{id}"), json!({"port": {"port_security_enabled": false}})).await,
        409,
        "AddressPairAndPortSecurityRequired",
    );
    let (st, u) = s
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"allowed_address_pairs": [], "port_security_enabled": false}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["port"]["port_security_enabled"], false);
    let (_, u) = s
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"extra_dhcp_opts": [{"opt_name": "mtu", "opt_value": null}]}}),
        )
        .await;
    assert_eq!(u["port"]["extra_dhcp_opts"], json!([]));
    let (_, u) = s.put(&format!("/v2.0/ports/{id}"), json!({"port": {"binding:host_id": "compute-1"}})).await;
    assert_eq!(u["port"]["binding:host_id"], "compute-1");
    assert_eq!(u["port"]["binding:vif_type"], "binding_failed");
    let (st, n) = s.post("/v2.0/networks", json!({"network": {"port_security_enabled": false}})).await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": n["network"]["id"]}})).await;
    assert_eq!(p["port"]["port_security_enabled"], false);
}

/// 50 concurrent creates on a subnet with 8 free addresses: exactly 8 win, the rest get 409,
/// and no address is handed out twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creates_never_share_an_address() {
    let s = TestServer::start().await;
    let net = s.network("race").await;
    s.subnet(&net, "10.7.0.0/24", json!({"allocation_pools": [{"start": "10.7.0.10", "end": "10.7.0.17"}]})).await;
    let futures = (0..50).map(|_| s.post("/v2.0/ports", json!({"port": {"network_id": net}})));
    let results = futures::future::join_all(futures).await;
    let mut ips = HashSet::new();
    let mut conflicts = 0;
    for (st, b) in &results {
        match st.as_u16() {
            201 => assert!(ips.insert(b["port"]["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string())),
            409 => {
                assert_eq!(b["NeutronError"]["type"], "IpAddressGenerationFailure");
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {b}"),
        }
    }
    assert_eq!(ips.len(), 8);
    assert_eq!(conflicts, 42);
    let (_, list) = s.get(&format!("/v2.0/ports?network_id={net}")).await;
    assert_eq!(list["ports"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn updating_fixed_ips_keeps_slaac_addresses() {
    let s = TestServer::start().await;
    let net = s.network("keep6").await;
    let v4 = s.subnet(&net, "10.32.0.0/24", json!({})).await;
    let v6 = s.subnet(&net, "fd00:32::/64", json!({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})).await;
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "mac_address": "fa:16:3e:00:00:03"}})).await;
    let id = p["port"]["id"].as_str().unwrap().to_string();
    let (st, u) = s
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"fixed_ips": [{"subnet_id": v4, "ip_address": "10.32.0.77"}]}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{u}");
    let got: Vec<(String, String)> = u["port"]["fixed_ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["subnet_id"].as_str().unwrap().to_string(), f["ip_address"].as_str().unwrap().to_string()))
        .collect();
    assert!(got.contains(&(v4.clone(), "10.32.0.77".to_string())), "{got:?}");
    assert!(got.contains(&(v6, "fd00:32::f816:3eff:fe00:3".to_string())), "{got:?}");
    assert_eq!(got.len(), 2);
    // The released address is free again.
    let (st, _) =
        s.post("/v2.0/ports", json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.32.0.2"}]}})).await;
    assert_eq!(st, StatusCode::CREATED);
}

#[tokio::test]
async fn extra_dhcp_opts_cannot_inject_dnsmasq_options() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    s.subnet(&net, "10.8.0.0/24", json!({})).await;
    for (name, value) in [
        ("mtu", "1400\ndhcp-option=6,6.6.6.6"),
        ("router", "10.8.0.1,option:dns-server,6.6.6.6"),
        ("dns-server", "10.8.0.53, tag:known"),
        ("router,option:dns-server", "6.6.6.6"),
    ] {
        let got = s
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": net, "extra_dhcp_opts": [{"opt_name": name, "opt_value": value}]}}),
            )
            .await;
        assert_error(&got, 400, "HTTPBadRequest");
    }
    let (_, b) = s.get(&format!("/v2.0/ports?network_id={net}")).await;
    assert_eq!(b["ports"], json!([]), "nothing half-written");
    let (st, b) = s
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "extra_dhcp_opts": [{"opt_name": "dns-server", "opt_value": "10.8.0.53,10.8.0.54"}]}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let id = b["port"]["id"].as_str().unwrap();
    let got = s
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"extra_dhcp_opts": [{"opt_name": "ntp-server", "opt_value": "1.1.1.1,set:x"}]}}),
        )
        .await;
    assert_error(&got, 400, "HTTPBadRequest");
}

/// The network-owner rules are oslo.policy rules: an operator's policy file can hand
/// `create_port:mac_address` to every member of the port's project, and the other owner
/// rules stay as they were.
#[tokio::test]
async fn network_owner_rules_follow_the_policy_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, "\"create_port:mac_address\": \"rule:admin_only or rule:project_member\"\n").expect("write");
    let s = TestServer::start_with(move |c| {
        c.noauth = false;
        c.policy_file = Some(file);
    })
    .await;
    let admin = s.admin_token().await;
    let (member, _) = s.member(&admin, "pp", "ppuser", "member").await;
    let h = [("X-Auth-Token", admin.as_str())];
    let (st, n) = s
        .call_with(
            reqwest::Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {"name": "pub", "shared": true}})),
            &h,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    let net = n["network"]["id"].as_str().expect("id").to_string();
    let m = [("X-Auth-Token", member.as_str())];
    let (st, p) = s
        .call_with(
            reqwest::Method::POST,
            "/v2.0/ports",
            Some(json!({"port": {"network_id": net, "mac_address": "fa:16:3e:01:02:03"}})),
            &m,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    assert_eq!(p["port"]["mac_address"], "fa:16:3e:01:02:03");
    let got = s
        .call_with(
            reqwest::Method::POST,
            "/v2.0/ports",
            Some(json!({"port": {"network_id": net, "port_security_enabled": false}})),
            &m,
        )
        .await;
    assert_error(&got, 403, "PolicyNotAuthorized");
    let (_, list) = s.call_with(reqwest::Method::GET, &format!("/v2.0/ports?network_id={net}"), None, &h).await;
    assert_eq!(list["ports"].as_array().map(Vec::len), Some(1), "{list}");
}

/// Neutron's `_test_fixed_ips_for_port` and `check_subnet_ip`: which explicit addresses a
/// port may take depends on its owner.
#[tokio::test]
async fn explicit_addresses_follow_neutrons_rules_by_owner() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let slaac = s.subnet(&net, "fd00:40::/64", json!({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})).await;
    let port = |owner: &str, mac: &str, fixed: serde_json::Value| json!({"port": {"network_id": net, "device_owner": owner, "mac_address": mac, "fixed_ips": fixed}});
    // On a SLAAC subnet a port may name only its own EUI-64 address ...
    let got =
        s.post("/v2.0/ports", port("compute:nova", "fa:16:3e:00:00:05", json!([{"ip_address": "fd00:40::5"}]))).await;
    assert_error(&got, 400, "AllocationOnAutoAddressSubnet");
    assert_eq!(
        got.1["NeutronError"]["message"],
        format!("IPv6 address fd00:40::5 cannot be directly assigned to a port on subnet {slaac} as the subnet is configured for automatic addresses")
    );
    let own = json!([{"subnet_id": slaac, "ip_address": "fd00:40::f816:3eff:fe00:5"}]);
    let (st, b) = s.post("/v2.0/ports", port("compute:nova", "fa:16:3e:00:00:05", own)).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    // ... a router interface any address.
    let (st, b) = s
        .post(
            "/v2.0/ports",
            port("network:router_interface", "fa:16:3e:00:00:06", json!([{"ip_address": "fd00:40::6"}])),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    // A router gateway port gets the subnet's automatic (EUI-64) address, as other ports do.
    let (st, b) = s
        .post("/v2.0/ports", json!({"port": {"network_id": net, "device_owner": "network:router_gateway", "mac_address": "fa:16:3e:00:00:07"}}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["port"]["fixed_ips"], json!([{"subnet_id": slaac, "ip_address": "fd00:40::f816:3eff:fe00:7"}]));

    // An IPv6 subnet's network address is for router ports (and ports without owner) only.
    let other = s.network("v6").await;
    let sub = s.subnet(&other, "fd00:41::/64", json!({"gateway_ip": "fd00:41::1"})).await;
    let net_addr = |owner: &str, fixed: serde_json::Value| json!({"port": {"network_id": other, "device_owner": owner, "fixed_ips": fixed}});
    let got =
        s.post("/v2.0/ports", net_addr("compute:nova", json!([{"subnet_id": sub, "ip_address": "fd00:41::"}]))).await;
    assert_error(&got, 400, "InvalidIpForSubnet");
    let got = s.post("/v2.0/ports", net_addr("compute:nova", json!([{"ip_address": "fd00:41::"}]))).await;
    assert_error(&got, 400, "InvalidIpForNetwork");
    let (st, b) = s.post("/v2.0/ports", net_addr("", json!([{"ip_address": "fd00:41::"}]))).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
}

/// `port-mac-address-regenerate`: `mac_address: null` gives an unbound port a new MAC; a
/// bound port's MAC cannot change (`PortBound`).
#[tokio::test]
async fn a_null_mac_address_regenerates_it() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    s.subnet(&net, "10.0.0.0/24", json!({})).await;
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net}})).await;
    let old = p["port"]["mac_address"].as_str().unwrap().to_string();
    let path = format!("/v2.0/ports/{}", p["port"]["id"].as_str().unwrap());
    let (st, u) = s.put(&path, json!({"port": {"mac_address": null}})).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    let new = u["port"]["mac_address"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(new.starts_with("fa:16:3e:"), "{new}");
    assert_eq!(s.get(&path).await.1["port"]["mac_address"], new);

    let report = json!({"host": "compute-1", "agent_type": "Linux bridge agent", "binary": "neutrino-agent",
        "start_flag": true, "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": "198.18.1.1",
        "interface_mappings": {"physnet1": "eth1"}, "devices": 0}});
    s.post("/agent/v1/agents/report", report).await;
    let (_, b) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "binding:host_id": "compute-1"}})).await;
    assert_eq!(b["port"]["binding:vif_type"], "bridge", "{b}");
    let bound = format!("/v2.0/ports/{}", b["port"]["id"].as_str().unwrap());
    assert_error(&s.put(&bound, json!({"port": {"mac_address": null}})).await, 409, "PortBound");
}

/// Neutron's `_get_subnet_for_fixed_ip`: no subnets at all, an unknown subnet (404), and a
/// subnet of another network (400), on create and on update.
#[tokio::test]
async fn fixed_ips_naming_missing_or_foreign_subnets() {
    let s = TestServer::start().await;
    let bare = s.network("bare").await;
    let unknown = "2b7e3d1c-0000-4000-8000-000000000000";
    assert_error_message(
        &s.post("/v2.0/ports", json!({"port": {"network_id": bare, "fixed_ips": [{"subnet_id": unknown}]}})).await,
        400,
        "InvalidInput",
        "Invalid input for operation: IP allocation requires subnets for network.",
    );
    let (st, _) = s.post("/v2.0/ports", json!({"port": {"network_id": bare, "fixed_ips": []}})).await;
    assert_eq!(st, StatusCode::CREATED, "an empty list needs no subnet");
    let net = s.network("n").await;
    s.subnet(&net, "10.9.0.0/24", json!({})).await;
    let other = s.network("other").await;
    let foreign = s.subnet(&other, "10.8.0.0/24", json!({})).await;
    let missing = json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": unknown}]}});
    assert_error_message(
        &s.post("/v2.0/ports", missing).await,
        404,
        "SubnetNotFound",
        &format!("Subnet {unknown} could not be found."),
    );
    assert_error_message(
        &s.post("/v2.0/ports", json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": foreign}]}})).await,
        400,
        "InvalidInput",
        &format!(
            "Invalid input for operation: Failed to create port on network {net}, because fixed_ips included \
             invalid subnet {foreign}."
        ),
    );
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net}})).await;
    let id = p["port"]["id"].as_str().unwrap();
    let update = json!({"port": {"fixed_ips": [{"subnet_id": unknown}]}});
    assert_error(&s.put(&format!("/v2.0/ports/{id}"), update).await, 404, "SubnetNotFound");
}
