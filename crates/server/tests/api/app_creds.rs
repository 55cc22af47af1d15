//! Application credentials as Keystone has them: created under a user from a project token
//! (secret shown once, stored hashed), authenticated by id or by name + user, giving a
//! project-scoped token with the credential's roles; restricted ones cannot make more;
//! expiry, deletion, and the user's removal or disabling end them.

use crate::common::TestServer;
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

const UNAUTHORIZED: &str = "The request you have made requires authentication.";

fn by_id(id: &str, secret: &str) -> Value {
    json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": id, "secret": secret}}}})
}

async fn auth(s: &TestServer, body: Value) -> (StatusCode, Option<String>, Value) {
    s.auth(body).await
}

async fn user_id(s: &TestServer, admin: &str, name: &str) -> String {
    let (_, users) = call(s, admin, Method::GET, &format!("/v3/users?name={name}"), None).await;
    users["users"][0]["id"].as_str().expect("user id").to_string()
}

async fn create(s: &TestServer, token: &str, uid: &str, body: Value) -> (StatusCode, Value) {
    call(
        s,
        token,
        Method::POST,
        &format!("/v3/users/{uid}/application_credentials"),
        Some(json!({"application_credential": body})),
    )
    .await
}

#[tokio::test]
async fn credentials_authenticate_with_their_project_and_roles() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, project) = s.member(&admin, "demo", "demo", "member").await;
    let uid = user_id(&s, &admin, "demo").await;

    let (st, made) = create(&s, &demo, &uid, json!({"name": "ci", "description": "CI runner"})).await;
    assert_eq!(st, StatusCode::CREATED, "{made}");
    let cred = &made["application_credential"];
    let (id, secret) = (cred["id"].as_str().unwrap().to_string(), cred["secret"].as_str().unwrap().to_string());
    assert!(secret.len() >= 80, "64 random bytes, base64url: {secret}");
    assert_eq!(cred["project_id"], project.as_str());
    assert_eq!(cred["user_id"], uid.as_str());
    assert_eq!(cred["unrestricted"], false);
    assert_eq!(cred["expires_at"], Value::Null);
    assert_eq!(
        cred["roles"].as_array().unwrap().iter().map(|r| r["name"].clone()).collect::<Vec<_>>(),
        [json!("member")]
    );
    // Shown once: neither list nor show has the secret, and the store keeps only a hash.
    let (st, list) = call(&s, &demo, Method::GET, &format!("/v3/users/{uid}/application_credentials"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["application_credentials"].as_array().unwrap().len(), 1);
    assert!(list["application_credentials"][0].get("secret").is_none());
    let (_, one) = call(&s, &demo, Method::GET, &format!("/v3/users/{uid}/application_credentials/{id}"), None).await;
    assert_eq!(one["application_credential"]["name"], "ci");
    assert!(one["application_credential"].get("secret").is_none());
    let app = s.app.as_ref().unwrap();
    let id2 = id.clone();
    let stored = app.store.read(move |tx| tx.app_cred_get(&id2)).await.unwrap().unwrap();
    assert!(stored.secret_hash.starts_with("$argon2id$") && !stored.secret_hash.contains(&secret));

    // By id + secret: a token on the credential's project with its roles.
    let (st, token, body) = auth(&s, by_id(&id, &secret)).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let t = &body["token"];
    assert_eq!(t["project"]["id"], project.as_str());
    assert_eq!(t["methods"], json!(["application_credential"]));
    assert_eq!(t["application_credential"], json!({"id": id, "name": "ci", "restricted": true}));
    assert_eq!(t["roles"][0]["name"], "member");
    let token = token.unwrap();
    assert_eq!(call(&s, &token, Method::GET, "/v2.0/networks", None).await.0, StatusCode::OK);
    // By name + user (by name and domain, or by id).
    for user in [json!({"name": "demo", "domain": {"name": "Default"}}), json!({"id": uid})] {
        let body = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"name": "ci", "user": user, "secret": secret}}}});
        let (st, _, b) = auth(&s, body).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
    }
    // Wrong secret, unknown name: 401; unknown id: Keystone's 404; a scope: 401 with why.
    let got = auth(&s, by_id(&id, "wrong")).await;
    keystone_error(&(got.0, got.2), 401, UNAUTHORIZED);
    let body = json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"name": "nope", "user": {"id": uid}, "secret": secret}}}});
    let got = auth(&s, body).await;
    keystone_error(&(got.0, got.2), 401, UNAUTHORIZED);
    let got = auth(&s, by_id("ghost", &secret)).await;
    keystone_error(&(got.0, got.2), 404, "Could not find Application Credential: ghost.");
    let mut scoped = by_id(&id, &secret);
    scoped["auth"]["scope"] = json!({"project": {"id": project}});
    let got = auth(&s, scoped).await;
    keystone_error(
        &(got.0, got.2),
        401,
        "Error authenticating with application credential: Application credentials cannot request a scope.",
    );
    // Its token cannot be rescoped to a scope either.
    let rescope = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}}, "scope": {"project": {"id": project}}}});
    let got = auth(&s, rescope).await;
    keystone_error(&(got.0, got.2), 403, "You are not authorized to perform the requested action: Using an application credential token to create a scoped token is not allowed.");

    // A restricted credential's token may not create or delete credentials.
    let got = create(&s, &token, &uid, json!({"name": "more"})).await;
    let restricted = "You are not authorized to perform the requested action: Using method 'application_credential' is not allowed for managing additional application credentials.";
    keystone_error(&got, 403, restricted);
    let got = call(&s, &token, Method::DELETE, &format!("/v3/users/{uid}/application_credentials/{id}"), None).await;
    keystone_error(&got, 403, restricted);
    // An unrestricted one may.
    let (_, open) =
        create(&s, &demo, &uid, json!({"name": "open", "unrestricted": true, "secret": "chosen-secret"})).await;
    let open_id = open["application_credential"]["id"].as_str().unwrap().to_string();
    assert_eq!(open["application_credential"]["secret"], "chosen-secret");
    let (_, open_token, _) = auth(&s, by_id(&open_id, "chosen-secret")).await;
    let (st, b) = create(&s, &open_token.unwrap(), &uid, json!({"name": "child"})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");

    // Deleting revokes its tokens at once; it no longer authenticates.
    let del = call(&s, &demo, Method::DELETE, &format!("/v3/users/{uid}/application_credentials/{id}"), None).await;
    assert_eq!(del.0, StatusCode::NO_CONTENT, "{}", del.1);
    keystone_error(&call(&s, &token, Method::GET, "/v2.0/networks", None).await, 401, UNAUTHORIZED);
    let got = auth(&s, by_id(&id, &secret)).await;
    keystone_error(&(got.0, got.2), 404, &format!("Could not find Application Credential: {id}."));
    let got = call(&s, &demo, Method::GET, &format!("/v3/users/{uid}/application_credentials/{id}"), None).await;
    keystone_error(&got, 404, &format!("Could not find Application Credential: {id}."));
}

#[tokio::test]
async fn creation_is_checked_as_keystone_checks_it() {
    let s = TestServer::start_with(|c| {
        c.noauth = false;
        c.identity.max_application_credentials_per_user = 2;
    })
    .await;
    let admin = s.admin_token().await;
    let (demo, _) = s.member(&admin, "demo", "demo", "member").await;
    let uid = user_id(&s, &admin, "demo").await;
    let admin_uid = user_id(&s, &admin, "admin").await;

    let got = create(&s, &demo, &uid, json!({"name": "x", "roles": [{"name": "admin"}]})).await;
    keystone_error(
        &got,
        400,
        "Invalid application credential: Cannot create an application credential with unassigned role",
    );
    keystone_error(
        &create(&s, &demo, &uid, json!({"name": "x", "roles": [{"id": "nope"}]})).await,
        404,
        "Could not find role: nope.",
    );
    let got = create(&s, &demo, &admin_uid, json!({"name": "x"})).await;
    keystone_error(&got, 403, "You are not authorized to perform the requested action: Cannot create an application credential for another user.");
    let got = create(&s, &demo, &uid, json!({"name": "x", "expires_at": "2001-01-01T00:00:00"})).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    assert!(got.1["error"]["message"].as_str().unwrap().starts_with("The 'expires_at' must not be before now."));
    let got = create(&s, &demo, &uid, json!({"name": "x", "expires_at": "tomorrow"})).await;
    assert!(got.1["error"]["message"].as_str().unwrap().starts_with("Timestamp not in expected format."), "{}", got.1);
    assert_eq!(create(&s, &demo, &uid, json!({"description": "no name"})).await.0, StatusCode::BAD_REQUEST);

    let (st, b) = create(&s, &demo, &uid, json!({"name": "one", "roles": [{"name": "member"}]})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    keystone_error(
        &create(&s, &demo, &uid, json!({"name": "one"})).await,
        409,
        "Conflict occurred attempting to store application_credential - Duplicate entry.",
    );
    assert_eq!(create(&s, &demo, &uid, json!({"name": "two"})).await.0, StatusCode::CREATED);
    let got = create(&s, &demo, &uid, json!({"name": "three"})).await;
    keystone_error(
        &got,
        403,
        "Unable to create additional application credentials, maximum of 2 already exceeded for user.",
    );

    // Only the user and admins see them.
    let (other, _) = s.member(&admin, "other", "other", "member").await;
    let got = call(&s, &other, Method::GET, &format!("/v3/users/{uid}/application_credentials"), None).await;
    keystone_error(
        &got,
        403,
        "You are not authorized to perform the requested action: identity:list_application_credentials.",
    );
    let (st, list) =
        call(&s, &admin, Method::GET, &format!("/v3/users/{uid}/application_credentials?name=two"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["application_credentials"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn expiry_and_the_users_fate_end_credentials() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, project) = s.member(&admin, "demo", "demo", "member").await;
    let uid = user_id(&s, &admin, "demo").await;

    // Expiring in two seconds: the token expires with it, and then it is refused.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).format("%Y-%m-%dT%H:%M:%S").to_string();
    let (st, made) = create(&s, &demo, &uid, json!({"name": "brief", "expires_at": soon})).await;
    assert_eq!(st, StatusCode::CREATED, "{made}");
    assert_eq!(made["application_credential"]["expires_at"], format!("{soon}.000000"));
    let id = made["application_credential"]["id"].as_str().unwrap().to_string();
    let secret = made["application_credential"]["secret"].as_str().unwrap().to_string();
    let (_, _, body) = auth(&s, by_id(&id, &secret)).await;
    assert_eq!(body["token"]["expires_at"], format!("{soon}.000000Z"), "no later than the credential");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let got = auth(&s, by_id(&id, &secret)).await;
    keystone_error(&(got.0, got.2), 401, UNAUTHORIZED);

    // Disabling the user refuses its credentials and revokes their tokens.
    let (_, made) = create(&s, &demo, &uid, json!({"name": "long"})).await;
    let id = made["application_credential"]["id"].as_str().unwrap().to_string();
    let secret = made["application_credential"]["secret"].as_str().unwrap().to_string();
    let (_, token, _) = auth(&s, by_id(&id, &secret)).await;
    let token = token.unwrap();
    let off =
        call(&s, &admin, Method::PATCH, &format!("/v3/users/{uid}"), Some(json!({"user": {"enabled": false}}))).await;
    assert_eq!(off.0, StatusCode::OK);
    keystone_error(&call(&s, &token, Method::GET, "/v2.0/networks", None).await, 401, UNAUTHORIZED);
    let got = auth(&s, by_id(&id, &secret)).await;
    keystone_error(&(got.0, got.2), 401, UNAUTHORIZED);
    call(&s, &admin, Method::PATCH, &format!("/v3/users/{uid}"), Some(json!({"user": {"enabled": true}}))).await;
    let (st, _, _) = auth(&s, by_id(&id, &secret)).await;
    assert_eq!(st, StatusCode::CREATED, "enabled again");

    // Deleting the user deletes its credentials.
    let del = call(&s, &admin, Method::DELETE, &format!("/v3/users/{uid}"), None).await;
    assert_eq!(del.0, StatusCode::NO_CONTENT);
    let app = s.app.as_ref().unwrap();
    let uid2 = uid.clone();
    assert!(app.store.read(move |tx| tx.app_cred_list(&uid2, None)).await.unwrap().is_empty());
    let got = auth(&s, by_id(&id, &secret)).await;
    assert_eq!(got.0, StatusCode::NOT_FOUND, "{}", got.2);
    let _ = project;

    // Removing a user's role on the project deletes its credentials there (Keystone) and
    // revokes their tokens.
    let (other, other_project) = s.member(&admin, "other", "other", "member").await;
    let oid = user_id(&s, &admin, "other").await;
    let (_, made) = create(&s, &other, &oid, json!({"name": "x"})).await;
    let id = made["application_credential"]["id"].as_str().unwrap().to_string();
    let secret = made["application_credential"]["secret"].as_str().unwrap().to_string();
    let (_, token, _) = auth(&s, by_id(&id, &secret)).await;
    let (_, roles) = call(&s, &admin, Method::GET, "/v3/roles?name=member", None).await;
    let member = roles["roles"][0]["id"].as_str().unwrap();
    let del =
        call(&s, &admin, Method::DELETE, &format!("/v3/projects/{other_project}/users/{oid}/roles/{member}"), None)
            .await;
    assert_eq!(del.0, StatusCode::NO_CONTENT);
    let (_, list) = call(&s, &admin, Method::GET, &format!("/v3/users/{oid}/application_credentials"), None).await;
    assert_eq!(list["application_credentials"], json!([]));
    keystone_error(&call(&s, &token.unwrap(), Method::GET, "/v2.0/networks", None).await, 401, UNAUTHORIZED);
}
