//! A flood of failed logins against an in-process server, in its own test binary so the
//! process's RSS and open file descriptors are this test's alone: 64 parallel wrong
//! passwords for one user are bounded (few hashes at once, then 429 with Retry-After), a
//! correct login of another user still succeeds during the burst, and afterwards RSS is
//! within 100 MB of where it started and the descriptors are back where they were.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

#[path = "api/common.rs"]
mod common;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BURST: usize = 64;
const PER_USER_LIMIT: u32 = 5;
const HASH_SLOTS: usize = 2;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib * 1024
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

async fn login(http: &reqwest::Client, url: &str, user: &str, password: &str) -> (StatusCode, Option<String>, Value) {
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password, "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": "flood", "domain": {"name": "Default"}}}}});
    let res = http.post(format!("{url}/v3/auth/tokens")).json(&body).send().await.expect("request");
    let status = res.status();
    let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let token = res.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).map(str::to_string);
    let json = res.json::<Value>().await.unwrap_or(Value::Null);
    (status, if status == StatusCode::CREATED { token } else { retry_after }, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_are_bounded_and_leave_nothing_behind() {
    let started = Instant::now();
    let s = TestServer::start_with(|c| {
        c.noauth = false;
        c.identity.max_concurrent_password_hashes = HASH_SLOTS;
        c.identity.login_failures_per_user = PER_USER_LIMIT;
        // Every request comes from 127.0.0.1: the address limit must not stop the bystander.
        c.identity.login_failures_per_address = 1_000;
    })
    .await;
    let admin = s.admin_token().await;
    let (_, project) = s.member(&admin, "flood", "victim", "member").await;
    let (st, roles) = s.call_with(Method::GET, "/v3/roles?name=member", None, &[("X-Auth-Token", &admin)]).await;
    assert_eq!(st, StatusCode::OK);
    let member = roles["roles"][0]["id"].as_str().unwrap().to_string();
    let (st, u) = s
        .call_with(
            Method::POST,
            "/v3/users",
            Some(json!({"user": {"name": "bystander", "password": "pw-bystander", "domain_id": "default"}})),
            &[("X-Auth-Token", &admin)],
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    let bystander = u["user"]["id"].as_str().unwrap().to_string();
    let grant = format!("/v3/projects/{project}/users/{bystander}/roles/{member}");
    assert_eq!(s.call_with(Method::PUT, &grant, None, &[("X-Auth-Token", &admin)]).await.0, StatusCode::NO_CONTENT);

    // No idle connections kept by the client: every descriptor a request opens is closed
    // after it, so what stays open afterwards is the server's.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    // Warm up: the hashing slots' buffers, the dummy hash, the store's readers.
    let warm = futures::future::join_all(
        (0..HASH_SLOTS).map(|i| login(&http, &s.url, if i == 0 { "ghost" } else { "bystander" }, "warm-up")),
    )
    .await;
    assert!(warm.iter().all(|(st, _, _)| *st == StatusCode::UNAUTHORIZED));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_before = rss_bytes();
    let fds_before = open_fds();

    let burst = futures::future::join_all((0..BURST).map(|i| {
        let http = http.clone();
        let url = s.url.clone();
        async move { login(&http, &url, "victim", &format!("wrong-{i}")).await }
    }));
    let during = async {
        // Once the burst is queued, a correct login of another user still gets its token.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let got = login(&http, &s.url, "bystander", "pw-bystander").await;
        let rss = rss_bytes();
        (got, rss)
    };
    let (results, ((st, token, body), rss_during)) = tokio::join!(burst, during);
    assert_eq!(st, StatusCode::CREATED, "bystander during the burst: {body}");
    let token = token.unwrap();
    let (st, _) = s.call_with(Method::GET, "/v2.0/networks", None, &[("X-Auth-Token", &token)]).await;
    assert_eq!(st, StatusCode::OK);

    let unauthorized = results.iter().filter(|(st, _, _)| *st == StatusCode::UNAUTHORIZED).count();
    let throttled: Vec<_> = results.iter().filter(|(st, _, _)| *st == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(unauthorized + throttled.len(), BURST, "only 401 and 429: {results:?}");
    let limit = PER_USER_LIMIT as usize;
    assert!(
        (limit..limit + HASH_SLOTS).contains(&unauthorized),
        "about the limit's worth of hashes, then 429: {unauthorized} x 401"
    );
    for (_, retry_after, body) in &throttled {
        let secs: u64 = retry_after.as_deref().and_then(|v| v.parse().ok()).expect("Retry-After seconds");
        assert!((1..=300).contains(&secs), "{secs}");
        assert_eq!(body["error"]["code"], 429, "{body}");
        assert_eq!(body["error"]["title"], "Too Many Requests", "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // The victim is locked out for the window even with the right password; the bystander is not.
    assert_eq!(login(&http, &s.url, "victim", "pw-victim").await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login(&http, &s.url, "bystander", "pw-bystander").await.0, StatusCode::CREATED);

    // Afterwards: memory within 100 MB of the start, descriptors back where they were.
    let settle = Instant::now();
    let mut fds_after = open_fds();
    while fds_after > fds_before && settle.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        fds_after = open_fds();
    }
    let rss_after = rss_bytes();
    eprintln!(
        "rss before {} MiB, during {} MiB, after {} MiB; fds before {fds_before}, after {fds_after}; {unauthorized} x 401, {} x 429; {:?}",
        rss_before >> 20,
        rss_during >> 20,
        rss_after >> 20,
        throttled.len(),
        started.elapsed()
    );
    assert!(rss_after <= rss_before + 100 * 1024 * 1024, "RSS grew from {rss_before} to {rss_after}");
    assert!(fds_after <= fds_before, "descriptors grew from {fds_before} to {fds_after}");
    let guard = s.app.as_ref().unwrap().identity.login_guard(&s.app.as_ref().unwrap().config.identity);
    assert_eq!(guard.tracked(), (2, 1), "the victim and the warm-up ghost (the bystander cleared), one address");
    assert!(started.elapsed() < Duration::from_secs(120), "bounded in time: {:?}", started.elapsed());
}
