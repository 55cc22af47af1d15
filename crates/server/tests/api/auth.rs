//! Authentication, multi-tenancy, policy and quotas with the embedded identity service.

use crate::common::{assert_error, TestServer, ADMIN_PASSWORD};
use neutrino_server::app::identity;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn as_user(s: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.call_with(method, path, body, &[("X-Auth-Token", token)]).await
}

fn keystone_401(got: &(StatusCode, Value)) {
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.1);
    assert_eq!(got.1["error"]["code"], 401, "{}", got.1);
    assert_eq!(got.1["error"]["title"], "Unauthorized");
}

#[tokio::test]
async fn password_tokens_and_catalog() {
    let s = TestServer::start_auth().await;
    let (st, token, body) = s.login("admin", ADMIN_PASSWORD, "admin").await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let token = token.unwrap();
    let t = &body["token"];
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["user"]["domain"]["name"], "Default");
    let roles: Vec<&str> = t["roles"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
    assert!(roles.contains(&"admin") && roles.contains(&"member") && roles.contains(&"reader"), "{roles:?}");
    let network = t["catalog"].as_array().unwrap().iter().find(|e| e["type"] == "network").unwrap();
    let public = network["endpoints"].as_array().unwrap().iter().find(|e| e["interface"] == "public").unwrap();
    assert_eq!(public["url"], s.url.as_str());
    assert_eq!(public["region"], "RegionOne");
    // Wrong password, unknown user, unknown project: 401, nothing issued.
    assert_eq!(s.login("admin", "nope", "admin").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(s.login("ghost", "x", "admin").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(s.login("admin", ADMIN_PASSWORD, "nowhere").await.0, StatusCode::UNAUTHORIZED);
    // The token works on the network API; validation and revocation.
    assert_eq!(as_user(&s, &token, Method::GET, "/v2.0/networks", None).await.0, StatusCode::OK);
    let check = s
        .call_with(Method::GET, "/v3/auth/tokens", None, &[("X-Auth-Token", &token), ("X-Subject-Token", &token)])
        .await;
    assert_eq!(check.0, StatusCode::OK);
    assert_eq!(check.1["token"]["project"]["name"], "admin");
    let (_, other, _) = s.login("admin", ADMIN_PASSWORD, "admin").await;
    let other = other.unwrap();
    let del = s
        .call_with(Method::DELETE, "/v3/auth/tokens", None, &[("X-Auth-Token", &other), ("X-Subject-Token", &token)])
        .await;
    assert_eq!(del.0, StatusCode::NO_CONTENT);
    keystone_401(&as_user(&s, &token, Method::GET, "/v2.0/networks", None).await);
    assert_eq!(as_user(&s, &other, Method::GET, "/v2.0/networks", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn bad_tokens_are_401_and_change_nothing() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let create = json!({"network": {"name": "sneaky"}});
    keystone_401(&s.post("/v2.0/networks", create.clone()).await);
    keystone_401(&as_user(&s, "garbage", Method::POST, "/v2.0/networks", Some(create.clone())).await);
    // Tampered: flip a character of the signature.
    let mut forged = admin.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    keystone_401(&as_user(&s, &forged, Method::POST, "/v2.0/networks", Some(create.clone())).await);
    // Signed by another deployment's keys.
    let elsewhere = TestServer::start_auth().await;
    let foreign = elsewhere.admin_token().await;
    keystone_401(&as_user(&s, &foreign, Method::POST, "/v2.0/networks", Some(create)).await);
    let res = s.http.get(format!("{}/v2.0/networks", s.url)).send().await.unwrap();
    assert!(res
        .headers()
        .get("www-authenticate")
        .is_some_and(|v| v.to_str().unwrap_or("").starts_with("Keystone uri=")));
    let (_, list) = as_user(&s, &admin, Method::GET, "/v2.0/networks", None).await;
    assert_eq!(list["networks"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let s = TestServer::start_with(|c| {
        c.noauth = false;
        c.identity.token_ttl_seconds = 0;
    })
    .await;
    let (st, token, _) = s.login("admin", ADMIN_PASSWORD, "admin").await;
    assert_eq!(st, StatusCode::CREATED);
    keystone_401(&as_user(&s, &token.unwrap(), Method::GET, "/v2.0/networks", None).await);
}

#[tokio::test]
async fn tenants_are_isolated_and_admin_attributes_are_guarded() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, demo_project) = s.member(&admin, "demo", "demo", "member").await;
    let (_, shared) = as_user(
        &s,
        &admin,
        Method::POST,
        "/v2.0/networks",
        Some(json!({"network": {"name": "public", "shared": true}})),
    )
    .await;
    let (_, private) =
        as_user(&s, &admin, Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "admin-only"}}))).await;
    let shared_id = shared["network"]["id"].as_str().unwrap();
    let private_id = private["network"]["id"].as_str().unwrap();
    s.call_with(
        Method::POST,
        "/v2.0/subnets",
        Some(json!({"subnet": {"network_id": shared_id, "cidr": "10.50.0.0/24", "ip_version": 4}})),
        &[("X-Auth-Token", &admin)],
    )
    .await;

    // The member sees the shared network (without provider attributes) but not the private one.
    let (_, list) = as_user(&s, &demo, Method::GET, "/v2.0/networks", None).await;
    let names: Vec<&str> = list["networks"].as_array().unwrap().iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names, ["public"]);
    assert!(list["networks"][0].get("provider:network_type").is_none());
    assert_error(
        &as_user(&s, &demo, Method::GET, &format!("/v2.0/networks/{private_id}"), None).await,
        404,
        "NetworkNotFound",
    );
    assert_error(
        &as_user(&s, &demo, Method::DELETE, &format!("/v2.0/networks/{private_id}"), None).await,
        404,
        "NetworkNotFound",
    );
    let (_, subnets) = as_user(&s, &demo, Method::GET, "/v2.0/subnets", None).await;
    assert_eq!(subnets["subnets"].as_array().unwrap().len(), 1, "subnets of shared networks are visible");
    // Visible but not theirs: 403.
    assert_error(
        &as_user(
            &s,
            &demo,
            Method::PUT,
            &format!("/v2.0/networks/{shared_id}"),
            Some(json!({"network": {"name": "mine"}})),
        )
        .await,
        403,
        "PolicyNotAuthorized",
    );
    // Admin-only attributes.
    assert_error(
        &as_user(&s, &demo, Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "x", "shared": true}})))
            .await,
        403,
        "PolicyNotAuthorized",
    );
    assert_error(
        &as_user(
            &s,
            &demo,
            Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {"name": "x", "router:external": true}})),
        )
        .await,
        403,
        "PolicyNotAuthorized",
    );
    assert_error(
        &as_user(
            &s,
            &demo,
            Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {"name": "x", "provider:network_type": "vxlan"}})),
        )
        .await,
        403,
        "PolicyNotAuthorized",
    );
    assert_error(
        &as_user(
            &s,
            &demo,
            Method::POST,
            "/v2.0/networks",
            Some(json!({"network": {"name": "x", "project_id": "someone-else"}})),
        )
        .await,
        400,
        "HTTPBadRequest",
    );
    // Their own network works; ports on the shared network too.
    let (st, own) =
        as_user(&s, &demo, Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "demo-net"}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{own}");
    assert_eq!(own["network"]["project_id"], demo_project.as_str());
    let (st, port) =
        as_user(&s, &demo, Method::POST, "/v2.0/ports", Some(json!({"port": {"network_id": shared_id}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{port}");
    assert!(port["port"].get("binding:host_id").is_none());
    // The admin sees everything.
    let (_, all) = as_user(&s, &admin, Method::GET, "/v2.0/networks", None).await;
    assert_eq!(all["networks"].as_array().unwrap().len(), 3);
    // A reader reads but cannot write.
    let (reader, _) = s.member(&admin, "audit", "auditor", "reader").await;
    assert_eq!(as_user(&s, &reader, Method::GET, "/v2.0/networks", None).await.0, StatusCode::OK);
    assert_error(
        &as_user(&s, &reader, Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "r"}}))).await,
        403,
        "PolicyNotAuthorized",
    );
    // Identity admin API is admin-only.
    let (st, _) = as_user(&s, &demo, Method::POST, "/v3/projects", Some(json!({"project": {"name": "evil"}}))).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

/// 30 concurrent creates with a quota of 10: exactly 10 succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quotas_are_exact_under_concurrency() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, project) = s.member(&admin, "q", "quser", "member").await;
    let (st, q) =
        as_user(&s, &admin, Method::PUT, &format!("/v2.0/quotas/{project}"), Some(json!({"quota": {"network": 10}})))
            .await;
    assert_eq!(st, StatusCode::OK, "{q}");
    assert_eq!(q["quota"]["network"], 10);
    assert_eq!(q["quota"]["port"], 500);
    let calls = (0..30).map(|i| {
        as_user(&s, &demo, Method::POST, "/v2.0/networks", Some(json!({"network": {"name": format!("n{i}")}})))
    });
    let results = futures::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.0 == StatusCode::CREATED).count();
    let over =
        results.iter().filter(|r| r.0 == StatusCode::CONFLICT && r.1["NeutronError"]["type"] == "OverQuota").count();
    assert_eq!((ok, over), (10, 20));
    let (_, details) = as_user(&s, &demo, Method::GET, &format!("/v2.0/quotas/{project}/details"), None).await;
    assert_eq!(details["quota"]["network"], json!({"limit": 10, "used": 10, "reserved": 0}));
    assert_error(
        &as_user(&s, &demo, Method::PUT, &format!("/v2.0/quotas/{project}"), Some(json!({"quota": {"network": 99}})))
            .await,
        403,
        "PolicyNotAuthorized",
    );
    assert_error(
        &as_user(&s, &admin, Method::PUT, &format!("/v2.0/quotas/{project}"), Some(json!({"quota": {"bogus": 1}})))
            .await,
        400,
        "HTTPBadRequest",
    );
    assert_eq!(
        as_user(&s, &admin, Method::DELETE, &format!("/v2.0/quotas/{project}"), None).await.0,
        StatusCode::NO_CONTENT
    );
    let (_, q) = as_user(&s, &demo, Method::GET, &format!("/v2.0/quotas/{project}"), None).await;
    assert_eq!(q["quota"]["network"], 100);
}

#[tokio::test]
async fn rbac_policies_share_networks_per_project() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, demo_project) = s.member(&admin, "rb1", "rbuser1", "member").await;
    let (other, _) = s.member(&admin, "rb2", "rbuser2", "member").await;
    let (_, n) =
        as_user(&s, &admin, Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "targeted"}}))).await;
    let net = n["network"]["id"].as_str().unwrap().to_string();
    let net_path = format!("/v2.0/networks/{net}");
    assert_error(&as_user(&s, &demo, Method::GET, &net_path, None).await, 404, "NetworkNotFound");

    let body = json!({"rbac_policy": {"object_type": "network", "object_id": net, "action": "access_as_shared", "target_tenant": demo_project}});
    let (st, p) = as_user(&s, &admin, Method::POST, "/v2.0/rbac-policies", Some(body.clone())).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let policy = p["rbac_policy"]["id"].as_str().unwrap().to_string();
    assert_error(
        &as_user(&s, &admin, Method::POST, "/v2.0/rbac-policies", Some(body)).await,
        409,
        "DuplicateRbacPolicy",
    );

    // The target sees it and uses it; another project still does not.
    assert_eq!(as_user(&s, &demo, Method::GET, &net_path, None).await.0, StatusCode::OK);
    let (_, list) = as_user(&s, &demo, Method::GET, "/v2.0/networks", None).await;
    assert_eq!(list["networks"].as_array().unwrap().len(), 1);
    assert_error(&as_user(&s, &other, Method::GET, &net_path, None).await, 404, "NetworkNotFound");
    let (st, port) = as_user(&s, &demo, Method::POST, "/v2.0/ports", Some(json!({"port": {"network_id": net}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{port}");

    // Its ports hold the policy.
    let policy_path = format!("/v2.0/rbac-policies/{policy}");
    assert_error(&as_user(&s, &admin, Method::DELETE, &policy_path, None).await, 409, "RbacPolicyInUse");
    let port_path = format!("/v2.0/ports/{}", port["port"]["id"].as_str().unwrap());
    assert_eq!(as_user(&s, &demo, Method::DELETE, &port_path, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(as_user(&s, &admin, Method::DELETE, &policy_path, None).await.0, StatusCode::NO_CONTENT);
    assert_error(&as_user(&s, &demo, Method::GET, &net_path, None).await, 404, "NetworkNotFound");

    // The wildcard policy is the shared flag, both ways.
    let star = json!({"rbac_policy": {"object_type": "network", "object_id": net, "action": "access_as_shared", "target_tenant": "*"}});
    assert_error(
        &as_user(&s, &demo, Method::POST, "/v2.0/rbac-policies", Some(star.clone())).await,
        403,
        "PolicyNotAuthorized",
    );
    let (st, p) = as_user(&s, &admin, Method::POST, "/v2.0/rbac-policies", Some(star)).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let (_, shown) = as_user(&s, &admin, Method::GET, &net_path, None).await;
    assert_eq!(shown["network"]["shared"], true);
    let (_, port) = as_user(&s, &other, Method::POST, "/v2.0/ports", Some(json!({"port": {"network_id": net}}))).await;
    assert_error(
        &as_user(&s, &admin, Method::PUT, &net_path, Some(json!({"network": {"shared": false}}))).await,
        409,
        "InvalidSharedSetting",
    );
    let port_path = format!("/v2.0/ports/{}", port["port"]["id"].as_str().unwrap());
    assert_eq!(as_user(&s, &other, Method::DELETE, &port_path, None).await.0, StatusCode::NO_CONTENT);
    let (st, u) = as_user(&s, &admin, Method::PUT, &net_path, Some(json!({"network": {"shared": false}}))).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    let (_, policies) = as_user(&s, &admin, Method::GET, &format!("/v2.0/rbac-policies?object_id={net}"), None).await;
    assert_eq!(policies["rbac_policies"].as_array().unwrap().len(), 0, "{policies}");

    // External to everyone.
    let ext = json!({"rbac_policy": {"object_type": "network", "object_id": net, "action": "access_as_external", "target_tenant": "*"}});
    assert_eq!(as_user(&s, &admin, Method::POST, "/v2.0/rbac-policies", Some(ext)).await.0, StatusCode::CREATED);
    let (_, shown) = as_user(&s, &other, Method::GET, &net_path, None).await;
    assert_eq!(shown["network"]["router:external"], true);
    let bad = json!({"rbac_policy": {"object_type": "network", "object_id": net, "action": "access_as_everything", "target_tenant": "*"}});
    assert_error(&as_user(&s, &admin, Method::POST, "/v2.0/rbac-policies", Some(bad)).await, 400, "InvalidInput");
}

/// Another neutrino plays the external Keystone: tokens it issues are validated over HTTP
/// with a service credential, and the caller's project and roles apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_keystone_validates_tokens() {
    let keystone = TestServer::start_auth().await;
    let admin = keystone.admin_token().await;
    let (demo, demo_project) = keystone.member(&admin, "ext", "extuser", "member").await;
    let url = keystone.url.clone();
    let s = TestServer::start_with(move |c| {
        c.noauth = false;
        c.identity.external_keystone_url = format!("{url}/v3");
        c.identity.service_username = "admin".into();
        c.identity.service_password = ADMIN_PASSWORD.into();
        c.identity.service_project = "admin".into();
    })
    .await;
    let (st, n) =
        as_user(&s, &demo, Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "ext-net"}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    assert_eq!(n["network"]["project_id"], demo_project.as_str());
    assert_error(
        &as_user(&s, &demo, Method::POST, "/v2.0/networks", Some(json!({"network": {"shared": true}}))).await,
        403,
        "PolicyNotAuthorized",
    );
    keystone_401(&as_user(&s, "not-a-token", Method::GET, "/v2.0/networks", None).await);
    let (st, all) = as_user(&s, &admin, Method::GET, "/v2.0/networks", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(all["networks"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_policy_file_overrides_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(
        &file,
        "# members may share their networks\n\"create_network:shared\": \"rule:admin_only or rule:project_member\"\n",
    )
    .unwrap();
    let s = TestServer::start_with(move |c| {
        c.noauth = false;
        c.policy_file = Some(file);
    })
    .await;
    let admin = s.admin_token().await;
    let (demo, _) = s.member(&admin, "pf", "pfuser", "member").await;
    let (st, n) =
        as_user(&s, &demo, Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "mine", "shared": true}})))
            .await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    assert_error(
        &as_user(&s, &demo, Method::POST, "/v2.0/networks", Some(json!({"network": {"router:external": true}}))).await,
        403,
        "PolicyNotAuthorized",
    );
}

#[tokio::test]
async fn tokens_of_a_rotated_out_key_are_refused() {
    let s = TestServer::start_auth().await;
    let old = s.admin_token().await;
    let app = s.app.clone().unwrap();
    let rotate = || {
        // The keys are files, or in the database under NEUTRINO_TEST_STORE=postgres.
        neutrino_server::rotate_keys(neutrino_server::RotateArgs {
            config: None,
            data_dir: Some(app.config.data_dir.clone()),
            database_url: Some(app.config.database_url.clone()).filter(|u| !u.is_empty()),
        })
    };
    // Keep one key: the second rotation removes the key that signed `old`.
    rotate().await.unwrap();
    identity::reload_keys(&app).await.unwrap();
    let newer = s.admin_token().await;
    assert_eq!(
        as_user(&s, &old, Method::GET, "/v2.0/networks", None).await.0,
        StatusCode::OK,
        "old key still kept (keys_kept = 3)"
    );
    for _ in 0..3 {
        rotate().await.unwrap();
    }
    identity::reload_keys(&app).await.unwrap();
    keystone_401(&as_user(&s, &old, Method::GET, "/v2.0/networks", None).await);
    keystone_401(&as_user(&s, &newer, Method::GET, "/v2.0/networks", None).await);
    assert_eq!(as_user(&s, &s.admin_token().await, Method::GET, "/v2.0/networks", None).await.0, StatusCode::OK);
}
