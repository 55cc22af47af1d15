//! python-openstackclient, unmodified, drives a real `neutrino server` through a scripted
//! workflow (tests/osc/workflow.sh). The virtualenv comes from scripts/install-osc.sh, which
//! the test command runs first; under CI a missing virtualenv is a failure, not a skip.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the server even when the test panics.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn venv() -> PathBuf {
    std::env::var_os("NEUTRINO_OSC_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/neutrino-osc-venv"))
}

fn wait_ready(port: u16, server: &mut Server, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("server exited with {status}: {}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("server not ready after 15 s: {}", std::fs::read_to_string(log).unwrap_or_default());
}

/// Starts `neutrino server` with `extra` arguments and environment; returns it with its port.
fn start_server(data: &Path, log: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Server, u16) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_neutrino"));
    cmd.args(["server", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"]).arg(data).args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start neutrino server");
    let mut server = Server(child);
    wait_ready(port, &mut server, log);
    (server, port)
}

/// Runs a workflow script with the virtualenv first on PATH; panics with every output on failure.
fn run_workflow(bin_dir: &Path, script: &str, args: &[&str], log: &Path) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out =
        Command::new("bash").arg(repo.join(script)).args(args).env("PATH", path).output().expect("run the workflow");
    assert!(
        out.status.success(),
        "{script} failed\n--- stdout\n{}\n--- stderr\n{}\n--- server log\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The virtualenv's bin dir, or `None` (skip) outside CI when it is missing.
fn osc_bin_dir() -> Option<PathBuf> {
    let bin_dir = venv().join("bin");
    if !bin_dir.join("openstack").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "python-openstackclient missing in {}: run scripts/install-osc.sh",
            bin_dir.display()
        );
        eprintln!("skipped: python-openstackclient not installed (run scripts/install-osc.sh)");
        return None;
    }
    Some(bin_dir)
}

#[test]
fn openstack_client_workflow() {
    let Some(bin_dir) = osc_bin_dir() else { return };
    let data = tempfile::tempdir().expect("temp dir");
    let log = data.path().join("server.log");
    let (_server, port) = start_server(data.path(), &log, &["--noauth"], &[]);
    run_workflow(&bin_dir, "tests/osc/workflow.sh", &[&format!("http://127.0.0.1:{port}")], &log);
}

#[test]
fn openstack_client_with_keystone_auth() {
    let Some(bin_dir) = osc_bin_dir() else { return };
    let data = tempfile::tempdir().expect("temp dir");
    let log = data.path().join("server.log");
    let (_server, port) = start_server(data.path(), &log, &[], &[("NEUTRINO_BOOTSTRAP_PASSWORD", "osc-admin-pw")]);
    run_workflow(&bin_dir, "tests/osc/auth-workflow.sh", &[&format!("http://127.0.0.1:{port}"), "osc-admin-pw"], &log);
}

#[test]
fn openstack_client_l3_and_security_groups() {
    let Some(bin_dir) = osc_bin_dir() else { return };
    let data = tempfile::tempdir().expect("temp dir");
    let log = data.path().join("server.log");
    let (_server, port) = start_server(data.path(), &log, &["--noauth"], &[]);
    run_workflow(&bin_dir, "tests/osc/l3-workflow.sh", &[&format!("http://127.0.0.1:{port}")], &log);
}
