//! `neutrino bench --scenario hosts` against a real `neutrino server --noauth`: a handful
//! of simulated agents register, watch and report; every measured port create reaches
//! every host it concerns, and the JSON says so.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use serde_json::Value;
use std::process::Command;

mod common;
use common::{start, start_with};
use neutrino_store::postgres::testing::TestCluster;

#[test]
fn simulated_hosts_receive_every_change_that_concerns_them() {
    let (server, url, dir) = start();
    let json_path = dir.path().join("hosts.json");
    let pid = server.0.id().to_string();
    let (report, stdout, stderr) = run_hosts_bench(&url, &pid, "1,3", &json_path);
    assert!(stdout.contains("## host fan-out (6 hosts, 3 networks, span 2"), "{stdout}");
    assert_eq!(report["scenario"], "hosts");
    assert_eq!(report["failed_requests"], 0, "{stdout}\n{stderr}");
    let hosts = &report["hosts"];
    assert_eq!(hosts["binding_failures"], 0, "{hosts}");
    let rows = hosts["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    for (row, concurrency) in rows.iter().zip([1, 3]) {
        assert_eq!(row["concurrency"], concurrency);
        assert_eq!(row["changes"], 6, "{row}");
        assert_eq!((&row["failed_creates"], &row["undelivered"]), (&0.into(), &0.into()), "{row}");
        // 6 hosts spanning 2 of 3 networks each: 4 hosts on every network, the bound one among them.
        assert_eq!(row["concerned_per_change"], 4.0, "{row}");
        assert!(row["p99_ms"].as_f64().expect("a latency") >= 0.0, "{row}");
        // Each change reached its 4 hosts, in at most 4 states (fewer when batched).
        let to_concerned = row["sends_concerned_per_change"].as_f64().expect("sends");
        assert!(to_concerned > 0.0 && to_concerned <= 4.0, "{row}");
        // Each bound host wired its new port and said so.
        assert!(row["status_reports"].as_u64().expect("reports") >= 1, "{row}");
        assert!(row["srv_cpu_ms_per_change"].as_f64().expect("cpu") > 0.0, "{row}");
        let per_host = row["srv_cpu_ms_per_concerned_host"].as_f64().expect("cpu per concerned host");
        let net = row["srv_cpu_ms_per_change_net"].as_f64().expect("net cpu");
        assert!((per_host * 4.0 - net).abs() < 0.01, "the net CPU shared by the 4 concerned hosts: {row}");
    }
    // The run cleaned up after itself: no port, subnet or network named lg* remains.
    for kind in ["port", "network"] {
        let out = Command::new(env!("CARGO_BIN_EXE_neutrino"))
            .args([kind, "list", "-f", "value", "-c", "Name"])
            .env("OS_NETWORK_URL", &url)
            .env_remove("OS_AUTH_URL")
            .env_remove("OS_TOKEN")
            .output()
            .expect("run neutrino");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let names = String::from_utf8_lossy(&out.stdout);
        assert!(!names.lines().any(|n| n.starts_with("lg-")), "{kind}s left: {names}");
    }
}

#[test]
fn simulated_hosts_spread_over_two_servers_on_one_postgresql() {
    let Some(cluster) = TestCluster::for_test() else { return };
    let url = cluster.url();
    // One after the other: the first migrates the database alone.
    let (a, url_a, _dir_a) = start_with(&["--database-url", &url]);
    let (b, url_b, dir_b) = start_with(&["--database-url", &url]);
    let json_path = dir_b.path().join("hosts.json");
    let pids = format!("{},{}", a.0.id(), b.0.id());
    let (report, stdout, stderr) = run_hosts_bench(&format!("{url_a},{url_b}"), &pids, "1", &json_path);
    assert!(stdout.contains("2 servers, requests round-robin"), "{stdout}");
    assert_eq!(report["base_urls"], serde_json::json!([url_a, url_b]));
    assert_eq!(report["server_pids"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["failed_requests"], 0, "{stdout}\n{stderr}");
    let rows = report["hosts"]["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1);
    // Hosts watch through one server, half of the creates go through the other, one create
    // in flight at a time: every change reaches every host it concerns, and a change made
    // through the other server wakes the watchers at once (LISTEN/NOTIFY), not when their
    // long poll expires (before it crossed servers, this took 15 s p50).
    assert_eq!((&rows[0]["failed_creates"], &rows[0]["undelivered"]), (&0.into(), &0.into()), "{}", rows[0]);
    let p99 = rows[0]["p99_ms"].as_f64().expect("a latency");
    assert!(p99 < 2000.0, "a change took {p99} ms to reach its hosts across servers: {}", rows[0]);
    assert_eq!(rows[0]["changes"], 6, "{}", rows[0]);
}

/// Runs `neutrino bench --scenario hosts` (6 hosts, 3 networks, span 2, 6 changes) against
/// `urls` and returns its JSON report and output; fails the test if the bench failed.
fn run_hosts_bench(urls: &str, pids: &str, concurrency: &str, json_path: &std::path::Path) -> (Value, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(["bench", urls, "--scenario", "hosts", "--hosts", "6", "--networks", "3", "--span", "2"])
        .args(["--changes", "6", "--concurrency", concurrency, "--timeout", "30", "--server-pid", pids, "--json"])
        .arg(json_path)
        .env_remove("OS_TOKEN")
        .output()
        .expect("run neutrino bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "bench failed:\n{stdout}\n{stderr}");
    let report: Value = serde_json::from_slice(&std::fs::read(json_path).expect("json written")).expect("json");
    (report, stdout, stderr)
}
