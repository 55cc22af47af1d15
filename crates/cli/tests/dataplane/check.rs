//! `neutrino agent --check` on testbed hosts with the usual faults of a new compute node,
//! and an agent that refuses to join on a fatal one.

use crate::cloud;
use neutrino_testbed::cloud::Cloud;
use neutrino_testbed::Host;
use serde_json::Value;
use std::time::Duration;

const NEUTRINO: &str = env!("CARGO_BIN_EXE_neutrino");

/// `neutrino agent --check -f json` on `host` (VXLAN endpoint `local_ip`, `extra` flags):
/// its findings and whether it exited 0.
fn check(cloud: &Cloud, host: &Host, local_ip: &str, extra: &[&str]) -> (Vec<Value>, bool) {
    let mut argv = vec![NEUTRINO, "agent", "--check", "-f", "json", "--host", host.name()];
    let url = cloud.url();
    argv.extend(["--server", url.as_str(), "--local-ip", local_ip, "--noauth-project", "admin"]);
    argv.extend(extra);
    let out = host.exec(&argv).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let findings: Vec<Value> = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("--check printed no JSON ({e}): {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr))
    });
    (findings, out.status.success())
}

/// The findings of `check` that are not OK, as `(check, status, detail)`.
fn problems(findings: &[Value]) -> Vec<(String, String, String)> {
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    findings.iter().filter(|f| f["status"] != "OK").map(|f| (s(f, "check"), s(f, "status"), s(f, "detail"))).collect()
}

fn only(findings: &[Value], check: &str) -> Vec<(String, String)> {
    problems(findings).into_iter().filter(|p| p.0 == check).map(|p| (p.1, p.2)).collect()
}

#[test]
fn check_finds_each_fault_of_a_new_host() {
    let Some(cloud) = cloud("check", &["h1", "h2"]) else { return };
    // A VXLAN network: the server now knows a tenant MTU (1450) the underlay must carry.
    cloud.network("tenant-a", "net-a", "10.0.0.0/24").unwrap();
    let h3 = cloud.tb.add_host("h3").unwrap();
    let ip = h3.underlay_ip().to_string();

    // A healthy new host: nothing fails (the testbed's hosts share the machine's hostname,
    // so `hostname` may warn).
    let (f, ok) = check(&cloud, &h3, &ip, &[]);
    assert!(ok && problems(&f).iter().all(|p| p.0 == "hostname"), "{:#?}", problems(&f));
    assert_eq!(f.iter().filter(|f| f["check"] == "vxlan_peer").count(), 2, "{f:#?}");

    // A local_ip this host does not have.
    let (f, ok) = check(&cloud, &h3, "198.18.200.200", &[]);
    let p = only(&f, "local_ip");
    assert!(!ok && p.len() == 1 && p[0].0 == "FAIL" && p[0].1.contains("on no interface"), "{p:?}");

    // A physnet mapped to an interface that is not there.
    let (f, ok) = check(&cloud, &h3, &ip, &["--physical-interface-mappings", "physnet1:eth9"]);
    let p = only(&f, "physnet");
    assert!(!ok && p.len() == 1 && p[0].0 == "FAIL" && p[0].1.contains("no interface eth9"), "{p:?}");

    // bridge-nf-call off in the host's namespace: filtering would do nothing until the agent
    // sets it (it does at start), so --check, which changes nothing, warns.
    let sysctl = |v: &str| format!("echo {v} > /proc/sys/net/bridge/bridge-nf-call-iptables");
    h3.exec_ok(["sh", "-c", &sysctl("0")]).unwrap();
    let (f, _) = check(&cloud, &h3, &ip, &[]);
    let p = only(&f, "br_netfilter");
    assert!(p.len() == 1 && p[0].0 == "WARN" && p[0].1.contains("bridge-nf-call-iptables = 0"), "{p:?}");
    h3.exec_ok(["sh", "-c", &sysctl("1")]).unwrap();

    // An underlay MTU too small for the network's 1450 + 50.
    h3.exec_ok(["ip", "link", "set", "eth0", "mtu", "1400"]).unwrap();
    let (f, ok) = check(&cloud, &h3, &ip, &[]);
    let p = only(&f, "underlay_mtu");
    assert!(!ok && p.len() == 1 && p[0].0 == "FAIL" && p[0].1.contains("eth0 carries 1400"), "{p:?}");
    h3.exec_ok(["ip", "link", "set", "eth0", "mtu", "1500"]).unwrap();

    // UDP 4789 dropped by h2's own firewall: h2's agent still answers on the probe port,
    // so the check says 4789 is blocked, and h1 is fine.
    let h2 = cloud.host("h2").unwrap().clone();
    h2.exec_ok(["nft", "add table inet block4789"]).unwrap();
    h2.exec_ok(["nft", "add chain inet block4789 input { type filter hook input priority 0; }"]).unwrap();
    h2.exec_ok(["nft", "add rule inet block4789 input udp dport 4789 drop"]).unwrap();
    let (f, ok) = check(&cloud, &h3, &ip, &[]);
    let p = only(&f, "vxlan_peer");
    let h2_ip = h2.underlay_ip().to_string();
    assert!(!ok && p.len() == 1 && p[0].0 == "FAIL", "{p:?}");
    assert!(p[0].1.contains(&h2_ip) && p[0].1.contains("UDP 4789") && p[0].1.contains("blocked"), "{p:?}");
    h2.exec_ok(["nft", "delete table inet block4789"]).unwrap();
    let (f, ok) = check(&cloud, &h3, &ip, &[]);
    assert!(ok && only(&f, "vxlan_peer").is_empty(), "{f:#?}");

    // The text form: one line a finding, the fix on it.
    let out = h3
        .exec([
            NEUTRINO,
            "agent",
            "--check",
            "--host",
            "h3",
            "--server",
            &cloud.url(),
            "--local-ip",
            "198.18.200.200",
            "--noauth-project",
            "admin",
        ])
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l.starts_with("FAIL local_ip") && l.contains("fix: set --local-ip")), "{text}");
}

#[test]
fn an_agent_with_a_fatal_fault_refuses_to_join_and_says_why() {
    let Some(cloud) = cloud("refuse", &["h1"]) else { return };
    let h2 = cloud.tb.add_host("h2").unwrap();
    let url = cloud.url();
    let args = [
        "agent",
        "--host",
        "h2",
        "--server",
        url.as_str(),
        "--local-ip",
        "198.18.200.200",
        "--noauth-project",
        "admin",
    ];
    let agent =
        cloud.tb.spawn_in(h2.netns(), std::path::Path::new(NEUTRINO), args, &[("RUST_LOG", "info")], None).unwrap();
    let status = agent.wait_timeout(Duration::from_secs(30)).unwrap().expect("the agent should exit");
    assert!(!status.success());
    let log = agent.read_log();
    assert!(log.contains("refusing to join") && log.contains("198.18.200.200 is on no interface"), "{log}");
    let agents = cloud
        .api("admin", |c| async move { c.list(neutrino_client::Collection::Agents, &[("host", "h2")]).await })
        .unwrap();
    assert!(agents.is_empty(), "no agent row for a host that refused: {agents:?}");
    // Downgraded, the same agent joins (and warns).
    let args = [
        "agent",
        "--host",
        "h2",
        "--server",
        url.as_str(),
        "--local-ip",
        "198.18.200.200",
        "--noauth-project",
        "admin",
        "--downgrade-checks",
        "local_ip",
    ];
    let agent =
        cloud.tb.spawn_in(h2.netns(), std::path::Path::new(NEUTRINO), args, &[("RUST_LOG", "info")], None).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let agents = cloud
            .api("admin", |c| async move { c.list(neutrino_client::Collection::Agents, &[("host", "h2")]).await })
            .unwrap();
        if !agents.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "downgraded agent did not join: {}", agent.read_log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(agent.read_log().contains("downgraded by downgrade_checks"));
}
