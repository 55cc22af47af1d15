//! `metrics_listen` (server config key) and `--metrics-listen` (agent flag) open a listener
//! that serves `/metrics` in the Prometheus text format, apart from the API.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

mod common;

use common::Server;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The body of `GET url` once it answers 200, within 60 s.
async fn scrape(url: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(res) = reqwest::get(url).await {
            if res.status() == reqwest::StatusCode::OK {
                let ct = res.headers()["content-type"].to_str().unwrap().to_string();
                return (ct, res.text().await.unwrap());
            }
        }
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_server_serves_metrics_on_metrics_listen_only() {
    let dir = tempfile::tempdir().unwrap();
    let (api, metrics) = (free_port(), free_port());
    let config = dir.path().join("neutrino.toml");
    std::fs::write(&config, format!("metrics_listen = \"127.0.0.1:{metrics}\"\n")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(["server", "--noauth", "--listen", &format!("127.0.0.1:{api}"), "--data-dir"])
        .arg(dir.path())
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _running = Server(child);
    let (ct, text) = scrape(&format!("http://127.0.0.1:{metrics}/metrics")).await;
    assert_eq!(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert!(text.contains("# TYPE neutrino_http_requests_total counter"), "{text}");
    let on_api = reqwest::get(format!("http://127.0.0.1:{api}/metrics")).await.unwrap();
    assert_eq!(on_api.status(), reqwest::StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_agent_serves_metrics_on_metrics_listen() {
    let port = free_port();
    // No server answers: the agent waits for its first state and touches nothing.
    let child = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(["agent", "--host", "metrics-test-host", "--server", "http://127.0.0.1:9", "--noauth-project", "p"])
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _running = Server(child);
    let (_, text) = scrape(&format!("http://127.0.0.1:{port}/metrics")).await;
    assert!(text.contains("neutrino_agent_passes_total 0"), "{text}");
    assert!(text.contains("neutrino_agent_issues{subsystem=\"l2\"} 0"), "{text}");
}
