//! `neutrino_http::serve` on loopback: shutdown lets an answer in progress finish, a request
//! past its timeout gets the caller's answer, the peer address reaches the handler, and one
//! address cannot take every connection.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use neutrino_http::{Limits, TimeoutAnswer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(2),
        keepalive_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(1),
        max_connections: 16,
        max_connections_per_address: 0,
    }
}

fn app() -> Router {
    Router::new()
        .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                "done"
            }),
        )
        .route(
            "/stuck",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "never"
            }),
        )
}

fn on_timeout() -> TimeoutAnswer {
    Arc::new(|t: Duration| -> Response {
        (axum::http::StatusCode::GATEWAY_TIMEOUT, format!("after {t:?}")).into_response()
    })
}

/// Sends one request on a fresh connection and reads the answer to the end.
async fn request(addr: SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes()).await.expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test]
async fn the_handler_sees_the_peer_and_a_stuck_request_gets_the_timeout_answer() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(neutrino_http::serve(listener, limits(), app(), on_timeout(), std::future::pending()));
    let peer = request(addr, "/peer").await;
    assert!(peer.starts_with("HTTP/1.1 200") && peer.contains("127.0.0.1:"), "{peer}");
    let t = Instant::now();
    let stuck = request(addr, "/stuck").await;
    assert!(stuck.starts_with("HTTP/1.1 504") && stuck.contains("after 1s"), "{stuck}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

#[tokio::test]
async fn shutdown_stops_accepting_and_lets_the_answer_in_progress_finish() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(neutrino_http::serve(listener, limits(), app(), on_timeout(), async move {
        let _ = stopped.await;
    }));
    let in_progress = tokio::spawn(request(addr, "/slow"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    let answer = in_progress.await.expect("join");
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"), "{answer}");
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("serve returns once connections close")
        .expect("join");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn shutdown_does_not_wait_for_an_idle_keepalive_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(neutrino_http::serve(listener, limits(), app(), on_timeout(), async move {
        let _ = stopped.await;
    }));
    // A keep-alive connection that got its answer and stays open.
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /peer HTTP/1.1\r\nHost: t\r\n\r\n").await.expect("send");
    let mut buf = [0u8; 1024];
    let n = s.read(&mut buf).await.expect("answer");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let t = Instant::now();
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(1), server)
        .await
        .expect("an idle connection is closed at once")
        .expect("join");
    assert!(t.elapsed() < Duration::from_millis(900));
}

/// A connection from `source` (any 127.0.0.0/8 address is loopback on Linux).
async fn connect_from(source: &str, addr: SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind(format!("{source}:0").parse().expect("source")).expect("bind source");
    socket.connect(addr).await.expect("connect")
}

/// Whether the server closed `stream` (EOF or reset) within `wait`.
async fn closed_within(stream: &mut tokio::net::TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(tokio::time::timeout(wait, stream.read(&mut buf)).await, Ok(Ok(0)) | Ok(Err(_)))
}

#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let limits = Limits { max_connections_per_address: 3, ..limits() };
    tokio::spawn(neutrino_http::serve(listener, limits, app(), on_timeout(), std::future::pending()));
    // Three idle connections from one address are held (each waits for its head)...
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.1", addr).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for s in &mut held {
        assert!(!closed_within(s, Duration::from_millis(50)).await, "a connection under the cap was closed");
    }
    // ...a fourth from the same address is closed at once...
    let mut fourth = connect_from("127.0.0.1", addr).await;
    assert!(closed_within(&mut fourth, Duration::from_secs(1)).await, "the fourth connection was kept");
    // ...while another address is served.
    let mut other = connect_from("127.0.0.2", addr).await;
    other.write_all(b"GET /peer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await.expect("send");
    let mut answer = String::new();
    other.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("127.0.0.2:"), "{answer}");
    // Once the address's connections close, it is admitted again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let again = request(addr, "/peer").await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
}

#[tokio::test]
async fn listeners_served_together_share_one_connection_cap() {
    let (a, b) = (
        tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a"),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind b"),
    );
    let (addr_a, addr_b) = (a.local_addr().expect("addr a"), b.local_addr().expect("addr b"));
    let one = Limits { max_connections: 1, ..limits() };
    tokio::spawn(neutrino_http::serve_all(vec![a, b], one, app(), on_timeout(), std::future::pending()));
    // Both answer.
    assert!(request(addr_a, "/peer").await.starts_with("HTTP/1.1 200"));
    assert!(request(addr_b, "/peer").await.starts_with("HTTP/1.1 200"));
    // A connection held on one takes the only slot: the other's waits in the backlog until
    // it is closed.
    let held = connect_from("127.0.0.1", addr_a).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiting = tokio::spawn(request(addr_b, "/peer"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "served past the shared cap");
    drop(held);
    let answer = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("served once freed").expect("task");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
