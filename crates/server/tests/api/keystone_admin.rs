//! Keystone's admin API beyond users and projects: the service catalog as data (an
//! operator registers Nova and tokens carry it), `/v3/role_assignments` with its filters,
//! and PATCH on users and projects.

use crate::common::{TestServer, ADMIN_PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn call(s: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.call_with(method, path, body, &[("X-Auth-Token", token)]).await
}

fn keystone_error(got: &(StatusCode, Value), code: u16, message: &str) {
    assert_eq!(got.0.as_u16(), code, "{}", got.1);
    assert_eq!(got.1["error"]["message"], message, "{}", got.1);
}

/// The catalog of a fresh admin token.
async fn token_catalog(s: &TestServer) -> Vec<Value> {
    let (_, _, body) = s.login("admin", ADMIN_PASSWORD, "admin").await;
    body["token"]["catalog"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_catalog_is_data_an_operator_edits() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    // Seeded: this server as identity and network, three interfaces each, rendered URLs.
    let (st, services) = call(&s, &admin, Method::GET, "/v3/services", None).await;
    assert_eq!(st, StatusCode::OK, "{services}");
    let mut types: Vec<&str> =
        services["services"].as_array().unwrap().iter().filter_map(|x| x["type"].as_str()).collect();
    types.sort_unstable();
    assert_eq!(types, ["identity", "network"]);
    let (_, endpoints) = call(&s, &admin, Method::GET, "/v3/endpoints?interface=public", None).await;
    let urls: Vec<&str> = endpoints["endpoints"].as_array().unwrap().iter().filter_map(|e| e["url"].as_str()).collect();
    assert_eq!(urls.len(), 2);
    assert!(urls.contains(&s.url.as_str()) && urls.contains(&format!("{}/v3", s.url).as_str()), "{urls:?}");

    // Register Nova: tokens now list compute.
    let (st, made) =
        call(&s, &admin, Method::POST, "/v3/services", Some(json!({"service": {"type": "compute", "name": "nova"}})))
            .await;
    assert_eq!(st, StatusCode::CREATED, "{made}");
    let nova = made["service"]["id"].as_str().unwrap().to_string();
    assert_eq!(made["service"]["enabled"], true);
    let body = json!({"endpoint": {"service_id": nova, "interface": "public", "url": "http://nova:8774/v2.1", "region_id": "RegionOne"}});
    let (st, ep) = call(&s, &admin, Method::POST, "/v3/endpoints", Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{ep}");
    let ep_id = ep["endpoint"]["id"].as_str().unwrap().to_string();
    let catalog = token_catalog(&s).await;
    let compute = catalog.iter().find(|x| x["type"] == "compute").expect("compute in the catalog");
    assert_eq!(compute["name"], "nova");
    assert_eq!(compute["endpoints"][0]["url"], "http://nova:8774/v2.1");
    assert_eq!(compute["endpoints"][0]["region"], "RegionOne");

    // Edits show in the next token; a disabled endpoint is left out; delete removes.
    let patch = json!({"endpoint": {"url": "http://nova.example:8774/v2.1"}});
    let (st, b) = call(&s, &admin, Method::PATCH, &format!("/v3/endpoints/{ep_id}"), Some(patch)).await;
    assert_eq!((st, b["endpoint"]["url"].clone()), (StatusCode::OK, json!("http://nova.example:8774/v2.1")));
    let catalog = token_catalog(&s).await;
    assert_eq!(
        catalog.iter().find(|x| x["type"] == "compute").unwrap()["endpoints"][0]["url"],
        "http://nova.example:8774/v2.1"
    );
    call(&s, &admin, Method::PATCH, &format!("/v3/endpoints/{ep_id}"), Some(json!({"endpoint": {"enabled": false}})))
        .await;
    assert_eq!(token_catalog(&s).await.iter().find(|x| x["type"] == "compute").unwrap()["endpoints"], json!([]));
    let (st, _) = call(&s, &admin, Method::DELETE, &format!("/v3/services/{nova}"), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(token_catalog(&s).await.iter().all(|x| x["type"] != "compute"));
    keystone_error(
        &call(&s, &admin, Method::GET, &format!("/v3/endpoints/{ep_id}"), None).await,
        404,
        &format!("Could not find endpoint: {ep_id}."),
    );
    keystone_error(
        &call(&s, &admin, Method::GET, &format!("/v3/services/{nova}"), None).await,
        404,
        &format!("Could not find service: {nova}."),
    );

    // Validation and policy.
    let bad = json!({"endpoint": {"service_id": "ghost", "interface": "public", "url": "http://x"}});
    keystone_error(
        &call(&s, &admin, Method::POST, "/v3/endpoints", Some(bad)).await,
        400,
        "Could not find service: ghost.",
    );
    let network =
        services["services"].as_array().unwrap().iter().find(|x| x["type"] == "network").unwrap()["id"].clone();
    let bad = json!({"endpoint": {"service_id": network, "interface": "sideways", "url": "http://x"}});
    assert_eq!(call(&s, &admin, Method::POST, "/v3/endpoints", Some(bad)).await.0, StatusCode::BAD_REQUEST);
    keystone_error(
        &call(&s, &admin, Method::POST, "/v3/services", Some(json!({"service": {"name": "x"}}))).await,
        400,
        "'type' is a required property",
    );
    let (demo, _) = s.member(&admin, "demo", "demo", "member").await;
    let got = call(&s, &demo, Method::POST, "/v3/services", Some(json!({"service": {"type": "compute"}}))).await;
    keystone_error(&got, 403, "You are not authorized to perform the requested action: admin required.");
    assert_eq!(call(&s, &demo, Method::GET, "/v3/endpoints", None).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn role_assignments_with_filters() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, project) = s.member(&admin, "demo", "demo", "member").await;
    let (_, users) = call(&s, &admin, Method::GET, "/v3/users?name=demo", None).await;
    let uid = users["users"][0]["id"].as_str().unwrap().to_string();
    let (_, roles) = call(&s, &admin, Method::GET, "/v3/roles?name=member", None).await;
    let member = roles["roles"][0]["id"].as_str().unwrap().to_string();

    let (st, all) = call(&s, &admin, Method::GET, "/v3/role_assignments", None).await;
    assert_eq!(st, StatusCode::OK, "{all}");
    // admin: admin, member, reader on its project and admin on the system; demo: member.
    assert_eq!(all["role_assignments"].as_array().unwrap().len(), 5, "{all}");
    assert!(all["role_assignments"].as_array().unwrap().iter().any(|a| a["scope"] == json!({"system": {"all": true}})));

    let (_, mine) = call(&s, &admin, Method::GET, &format!("/v3/role_assignments?user.id={uid}&effective"), None).await;
    let expected = json!([{"role": {"id": member}, "user": {"id": uid}, "scope": {"project": {"id": project}},
        "links": {"assignment": format!("{}/v3/projects/{project}/users/{uid}/roles/{member}", s.url)}}]);
    assert_eq!(mine["role_assignments"], expected);
    let (_, on_project) =
        call(&s, &admin, Method::GET, &format!("/v3/role_assignments?scope.project.id={project}"), None).await;
    assert_eq!(on_project["role_assignments"], expected);
    let (_, by_role) = call(&s, &admin, Method::GET, &format!("/v3/role_assignments?role.id={member}"), None).await;
    assert_eq!(by_role["role_assignments"].as_array().unwrap().len(), 2, "admin's and demo's member role");
    let (_, system) = call(&s, &admin, Method::GET, "/v3/role_assignments?scope.system=all", None).await;
    assert_eq!(system["role_assignments"].as_array().unwrap().len(), 1);
    let (_, groups) = call(&s, &admin, Method::GET, "/v3/role_assignments?group.id=g1", None).await;
    assert_eq!(groups["role_assignments"], json!([]));

    let (_, named) =
        call(&s, &admin, Method::GET, &format!("/v3/role_assignments?user.id={uid}&include_names=true"), None).await;
    let a = &named["role_assignments"][0];
    assert_eq!(a["role"], json!({"id": member, "name": "member"}));
    assert_eq!(a["user"], json!({"id": uid, "name": "demo", "domain": {"id": "default", "name": "Default"}}));
    assert_eq!(
        a["scope"]["project"],
        json!({"id": project, "name": "demo", "domain": {"id": "default", "name": "Default"}})
    );

    let got = call(&s, &demo, Method::GET, "/v3/role_assignments", None).await;
    keystone_error(
        &got,
        403,
        "You are not authorized to perform the requested action: identity:list_role_assignments.",
    );
}

#[tokio::test]
async fn patch_users_and_projects() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, project) = s.member(&admin, "demo", "demo", "member").await;
    let (_, users) = call(&s, &admin, Method::GET, "/v3/users?name=demo", None).await;
    let uid = users["users"][0]["id"].as_str().unwrap().to_string();
    assert!(users["users"][0].get("email").is_none(), "absent until set");

    let patch = json!({"user": {"email": "demo@example.org", "description": "a tester", "name": "demo2"}});
    let (st, u) = call(&s, &admin, Method::PATCH, &format!("/v3/users/{uid}"), Some(patch)).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(
        (u["user"]["email"].clone(), u["user"]["description"].clone()),
        (json!("demo@example.org"), json!("a tester"))
    );
    let (_, shown) = call(&s, &admin, Method::GET, &format!("/v3/users/{uid}"), None).await;
    assert_eq!(shown["user"]["name"], "demo2");
    assert_eq!(shown["user"]["email"], "demo@example.org");
    let (_, u) =
        call(&s, &admin, Method::PATCH, &format!("/v3/users/{uid}"), Some(json!({"user": {"email": null}}))).await;
    assert!(u["user"].get("email").is_none() && u["user"]["description"] == "a tester", "{u}");
    // Renaming does not end sessions; the token still works.
    assert_eq!(call(&s, &demo, Method::GET, "/v2.0/networks", None).await.0, StatusCode::OK);
    let got =
        call(&s, &demo, Method::PATCH, &format!("/v3/users/{uid}"), Some(json!({"user": {"email": "x@y"}}))).await;
    assert_eq!(got.0, StatusCode::FORBIDDEN);

    // A disabled project: its tokens stop at once and no token can be scoped to it.
    let unscoped = s.unscoped("demo2", "pw-demo").await;
    let (st, p) = call(
        &s,
        &admin,
        Method::PATCH,
        &format!("/v3/projects/{project}"),
        Some(json!({"project": {"enabled": false, "description": "paused"}})),
    )
    .await;
    assert_eq!(
        (st, p["project"]["enabled"].clone(), p["project"]["description"].clone()),
        (StatusCode::OK, json!(false), json!("paused"))
    );
    keystone_error(
        &call(&s, &demo, Method::GET, "/v2.0/networks", None).await,
        401,
        "The request you have made requires authentication.",
    );
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}}, "scope": {"project": {"id": project}}}});
    assert_eq!(s.auth(rescope).await.0, StatusCode::UNAUTHORIZED);
}
