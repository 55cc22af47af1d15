//! Login hardening: failed logins throttled per client address (429 + Retry-After), a cap
//! on logins waiting for a hashing slot (503 + Retry-After), and unknown users costing the
//! same as known ones so timing does not reveal which usernames exist.

use crate::common::{TestServer, ADMIN_PASSWORD};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Logs in and returns (status, Retry-After, body).
async fn login(s: &TestServer, user: &str, password: &str) -> (StatusCode, Option<u64>, Value) {
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}});
    let res = s.http.post(format!("{}/v3/auth/tokens", s.url)).json(&body).send().await.expect("request");
    let status = res.status();
    let retry = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn failed_logins_from_one_address_are_throttled() {
    let s = TestServer::start_with(|c| {
        c.noauth = false;
        c.identity.login_failures_per_address = 3;
        c.identity.login_failures_per_user = 0;
        c.identity.login_failure_window_seconds = 120;
    })
    .await;
    let admin = s.admin_token().await;
    for name in ["ghost1", "ghost2", "admin"] {
        assert_eq!(login(&s, name, "wrong").await.0, StatusCode::UNAUTHORIZED, "{name}");
    }
    // The address is at its limit: even the right password waits for the window.
    let (st, retry, body) = login(&s, "admin", ADMIN_PASSWORD).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry.is_some_and(|r| (1..=120).contains(&r)), "{retry:?}");
    assert_eq!(
        body,
        json!({"error": {"code": 429, "title": "Too Many Requests", "message": body["error"]["message"]}})
    );
    // Tokens already issued keep working; the address came from the connection.
    let (st, _) = s.call_with(reqwest::Method::GET, "/v2.0/networks", None, &[("X-Auth-Token", &admin)]).await;
    assert_eq!(st, StatusCode::OK);
    let app = s.app.as_ref().unwrap();
    assert_eq!(app.identity.login_guard(&app.config.identity).tracked(), (0, 1), "127.0.0.1, no per-user table");
}

#[tokio::test]
async fn logins_beyond_the_waiting_cap_get_503() {
    let s = TestServer::start_with(|c| {
        c.noauth = false;
        c.identity.max_concurrent_password_hashes = 1;
        c.identity.max_waiting_logins = 1;
    })
    .await;
    let server = &s;
    let results =
        futures::future::join_all((0..6).map(|i| async move { login(server, &format!("ghost{i}"), "wrong").await }))
            .await;
    let busy: Vec<_> = results.iter().filter(|(st, _, _)| *st == StatusCode::SERVICE_UNAVAILABLE).collect();
    assert!(!busy.is_empty(), "one hashing, one waiting, the rest refused: {results:?}");
    assert!(results.iter().all(|(st, _, _)| *st == StatusCode::SERVICE_UNAVAILABLE || *st == StatusCode::UNAUTHORIZED));
    for (_, retry, body) in busy {
        assert_eq!(*retry, Some(1));
        assert_eq!(body["error"]["code"], 503, "{body}");
        assert_eq!(body["error"]["title"], "Service Unavailable");
    }
    // Once the burst is over, logins are served again.
    assert_eq!(login(&s, "admin", ADMIN_PASSWORD).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn unknown_and_known_users_take_comparable_time() {
    let s = TestServer::start_with(|c| {
        c.noauth = false;
        c.identity.login_failures_per_user = 0;
        c.identity.login_failures_per_address = 0;
    })
    .await;
    // Warm the dummy hash and the hashing buffers first.
    login(&s, "nobody", "x").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..5 {
        let t = Instant::now();
        assert_eq!(login(&s, "admin", &format!("wrong-{i}")).await.0, StatusCode::UNAUTHORIZED);
        known.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(login(&s, &format!("nobody-{i}"), "wrong").await.0, StatusCode::UNAUTHORIZED);
        unknown.push(t.elapsed());
    }
    // The fastest of each: a login's own cost, which a busy machine only ever adds to (the
    // middle of three samples once differed 5x on two loaded cores running the suite on
    // PostgreSQL).
    let (k, u) = (*known.iter().min().unwrap(), *unknown.iter().min().unwrap());
    eprintln!("fastest failed login: known user {k:?}, unknown user {u:?}");
    // Generous: the point is that an unknown user is not answered without hashing (today's
    // 0.3 ms against 20 ms), not a benchmark.
    assert!(u * 3 >= k && k * 3 >= u, "known {known:?} vs unknown {unknown:?}");
    assert!(u >= Duration::from_millis(1), "an unknown user costs a hash: {unknown:?}");
}
