//! The firewall against the real kernel: a "host" namespace with a bridge and three VM
//! namespaces plugged into it by veth pairs whose host ends are the ports' taps. The
//! ruleset [`Firewall::sync`] applies must let group members talk, keep others out, open
//! exactly a port a rule opens, and stop spoofed IPs and MACs and DHCP server replies at
//! the tap, except for an allowed address pair.
//!
//! The firewall runs on a thread that entered the host namespace (so the bridge sysctls it
//! writes are the host's), and its `nft` is a wrapper entering the same namespace (the
//! blocking pool's threads are in the test's own namespace). Needs root, `ip`, `nft`,
//! `nsenter`, `ping`, `socat`; skips with a reason otherwise. Namespaces are deleted by a
//! guard, also on panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use neutrino_agent::firewall::{compile, Firewall, FirewallConfig};
use neutrino_agent::report::{Report, SubsystemKind};
use neutrino_agent_api::{AllowedPair, HostState, NetworkState, PortSecurity, SecurityGroupState, SecurityRule};

const PORT_A: &str = "AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA";
const PORT_B: &str = "BBBBBBBB-BBBB-4BBB-8BBB-BBBBBBBBBBBB";
const PORT_C: &str = "CCCCCCCC-CCCC-4CCC-8CCC-CCCCCCCCCCCC";
/// The network of the ports: its bridge gets the network's conntrack zone.
const NET: &str = "0e7e0000-0000-4000-8000-000000000001";
const BRIDGE: &str = "brq0e7e0000-00";
const GROUP: &str = "9e0f0000-0000-4000-8000-00000000000g";
const OTHER_GROUP: &str = "9e0f0000-0000-4000-8000-00000000000h";
/// A group whose only ingress rule names an address group.
const AG_GROUP: &str = "9e0f0000-0000-4000-8000-00000000000a";

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (namespaces)".into());
    }
    for bin in ["/usr/sbin/nft", "/usr/sbin/ip", "/usr/bin/nsenter", "/usr/bin/ping", "/usr/bin/socat"] {
        if !Path::new(bin).exists() {
            return Some(format!("{bin} missing (apt-get install nftables iproute2 util-linux iputils-ping socat)"));
        }
    }
    None
}

/// Whether this machine can run the kernel tests. Under CI a test that cannot run fails
/// here; elsewhere it says why and is skipped.
fn runnable() -> bool {
    let Some(reason) = skip_reason() else { return true };
    assert!(std::env::var_os("CI").is_none(), "cannot run under CI: {reason}");
    eprintln!("skipping: {reason}");
    false
}

/// Deletes the namespaces when dropped.
struct Namespaces {
    names: Vec<String>,
    dir: tempfile::TempDir,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

impl Namespaces {
    fn new(tag: &str, count: usize) -> Namespaces {
        let pid = std::process::id();
        let names: Vec<String> = (0..count).map(|i| format!("nfw{tag}{pid}-{i}")).collect();
        let me = Namespaces { names, dir: tempfile::tempdir().unwrap() };
        for ns in &me.names {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        me
    }

    fn host(&self) -> &str {
        &self.names[0]
    }

    /// A firewall whose `nft` runs in the host namespace.
    fn firewall(&self) -> Firewall {
        self.firewall_verifying(FirewallConfig::default().verify_interval)
    }

    /// [`Namespaces::firewall`], reading the kernel back at most `verify_interval` apart.
    fn firewall_verifying(&self, verify_interval: Duration) -> Firewall {
        let wrapper = self.dir.path().join("nft");
        let script = format!("#!/bin/sh\nexec nsenter --net=/run/netns/{} /usr/sbin/nft \"$@\"\n", self.host());
        std::fs::write(&wrapper, script).unwrap();
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Firewall::new(FirewallConfig { nft_path: wrapper, verify_interval, ..FirewallConfig::default() })
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// Runs a command in a namespace; true if it succeeded.
fn run_in(ns: &str, cmd: &[&str]) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn spawn_in(ns: &str, cmd: &[&str]) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Kills a child when dropped.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Syncs on a thread inside the host namespace, returning the report and how long it took.
fn sync_in(host: &str, fw: &mut Firewall, state: &HostState) -> (Report, Duration) {
    let ns = std::fs::File::open(format!("/run/netns/{host}")).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            neutrino_agent::netns::setns(&ns).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let start = Instant::now();
            let report = rt.block_on(fw.sync(state));
            (report, start.elapsed())
        })
        .join()
        .unwrap()
    })
}

fn rule(id: &str, direction: &str, ethertype: &str) -> SecurityRule {
    SecurityRule {
        id: id.into(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: None,
        remote_address_group_id: None,
    }
}

fn default_group(id: &str) -> SecurityGroupState {
    let members = |rid: &str, eth: &str| SecurityRule { remote_group_id: Some(id.into()), ..rule(rid, "ingress", eth) };
    SecurityGroupState {
        id: id.into(),
        stateful: true,
        rules: vec![
            rule("e4", "egress", "IPv4"),
            rule("e6", "egress", "IPv6"),
            members("i4", "IPv4"),
            members("i6", "IPv6"),
        ],
    }
}

fn port(id: &str, mac: &str, ip: &str, group: &str) -> PortSecurity {
    let v6 = ip.replace("10.0.0.", "fd00::").replace("10.1.", "fd01::").replace('.', ":");
    PortSecurity {
        port_id: id.into(),
        mac_address: mac.into(),
        ip_addresses: vec![ip.parse().unwrap(), v6.parse().unwrap()],
        allowed_address_pairs: vec![],
        port_security_enabled: true,
        security_group_ids: vec![group.into()],
    }
}

fn network(id: &str) -> NetworkState {
    NetworkState {
        id: id.into(),
        network_type: "vxlan".into(),
        segmentation_id: Some(100),
        physical_network: None,
        mtu: 1450,
        remote_endpoints: vec![],
        remote_ports: vec![],
    }
}

fn host_state() -> HostState {
    HostState {
        networks: vec![network(NET)],
        port_security: vec![
            port(PORT_A, "fa:16:3e:00:00:0a", "10.0.0.5", GROUP),
            port(PORT_B, "fa:16:3e:00:00:0b", "10.0.0.6", GROUP),
            port(PORT_C, "fa:16:3e:00:00:0c", "10.0.0.7", OTHER_GROUP),
        ],
        security_groups: vec![default_group(GROUP), default_group(OTHER_GROUP)],
        group_members: BTreeMap::from([
            (GROUP.to_owned(), vec!["10.0.0.5".into(), "10.0.0.6".into(), "fd00::5".into(), "fd00::6".into()]),
            (OTHER_GROUP.to_owned(), vec!["10.0.0.7".into(), "fd00::7".into()]),
        ]),
        ..HostState::default()
    }
}

fn ping(ns: &str, args: &[&str], to: &str) -> bool {
    let mut cmd = vec!["ping", "-c1", "-W1"];
    cmd.extend_from_slice(args);
    cmd.push(to);
    run_in(ns, &cmd)
}

/// Whether `ns` reaches `to` within three one-second pings: for a path that has just opened,
/// where the first echo may still wait on a neighbour entry left FAILED by the closed path.
fn reaches(ns: &str, to: &str) -> bool {
    (0..3).any(|_| ping(ns, &[], to))
}

/// Whether `socat` from `ns` can connect to `addr:port` and read the server's greeting.
fn tcp_open(ns: &str, addr: &str, port: u16) -> bool {
    let target = format!("TCP:{addr}:{port},connect-timeout=2");
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "timeout", "4", "socat", "-T2", "-", &target])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("hello")
}

/// VMs A, B and C (10.0.0.5-7, fd00::5-7, the ports' MACs) in namespaces 1-3, their taps
/// in the host namespace's bridge.
fn three_vms_on_a_bridge(nss: &Namespaces) -> (String, String, String) {
    let host = nss.host();
    let (vm_a, vm_b, vm_c) = (nss.names[1].clone(), nss.names[2].clone(), nss.names[3].clone());
    ip(&["-n", host, "link", "add", BRIDGE, "type", "bridge"]);
    ip(&["-n", host, "link", "set", BRIDGE, "up"]);
    for (vm, tap, mac, addr) in [
        (&vm_a, "tapAAAAAAAA-AA", "fa:16:3e:00:00:0a", "10.0.0.5/24"),
        (&vm_b, "tapBBBBBBBB-BB", "fa:16:3e:00:00:0b", "10.0.0.6/24"),
        (&vm_c, "tapCCCCCCCC-CC", "fa:16:3e:00:00:0c", "10.0.0.7/24"),
    ] {
        ip(&["-n", host, "link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", vm]);
        ip(&["-n", host, "link", "set", tap, "master", BRIDGE, "up"]);
        ip(&["-n", vm, "link", "set", "eth0", "address", mac, "up"]);
        ip(&["-n", vm, "addr", "add", addr, "dev", "eth0"]);
        let v6 = addr.replace("10.0.0.", "fd00::").replace("/24", "/64");
        ip(&["-n", vm, "addr", "add", &v6, "dev", "eth0", "nodad"]);
    }
    (vm_a, vm_b, vm_c)
}

fn assert_clean(report: &Report) {
    assert!(report.issues.is_empty(), "{report:#?}");
}

#[test]
fn security_groups_and_anti_spoofing_on_a_bridge() {
    if !runnable() {
        return;
    }
    let nss = Namespaces::new("k", 4);
    let host = nss.host().to_owned();
    let (vm_a, vm_b, vm_c) = three_vms_on_a_bridge(&nss);

    let mut fw = nss.firewall();
    let mut state = host_state();
    let (report, took) = sync_in(&host, &mut fw, &state);
    assert_clean(&report);
    assert!(report.applied.iter().any(|a| a.starts_with("nftables ruleset")), "{report:?}");
    println!("first sync (3 ports): {took:?}");

    // Members of one group talk; a VM of another group is kept out (but may be reached:
    // its own group lets it send anywhere, and the reply is established).
    assert!(ping(&vm_a, &[], "10.0.0.6"), "A → B");
    assert!(ping(&vm_b, &[], "10.0.0.5"), "B → A");
    assert!(!ping(&vm_c, &[], "10.0.0.5"), "C → A must be dropped");
    assert!(ping(&vm_a, &["-6"], "fd00::6"), "A → B over IPv6 (neighbour discovery, EUI-64 and fixed IPs)");
    assert!(!ping(&vm_c, &["-6"], "fd00::5"), "C → A over IPv6 must be dropped");

    // Same state again: nothing applied.
    let (again, took) = sync_in(&host, &mut fw, &state);
    assert_eq!(again, Report::new(SubsystemKind::Firewall));
    println!("no-op sync (compile, same fingerprint as last applied): {took:?}");

    // Servers on 22 and 23 in A; a rule opens exactly 22 to everyone.
    let _ssh = Kill(spawn_in(&vm_a, &["socat", "TCP-LISTEN:22,reuseaddr,fork", "SYSTEM:echo hello"]));
    let _telnet = Kill(spawn_in(&vm_a, &["socat", "TCP-LISTEN:23,reuseaddr,fork", "SYSTEM:echo hello"]));
    std::thread::sleep(Duration::from_millis(300));
    assert!(tcp_open(&vm_b, "10.0.0.5", 23), "a member reaches any port");
    assert!(!tcp_open(&vm_c, "10.0.0.5", 22), "C blocked before the rule");
    state.security_groups[0].rules.push(SecurityRule {
        protocol: Some("tcp".into()),
        port_range_min: Some(22),
        port_range_max: Some(22),
        remote_ip_prefix: Some("0.0.0.0/0".into()),
        ..rule("ssh", "ingress", "IPv4")
    });
    let (report, took) = sync_in(&host, &mut fw, &state);
    assert_clean(&report);
    println!("rule change to applied (one sync): {took:?}");
    assert!(tcp_open(&vm_c, "10.0.0.5", 22), "C → A:22 after the rule");
    assert!(!tcp_open(&vm_c, "10.0.0.5", 23), "C → A:23 stays closed");
    state.security_groups[0].rules.pop();
    assert_clean(&sync_in(&host, &mut fw, &state).0);
    assert!(!tcp_open(&vm_c, "10.0.0.5", 22), "C → A:22 closed again");

    // A spoofs its source IP: dropped at its tap (ARP and IP alike).
    ip(&["-n", &vm_a, "addr", "add", "10.0.0.99/24", "dev", "eth0"]);
    assert!(!ping(&vm_a, &["-I", "10.0.0.99"], "10.0.0.6"), "spoofed source must be dropped");
    assert!(ping(&vm_a, &[], "10.0.0.6"), "A's own address still works");
    // An allowed address pair (and the address in the group, as the server computes it)
    // lets exactly that address through.
    state.port_security[0]
        .allowed_address_pairs
        .push(AllowedPair { ip_address: "10.0.0.99".into(), mac_address: String::new() });
    state.group_members.get_mut(GROUP).unwrap().push("10.0.0.99".into());
    assert_clean(&sync_in(&host, &mut fw, &state).0);
    assert!(ping(&vm_a, &["-I", "10.0.0.99"], "10.0.0.6"), "allowed pair must pass");
    ip(&["-n", &vm_a, "addr", "add", "10.0.0.98/24", "dev", "eth0"]);
    assert!(!ping(&vm_a, &["-I", "10.0.0.98"], "10.0.0.6"), "only the pair's address");

    // A changes its MAC: dropped.
    ip(&["-n", &vm_a, "link", "set", "eth0", "address", "fa:16:3e:00:00:99"]);
    assert!(!ping(&vm_a, &[], "10.0.0.6"), "changed MAC must be dropped");
    ip(&["-n", &vm_a, "link", "set", "eth0", "address", "fa:16:3e:00:00:0a"]);
    assert!(ping(&vm_a, &[], "10.0.0.6"), "original MAC works again");

    // A answers like a DHCP server (udp sport 67): dropped; the same datagram from another
    // port reaches B.
    let receiver = Kill(spawn_in(&vm_b, &["timeout", "3", "socat", "-u", "UDP4-RECV:68", "STDOUT"]));
    std::thread::sleep(Duration::from_millis(300));
    for (sport, text) in [("67", "from-dhcp-server-port"), ("1067", "from-other-port")] {
        let to = format!("UDP4-SENDTO:10.0.0.6:68,sourceport={sport}");
        let mut send = Command::new("ip")
            .args(["netns", "exec", &vm_a, "socat", "-u", "STDIN", &to])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut send.stdin.take().unwrap(), format!("{text}\n").as_bytes()).unwrap();
        send.wait().unwrap();
    }
    let mut receiver = receiver;
    let out = std::mem::replace(&mut receiver.0, Command::new("true").spawn().unwrap()).wait_with_output().unwrap();
    let got = String::from_utf8_lossy(&out.stdout);
    assert!(got.contains("from-other-port"), "control datagram: {got:?}");
    assert!(!got.contains("from-dhcp-server-port"), "DHCP server reply must be dropped: {got:?}");

    // A stateless group with egress rules only: A's requests leave, B's replies do not
    // come back, though B is stateful; an ingress rule lets them in.
    let stateless =
        SecurityGroupState { id: "57a7e1e5".into(), stateful: false, rules: vec![rule("s1", "egress", "IPv4")] };
    state.security_groups.push(stateless);
    state.port_security[0].security_group_ids = vec!["57a7e1e5".into()];
    assert_clean(&sync_in(&host, &mut fw, &state).0);
    assert!(!ping(&vm_a, &[], "10.0.0.6"), "stateless: no reply without an ingress rule");
    state.security_groups[2].rules.push(rule("s2", "ingress", "IPv4"));
    assert_clean(&sync_in(&host, &mut fw, &state).0);
    assert!(ping(&vm_a, &[], "10.0.0.6"), "stateless: reply allowed by its rule");

    // An agent restart finds the ruleset in place and applies nothing.
    let mut restarted = nss.firewall();
    let (report, _) = sync_in(&host, &mut restarted, &state);
    assert_eq!(report, Report::new(SubsystemKind::Firewall), "restart must not re-apply");
}

/// `security-groups-remote-address-group`: A's group opens TCP 22 only to an address
/// group's CIDRs of the rule's family; changing the group's addresses moves who gets in.
#[test]
fn an_address_group_decides_who_reaches_a_port() {
    if !runnable() {
        return;
    }
    const AG: &str = "a9000000-0000-4000-8000-000000000001";
    let nss = Namespaces::new("ag", 4);
    let host = nss.host().to_owned();
    let (vm_a, vm_b, vm_c) = three_vms_on_a_bridge(&nss);
    let mut state = host_state();
    // A's group: egress anywhere, ingress TCP 22 from the address group only (IPv4 rule).
    state.port_security[0].security_group_ids = vec![AG_GROUP.into()];
    let from_addresses = SecurityRule {
        protocol: Some("tcp".into()),
        port_range_min: Some(22),
        port_range_max: Some(22),
        remote_address_group_id: Some(AG.into()),
        ..rule("ag22", "ingress", "IPv4")
    };
    state.security_groups.push(SecurityGroupState {
        id: AG_GROUP.into(),
        stateful: true,
        rules: vec![rule("e4", "egress", "IPv4"), rule("e6", "egress", "IPv6"), from_addresses],
    });
    // B's address, and C's only over IPv6 (which an IPv4 rule does not use).
    state.address_groups = BTreeMap::from([(AG.to_owned(), vec!["10.0.0.6/32".into(), "fd00::7/128".into()])]);
    state.port_security[1].security_group_ids = vec![OTHER_GROUP.into()];
    let mut fw = nss.firewall();
    assert_clean(&sync_in(&host, &mut fw, &state).0);

    let _ssh = Kill(spawn_in(&vm_a, &["socat", "TCP-LISTEN:22,reuseaddr,fork", "SYSTEM:echo hello"]));
    let _ssh6 = Kill(spawn_in(&vm_a, &["socat", "TCP6-LISTEN:22,reuseaddr,fork,ipv6only=1", "SYSTEM:echo hello"]));
    std::thread::sleep(Duration::from_millis(300));
    assert!(tcp_open(&vm_b, "10.0.0.5", 22), "B's address is in the group");
    assert!(!tcp_open(&vm_c, "10.0.0.5", 22), "C's IPv4 address is not");
    assert!(!tcp_open(&vm_c, "[fd00::5]", 22), "C's IPv6 address is, but the rule is IPv4");
    assert!(!ping(&vm_b, &[], "10.0.0.5"), "only TCP 22 is open");

    // The group's addresses change (the server sends the new state): C in, B out.
    state.address_groups.insert(AG.to_owned(), vec!["10.0.0.7/32".into(), "fd00::6/128".into()]);
    assert_clean(&sync_in(&host, &mut fw, &state).0);
    assert!(tcp_open(&vm_c, "10.0.0.5", 22), "C's address was added");
    assert!(!tcp_open(&vm_b, "10.0.0.5", 22), "B's was removed");
}

/// A device in the bridge that no port of the state names is dropped, whatever it sends;
/// once the server sends a port for it (here with port security off) it is forwarded.
#[test]
fn a_tap_without_a_port_is_not_forwarded() {
    if !runnable() {
        return;
    }
    let nss = Namespaces::new("u", 3);
    let host = nss.host().to_owned();
    let (vm_a, rogue) = (nss.names[1].clone(), nss.names[2].clone());
    ip(&["-n", &host, "link", "add", BRIDGE, "type", "bridge"]);
    ip(&["-n", &host, "link", "set", BRIDGE, "up"]);
    for (vm, tap, mac, addr) in [
        (&vm_a, "tapAAAAAAAA-AA", "fa:16:3e:00:00:0a", "10.0.0.5/24"),
        (&rogue, "tapDDDDDDDD-DD", "fa:16:3e:00:00:0d", "10.0.0.8/24"),
    ] {
        ip(&["-n", &host, "link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", vm]);
        ip(&["-n", &host, "link", "set", tap, "master", BRIDGE, "up"]);
        ip(&["-n", vm, "link", "set", "eth0", "address", mac, "up"]);
        ip(&["-n", vm, "addr", "add", addr, "dev", "eth0"]);
    }
    let mut fw = nss.firewall();
    let mut state = host_state();
    // A's group admits anything, so only the unknown device can be the reason for a drop.
    state.security_groups[0].rules.push(rule("any-in", "ingress", "IPv4"));
    assert_clean(&sync_in(&host, &mut fw, &state).0);
    assert!(!ping(&rogue, &[], "10.0.0.5"), "a tap without a port must not reach A");
    assert!(!ping(&vm_a, &[], "10.0.0.8"), "A must not reach a tap without a port");

    let mut known = port("DDDDDDDD-DDDD-4DDD-8DDD-DDDDDDDDDDDD", "fa:16:3e:00:00:0d", "10.0.0.8", GROUP);
    known.port_security_enabled = false;
    state.port_security.push(known);
    assert_clean(&sync_in(&host, &mut fw, &state).0);
    assert!(reaches(&rogue, "10.0.0.5"), "the port (security off) is forwarded once known");
}

/// 200 ports × 50 rules: compile, apply, a no-op pass and a one-rule change, timed.
#[test]
fn scale_200_ports_50_rules() {
    if !runnable() {
        return;
    }
    let nss = Namespaces::new("s", 1);
    let host = nss.host().to_owned();
    let groups: Vec<SecurityGroupState> = (0..10)
        .map(|g| {
            let id = format!("5ca1e000-0000-4000-8000-{g:012}");
            let rules = (0..50)
                .map(|r| SecurityRule {
                    protocol: Some(if r % 2 == 0 { "tcp" } else { "udp" }.into()),
                    port_range_min: Some(1000 + r),
                    port_range_max: Some(1000 + r + g),
                    remote_ip_prefix: (r % 3 == 0).then(|| format!("192.0.{r}.0/24")),
                    remote_group_id: (r % 3 == 1).then(|| id.clone()),
                    remote_address_group_id: None,
                    ..rule(&format!("r{r}"), if r % 5 == 0 { "egress" } else { "ingress" }, "IPv4")
                })
                .collect();
            SecurityGroupState { id, stateful: true, rules }
        })
        .collect();
    let ports: Vec<PortSecurity> = (0..200u32)
        .map(|i| {
            let id = format!("{i:08x}-5ca1-4000-8000-000000000000");
            let mac = format!("fa:16:3e:00:{:02x}:{:02x}", i >> 8, i & 0xff);
            let ip = format!("10.1.{}.{}", i / 250, i % 250 + 1);
            port(&id, &mac, &ip, &groups[i as usize % 10].id)
        })
        .collect();
    let mut members = BTreeMap::new();
    for (i, p) in ports.iter().enumerate() {
        members.entry(groups[i % 10].id.clone()).or_insert_with(Vec::new).push(p.ip_addresses[0].to_string());
    }
    let mut state =
        HostState { port_security: ports, security_groups: groups, group_members: members, ..HostState::default() };

    let start = Instant::now();
    let compiled = compile(&state.port_security, &state.security_groups, &state.group_members);
    let compile_time = start.elapsed();
    assert!(compiled.issues.is_empty(), "{:?}", compiled.issues);
    let mut fw = nss.firewall();
    let (report, first) = sync_in(&host, &mut fw, &state);
    assert!(report.issues.iter().all(|i| !i.reason.contains("ruleset")), "{report:#?}");
    assert!(report.applied.iter().any(|a| a.starts_with("nftables ruleset")));
    let (noop, idle) = sync_in(&host, &mut fw, &state);
    assert_eq!(noop.applied, Vec::<String>::new());
    let mut restarted = nss.firewall();
    let (noop, verify) = sync_in(&host, &mut restarted, &state);
    assert_eq!(noop.applied, Vec::<String>::new(), "{noop:?}");
    state.security_groups[0].rules[1].port_range_max = Some(2000);
    let (changed, change) = sync_in(&host, &mut fw, &state);
    assert_eq!(changed.applied.len(), 1, "{changed:?}");
    println!(
        "200 ports × 50 rules: document {} KiB; compile {compile_time:?}; first sync (compile + read + apply) {first:?}; \
         no-op sync {idle:?}; no-op sync after a restart (read back + compare) {verify:?}; one rule changed → applied {change:?}",
        compiled.to_json().len() / 1024
    );
    if let Ok(path) = std::env::var("NEUTRINO_FW_DUMP") {
        std::fs::write(path, compiled.to_json()).unwrap();
    }
}

/// A UDP receiver on `port` in `ns`, and what it got once stopped.
struct Receiver(Child);

impl Receiver {
    fn start(ns: &str, port: u16) -> Receiver {
        Receiver(spawn_in(ns, &["socat", "-u", &format!("UDP-RECV:{port},reuseaddr"), "STDOUT"]))
    }

    fn received(mut self) -> usize {
        let _ = self.0.kill();
        let out = std::mem::replace(&mut self.0, Command::new("true").spawn().unwrap());
        out.wait_with_output().map(|o| o.stdout.len()).unwrap_or(0)
    }
}

/// A datagram every 2 ms from `ns` to `to:port`, until dropped (one bash process, so the
/// kill stops it).
fn udp_stream(ns: &str, to: &str, port: u16) -> Kill {
    let script = format!("while :; do echo x > /dev/udp/{to}/{port}; sleep 0.002; done");
    Kill(spawn_in(ns, &["bash", "-c", &script]))
}

#[test]
fn a_burst_of_changes_never_lets_disallowed_traffic_through() {
    if !runnable() {
        return;
    }
    let nss = Namespaces::new("b", 4);
    let host = nss.host().to_owned();
    let (vm_a, _vm_b, vm_c) = three_vms_on_a_bridge(&nss);
    let mut fw = nss.firewall();
    let mut state = host_state();
    // A admits UDP 7001 from anyone; 7000 only from its own group, which C is not in.
    let udp = |id: &str, port: u32| SecurityRule {
        protocol: Some("udp".into()),
        port_range_min: Some(port),
        port_range_max: Some(port),
        remote_ip_prefix: Some("0.0.0.0/0".into()),
        ..rule(id, "ingress", "IPv4")
    };
    state.security_groups[0].rules.push(udp("open", 7001));
    assert_clean(&sync_in(&host, &mut fw, &state).0);

    let (closed, open) = (Receiver::start(&vm_a, 7000), Receiver::start(&vm_a, 7001));
    std::thread::sleep(Duration::from_millis(300));
    let streams = [udp_stream(&vm_c, "10.0.0.5", 7000), udp_stream(&vm_c, "10.0.0.5", 7001)];
    // Every kind of incremental change, each one nft transaction, while C sends: A's group
    // chain rewritten (rules for other ports come and go), ports and group members come and
    // go (port maps, known taps, the member set A's rules match), C's own group changes.
    let mut extra = Vec::new();
    for i in 0..30u32 {
        match i % 3 {
            0 => state.security_groups[0].rules.push(udp(&format!("r{i}"), 8000 + i)),
            1 => {
                let id = format!("{i:08x}-dddd-4ddd-8ddd-dddddddddddd");
                let ip = format!("10.0.0.{}", 100 + i);
                state.port_security.push(port(&id, &format!("fa:16:3e:00:01:{i:02x}"), &ip, GROUP));
                state.group_members.get_mut(GROUP).unwrap().push(ip);
                extra.push(id);
            }
            _ => {
                if let Some(id) = extra.first().cloned() {
                    extra.remove(0);
                    state.port_security.retain(|p| p.port_id != id);
                    let ip = format!("10.0.0.{}", 100 + u32::from_str_radix(&id[..8], 16).unwrap());
                    state.group_members.get_mut(GROUP).unwrap().retain(|m| *m != ip);
                }
                state.security_groups[1].rules.push(udp(&format!("c{i}"), 9000 + i));
                if i % 6 == 5 {
                    state.security_groups[0].rules.retain(|r| !r.id.starts_with('r'));
                }
            }
        }
        let (report, _) = sync_in(&host, &mut fw, &state);
        assert_clean(&report);
        assert!(report.applied.iter().any(|a| a.contains("incremental")), "change {i}: {report:?}");
    }
    std::thread::sleep(Duration::from_millis(300));
    drop(streams);
    let (closed, open) = (closed.received(), open.received());
    assert_eq!(closed, 0, "{closed} bytes of disallowed traffic reached A during the burst");
    assert!(open > 0, "the allowed stream never arrived: the test sent nothing");
}

/// `nft list set bridge neutrino <set>` in `ns`.
fn list_set(ns: &str, set: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "set", "bridge", "neutrino", set])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Anti-spoofing is one chain every port shares; a port's sources are elements of named sets
/// keyed by its device, and an allowed address pair may be a CIDR (an interval of the
/// `iifname . ether saddr . ip saddr` set): any address inside it passes, one outside it,
/// or from another port's set, is dropped.
#[test]
fn anti_spoofing_through_the_named_sets_with_an_allowed_pair_cidr() {
    if !runnable() {
        return;
    }
    let nss = Namespaces::new("p", 4);
    let host = nss.host().to_owned();
    let (vm_a, _vm_b, _vm_c) = three_vms_on_a_bridge(&nss);
    // Every pass reads the kernel back and compares its shape: the sets' elements as the
    // kernel lists them (intervals, concatenations) must count as compiled.
    let mut fw = nss.firewall_verifying(Duration::ZERO);
    let mut state = host_state();
    state.port_security[0]
        .allowed_address_pairs
        .push(AllowedPair { ip_address: "10.0.0.96/28".into(), mac_address: String::new() });
    // 10.0.0.120 a member too (outside the pair): only A's source check can drop it.
    state.group_members.get_mut(GROUP).unwrap().extend(["10.0.0.120".into(), "10.0.0.96/28".into()]);
    assert_clean(&sync_in(&host, &mut fw, &state).0);
    let v4 = list_set(&host, "spoof-v4");
    assert!(v4.contains(r#""tapAAAAAAAA-AA" . fa:16:3e:00:00:0a . 10.0.0.96/28"#), "{v4}");
    assert!(v4.contains(r#""tapBBBBBBBB-BB" . fa:16:3e:00:00:0b . 10.0.0.6"#), "{v4}");
    assert_eq!(sync_in(&host, &mut fw, &state).0, Report::new(SubsystemKind::Firewall), "read back: as compiled");

    // B's group lets its members in: all three are members, so what decides is A's source
    // check.
    for (addr, passes) in [("10.0.0.99", true), ("10.0.0.110", true), ("10.0.0.120", false)] {
        ip(&["-n", &vm_a, "addr", "add", &format!("{addr}/32"), "dev", "eth0"]);
        assert_eq!(ping(&vm_a, &["-I", addr], "10.0.0.6"), passes, "{addr} from A (pair 10.0.0.96/28)");
        ip(&["-n", &vm_a, "addr", "del", &format!("{addr}/32"), "dev", "eth0"]);
    }
    // The pair goes: an element delete, and its addresses are dropped again.
    state.port_security[0].allowed_address_pairs.clear();
    state.group_members.get_mut(GROUP).unwrap().pop();
    let (report, _) = sync_in(&host, &mut fw, &state);
    assert_clean(&report);
    assert!(report.applied.iter().any(|a| a.contains("incremental")), "{report:?}");
    assert!(!list_set(&host, "spoof-v4").contains("10.0.0.96/28"));
    ip(&["-n", &vm_a, "addr", "add", "10.0.0.99/32", "dev", "eth0"]);
    assert!(!ping(&vm_a, &["-I", "10.0.0.99"], "10.0.0.6"), "the pair's address after the pair went");
}

/// Sends an unsolicited neighbour advertisement (override flag) to all nodes for each target.
const SEND_NA: &str = r#"
import socket, struct, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
ifindex = socket.if_nametoindex("eth0")
for target in sys.argv[1:]:
    na = struct.pack("!BBHI", 136, 0, 0, 0x20000000) + socket.inet_pton(socket.AF_INET6, target)
    s.sendto(na, ("ff02::1", 0, 0, ifindex))
"#;

/// Prints `<source> <target>` of each neighbour advertisement received for `argv[1]` seconds.
const RECEIVE_NA: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.settimeout(0.2)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    try:
        data, addr = s.recvfrom(2000)
    except socket.timeout:
        continue
    if data[0] == 136:
        print(addr[0].split("%")[0], socket.inet_ntop(socket.AF_INET6, data[8:24]), flush=True)
"#;

/// A port's neighbour advertisements may only name its own addresses as their target (the
/// `nd-targets` set of `table bridge neutrino-nd`): A advertising B's address is dropped at
/// its tap, A advertising its own reaches C.
#[test]
fn a_neighbour_advertisement_for_anothers_address_is_dropped() {
    if !runnable() {
        return;
    }
    if !Path::new("/usr/bin/python3").exists() {
        assert!(std::env::var_os("CI").is_none(), "cannot run under CI: /usr/bin/python3 missing");
        eprintln!("skipping: /usr/bin/python3 missing");
        return;
    }
    let nss = Namespaces::new("n", 4);
    let host = nss.host().to_owned();
    let (vm_a, _vm_b, vm_c) = three_vms_on_a_bridge(&nss);
    let mut fw = nss.firewall();
    assert_clean(&sync_in(&host, &mut fw, &host_state()).0);
    let targets = list_nd_targets(&host);
    assert!(
        targets.contains(r#""tapAAAAAAAA-AA" . fa:16:3e:00:00:0a . 0xfd000000000000000000000000000005"#),
        "{targets}"
    );

    let receiver = Command::new("ip")
        .args(["netns", "exec", &vm_c, "/usr/bin/python3", "-c", RECEIVE_NA, "3"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let sent = Command::new("ip")
        .args(["netns", "exec", &vm_a, "/usr/bin/python3", "-c", SEND_NA, "fd00::5", "fd00::6"])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = receiver.wait_with_output().unwrap();
    let got = String::from_utf8_lossy(&out.stdout);
    let from_a = |line: &&str| line.starts_with("fd00::5 ") || line.starts_with("fe80::f816:3eff:fe00:a ");
    let targets: Vec<&str> = got.lines().filter(from_a).filter_map(|l| l.split(' ').nth(1)).collect();
    assert!(targets.contains(&"fd00::5"), "A's advertisement of its own address: {got:?}");
    assert!(!targets.contains(&"fd00::6"), "A's advertisement of B's address must be dropped: {got:?}");
}

/// The `nd-targets` set of `table bridge neutrino-nd` in `ns`.
fn list_nd_targets(ns: &str) -> String {
    let args = ["netns", "exec", ns, "nft", "list", "set", "bridge", "neutrino-nd", "nd-targets"];
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
