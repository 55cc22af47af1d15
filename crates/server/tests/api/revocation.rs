//! Token revocation as Keystone does it: deleting or disabling a user, changing its password,
//! removing a role assignment, deleting or disabling a project each revoke the tokens issued
//! before (401 on the next request, nothing written), and empty passwords are refused.

use crate::common::{TestServer, ADMIN_PASSWORD};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn call(s: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.call_with(method, path, body, &[("X-Auth-Token", token)]).await
}

fn keystone_error(got: &(StatusCode, Value), code: u16, title: &str) {
    assert_eq!(got.0.as_u16(), code, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    assert_eq!(got.1["error"]["title"], title, "{}", got.1);
    assert!(got.1["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", got.1);
}

/// The member's token works now (it creates a network), so a later 401 is the revocation.
async fn token_works(s: &TestServer, token: &str, name: &str) {
    let got = call(s, token, Method::POST, "/v2.0/networks", Some(json!({"network": {"name": name}}))).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
}

/// The token is refused with Keystone's 401 and the network it tried to create is not there.
async fn token_revoked(s: &TestServer, admin: &str, token: &str, name: &str) {
    let got = call(s, token, Method::POST, "/v2.0/networks", Some(json!({"network": {"name": name}}))).await;
    keystone_error(&got, 401, "Unauthorized");
    assert_eq!(got.1["error"]["message"], "The request you have made requires authentication.");
    let (st, list) = call(s, admin, Method::GET, &format!("/v2.0/networks?name={name}"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list["networks"].as_array().map(Vec::len), Some(0), "nothing written: {list}");
}

async fn user_id(s: &TestServer, admin: &str, name: &str) -> String {
    let (_, users) = call(s, admin, Method::GET, &format!("/v3/users?name={name}"), None).await;
    users["users"][0]["id"].as_str().expect("user id").to_string()
}

async fn role_id(s: &TestServer, admin: &str, name: &str) -> String {
    let (_, roles) = call(s, admin, Method::GET, &format!("/v3/roles?name={name}"), None).await;
    roles["roles"][0]["id"].as_str().expect("role id").to_string()
}

#[tokio::test]
async fn deleting_a_user_revokes_its_tokens() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (alice, _) = s.member(&admin, "alpha", "alice", "member").await;
    let (bob, _) = s.member(&admin, "beta", "bob", "member").await;
    token_works(&s, &alice, "alice-before").await;
    let uid = user_id(&s, &admin, "alice").await;
    assert_eq!(call(&s, &admin, Method::DELETE, &format!("/v3/users/{uid}"), None).await.0, StatusCode::NO_CONTENT);
    token_revoked(&s, &admin, &alice, "alice-after").await;
    token_works(&s, &bob, "bob-unaffected").await;
    // Keystone's token API no longer knows it either.
    let check = s
        .call_with(Method::GET, "/v3/auth/tokens", None, &[("X-Auth-Token", &admin), ("X-Subject-Token", &alice)])
        .await;
    keystone_error(&check, 404, "Not Found");
    // Persisted: a server starting on this store loads the event.
    let app = s.app.as_ref().unwrap();
    let loaded = neutrino_server::app::identity::load_revoked(&app.store).await.unwrap();
    assert!(!loaded.revocations.is_empty() && loaded.last_event_id > 0);
}

#[tokio::test]
async fn removing_a_role_assignment_revokes_tokens_carrying_it() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (alice, alpha) = s.member(&admin, "alpha", "alice", "member").await;
    let uid = user_id(&s, &admin, "alice").await;
    // Alice also holds member on a second project: that token must survive.
    let (_, beta) = call(&s, &admin, Method::POST, "/v3/projects", Some(json!({"project": {"name": "beta"}}))).await;
    let beta_id = beta["project"]["id"].as_str().unwrap().to_string();
    let member = role_id(&s, &admin, "member").await;
    let grant = format!("/v3/projects/{beta_id}/users/{uid}/roles/{member}");
    assert_eq!(call(&s, &admin, Method::PUT, &grant, None).await.0, StatusCode::NO_CONTENT);
    let (st, alice_beta, _) = s.login("alice", "pw-alice", "beta").await;
    assert_eq!(st, StatusCode::CREATED);
    let alice_beta = alice_beta.unwrap();
    token_works(&s, &alice, "alpha-before").await;
    let revoke = format!("/v3/projects/{alpha}/users/{uid}/roles/{member}");
    assert_eq!(call(&s, &admin, Method::DELETE, &revoke, None).await.0, StatusCode::NO_CONTENT);
    token_revoked(&s, &admin, &alice, "alpha-after").await;
    token_works(&s, &alice_beta, "beta-unaffected").await;
    // No role left on alpha: no new token for it either.
    assert_eq!(s.login("alice", "pw-alice", "alpha").await.0, StatusCode::UNAUTHORIZED);
    // Removing it again: 404, as Keystone.
    keystone_error(&call(&s, &admin, Method::DELETE, &revoke, None).await, 404, "Not Found");
}

#[tokio::test]
async fn deleting_or_disabling_a_project_revokes_tokens_scoped_to_it() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (alice, alpha) = s.member(&admin, "alpha", "alice", "member").await;
    let (bob, beta) = s.member(&admin, "beta", "bob", "member").await;
    let (carol, _) = s.member(&admin, "gamma", "carol", "member").await;
    token_works(&s, &alice, "alpha-before").await;
    token_works(&s, &bob, "beta-before").await;
    assert_eq!(
        call(&s, &admin, Method::DELETE, &format!("/v3/projects/{alpha}"), None).await.0,
        StatusCode::NO_CONTENT
    );
    token_revoked(&s, &admin, &alice, "alpha-after").await;
    let disable = json!({"project": {"enabled": false}});
    let (st, body) = call(&s, &admin, Method::PATCH, &format!("/v3/projects/{beta}"), Some(disable)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["project"]["enabled"], false);
    token_revoked(&s, &admin, &bob, "beta-after").await;
    assert_eq!(s.login("bob", "pw-bob", "beta").await.0, StatusCode::UNAUTHORIZED, "disabled project");
    token_works(&s, &carol, "gamma-unaffected").await;
    // Re-enabled: new tokens work, the old one stays revoked.
    let enable = json!({"project": {"enabled": true}});
    assert_eq!(call(&s, &admin, Method::PATCH, &format!("/v3/projects/{beta}"), Some(enable)).await.0, StatusCode::OK);
    let (st, fresh, _) = s.login("bob", "pw-bob", "beta").await;
    assert_eq!(st, StatusCode::CREATED);
    token_works(&s, &fresh.unwrap(), "beta-again").await;
    token_revoked(&s, &admin, &bob, "beta-old-token").await;
}

#[tokio::test]
async fn changing_a_password_or_disabling_a_user_revokes_its_tokens() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (alice, _) = s.member(&admin, "alpha", "alice", "member").await;
    let uid = user_id(&s, &admin, "alice").await;
    token_works(&s, &alice, "before-admin-change").await;
    // An admin sets a new password: the old token goes, a token issued right after works
    // (same second: revocation compares microseconds).
    let change = json!({"user": {"password": "second-pw"}});
    let (st, body) = call(&s, &admin, Method::PATCH, &format!("/v3/users/{uid}"), Some(change)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert!(body["user"].get("password").is_none() && body["user"].get("password_hash").is_none());
    token_revoked(&s, &admin, &alice, "after-admin-change").await;
    assert_eq!(s.login("alice", "pw-alice", "alpha").await.0, StatusCode::UNAUTHORIZED, "old password");
    let (st, second, _) = s.login("alice", "second-pw", "alpha").await;
    assert_eq!(st, StatusCode::CREATED);
    let second = second.unwrap();
    token_works(&s, &second, "with-second-pw").await;

    // Alice changes it herself (Keystone's POST /v3/users/{id}/password).
    let path = format!("/v3/users/{uid}/password");
    let wrong = json!({"user": {"original_password": "nope", "password": "third-pw"}});
    keystone_error(&call(&s, &second, Method::POST, &path, Some(wrong)).await, 401, "Unauthorized");
    token_works(&s, &second, "after-wrong-original").await;
    let (_, other, _) = s.login("admin", ADMIN_PASSWORD, "admin").await;
    let not_hers = json!({"user": {"original_password": ADMIN_PASSWORD, "password": "x"}});
    let admin_uid = user_id(&s, &admin, "admin").await;
    keystone_error(
        &call(&s, &second, Method::POST, &format!("/v3/users/{admin_uid}/password"), Some(not_hers)).await,
        403,
        "Forbidden",
    );
    let own = json!({"user": {"original_password": "second-pw", "password": "third-pw"}});
    assert_eq!(call(&s, &second, Method::POST, &path, Some(own)).await.0, StatusCode::NO_CONTENT);
    token_revoked(&s, &admin, &second, "after-self-change").await;
    let (st, third, _) = s.login("alice", "third-pw", "alpha").await;
    assert_eq!(st, StatusCode::CREATED);
    let third = third.unwrap();
    token_works(&s, &third, "with-third-pw").await;
    token_works(&s, &other.unwrap(), "admin-unaffected").await;

    // Disabling the user revokes too, and it cannot log in.
    let off = json!({"user": {"enabled": false}});
    assert_eq!(call(&s, &admin, Method::PATCH, &format!("/v3/users/{uid}"), Some(off)).await.0, StatusCode::OK);
    token_revoked(&s, &admin, &third, "after-disable").await;
    assert_eq!(s.login("alice", "third-pw", "alpha").await.0, StatusCode::UNAUTHORIZED);
    // A rename alone revokes nothing.
    let (bob, _) = s.member(&admin, "beta", "bob", "member").await;
    let bob_id = user_id(&s, &admin, "bob").await;
    let rename = json!({"user": {"name": "robert"}});
    let (st, body) = call(&s, &admin, Method::PATCH, &format!("/v3/users/{bob_id}"), Some(rename)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["name"], "robert");
    token_works(&s, &bob, "after-rename").await;
}

#[tokio::test]
async fn empty_passwords_are_refused() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    // Login with an empty password: 401, whoever the user.
    keystone_error(
        &{
            let (st, _, body) = s.login("admin", "", "admin").await;
            (st, body)
        },
        401,
        "Unauthorized",
    );
    // Creating a user with an empty password: 400, nothing created.
    let body = json!({"user": {"name": "blank", "password": "", "domain_id": "default"}});
    keystone_error(&call(&s, &admin, Method::POST, "/v3/users", Some(body)).await, 400, "Bad Request");
    let (_, users) = call(&s, &admin, Method::GET, "/v3/users?name=blank", None).await;
    assert_eq!(users["users"].as_array().map(Vec::len), Some(0));
    let body = json!({"user": {"name": "typed", "password": 12, "domain_id": "default"}});
    keystone_error(&call(&s, &admin, Method::POST, "/v3/users", Some(body)).await, 400, "Bad Request");
    // A user created without a password exists but no password (not even "") logs it in.
    let (st, created) =
        call(&s, &admin, Method::POST, "/v3/users", Some(json!({"user": {"name": "nopw", "domain_id": "default"}})))
            .await;
    assert_eq!(st, StatusCode::CREATED, "{created}");
    let nopw = created["user"]["id"].as_str().unwrap().to_string();
    let (_, projects) = call(&s, &admin, Method::GET, "/v3/projects?name=admin", None).await;
    let admin_project = projects["projects"][0]["id"].as_str().unwrap().to_string();
    let member = role_id(&s, &admin, "member").await;
    let grant = format!("/v3/projects/{admin_project}/users/{nopw}/roles/{member}");
    assert_eq!(call(&s, &admin, Method::PUT, &grant, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.login("nopw", "", "admin").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(s.login("nopw", "anything", "admin").await.0, StatusCode::UNAUTHORIZED);
    // Updating to an empty password: 400, the old one still works and no token is revoked.
    let (bob, _) = s.member(&admin, "beta", "bob", "member").await;
    let bob_id = user_id(&s, &admin, "bob").await;
    let blank = json!({"user": {"password": ""}});
    keystone_error(
        &call(&s, &admin, Method::PATCH, &format!("/v3/users/{bob_id}"), Some(blank)).await,
        400,
        "Bad Request",
    );
    let self_blank = json!({"user": {"original_password": "pw-bob", "password": ""}});
    keystone_error(
        &call(&s, &bob, Method::POST, &format!("/v3/users/{bob_id}/password"), Some(self_blank)).await,
        400,
        "Bad Request",
    );
    token_works(&s, &bob, "bob-still-valid").await;
    assert_eq!(s.login("bob", "pw-bob", "beta").await.0, StatusCode::CREATED);
    // Bootstrapping with an empty password creates no admin.
    let fresh = TestServer::start().await;
    let app = fresh.app.as_ref().unwrap();
    assert!(neutrino_server::ensure_bootstrapped(app, Some(String::new())).await.is_err());
    assert!(app.store.read(|tx| tx.user_list(None)).await.unwrap().is_empty());
}

#[tokio::test]
async fn revocations_are_pruned_once_past_token_expiry() {
    use neutrino_server::app::identity::{apply_revocations, record_revocation, RevocationScope};
    let s = TestServer::start_auth().await;
    let app = s.app.clone().unwrap();
    let admin = s.admin_token().await;
    // A user deletion through the API records one event, kept for token_ttl_seconds.
    let body = json!({"user": {"name": "u1", "password": "pw", "domain_id": "default"}});
    let (_, u) = call(&s, &admin, Method::POST, "/v3/users", Some(body)).await;
    let id = u["user"]["id"].as_str().unwrap().to_string();
    assert_eq!(call(&s, &admin, Method::DELETE, &format!("/v3/users/{id}"), None).await.0, StatusCode::NO_CONTENT);
    let stored = app.store.read(|tx| tx.revocation_event_list(0, 0)).await.unwrap();
    assert_eq!(stored.len(), 1);
    let now = chrono::Utc::now().timestamp();
    assert!((now + 3600..=now + 3602).contains(&stored[0].prune_after), "{stored:?}");
    // Events recorded with a 1 s token lifetime are gone from store and memory once past it.
    for user in ["short1", "short2"] {
        let event = app.store.write(move |tx| record_revocation(tx, 1, RevocationScope::user(user))).await.unwrap();
        apply_revocations(&app, &[event]);
    }
    assert_eq!(app.identity.signer.revocation_count(), 3);
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let event = app.store.write(|tx| record_revocation(tx, 1, RevocationScope::project("p"))).await.unwrap();
    apply_revocations(&app, &[event]);
    let stored = app.store.read(|tx| tx.revocation_event_list(0, 0)).await.unwrap();
    let kept: Vec<_> = stored.iter().map(|e| (e.user_id.as_deref(), e.project_id.as_deref())).collect();
    assert_eq!(kept, [(Some(id.as_str()), None), (None, Some("p"))], "the short ones were pruned");
    assert_eq!(app.identity.signer.revocation_count(), 2);
}

#[tokio::test]
async fn events_written_by_another_server_are_read_in() {
    use neutrino_server::app::identity::refresh_revocations;
    use neutrino_store::identity::RevocationRecord;
    let s = TestServer::start_auth().await;
    let app = s.app.clone().unwrap();
    let admin = s.admin_token().await;
    let (alice, _) = s.member(&admin, "alpha", "alice", "member").await;
    let uid = user_id(&s, &admin, "alice").await;
    token_works(&s, &alice, "before").await;
    // Another replica on the same store records the event, and its change on the feed does
    // not reach this one (compacted away): only the periodic refresh can read it in. (The
    // feed's way is replicas.rs's.)
    let now_us = chrono::Utc::now().timestamp_micros();
    let event = RevocationRecord {
        id: 0,
        user_id: Some(uid.clone()),
        project_id: None,
        role_id: None,
        app_cred_id: None,
        issued_before_us: now_us,
        revoked_at_us: now_us,
        prune_after: now_us / 1_000_000 + 3600,
    };
    app.store.write(move |tx| tx.revocation_event_insert(&event)).await.unwrap();
    token_works(&s, &alice, "not-yet-read").await;
    assert_eq!(refresh_revocations(&app).await.unwrap(), 1);
    token_revoked(&s, &admin, &alice, "after-refresh").await;
    assert_eq!(refresh_revocations(&app).await.unwrap(), 0, "incremental: nothing new");
}

/// A token another replica revoked, whose change this one missed, is read in by the periodic
/// refresh of revoked tokens (servers on a shared database run it beside the events').
#[tokio::test]
async fn revoked_tokens_written_by_another_server_are_read_in() {
    use neutrino_server::app::identity::refresh_revoked_tokens;
    let s = TestServer::start_auth().await;
    let app = s.app.clone().unwrap();
    let admin = s.admin_token().await;
    let (alice, _) = s.member(&admin, "alpha", "alice", "member").await;
    token_works(&s, &alice, "before").await;
    let claims = app.identity.validate(&alice).unwrap();
    let (audit, expires) = (claims.audit_id.clone(), claims.expires_at);
    app.store.write(move |tx| tx.revoked_token_insert(&audit, expires)).await.unwrap();
    token_works(&s, &alice, "not-yet-read").await;
    assert!(refresh_revoked_tokens(&app).await.unwrap() >= 1);
    token_revoked(&s, &admin, &alice, "after-refresh").await;
}
