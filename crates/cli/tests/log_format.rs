//! `--log-format json`: `neutrino server` and `neutrino agent` write one JSON object per log
//! line on standard error (text stays the default).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

mod common;

use common::Server;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Starts `neutrino args...` and returns its stderr lines up to and including the first
/// that contains `until` (or all of them if it exits first), within 60 s.
fn lines_until(args: &[&str], until: &str) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _running = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    let mut out = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        let done = line.contains(until);
        out.push(line);
        if done {
            break;
        }
    }
    assert!(out.iter().any(|l| l.contains(until)), "never logged {until:?}: {out:#?}");
    out
}

fn assert_json_lines(lines: &[String]) {
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{line}");
        assert!(v["fields"]["message"].is_string(), "{line}");
    }
}

#[test]
fn server_logs_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let args = ["server", "--log-format", "json", "--noauth", "--listen", "127.0.0.1:0", "--data-dir", data];
    let lines = lines_until(&args, "neutrino server listening");
    assert_json_lines(&lines);
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["fields"]["listen"], "127.0.0.1:0", "fields stay typed fields: {last}");
}

#[test]
fn server_logs_text_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let lines = lines_until(&["server", "--noauth", "--listen", "127.0.0.1:0", "--data-dir", data], "listening");
    assert!(serde_json::from_str::<serde_json::Value>(lines.last().unwrap()).is_err(), "{lines:?}");
}

#[test]
fn agent_logs_one_json_object_per_line_and_its_fatal_error_too() {
    // A config the agent refuses: the start line is not reached, the error is logged as JSON.
    let lines = lines_until(
        &["agent", "--log-format", "json", "--host", "h1", "--server", "http://127.0.0.1:9", "--resync-interval", "0"],
        "resync_interval",
    );
    assert_json_lines(&lines);
    assert_eq!(serde_json::from_str::<serde_json::Value>(lines.last().unwrap()).unwrap()["level"], "ERROR");
}
