//! RBAC policies on subnet pools and address scopes (`rbac-subnetpool`,
//! `rbac-address-scope`), as neutron-tempest-plugin's `RbacSubnetPoolTest` and
//! `RbacAddressScopeTest` exercise them.

use crate::common::{assert_error, assert_error_message, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn as_user(s: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.call_with(method, path, body, &[("X-Auth-Token", token)]).await
}

/// Creates an object and answers its id.
async fn create(s: &TestServer, token: &str, path: &str, key: &str, body: Value) -> String {
    let (st, v) = as_user(s, token, Method::POST, path, Some(json!({ key: body }))).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v[key]["id"].as_str().unwrap().to_string()
}

fn policy(object_type: &str, object_id: &str, target: &str) -> Value {
    json!({"rbac_policy": {"object_type": object_type, "object_id": object_id,
        "action": "access_as_shared", "target_tenant": target}})
}

async fn share(s: &TestServer, token: &str, object_type: &str, object_id: &str, target: &str) -> String {
    let (st, p) =
        as_user(s, token, Method::POST, "/v2.0/rbac-policies", Some(policy(object_type, object_id, target))).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    assert_eq!(p["rbac_policy"]["object_type"], object_type);
    p["rbac_policy"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_extensions_are_advertised() {
    let s = TestServer::start().await;
    for alias in ["rbac-subnetpool", "rbac-address-scope"] {
        let (st, e) = s.call(Method::GET, &format!("/v2.0/extensions/{alias}"), None).await;
        assert_eq!(st, StatusCode::OK, "{e}");
        assert_eq!(e["extension"]["alias"], alias);
    }
}

#[tokio::test]
async fn a_targeted_policy_shares_a_subnet_pool_until_its_subnets_hold_it() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, demo_project) = s.member(&admin, "rp1", "rpuser1", "member").await;
    let (other, _) = s.member(&admin, "rp2", "rpuser2", "member").await;
    let pool = create(
        &s,
        &admin,
        "/v2.0/subnetpools",
        "subnetpool",
        json!({"name": "p", "prefixes": ["10.80.0.0/16"], "default_prefixlen": 24}),
    )
    .await;
    let pool_path = format!("/v2.0/subnetpools/{pool}");
    assert_error(&as_user(&s, &demo, Method::GET, &pool_path, None).await, 404, "SubnetPoolNotFound");

    let id = share(&s, &admin, "subnetpool", &pool, &demo_project).await;
    let policy_path = format!("/v2.0/rbac-policies/{id}");
    // It is shared with the target (and shows so to it), not with everyone.
    let (st, got) = as_user(&s, &demo, Method::GET, &pool_path, None).await;
    assert_eq!((st, &got["subnetpool"]["shared"]), (StatusCode::OK, &json!(true)), "{got}");
    let (_, got) = as_user(&s, &admin, Method::GET, &pool_path, None).await;
    assert_eq!(got["subnetpool"]["shared"], false, "{got}");
    let (_, list) = as_user(&s, &demo, Method::GET, "/v2.0/subnetpools?shared=true", None).await;
    assert_eq!(list["subnetpools"].as_array().unwrap().len(), 1, "{list}");
    assert_error(&as_user(&s, &other, Method::GET, &pool_path, None).await, 404, "SubnetPoolNotFound");
    let (_, list) = as_user(&s, &other, Method::GET, "/v2.0/subnetpools", None).await;
    assert_eq!(list["subnetpools"].as_array().unwrap().len(), 0, "{list}");
    // The target is not the owner: it may not share the pool further.
    assert_error_message(
        &as_user(
            &s,
            &demo,
            Method::POST,
            "/v2.0/rbac-policies",
            Some(policy("subnetpool", &pool, "2b9e6c0e4d1a4f6a8f0c3b5d7e9a1c2b")),
        )
        .await,
        400,
        "InvalidInput",
        "Invalid input for operation: Only admins can manipulate policies on objects they do not own.",
    );
    // ... and does not see the policy.
    let (_, list) = as_user(&s, &demo, Method::GET, "/v2.0/rbac-policies", None).await;
    assert_eq!(list["rbac_policies"], json!([]));

    // The target allocates from the pool; its subnet holds the policy.
    let net = create(&s, &demo, "/v2.0/networks", "network", json!({"name": "n"})).await;
    let subnet = create(
        &s,
        &demo,
        "/v2.0/subnets",
        "subnet",
        json!({"network_id": net, "ip_version": 4, "subnetpool_id": pool}),
    )
    .await;
    assert_error_message(
        &as_user(&s, &admin, Method::DELETE, &policy_path, None).await,
        409,
        "RbacPolicyInUse",
        &format!("RBAC policy on object {pool} cannot be removed because other objects depend on it.\nDetails: project_id={demo_project}"),
    );
    // Nor may it be retargeted away from the project.
    let retarget = json!({"rbac_policy": {"target_tenant": "2b9e6c0e4d1a4f6a8f0c3b5d7e9a1c2b"}});
    assert_error(&as_user(&s, &admin, Method::PUT, &policy_path, Some(retarget)).await, 409, "RbacPolicyInUse");
    assert_eq!(
        as_user(&s, &demo, Method::DELETE, &format!("/v2.0/subnets/{subnet}"), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(as_user(&s, &admin, Method::DELETE, &policy_path, None).await.0, StatusCode::NO_CONTENT);
    assert_error(&as_user(&s, &demo, Method::GET, &pool_path, None).await, 404, "SubnetPoolNotFound");
}

#[tokio::test]
async fn the_wildcard_policy_is_the_shared_flag() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, _) = s.member(&admin, "rp3", "rpuser3", "member").await;
    let scope =
        create(&s, &admin, "/v2.0/address-scopes", "address_scope", json!({"name": "s", "ip_version": 4})).await;
    let scope_path = format!("/v2.0/address-scopes/{scope}");
    assert_error(&as_user(&s, &demo, Method::GET, &scope_path, None).await, 404, "AddressScopeNotFound");
    let id = share(&s, &admin, "address_scope", &scope, "*").await;
    let (_, got) = as_user(&s, &demo, Method::GET, &scope_path, None).await;
    assert_eq!(got["address_scope"]["shared"], true, "{got}");
    // A project may put its pool in a scope shared with all (what Neutron does since
    // `rbac-address-scope`); the pool then holds the `*` policy.
    let body = json!({"name": "mine", "prefixes": ["10.83.0.0/16"], "address_scope_id": scope});
    let mine = create(&s, &demo, "/v2.0/subnetpools", "subnetpool", body).await;
    let policy_path = format!("/v2.0/rbac-policies/{id}");
    assert_error(&as_user(&s, &admin, Method::DELETE, &policy_path, None).await, 409, "RbacPolicyInUse");
    assert_eq!(
        as_user(&s, &demo, Method::DELETE, &format!("/v2.0/subnetpools/{mine}"), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(as_user(&s, &admin, Method::DELETE, &policy_path, None).await.0, StatusCode::NO_CONTENT);
    assert_error(&as_user(&s, &demo, Method::GET, &scope_path, None).await, 404, "AddressScopeNotFound");

    // A pool created shared has its `*` policy.
    let pool = create(
        &s,
        &admin,
        "/v2.0/subnetpools",
        "subnetpool",
        json!({"name": "p", "prefixes": ["10.81.0.0/16"], "shared": true}),
    )
    .await;
    let (_, list) = as_user(&s, &admin, Method::GET, &format!("/v2.0/rbac-policies?object_id={pool}"), None).await;
    let policies = list["rbac_policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1, "{list}");
    assert_eq!(
        (policies[0]["target_tenant"].as_str(), policies[0]["object_type"].as_str()),
        (Some("*"), Some("subnetpool"))
    );
    // Only networks are external.
    let ext = json!({"rbac_policy": {"object_type": "subnetpool", "object_id": pool, "action": "access_as_external", "target_tenant": "*"}});
    assert_error(&as_user(&s, &admin, Method::POST, "/v2.0/rbac-policies", Some(ext)).await, 400, "InvalidInput");
}

#[tokio::test]
async fn a_scope_shared_with_a_project_lets_it_build_pools_and_is_held_by_them() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, demo_project) = s.member(&admin, "rp4", "rpuser4", "member").await;
    let (_, other_project) = s.member(&admin, "rp5", "rpuser5", "member").await;
    let scope =
        create(&s, &admin, "/v2.0/address-scopes", "address_scope", json!({"name": "s", "ip_version": 4})).await;
    let body = json!({"name": "p", "prefixes": ["10.82.0.0/16"], "address_scope_id": scope});
    assert_error(
        &as_user(&s, &demo, Method::POST, "/v2.0/subnetpools", Some(json!({"subnetpool": body.clone()}))).await,
        404,
        "AddressScopeNotFound",
    );
    let id = share(&s, &admin, "address_scope", &scope, &demo_project).await;
    let pool = create(&s, &demo, "/v2.0/subnetpools", "subnetpool", body).await;

    // The pool may be shared only with projects that may use its scope.
    assert_error_message(
        &as_user(&s, &demo, Method::POST, "/v2.0/rbac-policies", Some(policy("subnetpool", &pool, &other_project))).await,
        400,
        "InvalidInput",
        &format!("Invalid input for operation: Failed to create RBAC policy on object {pool} because target project doesn't have access to associated address scope."),
    );
    share(&s, &admin, "address_scope", &scope, &other_project).await;
    share(&s, &demo, "subnetpool", &pool, &other_project).await;

    // The demo project's pool holds the scope's policy.
    let policy_path = format!("/v2.0/rbac-policies/{id}");
    assert_error(&as_user(&s, &admin, Method::DELETE, &policy_path, None).await, 409, "RbacPolicyInUse");
    assert_eq!(
        as_user(&s, &demo, Method::DELETE, &format!("/v2.0/subnetpools/{pool}"), None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(as_user(&s, &admin, Method::DELETE, &policy_path, None).await.0, StatusCode::NO_CONTENT);
}
