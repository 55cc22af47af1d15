use super::fake::{FakeProber, FakeServer, FakeSystem};
use super::probe::{answer_frame, echo_loop, vxlan_packet, Kind, Message, UdpProber};
use super::remote::{Answer, GetError, ProbeResult, Prober};
use super::system::{parse_ip_addr, FileMode, Link};
use super::*;
use crate::config::L2Config;
use serde_json::json;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::SystemTime;

const LOCAL: &str = "198.18.0.11";

fn input() -> CheckInput {
    let l2 = L2Config { local_ip: Some(LOCAL.parse().unwrap()), ..Default::default() };
    CheckInput { settings: AgentSettings::new("compute-1".into(), l2), checks: CheckSettings::default() }
}

fn link(name: &str, up: bool, mtu: u32, addrs: &[&str]) -> Link {
    Link { name: name.into(), up, mtu, addresses: addrs.iter().map(|a| a.parse().unwrap()).collect() }
}

/// A host where every local check passes.
fn healthy() -> FakeSystem {
    let mut sys = FakeSystem::new("compute-1");
    sys.links = vec![link("lo", true, 65536, &["127.0.0.1"]), link("eth0", true, 1500, &[LOCAL])];
    sys.file("/proc/sys/net/bridge/bridge-nf-call-iptables", "1\n");
    sys.file("/proc/sys/net/bridge/bridge-nf-call-ip6tables", "1\n");
    sys.file("/etc/passwd", "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/usr/sbin/nologin\n");
    sys.tool("/usr/sbin/nft", "nftables v1.0.6 (Lester Gooch #5)");
    sys.tool("/usr/sbin/conntrack", "conntrack v1.4.7 (conntrack-tools)");
    sys.tool("/usr/sbin/dnsmasq", "Dnsmasq version 2.89");
    sys.tool("/usr/sbin/radvd", "Version: 2.19");
    sys
}

fn find<'a>(findings: &'a [Finding], check: &str) -> &'a Finding {
    findings.iter().find(|f| f.check == check).unwrap_or_else(|| panic!("no {check} in {findings:#?}"))
}

fn agents(list: serde_json::Value) -> Answer {
    Answer { body: json!({ "agents": list }), date: Some(httpdate(SystemTime::now())) }
}

fn httpdate(t: SystemTime) -> String {
    let t: chrono::DateTime<chrono::Utc> = t.into();
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

fn server_with(agents_answer: Result<Answer, GetError>, networks: serde_json::Value) -> FakeServer {
    let mut s = FakeServer::default();
    s.answers.insert("v2.0/agents".into(), agents_answer);
    s.answers.insert(remote::NETWORKS_PATH.into(), Ok(Answer { body: json!({ "networks": networks }), date: None }));
    s
}

async fn all(input: &CheckInput, sys: &FakeSystem, server: &FakeServer, prober: &FakeProber) -> Vec<Finding> {
    run_all(input, sys, server, prober, false).await
}

#[tokio::test]
async fn a_healthy_host_passes_everything() {
    let server = server_with(Ok(agents(json!([]))), json!([]));
    let f = all(&input(), &healthy(), &server, &FakeProber::default()).await;
    assert!(f.iter().all(|f| f.status == Status::Ok), "{f:#?}");
    assert!(render_text(&f).ends_with("0 WARN, 0 FAIL (0 fatal)\n"));
}

#[test]
fn a_hostname_other_than_host_warns() {
    let mut sys = healthy();
    sys.hostname = "compute-1.example.org".into();
    let f = local::run(&input(), &sys, false);
    let h = find(&f, "hostname");
    assert_eq!(h.status, Status::Warn);
    assert!(h.detail.contains("compute-1.example.org") && h.detail.contains("Nova"), "{h:?}");
}

#[test]
fn local_ip_on_no_interface_or_a_down_one_fails() {
    let mut sys = healthy();
    sys.links[1].addresses.clear();
    let f = local::run(&input(), &sys, false);
    let l = find(&f, "local_ip");
    assert_eq!((l.status, l.fatal), (Status::Fail, true));
    assert!(l.detail.contains("on no interface"), "{l:?}");
    let mut sys = healthy();
    sys.links[1].up = false;
    let f = local::run(&input(), &sys, false);
    assert!(find(&f, "local_ip").detail.contains("eth0, which is down"));
}

#[test]
fn a_missing_or_down_physnet_interface_fails() {
    let mut i = input();
    i.settings.l2.physical_interface_mappings.insert("physnet1".into(), "eth1".into());
    i.settings.l2.physical_interface_mappings.insert("physnet2".into(), "eth2".into());
    let mut sys = healthy();
    sys.links.push(link("eth2", false, 1500, &[]));
    let f = local::run(&i, &sys, false);
    let p: Vec<&Finding> = f.iter().filter(|f| f.check == "physnet").collect();
    assert_eq!(p.len(), 2);
    assert!(p[0].status == Status::Fail && p[0].detail.contains("no interface eth1"), "{p:?}");
    assert!(p[1].status == Status::Fail && p[1].detail.contains("down"), "{p:?}");
}

#[test]
fn br_netfilter_missing_fails_and_a_zero_sysctl_warns_or_is_set() {
    let sys = FakeSystem { files: Default::default(), ..healthy() };
    sys.file("/etc/passwd", "");
    let f = local::run(&input(), &sys, false);
    let b = find(&f, "br_netfilter");
    assert_eq!((b.status, b.fatal), (Status::Fail, true));
    assert!(b.detail.contains("br_netfilter is not loaded"), "{b:?}");

    let sys = healthy();
    sys.file("/proc/sys/net/bridge/bridge-nf-call-iptables", "0\n");
    let f = local::run(&input(), &sys, false);
    let b = f.iter().find(|f| f.check == "br_netfilter" && f.status != Status::Ok).unwrap();
    assert_eq!(b.status, Status::Warn);
    assert!(b.detail.contains("net.bridge.bridge-nf-call-iptables = 0"), "{b:?}");
    // At start the agent sets it, as its firewall would.
    let f = local::run(&input(), &sys, true);
    assert!(f.iter().filter(|f| f.check == "br_netfilter").all(|f| f.status == Status::Ok), "{f:#?}");
    assert_eq!(sys.read(std::path::Path::new("/proc/sys/net/bridge/bridge-nf-call-iptables")).unwrap(), "1\n");

    let mut sys = healthy();
    sys.read_only = true;
    sys.file("/proc/sys/net/bridge/bridge-nf-call-ip6tables", "0\n");
    let f = local::run(&input(), &sys, true);
    let b = f.iter().find(|f| f.check == "br_netfilter" && f.status != Status::Ok).unwrap();
    assert_eq!((b.status, b.fatal), (Status::Fail, true), "{b:?}");
}

#[test]
fn security_groups_off_need_no_br_netfilter() {
    let mut i = input();
    i.settings.firewall = None;
    let sys = FakeSystem { files: Default::default(), ..healthy() };
    let f = local::run(&i, &sys, false);
    assert_eq!(find(&f, "br_netfilter").status, Status::Ok);
}

#[test]
fn tools_report_versions_and_missing_ones_as_the_services_need_them() {
    let mut i = input();
    i.settings.dhcp = Some(crate::dhcp::DhcpConfig::default());
    i.settings.l3 = Some(crate::l3::L3Config::default());
    let mut sys = healthy();
    sys.commands.remove("/usr/sbin/dnsmasq");
    sys.commands.remove("/usr/sbin/radvd");
    sys.modes.insert("/".into(), FileMode { mode: 0o755, uid: 0, gid: 0 });
    let f = local::run(&i, &sys, false);
    assert_eq!(find(&f, "nft").detail, "nftables v1.0.6 (Lester Gooch #5)");
    assert_eq!(find(&f, "conntrack").status, Status::Ok);
    assert_eq!((find(&f, "dnsmasq").status, find(&f, "dnsmasq").fatal), (Status::Fail, true));
    assert_eq!(find(&f, "radvd").status, Status::Warn, "IPv4 routers work without radvd");
    // Without --l3, a missing conntrack only warns.
    let mut sys = healthy();
    sys.commands.remove("/usr/sbin/conntrack");
    assert_eq!(find(&local::run(&input(), &sys, false), "conntrack").status, Status::Warn);
}

#[test]
fn a_dhcp_state_dir_under_a_0700_parent_fails_naming_the_parent() {
    let mut i = input();
    i.settings.dhcp = Some(crate::dhcp::DhcpConfig { state_dir: "/srv/private/dhcp".into(), ..Default::default() });
    let mut sys = healthy();
    let root = |mode| FileMode { mode, uid: 0, gid: 0 };
    sys.modes.insert("/".into(), root(0o755));
    sys.modes.insert("/srv".into(), root(0o755));
    sys.modes.insert("/srv/private".into(), root(0o700));
    sys.modes.insert("/srv/private/dhcp".into(), root(0o755));
    let f = local::run(&i, &sys, false);
    let d = find(&f, "dhcp_state_dir");
    assert_eq!((d.status, d.fatal), (Status::Fail, true));
    assert!(d.detail.contains("cannot enter /srv/private ") && d.detail.contains("nobody"), "{d:?}");
    assert!(d.fix.as_deref().unwrap().contains("chmod o+x /srv/private"), "{d:?}");
    // Owned by nobody, 0700 is fine; a state dir not made yet is checked up to its parent.
    sys.modes.insert("/srv/private".into(), FileMode { mode: 0o700, uid: 65534, gid: 0 });
    sys.modes.remove(std::path::Path::new("/srv/private/dhcp"));
    assert_eq!(find(&local::run(&i, &sys, false), "dhcp_state_dir").status, Status::Ok);
}

#[tokio::test]
async fn refused_credentials_are_fatal_and_an_unreachable_server_is_not() {
    let refused = server_with(Err(GetError::Refused("401: token invalid".into())), json!([]));
    let f = all(&input(), &healthy(), &refused, &FakeProber::default()).await;
    let s = find(&f, "server");
    assert_eq!((s.status, s.fatal), (Status::Fail, true));
    assert_eq!(fatal(&f).len(), 1);
    let away = FakeServer::default();
    let f = all(&input(), &healthy(), &away, &FakeProber::default()).await;
    let s = find(&f, "server");
    assert_eq!((s.status, s.fatal), (Status::Fail, false));
    assert!(fatal(&f).is_empty());
}

#[tokio::test]
async fn a_clock_off_by_more_than_the_tolerance_fails_and_says_the_tolerance() {
    let mut sys = healthy();
    sys.now = SystemTime::now() + std::time::Duration::from_secs(120);
    let server = server_with(Ok(agents(json!([]))), json!([]));
    let f = all(&input(), &sys, &server, &FakeProber::default()).await;
    let c = find(&f, "clock");
    assert_eq!((c.status, c.fatal), (Status::Fail, false));
    assert!(c.detail.contains("ahead of") && c.detail.contains("tolerance of 60s"), "{c:?}");
    sys.now = SystemTime::now() + std::time::Duration::from_secs(30);
    assert_eq!(find(&all(&input(), &sys, &server, &FakeProber::default()).await, "clock").status, Status::Ok);
}

#[tokio::test]
async fn an_underlay_too_small_for_a_known_tenant_mtu_fails_and_for_an_assumed_one_warns() {
    let mut sys = healthy();
    sys.links[1].mtu = 1400;
    let nets = json!([{"id": "n1", "mtu": 1450, "provider:network_type": "vxlan"},
                      {"id": "n2", "mtu": 9000, "provider:network_type": "flat"}]);
    let server = server_with(Ok(agents(json!([]))), nets);
    let f = all(&input(), &sys, &server, &FakeProber::default()).await;
    let m = find(&f, "underlay_mtu");
    assert_eq!((m.status, m.fatal), (Status::Fail, true));
    assert!(
        m.detail.contains("n1 has MTU 1450")
            && m.detail.contains("need 1500")
            && m.detail.contains("eth0 carries 1400"),
        "{m:?}"
    );
    let empty = server_with(Ok(agents(json!([]))), json!([]));
    assert_eq!(find(&all(&input(), &sys, &empty, &FakeProber::default()).await, "underlay_mtu").status, Status::Warn);
    let mut i = input();
    i.checks.tenant_mtu = Some(1400);
    assert_eq!(find(&all(&i, &sys, &empty, &FakeProber::default()).await, "underlay_mtu").status, Status::Fail);
    // An IPv6 underlay needs 70 bytes: 1450 + 70 > 1500.
    let mut i = input();
    i.settings.l2.local_ip = Some("fd00::11".parse().unwrap());
    let mut sys = healthy();
    sys.links[1] = link("eth0", true, 1500, &["fd00::11"]);
    let server =
        server_with(Ok(agents(json!([]))), json!([{"id": "n1", "mtu": 1450, "provider:network_type": "vxlan"}]));
    let m = all(&i, &sys, &server, &FakeProber::default()).await;
    assert!(find(&m, "underlay_mtu").detail.contains("1450 + 70"), "{m:#?}");
}

#[tokio::test]
async fn each_peer_is_probed_and_a_blocked_4789_is_told_from_an_unreachable_peer() {
    let list = json!([
        {"host": "compute-1", "alive": true, "configurations": {"tunneling_ip": LOCAL}},
        {"host": "compute-2", "alive": true, "configurations": {"tunneling_ip": "198.18.0.12"}},
        {"host": "compute-3", "alive": true, "configurations": {"tunneling_ip": "198.18.0.13"}},
        {"host": "compute-4", "alive": true, "configurations": {"tunneling_ip": "198.18.0.14"}},
        {"host": "compute-5", "alive": false, "configurations": {"tunneling_ip": "198.18.0.15"}},
        {"host": "compute-2", "alive": true, "agent_type": "DHCP agent", "configurations": {}},
    ]);
    let server = server_with(Ok(agents(list)), json!([]));
    let mut prober = FakeProber::default();
    prober.answers.insert("198.18.0.12".parse().unwrap(), ProbeResult { echo: true, vxlan: true });
    prober.answers.insert("198.18.0.13".parse().unwrap(), ProbeResult { echo: true, vxlan: false });
    let f = all(&input(), &healthy(), &server, &prober).await;
    let p: Vec<&Finding> = f.iter().filter(|f| f.check == "vxlan_peer").collect();
    assert_eq!(p.len(), 3, "self and dead agents are not probed: {p:#?}");
    assert_eq!(p[0].status, Status::Ok);
    assert!(
        p[1].status == Status::Fail && p[1].detail.contains("UDP 4789") && p[1].detail.contains("blocked"),
        "{p:?}"
    );
    assert!(p[2].status == Status::Fail && p[2].detail.contains("no answer"), "{p:?}");
    assert!(fatal(&f).is_empty(), "a peer's fault does not keep this host out");
    // Without local_ip on an interface no probe can leave: the peers are not blamed.
    let mut sys = healthy();
    sys.links[1].addresses.clear();
    let f = all(&input(), &sys, &server, &prober).await;
    assert!(f.iter().all(|f| f.check != "vxlan_peer"), "{f:#?}");
    assert_eq!(find(&f, "vxlan_peers").status, Status::Warn);
}

#[tokio::test]
async fn downgraded_checks_only_warn() {
    let mut sys = healthy();
    sys.links[1].addresses.clear();
    let mut i = input();
    i.checks.downgrade.insert("local_ip".into());
    let f = all(&i, &sys, &FakeServer::default(), &FakeProber::default()).await;
    let l = find(&f, "local_ip");
    assert_eq!((l.status, l.fatal), (Status::Warn, false));
    assert!(l.detail.ends_with("(downgraded by downgrade_checks)"));
}

#[test]
fn findings_print_as_json_with_upper_case_statuses() {
    let f = Finding::fail("local_ip", "d", "x");
    let v = serde_json::to_value(&f).unwrap();
    assert_eq!(v, json!({"check": "local_ip", "status": "FAIL", "detail": "d", "fix": "x", "fatal": true}));
    assert!(f.line().starts_with("FAIL local_ip"));
    assert!(Finding::ok("nft", "v1").line().starts_with("OK   nft "), "columns align");
}

#[test]
fn ip_addr_json_is_read_into_links() {
    let json = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,
        "addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
        {"ifindex":2,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP"],"mtu":1400,
        "addr_info":[{"family":"inet","local":"198.18.0.11","prefixlen":16},{"family":"inet6","local":"fe80::1","prefixlen":64}]}]"#;
    let links = parse_ip_addr(json).unwrap();
    assert_eq!(links[0], link("lo", true, 65536, &["127.0.0.1"]));
    assert_eq!(links[1], link("eth0", false, 1400, &["198.18.0.11", "fe80::1"]), "UP without LOWER_UP: no carrier");
}

#[test]
fn probe_messages_round_trip() {
    for reply_to in [None, Some("198.18.0.1:40000".parse().unwrap()), Some("[fd00::1]:5".parse().unwrap())] {
        let m = Message { kind: Kind::Vxlan, nonce: 42, reply_to };
        assert_eq!(Message::decode(&m.encode()), Some(m));
    }
    assert_eq!(Message::decode(b"NTPROBE1X01234567"), None);
    let p = vxlan_packet(&Message { kind: Kind::Vxlan, nonce: 1, reply_to: None });
    assert_eq!(&p[..8], &[0x08, 0, 0, 0, 0xff, 0xff, 0xff, 0], "VXLAN header, VNI 16777215");
    assert_eq!(&p[20..22], &[0x88, 0xb5]);
}

/// A peer on loopback: the real echo responder on one port, and on another a stand-in for
/// its kernel's VXLAN decapsulation (strips VXLAN and Ethernet headers) feeding the real
/// frame answerer. `drop_vxlan` plays a firewall dropping UDP 4789.
fn loopback_peer(drop_vxlan: bool) -> (u16, u16) {
    let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
    let decap = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ports = (echo.local_addr().unwrap().port(), decap.local_addr().unwrap().port());
    let answer_from = echo.try_clone().unwrap();
    std::thread::spawn(move || echo_loop(&echo));
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = decap.recv(&mut buf) {
            if !drop_vxlan && n > 22 {
                answer_frame(&buf[22..n], &answer_from);
            }
        }
    });
    ports
}

#[tokio::test]
async fn the_udp_prober_tells_a_blocked_vxlan_port_from_a_working_one() {
    let local: IpAddr = "127.0.0.1".parse().unwrap();
    for drop_vxlan in [false, true] {
        let (echo_port, vxlan_port) = loopback_peer(drop_vxlan);
        let prober = UdpProber { round: std::time::Duration::from_millis(200), vxlan_port };
        let got = prober.probe(local, &[local], echo_port).await;
        assert_eq!(got[&local], ProbeResult { echo: true, vxlan: !drop_vxlan });
    }
    // Nobody there: neither.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().map(|a: SocketAddr| a.port()).unwrap();
    let prober = UdpProber { round: std::time::Duration::from_millis(50), vxlan_port: port };
    assert_eq!(prober.probe(local, &[local], port).await[&local], ProbeResult::default());
}

/// The real system on a real directory tree: a state dir under a 0700 parent owned by
/// someone other than `nobody` fails, and opening it up passes.
#[test]
fn the_real_system_finds_a_state_dir_nobody_cannot_enter() {
    use std::os::unix::fs::PermissionsExt;
    let sys = RealSystem;
    if !sys.read(std::path::Path::new("/etc/passwd")).is_ok_and(|p| p.lines().any(|l| l.starts_with("nobody:"))) {
        assert!(std::env::var_os("CI").is_none(), "CI machines have the user nobody");
        eprintln!("skipped: no user nobody here");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let private = tmp.path().join("private");
    std::fs::create_dir_all(private.join("dhcp")).unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut i = input();
    i.settings.dhcp = Some(crate::dhcp::DhcpConfig { state_dir: private.join("dhcp"), ..Default::default() });
    let f = local::run(&i, &sys, false);
    let d = find(&f, "dhcp_state_dir");
    assert_eq!(d.status, Status::Fail, "{d:?}");
    assert!(d.detail.contains(&format!("cannot enter {} ", private.display())), "{d:?}");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o711)).unwrap();
    assert_eq!(find(&local::run(&i, &sys, false), "dhcp_state_dir").status, Status::Ok);
    // A tool that is not there is reported, not a panic.
    assert!(sys.run(&["/nonexistent/nft", "--version"]).is_err());
    assert!(sys.links().unwrap().iter().any(|l| l.name == "lo"), "ip -j addr show is read");
}

#[test]
fn warnings_and_failures_become_conditions_and_an_ok_none() {
    assert_eq!(Finding::ok("local_ip", "fine").condition(), None);
    let warn = Finding::warn("underlay_mtu", "1450 assumed", "set tenant_mtu").condition().unwrap();
    assert_eq!(warn.subsystem, "check");
    assert_eq!(
        warn.object,
        neutrino_agent_api::ConditionObject { kind: "check".into(), id: Some("underlay_mtu".into()) }
    );
    assert_eq!(warn.reason, "WARN: 1450 assumed (fix: set tenant_mtu)");
    let fail = Finding::fail_not_fatal("tools", "no dnsmasq", "apt-get install dnsmasq-base").condition().unwrap();
    assert!(fail.reason.starts_with("FAIL: no dnsmasq"), "{}", fail.reason);
}
