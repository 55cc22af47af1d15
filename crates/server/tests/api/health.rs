//! `GET|HEAD /healthcheck`: oslo.middleware's healthcheck answers for a load balancer,
//! without authentication, and 503 with a short reason when the store cannot serve.

use super::common::TestServer;
use neutrino_store::StoreError;
use reqwest::{Method, StatusCode};
use std::time::{Duration, Instant};

/// (status, content type, body) of one probe.
async fn probe(server: &TestServer, method: Method, accept: Option<&str>) -> (StatusCode, String, String) {
    let mut req = server.http.request(method, format!("{}/healthcheck", server.url));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, ct, res.text().await.expect("body"))
}

/// Occupies the server's only reader until the returned sender is dropped or sent to.
async fn block_the_reader(server: &TestServer) -> std::sync::mpsc::Sender<()> {
    let store = server.app.as_ref().expect("app").store.clone();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = store
            .read(move |_| -> Result<(), StoreError> {
                let _ = started.send(());
                let _ = released.recv();
                Ok(())
            })
            .await;
    });
    running.await.expect("the blocking read started");
    release
}

#[tokio::test]
async fn healthy_server_answers_ok_without_a_token() {
    // Authentication on, and no token sent: a load balancer has none.
    let server = TestServer::start_auth().await;
    let (st, ct, body) = probe(&server, Method::GET, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ct, "text/plain; charset=UTF-8");
    assert_eq!(body, "OK");
    let (st, _, body) = probe(&server, Method::HEAD, None).await;
    assert_eq!((st, body.as_str()), (StatusCode::NO_CONTENT, ""));
    let (st, ct, body) = probe(&server, Method::GET, Some("application/json")).await;
    assert_eq!((st, ct.as_str()), (StatusCode::OK, "application/json"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json"),
        serde_json::json!({"detailed": false, "reasons": ["OK"]})
    );
    // Every other route still wants a token.
    assert_eq!(server.get("/v2.0/networks").await.0, StatusCode::UNAUTHORIZED);
    // Other methods are refused as on any route.
    assert_eq!(probe(&server, Method::POST, None).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn full_store_queue_is_503_and_recovers() {
    let server = TestServer::start_with(|c| {
        c.store.readers = 1;
        c.store.read_queue = 1;
    })
    .await;
    let release = block_the_reader(&server).await;
    // One more read fills the queue of one; the probe then finds it full.
    let store = server.app.as_ref().expect("app").store.clone();
    let queued = tokio::spawn(async move { store.read(|tx| -> Result<u64, StoreError> { tx.change_latest() }).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (st, ct, body) = probe(&server, Method::GET, None).await;
    assert_eq!(
        (st, ct.as_str(), body.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "text/plain; charset=UTF-8", "STORE BUSY")
    );
    let (st, _, body) = probe(&server, Method::HEAD, None).await;
    assert_eq!((st, body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, ""));
    let (st, _, body) = probe(&server, Method::GET, Some("application/json")).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json")["reasons"],
        serde_json::json!(["STORE BUSY"])
    );

    drop(release);
    // The queue of one is full either way: with the test's read, or (on a shared database,
    // whose replica follower reads the feed in the background) with the follower's, and then
    // the test's own read is the one refused.
    match queued.await.expect("queued read") {
        Ok(_) | Err(StoreError::Busy { .. }) => {}
        Err(other) => panic!("queued read failed: {other}"),
    }
    // The verdict is reused for a second, then a new probe finds the store well.
    tokio::time::sleep(neutrino_server::app::health::FRESH_FOR).await;
    assert_eq!(probe(&server, Method::GET, None).await.2, "OK");
}

#[tokio::test]
async fn store_not_answering_in_time_is_503() {
    let server = TestServer::start_with(|c| c.store.readers = 1).await;
    let release = block_the_reader(&server).await;
    let started = Instant::now();
    let (st, _, body) = probe(&server, Method::GET, None).await;
    assert_eq!((st, body.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "STORE NOT ANSWERING"));
    assert!(started.elapsed() >= neutrino_server::app::health::PROBE_TIMEOUT);
    drop(release);
}

#[tokio::test]
async fn a_flood_of_probes_costs_one_store_read() {
    let server = TestServer::start_with(|c| c.store.readers = 1).await;
    // Prime the verdict, then stall the store: every probe within the next second is
    // answered from the verdict, none waits for (or queues on) the stalled reader.
    assert_eq!(probe(&server, Method::GET, None).await.2, "OK");
    let release = block_the_reader(&server).await;
    let started = Instant::now();
    let probes: Vec<_> = (0..50)
        .map(|_| {
            let http = server.http.clone();
            let url = format!("{}/healthcheck", server.url);
            tokio::spawn(async move { http.get(url).send().await.expect("probe").status() })
        })
        .collect();
    for p in probes {
        assert_eq!(p.await.expect("probe"), StatusCode::OK);
    }
    assert!(started.elapsed() < neutrino_server::app::health::FRESH_FOR, "{:?}", started.elapsed());
    drop(release);
}
