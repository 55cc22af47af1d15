//! python-openstackclient and openstacksdk, unmodified, drive a real `neutrino server`
//! through the scripted workflows in tests/osc/ (the noauth shell scripts pass against
//! upstream Neutron too; tests/osc/sdk-workflow.py uses the embedded Keystone). Both come
//! from the virtualenv made by scripts/install-osc.sh (NEUTRINO_OSC_VENV or
//! /var/tmp/neutrino-osc-venv); scripts/test.sh runs that first. Without the virtualenv the
//! tests are skipped, except under CI (env `CI` set), where that is a failure.
//! Horizon, unmodified, is driven the same way in a headless browser (tests/horizon/, its
//! virtualenv and Chromium from scripts/install-horizon.sh).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the server may take to answer `GET /`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `neutrino server`, killed when dropped, so also when a test panics.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Why a server did not come up.
enum StartFailure {
    /// It exited because another process took the port between `free_port` and its bind.
    PortTaken,
    Other(String),
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// Whether `GET /` on the port answers 200 (the version document, public in every mode).
fn root_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response);
    response.lines().next().and_then(|status_line| status_line.split_whitespace().nth(1)) == Some("200")
}

/// Starts `neutrino server` on a free port and waits until `GET /` answers.
fn try_start(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Result<Server, StartFailure> {
    let port = free_port();
    let log = data.join(format!("server-{port}.log"));
    let stderr = std::fs::File::create(&log).expect("create the server log");
    let child = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(["server", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data)
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start neutrino server");
    let mut server = Server { child, port, log };
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if root_answers(port) {
            return Ok(server);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            let stderr = server.stderr();
            if stderr.contains("Address already in use") {
                return Err(StartFailure::PortTaken);
            }
            return Err(StartFailure::Other(format!("server exited with {status}:\n{stderr}")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(StartFailure::Other(format!("GET / did not answer within {READY_TIMEOUT:?}:\n{}", server.stderr())))
}

/// Starts the server, trying another port when the chosen one was taken meanwhile.
fn start_server(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
    for _ in 0..3 {
        match try_start(data, extra, env) {
            Ok(server) => return server,
            Err(StartFailure::PortTaken) => continue,
            Err(StartFailure::Other(why)) => panic!("neutrino server did not start: {why}"),
        }
    }
    panic!("neutrino server did not start: three free ports were taken before it could bind");
}

/// Runs a workflow script with the virtualenv first on PATH; panics with all output on failure.
fn run_workflow(bin_dir: &Path, server: &Server, script: &str, args: &[&str], env: &[(&str, &str)]) {
    run_script(bin_dir, Path::new("bash"), server, script, args, env);
}

/// Runs `interpreter script URL args...` with the virtualenv first on PATH.
fn run_script(bin_dir: &Path, interpreter: &Path, server: &Server, script: &str, args: &[&str], env: &[(&str, &str)]) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(interpreter)
        .arg(repo.join(script))
        .arg(server.url())
        .args(args)
        .env("PATH", path)
        .envs(env.iter().copied())
        .output()
        .expect("run the workflow's interpreter");
    assert!(
        out.status.success(),
        "{script} failed ({})\n--- stdout\n{}\n--- stderr\n{}\n--- server log\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
}

/// The virtualenv's bin dir, or `None` (skip) outside CI when it is missing.
fn osc_bin_dir() -> Option<PathBuf> {
    let venv = std::env::var_os("NEUTRINO_OSC_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/neutrino-osc-venv"));
    let bin_dir = venv.join("bin");
    if bin_dir.join("openstack").exists() {
        return Some(bin_dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "python-openstackclient is missing from {}: run scripts/install-osc.sh",
        venv.display()
    );
    eprintln!("skipped: python-openstackclient is not in {}; run scripts/install-osc.sh", venv.display());
    None
}

#[test]
fn openstack_client_workflow() {
    let Some(bin_dir) = osc_bin_dir() else { return };
    let data = tempfile::tempdir().expect("temp dir");
    let server = start_server(data.path(), &["--noauth"], &[]);
    // Tenant networks are VXLAN over a 1500-byte underlay by default: 1500 - 50.
    run_workflow(&bin_dir, &server, "tests/osc/workflow.sh", &[], &[("OSC_EXPECT_MTU", "1450")]);
}

#[test]
fn openstack_client_with_keystone_auth() {
    let Some(bin_dir) = osc_bin_dir() else { return };
    let data = tempfile::tempdir().expect("temp dir");
    let server = start_server(data.path(), &[], &[("NEUTRINO_BOOTSTRAP_PASSWORD", "osc-admin-pw")]);
    run_workflow(&bin_dir, &server, "tests/osc/auth-workflow.sh", &["osc-admin-pw"], &[]);
}

#[test]
fn openstack_client_with_application_credentials() {
    let Some(bin_dir) = osc_bin_dir() else { return };
    let data = tempfile::tempdir().expect("temp dir");
    let server = start_server(data.path(), &[], &[("NEUTRINO_BOOTSTRAP_PASSWORD", "osc-admin-pw")]);
    run_workflow(&bin_dir, &server, "tests/osc/appcred-workflow.sh", &["osc-admin-pw"], &[]);
}

#[test]
fn openstack_client_l3_and_security_groups() {
    let Some(bin_dir) = osc_bin_dir() else { return };
    let data = tempfile::tempdir().expect("temp dir");
    let server = start_server(data.path(), &["--noauth"], &[]);
    run_workflow(&bin_dir, &server, "tests/osc/l3-workflow.sh", &[], &[]);
}

/// openstacksdk (the library behind Ansible's openstack.cloud and SDK-based tools): an
/// application credential, the network/subnet/router/floating IP/security group lifecycle,
/// pagination over `*_links` and resource waits, against the embedded Keystone.
#[test]
fn openstacksdk_workflow() {
    let Some(bin_dir) = osc_bin_dir() else { return };
    let data = tempfile::tempdir().expect("temp dir");
    let server = start_server(data.path(), &[], &[("NEUTRINO_BOOTSTRAP_PASSWORD", "sdk-admin-pw")]);
    let python = bin_dir.join("python3");
    run_script(&bin_dir, &python, &server, "tests/osc/sdk-workflow.py", &["sdk-admin-pw"], &[]);
}

/// The Horizon virtualenv's bin dir once it and Chromium are installed, or `None` (skip)
/// outside CI when they are missing.
fn horizon_bin_dir() -> Option<PathBuf> {
    let venv = std::env::var_os("NEUTRINO_HORIZON_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/neutrino-horizon-venv"));
    let bin_dir = venv.join("bin");
    let needed =
        [bin_dir.join("django-admin"), PathBuf::from("/usr/bin/chromium"), PathBuf::from("/usr/bin/chromedriver")];
    let Some(missing) = needed.iter().find(|p| !p.exists()) else { return Some(bin_dir) };
    assert!(std::env::var_os("CI").is_none(), "{} is missing: run scripts/install-horizon.sh", missing.display());
    eprintln!("skipped: {} is missing; run scripts/install-horizon.sh", missing.display());
    None
}

#[test]
fn horizon_in_a_browser() {
    let Some(bin_dir) = horizon_bin_dir() else { return };
    // Screenshots of every step (and Horizon's log) stay after the run, under the target dir.
    let artefacts = std::env::var_os("NEUTRINO_HORIZON_ARTEFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("horizon"));
    let _ = std::fs::remove_dir_all(&artefacts);
    std::fs::create_dir_all(&artefacts).expect("create the artefact dir");
    eprintln!("horizon screenshots: {}", artefacts.display());
    let data = tempfile::tempdir().expect("temp dir");
    let server = start_server(data.path(), &[], &[("NEUTRINO_BOOTSTRAP_PASSWORD", "horizon-admin-pw")]);
    let dir = artefacts.to_str().expect("a UTF-8 artefact path");
    run_workflow(&bin_dir, &server, "tests/horizon/run.sh", &["horizon-admin-pw", dir], &[]);
}
