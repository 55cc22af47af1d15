//! The server survives floods: slow clients are cut after the header timeout while others
//! keep their latency, connections over the cap cost no file descriptor, a request that runs
//! too long and a full store queue are answered 503 with `Retry-After`, and a member's list
//! among many other projects' rows shows exactly what it showed before. Loopback only;
//! every test is bounded in count and time.

use crate::common::{assert_error, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The inodes of the TCP sockets of this network namespace whose local port is `port`,
/// except the listener (`/proc/net/tcp{,6}`; sockets still in the backlog have inode 0).
fn connection_inodes(port: u16) -> HashSet<u64> {
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9)) else { continue };
            let local_port = local.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            let inode: u64 = inode.parse().unwrap_or(0);
            if local_port == Some(port) && *state != "0A" && inode != 0 {
                inodes.insert(inode);
            }
        }
    }
    inodes
}

/// File descriptors this process holds on accepted connections of the server at `port`.
fn server_connection_fds(port: u16) -> usize {
    let inodes = connection_inodes(port);
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return 0 };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy().to_string();
            t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')).and_then(|n| n.parse::<u64>().ok())
        })
        .filter(|inode| inodes.contains(inode))
        .count()
}

fn port_of(server: &TestServer) -> u16 {
    server.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
}

/// Sends half a request head and waits; returns how long after connecting the server
/// closed it.
async fn slow_client(addr: String) -> Option<Duration> {
    let mut stream = TcpStream::connect(&addr).await.ok()?;
    let started = Instant::now();
    stream.write_all(b"GET /v2.0/networks HTTP/1.1\r\nHost: neutrino\r\nX-Slow: ").await.ok()?;
    let mut buf = [0u8; 512];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    closed.ok().map(|()| started.elapsed())
}

#[tokio::test]
async fn slow_clients_are_cut_after_the_header_timeout_and_others_keep_their_latency() {
    let server = TestServer::start_with(|c| {
        c.http.header_read_timeout = 1;
        c.http.keepalive_timeout = 1;
    })
    .await;
    let addr = server.url.trim_start_matches("http://").to_string();
    let port = port_of(&server);
    let slow: Vec<_> = (0..200).map(|_| tokio::spawn(slow_client(addr.clone()))).collect();
    // Let the slow clients connect and stall.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = server_connection_fds(port);
    assert!(held >= 100, "the slow clients are connected: {held}");
    // Meanwhile normal requests are answered promptly.
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let t = Instant::now();
        let (status, body) = server.post("/v2.0/networks", json!({"network": {"name": format!("n{i}")}})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, _) = server.get("/v2.0/networks").await;
        assert_eq!(status, StatusCode::OK);
        worst = worst.max(t.elapsed());
    }
    assert!(worst < Duration::from_secs(2), "a normal request took {worst:?} during the flood");
    let mut cut_after = Vec::new();
    for h in slow {
        cut_after.push(h.await.expect("join").expect("the server closed the slow connection"));
    }
    let first = cut_after.iter().min().copied().unwrap_or_default();
    let last = cut_after.iter().max().copied().unwrap_or_default();
    assert!(first >= Duration::from_millis(900), "cut before the header timeout: {first:?}");
    assert!(last < Duration::from_secs(5), "cut long after the 1 s header timeout: {last:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server_connection_fds(port) <= 5, "the server still holds {} connections", server_connection_fds(port));
}

#[tokio::test]
async fn idle_keepalive_connections_are_closed() {
    let server = TestServer::start_with(|c| {
        c.http.header_read_timeout = 10;
        c.http.keepalive_timeout = 1;
    })
    .await;
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).await.expect("connect");
    stream.write_all(b"GET / HTTP/1.1\r\nHost: neutrino\r\n\r\n").await.expect("send");
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the idle keep-alive connection was not closed");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "answered first");
    let idle = started.elapsed();
    assert!(idle >= Duration::from_millis(900) && idle < Duration::from_secs(4), "closed after {idle:?}");
}

#[tokio::test]
async fn connections_over_the_cap_wait_in_the_backlog_without_fds() {
    let server = TestServer::start_with(|c| {
        c.http.max_connections = 8;
        c.http.header_read_timeout = 3;
    })
    .await;
    let addr = server.url.trim_start_matches("http://").to_string();
    let port = port_of(&server);
    let mut clients = Vec::new();
    for _ in 0..150 {
        clients.push(TcpStream::connect(&addr).await.expect("the kernel completes the handshake"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = server_connection_fds(port);
    assert!(held <= 8, "the server holds {held} connections over its cap of 8");
    assert!(held >= 1, "the server accepts up to its cap");
    // Once the clients go, the backlog drains at once and the server answers again.
    drop(clients);
    let t = Instant::now();
    let (status, _) =
        tokio::time::timeout(Duration::from_secs(10), server.get("/v2.0/networks")).await.expect("answered");
    assert_eq!(status, StatusCode::OK);
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server_connection_fds(port) <= 2, "fds left: {}", server_connection_fds(port));
}

/// Occupies the store's only reader (or its writer) until the sender is dropped.
async fn hold_store(server: &TestServer, write: bool) -> std::sync::mpsc::Sender<()> {
    let store = server.app.as_ref().expect("app").store.clone();
    let (running_tx, running_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let job = move |_tx: &mut dyn neutrino_store::Tx| -> Result<(), neutrino_store::StoreError> {
        let _ = running_tx.send(());
        let _ = release_rx.recv_timeout(Duration::from_secs(20));
        Ok(())
    };
    tokio::spawn(async move {
        let _ = if write { store.write(job).await } else { store.read(job).await };
    });
    running_rx.await.expect("the holding job runs");
    release_tx
}

#[tokio::test]
async fn a_request_that_runs_past_the_request_timeout_gets_503_with_retry_after() {
    let server = TestServer::start_with(|c| {
        c.agent_watch_timeout = 1;
        c.http.request_timeout = 2;
        c.store.readers = 1;
    })
    .await;
    let release = hold_store(&server, false).await;
    let t = Instant::now();
    let res = server.http.get(format!("{}/v2.0/networks", server.url)).send().await.expect("answered");
    let took = t.elapsed();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: serde_json::Value = res.json().await.expect("json");
    assert_error(&(StatusCode::SERVICE_UNAVAILABLE, body), 503, "ServiceUnavailable");
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(5), "answered after {took:?}");
    drop(release);
    let (status, _) = server.get("/v2.0/networks").await;
    assert_eq!(status, StatusCode::OK, "served again once the store is free");
}

#[tokio::test]
async fn a_full_write_queue_answers_503_with_retry_after_and_writes_nothing() {
    let server = TestServer::start_with(|c| c.store.write_queue = 2).await;
    let release = hold_store(&server, true).await;
    // Two writes fill the queue (or the server's own background writes took a place first).
    let store = server.app.as_ref().expect("app").store.clone();
    let fillers: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.write(|_tx| -> Result<(), neutrino_store::StoreError> { Ok(()) }).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let res = server
        .http
        .post(format!("{}/v2.0/networks", server.url))
        .json(&json!({"network": {"name": "refused"}}))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let body: serde_json::Value = res.json().await.expect("json");
    assert_error(&(StatusCode::SERVICE_UNAVAILABLE, body), 503, "ServiceUnavailable");
    drop(release);
    for filler in fillers {
        let done = filler.await.expect("join");
        assert!(matches!(done, Ok(()) | Err(neutrino_store::StoreError::Busy { .. })), "{done:?}");
    }
    let (status, list) = server.get("/v2.0/networks?name=refused").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["networks"], json!([]), "the refused create wrote nothing");
    server.network("accepted").await;
}

fn names(list: &serde_json::Value, key: &str) -> Vec<String> {
    let mut names: Vec<String> = list[key]
        .as_array()
        .expect("list")
        .iter()
        .map(|n| n["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_members_list_among_many_other_projects_rows_shows_exactly_its_own_and_shared() {
    let server = TestServer::start_auth().await;
    let admin = server.admin_token().await;
    let (member, member_project) = server.member(&admin, "floods-me", "floods-me", "member").await;
    let (_other, other_project) = server.member(&admin, "floods-other", "floods-other", "member").await;
    let as_admin = [("X-Auth-Token", admin.as_str())];
    let as_member = [("X-Auth-Token", member.as_str())];
    let create = |body: serde_json::Value| {
        let server = &server;
        let h = as_admin;
        async move {
            let (s, b) = server.call_with(Method::POST, "/v2.0/networks", Some(json!({ "network": body })), &h).await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            b["network"]["id"].as_str().expect("id").to_string()
        }
    };
    // Many rows of another project, none visible to the member.
    let (s, b) = server
        .call_with(
            Method::PUT,
            &format!("/v2.0/quotas/{other_project}"),
            Some(json!({"quota": {"network": -1}})),
            &as_admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let mut others = futures::stream::FuturesUnordered::new();
    for i in 0..300 {
        others.push(create(json!({"name": format!("other-{i}"), "project_id": other_project})));
    }
    use futures::StreamExt;
    while others.next().await.is_some() {}
    let shared = create(json!({"name": "shared", "shared": true})).await;
    let _external = create(json!({"name": "external", "router:external": true})).await;
    let rbac_shared = create(json!({"name": "rbac-shared"})).await;
    let rbac_else = create(json!({"name": "rbac-else"})).await;
    for (net, target) in [(&rbac_shared, member_project.as_str()), (&rbac_else, other_project.as_str())] {
        let (s, b) = server
            .call_with(
                Method::POST,
                "/v2.0/rbac-policies",
                Some(json!({"rbac_policy": {"object_type": "network", "object_id": net, "action": "access_as_shared", "target_tenant": target}})),
                &as_admin,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let own = create(json!({"name": "mine", "project_id": member_project})).await;
    // The member's subnet is its project's; the others are the admin's.
    for (net, cidr, project) in [
        (&own, "10.1.0.0/24", Some(&member_project)),
        (&shared, "10.2.0.0/24", None),
        (&rbac_else, "10.3.0.0/24", None),
    ] {
        let mut subnet = json!({"network_id": net, "cidr": cidr, "ip_version": 4, "name": format!("sub-{cidr}")});
        if let Some(project) = project {
            subnet["project_id"] = json!(project);
        }
        let (s, b) =
            server.call_with(Method::POST, "/v2.0/subnets", Some(json!({ "subnet": subnet })), &as_admin).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (s, list) = server.call_with(Method::GET, "/v2.0/networks", None, &as_member).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(names(&list, "networks"), ["external", "mine", "rbac-shared", "shared"]);
    let (_, list) = server.call_with(Method::GET, "/v2.0/networks?name=rbac-else", None, &as_member).await;
    assert_eq!(names(&list, "networks"), Vec::<String>::new());
    let (_, list) = server.call_with(Method::GET, "/v2.0/networks?name=shared", None, &as_member).await;
    assert_eq!(names(&list, "networks"), ["shared"]);
    let (_, list) = server.call_with(Method::GET, "/v2.0/networks?limit=2", None, &as_member).await;
    assert_eq!(list["networks"].as_array().map(Vec::len), Some(2), "{list}");
    let (_, list) = server.call_with(Method::GET, "/v2.0/subnets", None, &as_member).await;
    assert_eq!(names(&list, "subnets"), ["sub-10.1.0.0/24", "sub-10.2.0.0/24"]);
    // The admin still sees everything.
    let (_, list) = server.call_with(Method::GET, "/v2.0/networks?fields=id", None, &as_admin).await;
    assert_eq!(list["networks"].as_array().map(Vec::len), Some(305));
}
