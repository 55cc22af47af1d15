//! Subnet pools (`subnet_allocation`, `default-subnetpools`, `subnetpool-prefix-ops`) and
//! subnets allocated from them, against Neutron's behaviour.

use crate::common::{assert_error, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;

async fn pool(s: &TestServer, body: Value) -> Value {
    let (st, b) = s.post("/v2.0/subnetpools", json!({ "subnetpool": body })).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    b["subnetpool"].clone()
}

async fn subnet_from(s: &TestServer, net: &str, version: u8, extra: Value) -> (StatusCode, Value) {
    let mut body = json!({"network_id": net, "ip_version": version});
    if let (Some(obj), Value::Object(more)) = (body.as_object_mut(), extra) {
        obj.extend(more);
    }
    s.post("/v2.0/subnets", json!({ "subnet": body })).await
}

#[tokio::test]
async fn a_pool_merges_its_prefixes_and_shows_its_bounds_as_neutron_does() {
    let s = TestServer::start().await;
    let p = pool(&s, json!({"name": "p", "prefixes": ["10.11.13.0/24", "10.11.12.0/24"], "min_prefixlen": "29"})).await;
    assert_eq!(p["prefixes"], json!(["10.11.12.0/23"]));
    assert_eq!(
        (&p["min_prefixlen"], &p["default_prefixlen"], &p["max_prefixlen"]),
        (&json!("29"), &json!("29"), &json!("32"))
    );
    assert_eq!((&p["ip_version"], &p["shared"], &p["is_default"]), (&json!(4), &json!(false), &json!(false)));
    assert_eq!((&p["default_quota"], &p["address_scope_id"]), (&Value::Null, &Value::Null));
    assert_eq!((&p["revision_number"], &p["description"], &p["tags"]), (&json!(0), &json!(""), &json!([])));
    assert!(p["created_at"].is_string() && p["project_id"].is_string());
    let id = p["id"].as_str().unwrap();
    let (st, shown) = s.get(&format!("/v2.0/subnetpools/{id}")).await;
    assert_eq!((st, &shown["subnetpool"]), (StatusCode::OK, &p));
    let (_, list) = s.get("/v2.0/subnetpools").await;
    assert_eq!(list["subnetpools"], json!([p]));

    let v6 = pool(&s, json!({"name": "p6", "prefixes": ["2001:db8:3::/48"]})).await;
    assert_eq!(
        (&v6["min_prefixlen"], &v6["max_prefixlen"], &v6["ip_version"]),
        (&json!("64"), &json!("128"), &json!(6))
    );
}

#[tokio::test]
async fn updates_grow_prefixes_bump_the_revision_and_answer_integers() {
    let s = TestServer::start().await;
    let p = pool(&s, json!({"name": "p", "prefixes": ["10.11.12.0/24"], "min_prefixlen": 29})).await;
    let path = format!("/v2.0/subnetpools/{}", p["id"].as_str().unwrap());
    let (st, b) = s
        .put(&path, json!({"subnetpool": {"name": "q", "prefixes": ["10.11.12.0/24", "10.11.15.0/24"], "min_prefixlen": "28", "max_prefixlen": 30}}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let u = &b["subnetpool"];
    assert_eq!(u["prefixes"], json!(["10.11.12.0/24", "10.11.15.0/24"]));
    // Neutron's update answer carries its working dict's integers; a read shows strings.
    assert_eq!(
        (&u["min_prefixlen"], &u["max_prefixlen"], &u["default_prefixlen"]),
        (&json!(28), &json!(30), &json!(29))
    );
    assert_eq!(u["revision_number"], 1);
    let (_, shown) = s.get(&path).await;
    assert_eq!(shown["subnetpool"]["min_prefixlen"], "28");
    let (_, b) = s.put(&path, json!({"subnetpool": {"prefixes": ["10.11.0.0/16"]}})).await;
    assert_eq!(b["subnetpool"]["prefixes"], json!(["10.11.0.0/16"]));

    let shrink = s.put(&path, json!({"subnetpool": {"prefixes": ["10.11.12.0/26"]}})).await;
    assert_error(&shrink, 400, "IllegalSubnetPoolPrefixUpdate");
    assert_eq!(
        shrink.1["NeutronError"]["message"],
        "Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes."
    );
    assert_error(&s.put(&path, json!({"subnetpool": {"shared": true}})).await, 400, "HTTPBadRequest");
    let bounds = s.put(&path, json!({"subnetpool": {"min_prefixlen": 31}})).await;
    assert_eq!(bounds.1["NeutronError"]["message"], "Illegal prefix bounds: min_prefixlen=31, max_prefixlen=30.");
    let mixed = s
        .post("/v2.0/subnetpools", json!({"subnetpool": {"name": "m", "prefixes": ["10.0.0.0/8", "2001:db8::/32"]}}))
        .await;
    assert_error(&mixed, 400, "PrefixVersionMismatch");
}

#[tokio::test]
async fn subnets_take_the_smallest_free_block_or_the_cidr_asked_for() {
    let s = TestServer::start().await;
    let p =
        pool(&s, json!({"name": "p", "prefixes": ["10.11.12.0/24"], "min_prefixlen": 28, "max_prefixlen": 30})).await;
    let pid = p["id"].as_str().unwrap();
    let net = s.network("n").await;
    let (st, a) = subnet_from(&s, &net, 4, json!({"subnetpool_id": pid, "prefixlen": 30})).await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    assert_eq!((&a["subnet"]["cidr"], &a["subnet"]["subnetpool_id"]), (&json!("10.11.12.0/30"), &json!(pid)));
    assert_eq!(a["subnet"]["gateway_ip"], "10.11.12.1");
    assert_eq!(a["subnet"]["allocation_pools"], json!([{"start": "10.11.12.2", "end": "10.11.12.2"}]));
    // The default prefix length is the minimum, 28: the first /28 after the /30's block.
    let (_, b) = subnet_from(&s, &net, 4, json!({"subnetpool_id": pid})).await;
    assert_eq!(b["subnet"]["cidr"], "10.11.12.16/28");
    // The hole left at .4/30 is filled first.
    let (_, c) = subnet_from(&s, &net, 4, json!({"subnetpool_id": pid, "prefixlen": 30})).await;
    assert_eq!(c["subnet"]["cidr"], "10.11.12.4/30");
    let (st, d) = subnet_from(&s, &net, 4, json!({"subnetpool_id": pid, "cidr": "10.11.12.64/28"})).await;
    assert_eq!((st, &d["subnet"]["cidr"]), (StatusCode::CREATED, &json!("10.11.12.64/28")));

    let taken = subnet_from(&s, &net, 4, json!({"subnetpool_id": pid, "cidr": "10.11.12.64/29"})).await;
    assert_error(&taken, 500, "SubnetAllocationError");
    assert_eq!(
        taken.1["NeutronError"]["message"],
        "Failed to allocate subnet: Cannot allocate requested subnet from the available set of prefixes."
    );
    let small = subnet_from(&s, &net, 4, json!({"subnetpool_id": pid, "prefixlen": 31})).await;
    assert_eq!(
        small.1["NeutronError"]["message"],
        "Unable to allocate subnet with prefix length 31, maximum allowed prefix is 30."
    );
    assert_error(&small, 400, "MaxPrefixSubnetAllocationError");
    assert_error(
        &subnet_from(&s, &net, 4, json!({"subnetpool_id": pid, "prefixlen": 24})).await,
        400,
        "MinPrefixSubnetAllocationError",
    );
    let v6 = subnet_from(&s, &net, 6, json!({"subnetpool_id": pid})).await;
    assert_eq!(
        v6.1["NeutronError"]["message"],
        "Bad subnets request: Cannot allocate IPv6 subnet from IPv4 subnet pool."
    );
    let both =
        subnet_from(&s, &net, 4, json!({"subnetpool_id": pid, "cidr": "10.11.12.128/28", "prefixlen": 28})).await;
    assert_eq!(
        both.1["NeutronError"]["message"],
        "Bad subnets request: cidr and prefixlen must not be supplied together."
    );
    let unknown = subnet_from(&s, &net, 4, json!({"subnetpool_id": "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f"})).await;
    assert_error(&unknown, 404, "SubnetPoolNotFound");

    let in_use = s.delete(&format!("/v2.0/subnetpools/{pid}")).await;
    assert_error(&in_use, 400, "SubnetPoolDeleteError");
    assert_eq!(
        in_use.1["NeutronError"]["message"],
        "Unable to delete subnet pool: Subnet pool has existing allocations."
    );
}

#[tokio::test]
async fn an_ipv6_pool_gives_the_first_address_as_gateway_and_exhaustion_is_exact() {
    let s = TestServer::start().await;
    let p = pool(&s, json!({"name": "p6", "prefixes": ["2001:db8:3::/63"]})).await;
    let pid = p["id"].as_str().unwrap();
    let net = s.network("n").await;
    let (st, a) = subnet_from(&s, &net, 6, json!({"subnetpool_id": pid})).await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    assert_eq!(
        (&a["subnet"]["cidr"], &a["subnet"]["gateway_ip"]),
        (&json!("2001:db8:3::/64"), &json!("2001:db8:3::1"))
    );
    let (_, b) = subnet_from(&s, &net, 6, json!({"subnetpool_id": pid, "gateway_ip": null})).await;
    assert_eq!((&b["subnet"]["cidr"], &b["subnet"]["gateway_ip"]), (&json!("2001:db8:3:1::/64"), &Value::Null));
    let full = subnet_from(&s, &net, 6, json!({"subnetpool_id": pid})).await;
    assert_error(&full, 500, "SubnetAllocationError");
    assert_eq!(
        full.1["NeutronError"]["message"],
        "Failed to allocate subnet: Insufficient prefix space to allocate subnet size /64."
    );
}

#[tokio::test]
async fn one_network_takes_one_pool_per_ip_version() {
    let s = TestServer::start().await;
    let p = pool(&s, json!({"name": "p", "prefixes": ["192.168.0.0/16"]})).await;
    let net = s.network("n").await;
    s.subnet(&net, "10.10.10.0/24", json!({"gateway_ip": null})).await;
    let mixed = subnet_from(&s, &net, 4, json!({"subnetpool_id": p["id"], "prefixlen": 24})).await;
    assert_error(&mixed, 400, "NetworkSubnetPoolAffinityError");
}

#[tokio::test]
async fn the_pool_quota_counts_the_projects_addresses() {
    let s = TestServer::start().await;
    let p = pool(&s, json!({"name": "p", "prefixes": ["10.11.12.0/24"], "min_prefixlen": 28, "max_prefixlen": 30, "default_quota": 4})).await;
    let net = s.network("n").await;
    let (st, _) = subnet_from(&s, &net, 4, json!({"subnetpool_id": p["id"], "prefixlen": 30})).await;
    assert_eq!(st, StatusCode::CREATED);
    let over = subnet_from(&s, &net, 4, json!({"subnetpool_id": p["id"], "prefixlen": 30})).await;
    assert_error(&over, 409, "SubnetPoolQuotaExceeded");
    assert_eq!(over.1["NeutronError"]["message"], "Per-project subnet pool prefix quota exceeded.");
}

#[tokio::test]
async fn a_hundred_concurrent_allocations_never_overlap() {
    let s = std::sync::Arc::new(TestServer::start().await);
    // 64 /30s fit in the /24: 64 requests win, 36 get the exhaustion error.
    let p =
        pool(&s, json!({"name": "p", "prefixes": ["10.20.0.0/24"], "min_prefixlen": 24, "max_prefixlen": 30})).await;
    let pid = p["id"].as_str().unwrap().to_string();
    let net = s.network("n").await;
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (s, net, pid) = (s.clone(), net.clone(), pid.clone());
            tokio::spawn(async move { subnet_from(&s, &net, 4, json!({"subnetpool_id": pid, "prefixlen": 30})).await })
        })
        .collect();
    let mut cidrs = Vec::new();
    let mut exhausted = 0;
    for t in tasks {
        let (st, b) = t.await.unwrap();
        if st == StatusCode::CREATED {
            cidrs.push(b["subnet"]["cidr"].as_str().unwrap().parse::<ipnet::Ipv4Net>().unwrap());
        } else {
            assert_error(&(st, b.clone()), 500, "SubnetAllocationError");
            assert_eq!(
                b["NeutronError"]["message"],
                "Failed to allocate subnet: Insufficient prefix space to allocate subnet size /30."
            );
            exhausted += 1;
        }
    }
    assert_eq!((cidrs.len(), exhausted), (64, 36));
    let distinct: HashSet<_> = cidrs.iter().collect();
    assert_eq!(distinct.len(), 64, "every /30 once");
    let pool_net: ipnet::Ipv4Net = "10.20.0.0/24".parse().unwrap();
    assert!(cidrs.iter().all(|c| pool_net.contains(c)));
}

#[tokio::test]
async fn the_default_pool_serves_use_default_subnetpool_and_is_unique() {
    let s = TestServer::start().await;
    let p =
        pool(&s, json!({"name": "d", "prefixes": ["10.30.0.0/16"], "default_prefixlen": 24, "is_default": true})).await;
    let net = s.network("n").await;
    let (st, b) = subnet_from(&s, &net, 4, json!({"use_default_subnetpool": true})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!((&b["subnet"]["cidr"], &b["subnet"]["subnetpool_id"]), (&json!("10.30.0.0/24"), &p["id"]));
    assert!(b["subnet"].get("use_default_subnetpool").is_none() && b["subnet"].get("prefixlen").is_none());
    let second = s
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "e", "prefixes": ["10.40.0.0/16"], "is_default": true}}),
        )
        .await;
    assert_error(&second, 400, "InvalidInput");
    assert_eq!(
        second.1["NeutronError"]["message"],
        "Invalid input for operation: A default subnetpool for this IP family has already been set. Only one default may exist per IP family."
    );
    let none = subnet_from(&s, &net, 6, json!({"use_default_subnetpool": true})).await;
    assert_eq!(none.1["NeutronError"]["message"], "Bad subnets request: No default subnetpool found for IPv6.");
}

#[tokio::test]
async fn prefixes_are_added_and_removed_by_their_actions() {
    let s = TestServer::start().await;
    let p = pool(&s, json!({"name": "p", "prefixes": ["10.0.0.0/24"], "min_prefixlen": 26})).await;
    let path = format!("/v2.0/subnetpools/{}", p["id"].as_str().unwrap());
    let (st, b) = s.put(&format!("{path}/add_prefixes"), json!({"prefixes": ["10.0.1.0/24", "10.9.0.0/24"]})).await;
    assert_eq!((st, &b), (StatusCode::OK, &json!({"prefixes": ["10.0.0.0/23", "10.9.0.0/24"]})));
    let net = s.network("n").await;
    // The smallest free block first: the /24, not the /23.
    let (_, sub) = subnet_from(&s, &net, 4, json!({"subnetpool_id": p["id"]})).await;
    assert_eq!(sub["subnet"]["cidr"], "10.9.0.0/26");
    let used = s.put(&format!("{path}/remove_prefixes"), json!({"prefixes": ["10.9.0.0/25"]})).await;
    assert_error(&used, 400, "IllegalSubnetPoolPrefixUpdate");
    let (_, b) = s.put(&format!("{path}/remove_prefixes"), json!({"prefixes": ["10.0.1.0/24"]})).await;
    assert_eq!(b, json!({"prefixes": ["10.0.0.0/24", "10.9.0.0/24"]}));
    let empty = s.put(&format!("{path}/remove_prefixes"), json!({"prefixes": []})).await;
    assert_eq!(empty.1["NeutronError"]["message"], "Request body contains invalid data");
    assert_error(&s.put(&format!("{path}/bogus"), json!({})).await, 404, "HTTPNotFound");
}

#[tokio::test]
async fn members_may_not_share_and_see_only_their_own_and_shared_pools() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (member, project) = s.member(&admin, "sp", "spuser", "member").await;
    let as_admin = [("X-Auth-Token", admin.as_str())];
    let as_member = [("X-Auth-Token", member.as_str())];
    let create = |shared: bool| json!({"subnetpool": {"name": "p", "prefixes": ["10.0.0.0/16"], "shared": shared}});
    let denied = s.call_with(Method::POST, "/v2.0/subnetpools", Some(create(true)), &as_member).await;
    assert_error(&denied, 403, "PolicyNotAuthorized");
    assert_eq!(
        denied.1["NeutronError"]["message"],
        "(rule:create_subnetpool and rule:create_subnetpool:shared) is disallowed by policy"
    );
    let (_, private) = s.call_with(Method::POST, "/v2.0/subnetpools", Some(create(false)), &as_admin).await;
    let (_, shared) = s.call_with(Method::POST, "/v2.0/subnetpools", Some(create(true)), &as_admin).await;
    let (st, own) = s.call_with(Method::POST, "/v2.0/subnetpools", Some(create(false)), &as_member).await;
    assert_eq!((st, &own["subnetpool"]["project_id"]), (StatusCode::CREATED, &json!(project)));
    let private_id = private["subnetpool"]["id"].as_str().unwrap();
    let hidden = s.call_with(Method::GET, &format!("/v2.0/subnetpools/{private_id}"), None, &as_member).await;
    assert_error(&hidden, 404, "SubnetPoolNotFound");
    let (_, list) = s.call_with(Method::GET, "/v2.0/subnetpools", None, &as_member).await;
    let ids: HashSet<&str> = list["subnetpools"].as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
    let want: HashSet<&str> =
        [shared["subnetpool"]["id"].as_str().unwrap(), own["subnetpool"]["id"].as_str().unwrap()].into();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn address_scopes_keep_their_pools_apart_and_name_the_networks_scope() {
    let s = TestServer::start().await;
    let (st, b) = s.post("/v2.0/address-scopes", json!({"address_scope": {"name": "as", "ip_version": 4}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let scope = b["address_scope"].clone();
    let keys: Vec<&str> = scope.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "name", "tenant_id", "project_id", "shared", "ip_version"]);
    let sid = scope["id"].as_str().unwrap();
    let p = pool(&s, json!({"name": "a", "prefixes": ["20.0.0.0/18", "30.0.0.0/18"], "address_scope_id": sid})).await;
    assert_eq!(p["address_scope_id"], sid);
    let clash = s
        .post(
            "/v2.0/subnetpools",
            json!({"subnetpool": {"name": "b", "prefixes": ["30.0.0.0/12"], "address_scope_id": sid}}),
        )
        .await;
    assert_error(&clash, 409, "AddressScopePrefixConflict");
    let (_, v6) = s.post("/v2.0/address-scopes", json!({"address_scope": {"name": "v6", "ip_version": 6}})).await;
    let other = pool(&s, json!({"name": "c", "prefixes": ["40.0.0.0/18"]})).await;
    let wrong = s
        .put(
            &format!("/v2.0/subnetpools/{}", other["id"].as_str().unwrap()),
            json!({"subnetpool": {"address_scope_id": v6["address_scope"]["id"]}}),
        )
        .await;
    assert_error(&wrong, 400, "IllegalSubnetPoolIpVersionAssociationToAddressScope");
    let unknown = s
        .post("/v2.0/subnetpools", json!({"subnetpool": {"name": "d", "prefixes": ["50.0.0.0/18"], "address_scope_id": "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f"}}))
        .await;
    assert_error(&unknown, 404, "AddressScopeNotFound");

    let net = s.network("n").await;
    let (_, n) = s.get(&format!("/v2.0/networks/{net}")).await;
    assert_eq!(
        (&n["network"]["ipv4_address_scope"], &n["network"]["ipv6_address_scope"]),
        (&Value::Null, &Value::Null)
    );
    let (_, sub) = subnet_from(&s, &net, 4, json!({"subnetpool_id": p["id"], "prefixlen": 24})).await;
    let (_, n) = s.get(&format!("/v2.0/networks/{net}")).await;
    assert_eq!(n["network"]["ipv4_address_scope"], sid);
    // Leaving the scope takes the network along; the last pool subnet leaving clears it.
    let ppath = format!("/v2.0/subnetpools/{}", p["id"].as_str().unwrap());
    let (st, _) = s.put(&ppath, json!({"subnetpool": {"address_scope_id": null}})).await;
    assert_eq!(st, StatusCode::OK);
    let (_, n) = s.get(&format!("/v2.0/networks/{net}")).await;
    assert_eq!(n["network"]["ipv4_address_scope"], Value::Null);
    s.put(&ppath, json!({"subnetpool": {"address_scope_id": sid}})).await;
    s.delete(&format!("/v2.0/subnets/{}", sub["subnet"]["id"].as_str().unwrap())).await;
    let (_, n) = s.get(&format!("/v2.0/networks/{net}")).await;
    assert_eq!(n["network"]["ipv4_address_scope"], Value::Null);

    let in_use = s.delete(&format!("/v2.0/address-scopes/{sid}")).await;
    assert_error(&in_use, 409, "AddressScopeInUse");
    let (_, shared) =
        s.post("/v2.0/address-scopes", json!({"address_scope": {"name": "sh", "ip_version": 4, "shared": true}})).await;
    let unshare = s
        .put(
            &format!("/v2.0/address-scopes/{}", shared["address_scope"]["id"].as_str().unwrap()),
            json!({"address_scope": {"shared": false}}),
        )
        .await;
    assert_error(&unshare, 400, "AddressScopeUpdateError");
    let (st, _) = s.delete(&format!("/v2.0/subnetpools/{}", other["id"].as_str().unwrap())).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn ip_availability_counts_pool_addresses_and_ports_for_admins_only() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (member, _) = s.member(&admin, "ipa", "ipauser", "member").await;
    let as_admin = [("X-Auth-Token", admin.as_str())];
    let as_member = [("X-Auth-Token", member.as_str())];
    let (_, n) = s.call_with(Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "n"}})), &as_admin).await;
    let net = n["network"]["id"].as_str().unwrap().to_string();
    let path = format!("/v2.0/network-ip-availabilities/{net}");
    let (st, empty) = s.call_with(Method::GET, &path, None, &as_admin).await;
    assert_eq!(st, StatusCode::OK, "{empty}");
    let a = &empty["network_ip_availability"];
    assert_eq!((&a["total_ips"], &a["used_ips"], &a["subnet_ip_availability"]), (&json!(0), &json!(0), &json!([])));
    let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["network_id", "network_name", "project_id", "subnet_ip_availability", "used_ips", "total_ips", "tenant_id"]
    );
    for (cidr, v) in [("10.0.0.0/28", 4), ("2001:db8::/64", 6)] {
        let body = json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": v, "enable_dhcp": false}});
        let (st, b) = s.call_with(Method::POST, "/v2.0/subnets", Some(body), &as_admin).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
    }
    let (st, _) = s.call_with(Method::POST, "/v2.0/ports", Some(json!({"port": {"network_id": net}})), &as_admin).await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, b) = s.call_with(Method::GET, &path, None, &as_admin).await;
    let a = &b["network_ip_availability"];
    // 13 IPv4 addresses and 2^64 - 1 IPv6 ones (the gateway is the network address), exactly:
    // the raw text, as `Value` would round it.
    let raw = s.http.get(format!("{}{path}", s.url)).header("X-Auth-Token", &admin).send().await.unwrap();
    let text = raw.text().await.unwrap();
    assert!(text.contains("\"used_ips\":2,\"total_ips\":18446744073709551628,"), "{text}");
    assert_eq!(a["used_ips"], 2);
    assert_eq!(a["subnet_ip_availability"][0]["total_ips"], 13);
    let (_, v4) = s
        .call_with(
            Method::GET,
            &format!("/v2.0/network-ip-availabilities?ip_version=4&network_id={net}"),
            None,
            &as_admin,
        )
        .await;
    assert_eq!(v4["network_ip_availabilities"][0]["total_ips"], 13);

    let hidden = s.call_with(Method::GET, &path, None, &as_member).await;
    assert_error(&hidden, 404, "HTTPNotFound");
    let (st, list) = s.call_with(Method::GET, "/v2.0/network-ip-availabilities", None, &as_member).await;
    assert_eq!((st, list), (StatusCode::OK, json!({"network_ip_availabilities": []})));
    let missing = s
        .call_with(Method::GET, "/v2.0/network-ip-availabilities/8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f", None, &as_admin)
        .await;
    assert_error(&missing, 404, "NetworkNotFound");
}

/// `/v2.0/subnetpools/{id}/tags` is the tags API, not a subnet pool action (it answered 405),
/// and an unknown member action is a 404.
#[tokio::test]
async fn subnet_pool_tags_and_unknown_actions() {
    let s = TestServer::start().await;
    let id = pool(&s, json!({"name": "p", "prefixes": ["10.90.0.0/16"], "default_prefixlen": 24})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, b) = s.put(&format!("/v2.0/subnetpools/{id}/tags"), json!({"tags": ["red", "blue"]})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = s.get(&format!("/v2.0/subnetpools/{id}/tags")).await;
    assert_eq!((st, b["tags"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "{b}");
    let (st, _) = s.call(Method::PUT, &format!("/v2.0/subnetpools/{id}/tags/green"), None).await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = s.call(Method::DELETE, &format!("/v2.0/subnetpools/{id}/tags"), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, p) = s.get(&format!("/v2.0/subnetpools/{id}")).await;
    assert_eq!(p["subnetpool"]["tags"], json!([]));
    let (st, b) = s.put(&format!("/v2.0/networks/{id}/add_prefixes"), json!({"prefixes": []})).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{b}");
}

/// A subnet pool's prefixes are bounded (`max_prefixes_per_subnetpool`): in a body, in one
/// prefix operation, and after a removal splits a prefix.
#[tokio::test]
async fn prefix_lists_are_bounded() {
    let s = TestServer::start().await;
    let many: Vec<String> = (0..65).map(|i| format!("10.{i}.0.0/24")).collect();
    let (st, b) = s.post("/v2.0/subnetpools", json!({"subnetpool": {"name": "p", "prefixes": many}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    let id = pool(&s, json!({"name": "p", "prefixes": ["10.0.0.0/8"]})).await["id"].as_str().unwrap().to_string();
    let (st, b) = s.put(&format!("/v2.0/subnetpools/{id}/add_prefixes"), json!({"prefixes": many})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    // Taking one /32 out of a /8 leaves 24 blocks; three more such cuts would pass 64.
    let mut last = StatusCode::OK;
    for ip in ["10.0.0.1/32", "10.64.0.1/32", "10.128.0.1/32", "10.192.0.1/32"] {
        let (st, _) = s.put(&format!("/v2.0/subnetpools/{id}/remove_prefixes"), json!({"prefixes": [ip]})).await;
        last = st;
    }
    assert_eq!(last, StatusCode::BAD_REQUEST);
    let (_, p) = s.get(&format!("/v2.0/subnetpools/{id}")).await;
    assert!(p["subnetpool"]["prefixes"].as_array().unwrap().len() <= 64, "{p}");
}
