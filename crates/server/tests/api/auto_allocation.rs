//! auto-allocated-topology: `is_default` on external networks (one default, admin-only,
//! its `*` external policy kept), and `GET/DELETE /v2.0/auto-allocated-topology/{project}`:
//! one topology per project, built in one transaction, torn down whole.

use crate::common::{assert_error, assert_error_message, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const P: &str = "aaaabbbbccccdddd0000000000000002";

fn id(v: &Value, kind: &str) -> String {
    v[kind]["id"].as_str().unwrap_or_else(|| panic!("no {kind} id in {v}")).to_string()
}

async fn create_network(s: &TestServer, body: Value) -> (StatusCode, Value) {
    s.post("/v2.0/networks", json!({ "network": body })).await
}

/// An external network with a subnet, made the default.
async fn default_external(s: &TestServer) -> String {
    let (st, n) = create_network(s, json!({"name": "public", "router:external": true, "is_default": true})).await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    let net = id(&n, "network");
    s.subnet(&net, "203.0.113.0/24", json!({"enable_dhcp": false})).await;
    net
}

/// Shared default pools of both IP versions.
async fn default_pools(s: &TestServer) {
    for (name, prefix, len) in [("v4", "10.99.0.0/16", 26), ("v6", "2001:db8:99::/48", 64)] {
        let body = json!({"subnetpool": {"name": name, "prefixes": [prefix], "default_prefixlen": len, "is_default": true, "shared": true}});
        let (st, b) = s.post("/v2.0/subnetpools", body).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
    }
}

async fn as_project(s: &TestServer, method: Method, path: &str) -> (StatusCode, Value) {
    s.call_with(method, path, None, &[("X-Project-Id", P)]).await
}

/// (networks, subnets, routers) of the project named `auto_allocated_*`.
async fn topology_counts(s: &TestServer) -> (usize, usize, usize) {
    let mut counts = [0; 3];
    for (i, kind) in ["networks", "subnets", "routers"].into_iter().enumerate() {
        let (_, l) = s.get(&format!("/v2.0/{kind}?project_id={P}")).await;
        counts[i] = l[kind]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["name"].as_str().unwrap().starts_with("auto_allocated_"))
            .count();
    }
    (counts[0], counts[1], counts[2])
}

#[tokio::test]
async fn is_default_lives_with_router_external() {
    let s = TestServer::start().await;
    // An internal network: the create answer echoes the request, the stored one has none.
    let (st, n) = create_network(&s, json!({"name": "int", "is_default": true})).await;
    assert_eq!((st, &n["network"]["is_default"]), (StatusCode::CREATED, &json!(true)), "{n}");
    let internal = id(&n, "network");
    let (_, shown) = s.get(&format!("/v2.0/networks/{internal}")).await;
    assert!(shown["network"].get("is_default").is_none(), "{shown}");
    let (_, l) = s.get(&format!("/v2.0/networks?id={internal}&fields=id&fields=is_default")).await;
    assert_eq!(l["networks"], json!([{"id": internal}]));

    let default = default_external(&s).await;
    let (_, shown) = s.get(&format!("/v2.0/networks/{default}")).await;
    assert_eq!(shown["network"]["is_default"], json!(true));
    let exists = format!("A default external network already exists: {default}.");
    let dup = create_network(&s, json!({"router:external": true, "is_default": true})).await;
    assert_error_message(&dup, 409, "DefaultExternalNetworkExists", &exists);

    let (st, other) = create_network(&s, json!({"name": "ext2", "router:external": true})).await;
    assert_eq!((st, &other["network"]["is_default"]), (StatusCode::CREATED, &json!(false)), "{other}");
    let other = id(&other, "network");
    let dup = s.put(&format!("/v2.0/networks/{other}"), json!({"network": {"is_default": true}})).await;
    assert_error_message(&dup, 409, "DefaultExternalNetworkExists", &exists);
    // Naming `router:external` makes the check apply even to an internal network.
    let body = json!({"network": {"is_default": true, "router:external": true}});
    assert_error(&s.put(&format!("/v2.0/networks/{internal}"), body).await, 409, "DefaultExternalNetworkExists");
    // On an internal network alone, `is_default` changes nothing.
    let (st, u) = s.put(&format!("/v2.0/networks/{internal}"), json!({"network": {"is_default": true}})).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert!(u["network"].get("is_default").is_none(), "{u}");

    // Neutron ignores the filter (validated, not applied).
    let (_, l) = s.get("/v2.0/networks?is_default=true").await;
    assert_eq!(l["networks"].as_array().unwrap().len(), 3);
    assert_error(&s.get("/v2.0/networks?is_default=abc").await, 400, "InvalidInput");

    // No longer external: no `is_default`, and another network may be the default.
    let (st, u) = s.put(&format!("/v2.0/networks/{default}"), json!({"network": {"router:external": false}})).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert!(u["network"].get("is_default").is_none(), "{u}");
    let (st, u) = s.put(&format!("/v2.0/networks/{other}"), json!({"network": {"is_default": true}})).await;
    assert_eq!((st, &u["network"]["is_default"]), (StatusCode::OK, &json!(true)), "{u}");
    // A description-only update keeps it.
    let (_, u) = s.put(&format!("/v2.0/networks/{other}"), json!({"network": {"description": "d"}})).await;
    assert_eq!(u["network"]["is_default"], json!(true));
    // Deleting the default frees the slot.
    assert_eq!(s.delete(&format!("/v2.0/networks/{other}")).await.0, StatusCode::NO_CONTENT);
    let (st, _) = s
        .put(&format!("/v2.0/networks/{default}"), json!({"network": {"router:external": true, "is_default": true}}))
        .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn updating_router_external_revises_the_network() {
    let s = TestServer::start().await;
    let (_, n) = create_network(&s, json!({"name": "n"})).await;
    let net = id(&n, "network");
    let (_, u) = s.put(&format!("/v2.0/networks/{net}"), json!({"network": {"router:external": true}})).await;
    assert!(u["network"]["revision_number"].as_u64() > n["network"]["revision_number"].as_u64(), "{u}");
    assert_eq!(u["network"]["is_default"], json!(false));
}

#[tokio::test]
async fn only_admins_set_is_default() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (member, _) = s.member(&admin, "project-b", "bob", "member").await;
    let h = [("X-Auth-Token", member.as_str())];
    let (st, n) =
        s.call_with(Method::POST, "/v2.0/networks", Some(json!({"network": {"is_default": false}})), &h).await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    let denied = s.call_with(Method::POST, "/v2.0/networks", Some(json!({"network": {"is_default": true}})), &h).await;
    assert_error(&denied, 403, "PolicyNotAuthorized");
    let path = format!("/v2.0/networks/{}", id(&n, "network"));
    let denied = s.call_with(Method::PUT, &path, Some(json!({"network": {"is_default": false}})), &h).await;
    assert_error(&denied, 403, "PolicyNotAuthorized");
}

#[tokio::test]
async fn the_default_external_networks_wildcard_policy_stays() {
    let s = TestServer::start().await;
    let net = default_external(&s).await;
    let path = format!("/v2.0/rbac-policies?object_id={net}&action=access_as_external&target_tenant=*");
    let (_, l) = s.get(&path).await;
    let policy = l["rbac_policies"][0]["id"].as_str().unwrap().to_string();
    let message = format!(
        "RBAC policy on object {net} cannot be removed because other objects depend on it.\nDetails: Default external networks must be shared to everyone."
    );
    let refused = s.delete(&format!("/v2.0/rbac-policies/{policy}")).await;
    assert_error_message(&refused, 409, "RbacPolicyInUse", &message);
    let narrow = json!({"rbac_policy": {"target_tenant": P}});
    assert_error_message(
        &s.put(&format!("/v2.0/rbac-policies/{policy}"), narrow).await,
        409,
        "RbacPolicyInUse",
        &message,
    );
    s.put(&format!("/v2.0/networks/{net}"), json!({"network": {"is_default": false}})).await;
    assert_eq!(s.delete(&format!("/v2.0/rbac-policies/{policy}")).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_topology_is_built_once_and_torn_down_whole() {
    let s = TestServer::start().await;
    let external = default_external(&s).await;
    default_pools(&s).await;
    let (st, dry) = as_project(&s, Method::GET, "/v2.0/auto-allocated-topology/None?fields=dry-run").await;
    assert_eq!(st, StatusCode::OK, "{dry}");
    assert_eq!(dry, json!({"auto_allocated_topology": {"id": "dry-run=pass", "tenant_id": P, "project_id": P}}));
    assert_eq!(topology_counts(&s).await, (0, 0, 0), "a dry run builds nothing");

    let (st, t) = as_project(&s, Method::GET, "/v2.0/auto-allocated-topology/None").await;
    assert_eq!(st, StatusCode::OK, "{t}");
    let net = t["auto_allocated_topology"]["id"].as_str().unwrap().to_string();
    assert_eq!(t, json!({"auto_allocated_topology": {"id": net, "tenant_id": P, "project_id": P}}));
    assert_eq!(topology_counts(&s).await, (1, 2, 1));
    let (_, n) = s.get(&format!("/v2.0/networks/{net}")).await;
    assert_eq!((&n["network"]["admin_state_up"], &n["network"]["project_id"]), (&json!(true), &json!(P)));
    let (_, r) = s.get("/v2.0/routers?name=auto_allocated_router").await;
    assert_eq!(r["routers"][0]["external_gateway_info"]["network_id"], json!(external));
    let (_, ports) = s.get(&format!("/v2.0/ports?network_id={net}&device_owner=network:router_interface")).await;
    assert_eq!(ports["ports"].as_array().unwrap().len(), 2, "an interface on each subnet: {ports}");

    let (_, again) = s.get(&format!("/v2.0/auto-allocated-topology/{P}")).await;
    assert_eq!(again["auto_allocated_topology"]["id"], json!(net));
    assert_eq!(topology_counts(&s).await, (1, 2, 1));

    let (st, _) = as_project(&s, Method::DELETE, &format!("/v2.0/auto-allocated-topology/{P}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(topology_counts(&s).await, (0, 0, 0));
    let (_, ports) = s.get(&format!("/v2.0/ports?network_id={external}&device_owner=network:router_gateway")).await;
    assert_eq!(ports["ports"], json!([]), "the gateway went with the router");
    // Without a topology, DELETE answers as Neutron's (which builds one to delete it).
    let (st, _) = as_project(&s, Method::DELETE, "/v2.0/auto-allocated-topology/None").await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(topology_counts(&s).await, (0, 0, 0));
}

#[tokio::test]
async fn concurrent_requests_get_one_topology() {
    let s = TestServer::start().await;
    default_external(&s).await;
    default_pools(&s).await;
    let path = format!("/v2.0/auto-allocated-topology/{P}");
    let calls = (0..8).map(|_| s.get(&path));
    let answers = futures::future::join_all(calls).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(st, t)| {
            assert_eq!(*st, StatusCode::OK, "{t}");
            t["auto_allocated_topology"]["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(topology_counts(&s).await, (1, 2, 1));
}

#[tokio::test]
async fn requirements_and_failures_leave_nothing() {
    let s = TestServer::start().await;
    let no_external = "Deployment error: No default router:external network.";
    for method in [Method::GET, Method::DELETE] {
        let got = as_project(&s, method, "/v2.0/auto-allocated-topology/None").await;
        assert_error_message(&got, 409, "AutoAllocationFailure", no_external);
    }
    let got = as_project(&s, Method::GET, "/v2.0/auto-allocated-topology/None?fields=dry-run").await;
    assert_error_message(&got, 409, "AutoAllocationFailure", no_external);
    default_external(&s).await;
    let got = as_project(&s, Method::GET, "/v2.0/auto-allocated-topology/None?fields=dry-run").await;
    assert_error_message(&got, 409, "AutoAllocationFailure", "Deployment error: No default subnetpools defined.");
    let got = as_project(&s, Method::GET, "/v2.0/auto-allocated-topology/None").await;
    assert_error_message(
        &got,
        409,
        "AutoAllocationFailure",
        "Deployment error: Unable to provide tenant private network.",
    );
    let got = as_project(&s, Method::GET, "/v2.0/auto-allocated-topology/None?fields=id").await;
    assert_error_message(&got, 400, "BadRequest", "Bad auto_allocate request: Unrecognized field.");
    assert_eq!(topology_counts(&s).await, (0, 0, 0));

    // The router step fails (no router quota): the network and subnets made before it go too.
    default_pools(&s).await;
    let (st, _) = s.put(&format!("/v2.0/quotas/{P}"), json!({"quota": {"router": 0}})).await;
    assert_eq!(st, StatusCode::OK);
    assert_error(&as_project(&s, Method::GET, "/v2.0/auto-allocated-topology/None").await, 409, "OverQuota");
    assert_eq!(topology_counts(&s).await, (0, 0, 0));
    let (_, ports) = s.get(&format!("/v2.0/ports?project_id={P}")).await;
    assert_eq!(ports["ports"], json!([]));
}

#[tokio::test]
async fn deleting_the_network_forgets_the_topology() {
    let s = TestServer::start().await;
    default_external(&s).await;
    default_pools(&s).await;
    let path = format!("/v2.0/auto-allocated-topology/{P}");
    let (_, t) = s.get(&path).await;
    let net = t["auto_allocated_topology"]["id"].as_str().unwrap().to_string();
    let (_, r) = s.get("/v2.0/routers?name=auto_allocated_router").await;
    let router = r["routers"][0]["id"].as_str().unwrap().to_string();
    let (_, n) = s.get(&format!("/v2.0/networks/{net}")).await;
    for subnet in n["network"]["subnets"].as_array().unwrap() {
        let body = json!({"subnet_id": subnet});
        assert_eq!(s.put(&format!("/v2.0/routers/{router}/remove_router_interface"), body).await.0, StatusCode::OK);
    }
    assert_eq!(s.delete(&format!("/v2.0/routers/{router}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.delete(&format!("/v2.0/networks/{net}")).await.0, StatusCode::NO_CONTENT);
    let (st, t) = s.get(&path).await;
    assert_eq!(st, StatusCode::OK, "{t}");
    assert_ne!(t["auto_allocated_topology"]["id"], json!(net), "a new topology");
    assert_eq!(topology_counts(&s).await, (1, 2, 1));
}

#[tokio::test]
async fn a_project_reads_only_its_own_topology() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (member, project) = s.member(&admin, "project-b", "bob", "member").await;
    let (reader, _) = s.member(&admin, "project-c", "carol", "reader").await;
    let h = [("X-Auth-Token", admin.as_str())];
    let (st, n) = s
        .call_with(
            Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {"router:external": true, "is_default": true}})),
            &h,
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    let pool = json!({"subnetpool": {"name": "v4", "prefixes": ["10.99.0.0/16"], "default_prefixlen": 26, "is_default": true, "shared": true}});
    assert_eq!(s.call_with(Method::POST, "/v2.0/subnetpools", Some(pool), &h).await.0, StatusCode::CREATED);

    let m = [("X-Auth-Token", member.as_str())];
    let other = s.call_with(Method::GET, "/v2.0/auto-allocated-topology/someone-else", None, &m).await;
    assert_error_message(&other, 403, "NotAuthorized", "Not authorized.");
    let (st, t) = s.call_with(Method::GET, "/v2.0/auto-allocated-topology/None", None, &m).await;
    assert_eq!((st, &t["auto_allocated_topology"]["project_id"]), (StatusCode::OK, &json!(project)), "{t}");

    // A reader reads (and so builds, as in Neutron) but may not delete; a refused delete
    // keeps the topology.
    let r = [("X-Auth-Token", reader.as_str())];
    let (st, t) = s.call_with(Method::GET, "/v2.0/auto-allocated-topology/None", None, &r).await;
    assert_eq!(st, StatusCode::OK, "{t}");
    let denied = s.call_with(Method::DELETE, "/v2.0/auto-allocated-topology/None", None, &r).await;
    assert_error(&denied, 403, "PolicyNotAuthorized");
    let (_, again) = s.call_with(Method::GET, "/v2.0/auto-allocated-topology/None", None, &r).await;
    assert_eq!(again["auto_allocated_topology"]["id"], t["auto_allocated_topology"]["id"]);
    let (st, _) = s.call_with(Method::DELETE, "/v2.0/auto-allocated-topology/None", None, &m).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}
