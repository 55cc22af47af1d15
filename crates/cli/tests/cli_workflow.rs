//! The `neutrino` client commands against a real `neutrino server --noauth`: names resolved,
//! OSC-style options turned into the right requests, output formats, and failures reported
//! the way OSC reports them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use serde_json::Value;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A server on a free port with its own store; killed even when the test panics.
struct Server {
    child: Child,
    url: String,
    log: std::path::PathBuf,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let data = tempfile::tempdir().expect("temp dir");
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
    let log = data.path().join("server.log");
    let child = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(["server", "--noauth", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start neutrino server");
    let mut server = Server { child, url: format!("http://127.0.0.1:{port}"), log, _data: data };
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("server exited with {status}: {}", read_log(&server.log));
        }
        assert!(Instant::now() < deadline, "server not ready after 15 s: {}", read_log(&server.log));
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Server {
    /// Runs `neutrino <args>` against this server.
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_neutrino"))
            .args(args)
            .env("OS_NETWORK_URL", &self.url)
            .env("OS_PROJECT_ID", "cli-test")
            .env_remove("OS_AUTH_URL")
            .env_remove("OS_TOKEN")
            .output()
            .expect("run neutrino")
    }

    /// Runs a command that must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "neutrino {args:?} failed\n--- stderr\n{}\n--- server log\n{}",
            String::from_utf8_lossy(&out.stderr),
            read_log(&self.log)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a command with `-f json`; its parsed output.
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-f", "json"]);
        let text = self.ok(&args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    /// Runs a command that must fail; its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "neutrino {args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

#[test]
fn network_subnet_port_workflow() {
    let s = start_server();
    let net = s.json(&["network", "create", "cli-net", "--description", "d", "--tag", "b", "--tag", "a"]);
    assert_eq!((net["name"].as_str(), net["description"].as_str()), (Some("cli-net"), Some("d")));
    assert_eq!(net["admin_state_up"], true);
    assert!(net.get("tenant_id").is_none(), "OSC hides tenant_id: {net}");
    let mut tags: Vec<&str> =
        net["tags"].as_array().map(|t| t.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    tags.sort();
    assert_eq!(tags, ["a", "b"]);
    let net_id = net["id"].as_str().expect("network id").to_string();
    assert_eq!(s.ok(&["network", "show", "cli-net", "-f", "value", "-c", "id"]), format!("{net_id}\n"));

    let subnet = s.json(&[
        "subnet",
        "create",
        "cli-sub",
        "--network",
        "cli-net",
        "--subnet-range",
        "10.9.0.0/24",
        "--allocation-pool",
        "start=10.9.0.10,end=10.9.0.20",
        "--dns-nameserver",
        "10.9.0.53",
        "--host-route",
        "destination=10.10.0.0/16,gateway=10.9.0.254",
    ]);
    assert_eq!(subnet["network_id"].as_str(), Some(net_id.as_str()));
    assert_eq!(subnet["allocation_pools"], serde_json::json!([{"start": "10.9.0.10", "end": "10.9.0.20"}]));
    assert_eq!(subnet["host_routes"], serde_json::json!([{"destination": "10.10.0.0/16", "nexthop": "10.9.0.254"}]));
    let table = s.ok(&["subnet", "show", "cli-sub"]);
    assert!(table.contains("| allocation_pools  | 10.9.0.10-10.9.0.20 "), "{table}");
    assert!(table.contains("destination='10.10.0.0/16', gateway='10.9.0.254'"), "{table}");

    let port = s.json(&[
        "port",
        "create",
        "cli-port",
        "--network",
        "cli-net",
        "--fixed-ip",
        "subnet=cli-sub,ip-address=10.9.0.15",
    ]);
    assert_eq!(port["fixed_ips"][0]["ip_address"], "10.9.0.15");
    assert_eq!(port["binding_vnic_type"], "normal", "binding attributes under openstacksdk's names");
    s.ok(&["port", "set", "cli-port", "--fixed-ip", "ip-address=10.9.0.16", "--tag", "p"]);
    let ips = s.json(&["port", "show", "cli-port"])["fixed_ips"].clone();
    let ips: Vec<&str> =
        ips.as_array().map(|a| a.iter().filter_map(|i| i["ip_address"].as_str()).collect()).unwrap_or_default();
    assert_eq!(ips, ["10.9.0.15", "10.9.0.16"], "set --fixed-ip adds");
    s.ok(&["port", "set", "cli-port", "--no-fixed-ip", "--fixed-ip", "subnet=cli-sub,ip-address=10.9.0.17"]);
    let listed = s.json(&["port", "list", "--network", "cli-net", "--tags", "p"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["Fixed IP Addresses"][0]["ip_address"], "10.9.0.17", "--no-fixed-ip replaces");
    let by_ip = s.ok(&["port", "list", "--fixed-ip", "ip-address=10.9.0.17", "-f", "value", "-c", "Name"]);
    assert_eq!(by_ip, "cli-port\n");

    let in_use = s.fails(&["network", "delete", "cli-net"]);
    assert!(in_use.contains("Failed to delete network with name or ID 'cli-net': ConflictException: 409"), "{in_use}");
    s.ok(&["port", "delete", "cli-port"]);
    s.ok(&["subnet", "delete", "cli-sub"]);

    s.ok(&["network", "set", "cli-net", "--name", "cli-renamed", "--no-tag", "--tag", "z", "--disable"]);
    let shown = s.ok(&["network", "show", "cli-renamed", "-c", "admin_state_up", "-c", "tags"]);
    assert!(shown.contains("| admin_state_up | DOWN  |") && shown.contains("| tags           | z     |"), "{shown}");
    let list = s.ok(&["network", "list"]);
    assert!(list.starts_with("+---") && list.contains("| ID ") && list.contains("| cli-renamed |"), "{list}");

    let partly = s.fails(&["network", "delete", "nope", "cli-renamed"]);
    assert!(partly.contains("Failed to delete network with name or ID 'nope': No Network found for nope"), "{partly}");
    assert!(partly.contains("1 of 2 networks failed to delete."), "{partly}");
    assert_eq!(s.json(&["network", "list"]), serde_json::json!([]), "the existing one was deleted");
}

#[test]
fn ambiguous_and_missing_names() {
    let s = start_server();
    s.ok(&["network", "create", "twin"]);
    s.ok(&["network", "create", "twin"]);
    let err = s.fails(&["network", "show", "twin"]);
    assert!(err.contains("More than one Network exists with the name 'twin'."), "{err}");
    let err = s.fails(&["subnet", "create", "s", "--network", "ghost", "--subnet-range", "10.0.0.0/24"]);
    assert!(err.contains("No Network found for ghost"), "{err}");
}

#[test]
fn api_errors_and_unreachable_endpoints_fail_clearly() {
    let s = start_server();
    // Above the segment's largest MTU (a small one is Neutron's to accept: its first subnet
    // is then refused).
    let err = s.fails(&["network", "create", "huge", "--mtu", "100000"]);
    assert!(err.contains("BadRequestException: 400: Client Error for url:"), "{err}");
    assert!(err.contains("Requested MTU is too big"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(["network", "list", "--os-url", "http://127.0.0.1:1"])
        .env_remove("OS_AUTH_URL")
        .output()
        .expect("run neutrino");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("GET http://127.0.0.1:1/v2.0/networks failed"), "{err}");
}

/// `GET /healthcheck` over a plain socket: (status line, body).
fn healthcheck(url: &str) -> (String, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut conn = std::net::TcpStream::connect(addr).expect("connect");
    write!(conn, "GET /healthcheck HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("read");
    let status = answer.lines().next().unwrap_or("").to_string();
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn a_second_server_on_one_data_dir_is_refused() {
    let first = start_server();
    let data = first._data.path();
    let db = data.join("neutrino.db");
    let pid = first.child.id();
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
    let second = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(["server", "--noauth", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .expect("run a second server");
    assert!(!second.status.success(), "a second server started on {}", data.display());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains(&format!("store {} is in use by another process (pid {pid})", db.display())), "{err}");
    assert!(err.contains("neutrino.db.lock"), "{err}");
    // It never listened, and the first one keeps serving.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    assert_eq!(healthcheck(&first.url), ("HTTP/1.1 200 OK".to_string(), "OK".to_string()));
    first.ok(&["network", "create", "still-serving"]);

    // `neutrino bootstrap` opens the store too: refused while the server runs, saying so.
    let boot = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(["bootstrap", "--password", "secret", "--data-dir"])
        .arg(data)
        .env_remove("NEUTRINO_CONFIG")
        .output()
        .expect("run neutrino bootstrap");
    assert!(!boot.status.success());
    let err = String::from_utf8_lossy(&boot.stderr);
    assert!(err.contains("cannot run while a server uses it"), "{err}");
    assert!(err.contains(&format!("(pid {pid})")), "{err}");
    // `neutrino keys rotate` never opens the store: safe while the server runs.
    let rotate = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(["keys", "rotate", "--data-dir"])
        .arg(data)
        .env_remove("NEUTRINO_CONFIG")
        .output()
        .expect("run neutrino keys rotate");
    assert!(rotate.status.success(), "{}", String::from_utf8_lossy(&rotate.stderr));
    assert_eq!(healthcheck(&first.url).1, "OK");
}

/// `neutrino keys rotate` against a database (`--database-url`, or `NEUTRINO_DATABASE_URL`)
/// rotates the keys every server on it shares: the staged key becomes primary and a new one
/// is staged, the oldest beyond `identity.keys_kept` (3) going.
#[test]
fn keys_rotate_against_a_database_rotates_the_shared_keys() {
    let Some(cluster) = neutrino_store::postgres::testing::TestCluster::for_test() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let rotate = |by_flag: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_neutrino"));
        command.args(["keys", "rotate", "--data-dir"]).arg(dir.path()).env_remove("NEUTRINO_CONFIG");
        if by_flag {
            command.args(["--database-url", &cluster.url()]).env_remove("NEUTRINO_DATABASE_URL");
        } else {
            command.env("NEUTRINO_DATABASE_URL", cluster.url());
        }
        let out = command.output().expect("run neutrino keys rotate");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // A new database gets key 1 (primary) and 2 (staged) first.
    let first = rotate(true);
    assert!(first.contains("key 2 is now primary in the database") && first.contains("[1, 2, 3]"), "{first}");
    let second = rotate(false);
    assert!(second.contains("key 3 is now primary") && second.contains("[1, 2, 3, 4]"), "{second}");
    let third = rotate(true);
    assert!(third.contains("key 4 is now primary") && third.contains("[2, 3, 4, 5]"), "{third}");
    assert!(!dir.path().join("keys").exists(), "the key directory is not used");
}
