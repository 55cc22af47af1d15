//! Token scopes as Keystone issues them: rescoping with the `token` method, domain- and
//! system-scoped tokens (401 without a role there, never a silently unscoped token), how the
//! Networking API treats them, and the listings a login walks (`/v3/auth/projects`, ...).

use crate::common::{assert_error_message, TestServer, ADMIN_PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn call(s: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.call_with(method, path, body, &[("X-Auth-Token", token)]).await
}

fn keystone_error(got: &(StatusCode, Value), code: u16, message: &str) {
    assert_eq!(got.0.as_u16(), code, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert_eq!(got.1["error"]["message"], message, "{}", got.1);
}

/// A token request's status and body.
async fn auth(s: &TestServer, body: Value) -> (StatusCode, Value) {
    let (st, _, b) = s.auth(body).await;
    (st, b)
}

const UNAUTHORIZED: &str = "The request you have made requires authentication.";

fn rescope(token: &str, scope: Value) -> Value {
    json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}}, "scope": scope}})
}

fn password_scoped(user: &str, password: &str, scope: Value) -> Value {
    json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password, "domain": {"id": "default"}}}}, "scope": scope}})
}

async fn id_of(s: &TestServer, admin: &str, kind: &str, name: &str) -> String {
    let (_, list) = call(s, admin, Method::GET, &format!("/v3/{kind}?name={name}"), None).await;
    list[kind][0]["id"].as_str().expect("id").to_string()
}

async fn grant(s: &TestServer, admin: &str, path: &str) {
    let (st, b) = call(s, admin, Method::PUT, path, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
}

#[tokio::test]
async fn the_token_method_rescopes_keeping_expiry_and_audit_chain() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (_, demo_project) = s.member(&admin, "demo", "demo", "member").await;
    let (st, p2) = call(&s, &admin, Method::POST, "/v3/projects", Some(json!({"project": {"name": "demo2"}}))).await;
    assert_eq!(st, StatusCode::CREATED);
    let p2 = p2["project"]["id"].as_str().unwrap().to_string();
    let uid = id_of(&s, &admin, "users", "demo").await;
    let member = id_of(&s, &admin, "roles", "member").await;
    grant(&s, &admin, &format!("/v3/projects/{p2}/users/{uid}/roles/{member}")).await;

    // Horizon's login: unscoped password token, then rescope to a project by id.
    let unscoped = s.unscoped("demo", "pw-demo").await;
    let (_, _, original) =
        s.auth(json!({"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}}}})).await;
    assert!(original["token"].get("project").is_none(), "no scope asked, none given: {original}");
    let check = call(&s, &admin, Method::GET, "/v3/auth/tokens", None).await;
    assert_eq!(check.0, StatusCode::NOT_FOUND, "no subject token");
    let (st, scoped, body) = s.auth(rescope(&unscoped, json!({"project": {"id": demo_project}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let scoped = scoped.unwrap();
    let t = &body["token"];
    assert_eq!(t["project"]["id"], demo_project.as_str());
    assert_eq!(t["roles"][0]["name"], "member");
    assert_eq!(t["methods"], json!(["token", "password"]));
    assert!(t["catalog"].as_array().is_some_and(|c| !c.is_empty()));
    let (_, unscoped_body) = s
        .call_with(Method::GET, "/v3/auth/tokens", None, &[("X-Auth-Token", &admin), ("X-Subject-Token", &unscoped)])
        .await;
    assert_eq!(t["expires_at"], unscoped_body["token"]["expires_at"], "expires no later than the original");
    assert_eq!(t["audit_ids"][1], unscoped_body["token"]["audit_ids"][0], "audit chain");
    assert_eq!(call(&s, &scoped, Method::GET, "/v2.0/networks", None).await.0, StatusCode::OK);

    // A scoped token rescopes too (by name + domain), keeping the chain's first audit id.
    let (st, _, body) =
        s.auth(rescope(&scoped, json!({"project": {"name": "demo2", "domain": {"name": "Default"}}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(body["token"]["project"]["id"], p2.as_str());
    assert_eq!(body["token"]["audit_ids"][1], unscoped_body["token"]["audit_ids"][0]);

    // No role, unknown project, bad token: 401.
    keystone_error(
        &auth(&s, rescope(&unscoped, json!({"project": {"name": "admin", "domain": {"id": "default"}}}))).await,
        401,
        UNAUTHORIZED,
    );
    keystone_error(&auth(&s, rescope(&unscoped, json!({"project": {"id": "nowhere"}}))).await, 401, UNAUTHORIZED);
    keystone_error(&auth(&s, rescope("garbage", json!({"project": {"id": demo_project}}))).await, 401, UNAUTHORIZED);
    // Two scopes at once: 400.
    let both = rescope(&unscoped, json!({"project": {"id": demo_project}, "domain": {"id": "default"}}));
    let got = auth(&s, both).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert!(got.1["error"]["message"].as_str().unwrap().starts_with("Expecting to find system, project, domain"));

    // Revoking the original token stops it from rescoping; disabling the user ends both.
    let (_, other, _) = s.auth(password_scoped("demo", "pw-demo", json!({"project": {"id": demo_project}}))).await;
    let other = other.unwrap();
    let del = s
        .call_with(Method::DELETE, "/v3/auth/tokens", None, &[("X-Auth-Token", &admin), ("X-Subject-Token", &other)])
        .await;
    assert_eq!(del.0, StatusCode::NO_CONTENT);
    keystone_error(&auth(&s, rescope(&other, json!({"project": {"id": p2}}))).await, 401, UNAUTHORIZED);
    let off =
        call(&s, &admin, Method::PATCH, &format!("/v3/users/{uid}"), Some(json!({"user": {"enabled": false}}))).await;
    assert_eq!(off.0, StatusCode::OK, "{}", off.1);
    keystone_error(&call(&s, &scoped, Method::GET, "/v2.0/networks", None).await, 401, UNAUTHORIZED);
    keystone_error(&auth(&s, rescope(&unscoped, json!({"project": {"id": demo_project}}))).await, 401, UNAUTHORIZED);
}

#[tokio::test]
async fn an_explicitly_unscoped_request_gets_an_unscoped_token() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    s.member(&admin, "demo", "demo", "member").await;
    // keystoneauth's `unscoped=True` (Horizon's login) sends the scope as the string
    // "unscoped"; older clients send `{"unscoped": {}}`. Both are an unscoped token.
    for scope in [json!("unscoped"), json!({"unscoped": {}})] {
        let (st, token, body) = s.auth(password_scoped("demo", "pw-demo", scope.clone())).await;
        assert_eq!(st, StatusCode::CREATED, "{scope}: {body}");
        assert!(token.is_some());
        let t = &body["token"];
        assert!(t.get("project").is_none() && t.get("catalog").is_none() && t.get("roles").is_none(), "{t}");
    }
    // Any other string names no scope Keystone knows: 400.
    let got = auth(&s, password_scoped("demo", "pw-demo", json!("everything"))).await;
    keystone_error(
        &got,
        400,
        "Expecting to find system, project, domain, OS-TRUST:trust or unscoped in scope. The server could not \
         comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be \
         in error.",
    );
}

#[tokio::test]
async fn rescoped_tokens_expire_with_the_original() {
    // Expiry has whole-second precision, so a token lives between TTL-1 and TTL seconds: the
    // times below keep a second or more of margin either way, also on a loaded machine.
    let s = TestServer::start_with(|c| {
        c.noauth = false;
        c.identity.token_ttl_seconds = 5;
    })
    .await;
    let unscoped = s.unscoped("admin", ADMIN_PASSWORD).await;
    let issued = chrono::Utc::now();
    let (_, original) = s
        .call_with(Method::GET, "/v3/auth/tokens", None, &[("X-Auth-Token", &unscoped), ("X-Subject-Token", &unscoped)])
        .await;
    let expires: chrono::DateTime<chrono::Utc> =
        original["token"]["expires_at"].as_str().expect("expires_at").parse().expect("a timestamp");
    // Rescoped two seconds after the original was issued, at least a second before it expires:
    // a fresh token would live until two seconds or more after the original's expiry.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let (st, scoped, body) =
        s.auth(rescope(&unscoped, json!({"project": {"name": "admin", "domain": {"id": "default"}}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert!(chrono::Utc::now() < expires, "rescoped after the original expired; issued {issued}");
    let after_expiry = (expires - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(after_expiry + std::time::Duration::from_millis(500)).await;
    // A fresh token would still be valid; the rescoped one ended with the original.
    keystone_error(&call(&s, &scoped.unwrap(), Method::GET, "/v2.0/networks", None).await, 401, UNAUTHORIZED);
}

#[tokio::test]
async fn domain_and_system_scopes_need_a_role_there() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    s.member(&admin, "demo", "demo", "member").await;
    let uid = id_of(&s, &admin, "users", "demo").await;
    let member = id_of(&s, &admin, "roles", "member").await;
    let admin_role = id_of(&s, &admin, "roles", "admin").await;

    // The bootstrap admin holds admin on the system, as keystone-manage bootstrap grants.
    let (st, system, body) = s.auth(password_scoped("admin", ADMIN_PASSWORD, json!({"system": {"all": true}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let system = system.unwrap();
    assert_eq!(body["token"]["system"], json!({"all": true}));
    assert_eq!(body["token"]["roles"][0]["name"], "admin");
    assert!(body["token"].get("project").is_none() && body["token"]["catalog"].is_array());
    // A member gets 401 for system and for a domain it holds no role on.
    keystone_error(
        &auth(&s, password_scoped("demo", "pw-demo", json!({"system": {"all": true}}))).await,
        401,
        UNAUTHORIZED,
    );
    let on_default = json!({"domain": {"name": "Default"}});
    keystone_error(&auth(&s, password_scoped("demo", "pw-demo", on_default.clone())).await, 401, UNAUTHORIZED);
    keystone_error(
        &auth(&s, password_scoped("demo", "pw-demo", json!({"domain": {"id": "nope"}}))).await,
        401,
        UNAUTHORIZED,
    );

    // Granted a role on the domain, it gets a domain-scoped token.
    grant(&s, &admin, &format!("/v3/domains/default/users/{uid}/roles/{member}")).await;
    let head = call(&s, &admin, Method::HEAD, &format!("/v3/domains/default/users/{uid}/roles/{member}"), None).await;
    assert_eq!(head.0, StatusCode::NO_CONTENT);
    let (st, domain, body) = s.auth(password_scoped("demo", "pw-demo", on_default.clone())).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let domain = domain.unwrap();
    assert_eq!(body["token"]["domain"], json!({"id": "default", "name": "Default"}));
    assert_eq!(body["token"]["roles"][0]["name"], "member");
    let (_, domains) = call(&s, &domain, Method::GET, "/v3/auth/domains", None).await;
    assert_eq!(domains["domains"][0]["id"], "default");

    // The Networking API: every Neutron policy is project-scoped, so neither token may act,
    // not even the system admin's.
    let refused =
        |scope: &str| format!("This operation requires a scope of ['project'], request was made with {scope} scope.");
    for (token, scope) in [(&system, "system"), (&domain, "domain")] {
        let got = call(&s, token, Method::GET, "/v2.0/networks", None).await;
        assert_error_message(&got, 403, "InvalidScope", &refused(scope));
        let got = call(&s, token, Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "x"}}))).await;
        assert_error_message(&got, 403, "InvalidScope", &refused(scope));
    }
    let (_, nets) = call(&s, &admin, Method::GET, "/v2.0/networks", None).await;
    assert_eq!(nets["networks"], json!([]), "nothing created");

    // Keystone's admin API: a system admin is admin; a domain's admin is not a cloud admin.
    assert_eq!(call(&s, &system, Method::GET, "/v3/users", None).await.0, StatusCode::OK);
    grant(&s, &admin, &format!("/v3/domains/default/users/{uid}/roles/{admin_role}")).await;
    let (_, domain_admin, _) = s.auth(password_scoped("demo", "pw-demo", on_default.clone())).await;
    let got = call(&s, &domain_admin.unwrap(), Method::GET, "/v3/users", None).await;
    keystone_error(&got, 403, "You are not authorized to perform the requested action: admin required.");

    // A system token cannot be rescoped to a project.
    let got = auth(&s, rescope(&system, json!({"project": {"name": "admin", "domain": {"id": "default"}}}))).await;
    keystone_error(&got, 403, "You are not authorized to perform the requested action: Using a system-scoped token to create a project-scoped or domain-scoped token is not allowed.");

    // Removing the domain grant revokes the domain token.
    let del = call(&s, &admin, Method::DELETE, &format!("/v3/domains/default/users/{uid}/roles/{member}"), None).await;
    assert_eq!(del.0, StatusCode::NO_CONTENT, "{}", del.1);
    keystone_error(&call(&s, &domain, Method::GET, "/v3/auth/domains", None).await, 401, UNAUTHORIZED);
    let again =
        call(&s, &admin, Method::DELETE, &format!("/v3/domains/default/users/{uid}/roles/{member}"), None).await;
    keystone_error(&again, 404, "Could not find role assignment.");
    let (_, roles) = call(&s, &admin, Method::GET, &format!("/v3/system/users/{uid}/roles"), None).await;
    assert_eq!(roles["roles"], json!([]));
}

#[tokio::test]
async fn login_listings_projects_domains_and_catalog() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, demo_project) = s.member(&admin, "demo", "demo", "member").await;
    let uid = id_of(&s, &admin, "users", "demo").await;
    let unscoped = s.unscoped("demo", "pw-demo").await;

    for path in ["/v3/auth/projects".to_string(), format!("/v3/users/{uid}/projects")] {
        let (st, list) = call(&s, &unscoped, Method::GET, &path, None).await;
        assert_eq!(st, StatusCode::OK, "{list}");
        let ids: Vec<&str> = list["projects"].as_array().unwrap().iter().filter_map(|p| p["id"].as_str()).collect();
        assert_eq!(ids, [demo_project.as_str()], "{path}");
        assert_eq!(list["links"]["self"], format!("{}{path}", s.url));
    }
    let (_, domains) = call(&s, &unscoped, Method::GET, "/v3/auth/domains", None).await;
    assert_eq!(domains["domains"], json!([]));
    // Another user's projects: the admin may look, a member may not.
    let admin_uid = id_of(&s, &admin, "users", "admin").await;
    let got = call(&s, &demo, Method::GET, &format!("/v3/users/{admin_uid}/projects"), None).await;
    keystone_error(&got, 403, "You are not authorized to perform the requested action: identity:list_user_projects.");
    let (st, list) = call(&s, &admin, Method::GET, &format!("/v3/users/{uid}/projects"), None).await;
    assert_eq!((st, list["projects"][0]["id"].clone()), (StatusCode::OK, json!(demo_project)));
    keystone_error(
        &call(&s, &admin, Method::GET, "/v3/users/ghost/projects", None).await,
        404,
        "Could not find user: ghost.",
    );

    // The catalog: a project-scoped token only.
    let (st, cat) = call(&s, &demo, Method::GET, "/v3/auth/catalog", None).await;
    assert_eq!(st, StatusCode::OK, "{cat}");
    let network = cat["catalog"].as_array().unwrap().iter().find(|e| e["type"] == "network").unwrap();
    assert!(network["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["interface"] == "public" && e["url"] == s.url.as_str()));
    keystone_error(
        &call(&s, &unscoped, Method::GET, "/v3/auth/catalog", None).await,
        403,
        "You are not authorized to perform the requested action.",
    );
    keystone_error(&call(&s, "garbage", Method::GET, "/v3/auth/projects", None).await, 401, UNAUTHORIZED);
}
