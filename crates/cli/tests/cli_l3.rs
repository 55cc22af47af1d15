//! The neutrino CLI's router, floating IP and security group commands against a real
//! `neutrino server --noauth`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use std::process::Command;

mod common;
use common::start;

/// Runs `neutrino ARGS` and returns (success, stdout, stderr).
fn cli(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(args)
        .env("OS_NETWORK_URL", url)
        .env_remove("OS_AUTH_URL")
        .env_remove("OS_TOKEN")
        .output()
        .expect("run neutrino");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(url: &str, args: &[&str]) -> String {
    let (success, out, err) = cli(url, args);
    assert!(success, "neutrino {args:?} failed: {err}");
    out.trim().to_string()
}

#[test]
fn routers_floating_ips_and_security_groups() {
    let (_server, url, _dir) = start();
    let u = url.as_str();
    ok(u, &["network", "create", "ext", "--external"]);
    ok(u, &["subnet", "create", "ext-sub", "--network", "ext", "--subnet-range", "203.0.113.0/24", "--no-dhcp"]);
    ok(u, &["network", "create", "priv"]);
    ok(u, &["subnet", "create", "priv-sub", "--network", "priv", "--subnet-range", "10.9.0.0/24"]);
    let gw =
        ok(u, &["router", "create", "r1", "--external-gateway", "ext", "-f", "value", "-c", "external_gateway_info"]);
    assert!(gw.contains("203.0.113."), "{gw}");
    ok(u, &["router", "add", "subnet", "r1", "priv-sub"]);
    ok(u, &["security", "group", "create", "web"]);
    let proto = ok(
        u,
        &[
            "security",
            "group",
            "rule",
            "create",
            "web",
            "--protocol",
            "tcp",
            "--dst-port",
            "22",
            "--remote-ip",
            "0.0.0.0/0",
            "-f",
            "value",
            "-c",
            "protocol",
        ],
    );
    assert_eq!(proto, "tcp");
    let (dup, _, err) = cli(
        u,
        &[
            "security",
            "group",
            "rule",
            "create",
            "web",
            "--protocol",
            "tcp",
            "--dst-port",
            "22",
            "--remote-ip",
            "0.0.0.0/0",
        ],
    );
    assert!(!dup && err.contains("already exists"), "{err}");
    ok(u, &["port", "create", "vm", "--network", "priv"]);
    let fip = ok(u, &["floating", "ip", "create", "ext", "-f", "value", "-c", "floating_ip_address"]);
    ok(u, &["floating", "ip", "set", &fip, "--port", "vm"]);
    let (removed, _, err) = cli(u, &["router", "remove", "subnet", "r1", "priv-sub"]);
    assert!(!removed && err.contains("required by one or more floating IPs"), "{err}");
    let (deleted, _, err) = cli(u, &["router", "delete", "r1"]);
    assert!(!deleted && err.contains("has ports still attached"), "{err}");
    ok(u, &["floating", "ip", "unset", &fip, "--port"]);
    ok(u, &["floating", "ip", "delete", &fip]);
    ok(u, &["router", "remove", "subnet", "r1", "priv-sub"]);
    ok(u, &["router", "unset", "r1", "--external-gateway"]);
    ok(u, &["router", "delete", "r1"]);
    assert_eq!(ok(u, &["router", "list", "-f", "value"]), "");
}
