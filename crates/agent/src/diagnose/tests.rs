//! `answer` against a host in memory: every check ok on a healthy host, and each check
//! turning wrong, with its evidence, when the one thing it looks at is broken.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use neutrino_agent_api::diagnose::{Ask, Check, Finding, FloatingIpAsk, HostQuestion, RemotePortAsk};

use super::fake::FakeObserver;
use super::*;
use crate::l2::dataplane::{FdbEntry, Link, LinkKind, MacAddr};
use crate::l3::nat::NatSummary;
use crate::l3::system::Route;
use crate::netns::cidr::{Cidr, IfAddr};

const NET: &str = "0c1b2a39-8e9d-4f6b-a1b2-c3d4e5f60718";
const BRQ: &str = "brq0c1b2a39-8e";
const PORT: &str = "a1b2c3d4-e5f6-4789-9abc-def012345678";
const TAP: &str = "tapa1b2c3d4-e5";
const ROUTER: &str = "7e57a11c-0000-4000-8000-00000000a003";
const QROUTER: &str = "qrouter-7e57a11c-0000-4000-8000-00000000a003";
const QDHCP: &str = "qdhcp-0c1b2a39-8e9d-4f6b-a1b2-c3d4e5f60718";
const MAC: &str = "fa:16:3e:00:00:01";
const REMOTE_MAC: &str = "fa:16:3e:00:00:02";

fn link(name: &str, kind: LinkKind, master: Option<&str>) -> Link {
    Link {
        name: name.into(),
        kind,
        master: master.map(Into::into),
        mtu: 1450,
        up: true,
        carrier: true,
        vxlan: None,
        vlan: None,
        ipv6: false,
    }
}

fn addr(text: &str) -> IfAddr {
    observer::parse_if_addr(text).unwrap()
}

fn state_dir() -> PathBuf {
    PathBuf::from("/var/lib/neutrino/dhcp")
}

fn scope() -> Scope {
    Scope {
        host: "compute-1".into(),
        physical_interface_mappings: BTreeMap::from([("physnet1".to_string(), "eth1".to_string())]),
        dhcp_state_dir: Some(state_dir()),
        firewall: true,
        ask_timeout: Duration::from_secs(2),
        open_vswitch: false,
    }
}

/// A host where every ask of [`question`] is answered ok.
fn healthy() -> FakeObserver {
    let mut obs = FakeObserver {
        links: vec![
            link(TAP, LinkKind::Tap, Some(BRQ)),
            link(BRQ, LinkKind::Bridge, None),
            link("vxlan-1001", LinkKind::Vxlan, Some(BRQ)),
        ],
        ..FakeObserver::default()
    };
    let remote = FdbEntry { mac: REMOTE_MAC.parse().unwrap(), dst: "198.18.0.3".parse().unwrap() };
    let flood = FdbEntry { mac: MacAddr::ZERO, dst: "198.18.0.3".parse().unwrap() };
    let other = FdbEntry { mac: "fa:16:3e:00:00:09".parse().unwrap(), dst: "198.18.0.4".parse().unwrap() };
    obs.fdb.insert("vxlan-1001".into(), vec![flood, remote, other]);
    for map in ["from-ports", "to-ports"] {
        obs.elements.insert(("bridge".into(), "neutrino".into(), map.into(), TAP.into()));
    }
    obs.namespaces.insert(QDHCP.into(), vec![]);
    let dev = |name: &str, a: &str| NsLink { name: name.into(), up: true, addrs: vec![addr(a)] };
    obs.namespaces
        .insert(QROUTER.into(), vec![dev("qr-b0000000-00", "10.0.0.1/24"), dev("qg-a0000000-00", "203.0.113.10/24")]);
    let default = Route { destination: Cidr::parse("0.0.0.0/0").unwrap(), gateway: "203.0.113.1".parse().unwrap() };
    obs.routes.insert(QROUTER.into(), vec![default]);
    let rules = vec![
        ("prerouting".to_string(), "fip 203.0.113.20 -> 10.0.0.5".to_string()),
        ("postrouting".to_string(), "fip 203.0.113.20 <- 10.0.0.5 out qg-a0000000-00".to_string()),
    ];
    obs.nat.insert(QROUTER.into(), NatSummary { chains: Default::default(), rules });
    obs.files.insert(state_dir().join(NET).join("pid"), "4242\n".into());
    let hosts = format!("fa:16:3e:00:00:07,host-10-0-0-7.openstacklocal,10.0.0.7\n{MAC},host-10-0-0-5.openstacklocal,10.0.0.5\n{MAC},host-2001-db8--5.openstacklocal,[2001:db8::5]\n");
    obs.files.insert(state_dir().join(NET).join("host"), hosts);
    obs.processes.insert(4242, ("dnsmasq".into(), QDHCP.into()));
    obs
}

fn port_ask() -> Ask {
    Ask::Port { port_id: PORT.into(), network_id: NET.into(), mac_address: MAC.into(), filtered: true }
}

fn network_ask() -> Ask {
    Ask::Network {
        network_id: NET.into(),
        network_type: "vxlan".into(),
        segmentation_id: Some(1001),
        physical_network: None,
        remote_ports: vec![RemotePortAsk { mac_address: REMOTE_MAC.into(), endpoint: "198.18.0.3".parse().unwrap() }],
    }
}

fn dhcp_ask() -> Ask {
    Ask::Dhcp {
        network_id: NET.into(),
        mac_address: MAC.into(),
        ip_addresses: vec!["10.0.0.5".parse().unwrap(), "2001:db8::5".parse().unwrap()],
    }
}

fn router_ask() -> Ask {
    Ask::Router {
        router_id: ROUTER.into(),
        interfaces: vec!["10.0.0.1/24".into()],
        gateway: Some("203.0.113.10/24".into()),
        floating_ip: Some(FloatingIpAsk {
            floating_ip_address: "203.0.113.20".parse().unwrap(),
            fixed_ip_address: "10.0.0.5".parse().unwrap(),
        }),
    }
}

fn question(asks: Vec<Ask>) -> HostQuestion {
    HostQuestion { id: "q1".into(), asks }
}

fn all_asks() -> Vec<Ask> {
    vec![port_ask(), network_ask(), dhcp_ask(), router_ask()]
}

async fn run(scope: &Scope, obs: &FakeObserver, asks: Vec<Ask>) -> Vec<Finding> {
    let answer = answer(scope, &question(asks), obs).await;
    assert_eq!((answer.question_id.as_str(), answer.host.as_str()), ("q1", "compute-1"));
    answer.findings
}

/// The one finding of `check`.
fn one(findings: &[Finding], check: Check) -> &Finding {
    let found: Vec<&Finding> = findings.iter().filter(|f| f.check == check).collect();
    assert_eq!(found.len(), 1, "{check:?} in {findings:#?}");
    found[0]
}

fn assert_wrong(findings: &[Finding], check: Check, evidence: &str) {
    let f = one(findings, check);
    assert!(!f.ok, "{f:?} should not be ok");
    assert!(f.evidence.contains(evidence), "{check:?}: {:?} lacks {evidence:?}", f.evidence);
}

/// Every ask yields exactly its expected checks, in order, with the ask's index.
fn assert_shape(findings: &[Finding], asks: &[Ask]) {
    let want: Vec<(usize, Check)> =
        asks.iter().enumerate().flat_map(|(i, a)| expected(a).into_iter().map(move |c| (i, c))).collect();
    let got: Vec<(usize, Check)> = findings.iter().map(|f| (f.ask, f.check)).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_healthy_host_answers_every_check_ok() {
    let findings = run(&scope(), &healthy(), all_asks()).await;
    assert_shape(&findings, &all_asks());
    for f in &findings {
        assert!(f.ok, "{f:?}");
    }
    let evidence = |c| one(&findings, c).evidence.clone();
    assert_eq!(evidence(Check::TapBridge), format!("{TAP} master {BRQ}, up"));
    assert_eq!(evidence(Check::Fdb), "fa:16:3e:00:00:02 dst 198.18.0.3 in vxlan-1001's FDB");
    assert!(
        evidence(Check::Dnsmasq).starts_with("dnsmasq pid 4242 (from /var/lib/neutrino/dhcp/"),
        "{}",
        evidence(Check::Dnsmasq)
    );
    assert!(evidence(Check::RouterGateway).contains("default via 203.0.113.1"));
    assert!(evidence(Check::PortFirewall).contains(&format!("{TAP} in maps bridge from-ports, bridge to-ports")));
}

#[tokio::test]
async fn a_missing_tap_fails_its_three_checks() {
    let mut obs = healthy();
    obs.links.retain(|l| l.name != TAP);
    let findings = run(&scope(), &obs, vec![port_ask()]).await;
    assert_shape(&findings, &[port_ask()]);
    for check in [Check::Tap, Check::TapUp, Check::TapBridge] {
        assert_wrong(&findings, check, &format!("{TAP}: no such device"));
    }
    assert!(one(&findings, Check::PortFirewall).ok);
}

#[tokio::test]
async fn a_down_tap_or_one_in_another_bridge() {
    let mut obs = healthy();
    obs.links[0].up = false;
    let findings = run(&scope(), &obs, vec![port_ask()]).await;
    assert!(one(&findings, Check::Tap).ok);
    assert_wrong(&findings, Check::TapUp, &format!("{TAP} is down"));
    obs.links[0].up = true;
    obs.links[0].carrier = false;
    let findings = run(&scope(), &obs, vec![port_ask()]).await;
    assert_wrong(&findings, Check::TapUp, &format!("{TAP} is up, no carrier"));
    obs.links[0].carrier = true;
    obs.links[0].master = Some("brqother".into());
    let findings = run(&scope(), &obs, vec![port_ask()]).await;
    assert_wrong(&findings, Check::TapBridge, &format!("{TAP} master brqother, not {BRQ}"));
    obs.links[0].master = None;
    let findings = run(&scope(), &obs, vec![port_ask()]).await;
    assert_wrong(&findings, Check::TapBridge, "has no master");
}

#[tokio::test]
async fn a_port_missing_from_a_port_map_fails_the_firewall_check_only_when_filtered() {
    let mut obs = healthy();
    obs.elements.retain(|(_, _, map, _)| map != "to-ports");
    let findings = run(&scope(), &obs, vec![port_ask()]).await;
    assert_wrong(&findings, Check::PortFirewall, &format!("{TAP} missing from map bridge neutrino to-ports"));
    let odd = Ask::Port { port_id: "a b/../c".into(), network_id: NET.into(), mac_address: MAC.into(), filtered: true };
    let findings = run(&scope(), &obs, vec![odd]).await;
    assert_wrong(&findings, Check::PortFirewall, "is not a port's device name");
    let unfiltering = Scope { firewall: false, ..scope() };
    let findings = run(&unfiltering, &healthy(), vec![port_ask()]).await;
    assert_wrong(&findings, Check::PortFirewall, "started with --no-security-groups");
    let unfiltered =
        Ask::Port { port_id: PORT.into(), network_id: NET.into(), mac_address: MAC.into(), filtered: false };
    let findings = run(&scope(), &obs, vec![unfiltered.clone()]).await;
    assert_shape(&findings, &[unfiltered]);
    assert!(findings.iter().all(|f| f.ok));
}

#[tokio::test]
async fn a_missing_fdb_entry_is_named_with_what_the_device_has() {
    let mut obs = healthy();
    obs.fdb.get_mut("vxlan-1001").unwrap().retain(|e| e.mac.to_string() != REMOTE_MAC);
    let findings = run(&scope(), &obs, vec![network_ask()]).await;
    assert!(one(&findings, Check::Bridge).ok && one(&findings, Check::SegmentDevice).ok);
    let f = one(&findings, Check::Fdb);
    assert!(!f.ok);
    assert_eq!(f.evidence, "fa:16:3e:00:00:02 dst 198.18.0.3 missing from vxlan-1001's FDB (entries for 1 other MACs)");

    // The MAC towards another endpoint is not the entry either.
    let moved = FdbEntry { mac: REMOTE_MAC.parse().unwrap(), dst: "198.18.0.9".parse().unwrap() };
    obs.fdb.get_mut("vxlan-1001").unwrap().push(moved);
    let findings = run(&scope(), &obs, vec![network_ask()]).await;
    assert_wrong(&findings, Check::Fdb, "has dst 198.18.0.9 instead");
}

#[tokio::test]
async fn a_missing_bridge_or_vxlan_device() {
    let mut obs = healthy();
    obs.links.retain(|l| l.name != "vxlan-1001");
    let findings = run(&scope(), &obs, vec![network_ask()]).await;
    assert_shape(&findings, &[network_ask()]);
    assert!(one(&findings, Check::Bridge).ok);
    assert_wrong(&findings, Check::SegmentDevice, "vxlan-1001: no such device");
    assert_wrong(&findings, Check::Fdb, "vxlan-1001: no such device");

    let mut obs = healthy();
    obs.links[1].up = false;
    let findings = run(&scope(), &obs, vec![network_ask()]).await;
    assert_wrong(&findings, Check::Bridge, &format!("{BRQ}: bridge device, down"));
    obs.links.retain(|l| l.name != BRQ);
    let findings = run(&scope(), &obs, vec![network_ask()]).await;
    assert_wrong(&findings, Check::Bridge, &format!("{BRQ}: no such device"));
}

#[tokio::test]
async fn flat_and_vlan_segments_use_the_mapped_interface() {
    let flat = |physnet: &str, kind: &str, id: Option<u32>| Ask::Network {
        network_id: NET.into(),
        network_type: kind.into(),
        segmentation_id: id,
        physical_network: Some(physnet.into()),
        remote_ports: vec![RemotePortAsk { mac_address: REMOTE_MAC.into(), endpoint: "198.18.0.3".parse().unwrap() }],
    };
    let mut obs = healthy();
    obs.links.push(link("eth1", LinkKind::Other(String::new()), Some(BRQ)));
    let findings = run(&scope(), &obs, vec![flat("physnet1", "flat", None)]).await;
    assert_shape(&findings, &[flat("physnet1", "flat", None)]);
    assert_eq!(one(&findings, Check::SegmentDevice).evidence, format!("eth1 master {BRQ}, up"));
    assert!(findings.iter().all(|f| f.ok), "no FDB for flat networks: {findings:?}");
    let findings = run(&scope(), &obs, vec![flat("physnet9", "flat", None)]).await;
    assert_wrong(&findings, Check::SegmentDevice, "physical network physnet9 is not mapped on this host");
    let no_vni = Ask::Network {
        network_id: NET.into(),
        network_type: "vxlan".into(),
        segmentation_id: None,
        physical_network: None,
        remote_ports: vec![RemotePortAsk { mac_address: REMOTE_MAC.into(), endpoint: "198.18.0.3".parse().unwrap() }],
    };
    let findings = run(&scope(), &obs, vec![no_vni.clone()]).await;
    assert_shape(&findings, &[no_vni]);
    assert_wrong(&findings, Check::Fdb, "a vxlan network without a segmentation id");
    let findings = run(&scope(), &obs, vec![flat("physnet1", "vlan", Some(42))]).await;
    assert_wrong(&findings, Check::SegmentDevice, "eth1.42: no such device");
}

#[tokio::test]
async fn dhcp_checks_the_namespace_dnsmasq_and_the_hosts_file() {
    let mut obs = healthy();
    obs.namespaces.remove(QDHCP);
    obs.processes.insert(4242, ("dnsmasq".into(), "elsewhere".into()));
    let findings = run(&scope(), &obs, vec![dhcp_ask()]).await;
    assert_shape(&findings, &[dhcp_ask()]);
    assert_wrong(&findings, Check::DhcpNamespace, &format!("{QDHCP}: no such namespace"));
    assert_wrong(&findings, Check::Dnsmasq, &format!("runs outside {QDHCP}"));
    assert!(one(&findings, Check::DhcpHost).ok);

    let mut obs = healthy();
    obs.processes.clear();
    let findings = run(&scope(), &obs, vec![dhcp_ask()]).await;
    let pid_file = state_dir().join(NET).join("pid");
    assert_wrong(&findings, Check::Dnsmasq, &format!("dnsmasq pid 4242 (from {}) is not running", pid_file.display()));
    obs.processes.insert(4242, ("dnsmasq".into(), QDHCP.into()));
    obs.stopped.insert(4242);
    let findings = run(&scope(), &obs, vec![dhcp_ask()]).await;
    assert_wrong(&findings, Check::Dnsmasq, "is stopped (state T): it answers nobody");
    obs.processes.insert(4242, ("sleep".into(), QDHCP.into()));
    obs.stopped.clear();
    let findings = run(&scope(), &obs, vec![dhcp_ask()]).await;
    assert_wrong(&findings, Check::Dnsmasq, "is sleep, not dnsmasq");
    obs.files.remove(&pid_file);
    let findings = run(&scope(), &obs, vec![dhcp_ask()]).await;
    assert_wrong(&findings, Check::Dnsmasq, "no such file");
}

#[tokio::test]
async fn a_host_entry_without_an_address_or_mac() {
    let mut obs = healthy();
    let hosts = state_dir().join(NET).join("host");
    obs.files.insert(hosts.clone(), format!("{MAC},host-10-0-0-5.openstacklocal,10.0.0.5\n"));
    let findings = run(&scope(), &obs, vec![dhcp_ask()]).await;
    assert_wrong(&findings, Check::DhcpHost, &format!("{MAC} in {} without [2001:db8::5]", hosts.display()));
    obs.files.insert(hosts.clone(), "fa:16:3e:00:00:07,h,10.0.0.7\n".into());
    let findings = run(&scope(), &obs, vec![dhcp_ask()]).await;
    assert_wrong(&findings, Check::DhcpHost, &format!("no line for {MAC} in {} (1 lines)", hosts.display()));
}

#[tokio::test]
async fn an_agent_without_dhcp_says_so() {
    let scope = Scope { dhcp_state_dir: None, ..scope() };
    let findings = run(&scope, &healthy(), vec![dhcp_ask()]).await;
    assert_shape(&findings, &[dhcp_ask()]);
    for check in [Check::DhcpNamespace, Check::Dnsmasq, Check::DhcpHost] {
        assert_wrong(&findings, check, "serves no DHCP");
    }
}

#[tokio::test]
async fn a_missing_router_namespace_fails_every_router_check() {
    let mut obs = healthy();
    obs.namespaces.remove(QROUTER);
    let findings = run(&scope(), &obs, vec![router_ask()]).await;
    assert_shape(&findings, &[router_ask()]);
    assert!(
        findings.iter().all(|f| !f.ok && f.evidence.contains(&format!("{QROUTER}: no such namespace"))),
        "{findings:#?}"
    );
}

#[tokio::test]
async fn router_addresses_gateway_and_nat() {
    let mut obs = healthy();
    let devices = obs.namespaces.get_mut(QROUTER).unwrap();
    devices[0].up = false;
    devices[1].addrs.clear();
    obs.routes.clear();
    obs.nat.get_mut(QROUTER).unwrap().rules.retain(|(chain, _)| chain != "postrouting");
    let findings = run(&scope(), &obs, vec![router_ask()]).await;
    assert_shape(&findings, &[router_ask()]);
    assert!(one(&findings, Check::RouterNamespace).ok);
    assert_wrong(&findings, Check::RouterInterface, &format!("10.0.0.1/24 on qr-b0000000-00 in {QROUTER}, down"));
    assert_wrong(&findings, Check::RouterGateway, &format!("203.0.113.10/24 on no qg- device of {QROUTER}"));
    assert_wrong(&findings, Check::RouterGateway, "no default route");
    assert_wrong(
        &findings,
        Check::FloatingIpNat,
        "dnat 203.0.113.20 -> 10.0.0.5 present, snat 10.0.0.5 -> 203.0.113.20 missing",
    );
    obs.nat.clear();
    let findings = run(&scope(), &obs, vec![router_ask()]).await;
    assert_wrong(&findings, Check::FloatingIpNat, &format!("no table inet neutrino-l3 in {QROUTER}"));
}

#[tokio::test]
async fn a_failed_look_is_reported_as_evidence() {
    let obs = FakeObserver { broken_links: true, ..healthy() };
    let asks = vec![port_ask(), network_ask()];
    let findings = run(&scope(), &obs, asks.clone()).await;
    assert_shape(&findings, &asks);
    for f in findings.iter().filter(|f| f.check != Check::PortFirewall) {
        assert!(!f.ok && f.evidence.starts_with("cannot list devices"), "{f:?}");
    }
}

#[tokio::test]
async fn a_slow_look_gives_up_and_still_reports_every_check() {
    let obs = FakeObserver { delay: Some(Duration::from_secs(60)), ..healthy() };
    let scope = Scope { ask_timeout: Duration::from_millis(50), ..scope() };
    let findings = run(&scope, &obs, all_asks()).await;
    assert_shape(&findings, &all_asks());
    let gave_up = findings.iter().filter(|f| f.evidence == "not looked at: gave up after 50 ms").count();
    // The port and network asks wait on the slow devices; DHCP and router do not.
    assert_eq!(gave_up, expected(&port_ask()).len() + expected(&network_ask()).len());
}

#[tokio::test]
async fn asks_past_the_bound_are_not_looked_at() {
    let asks = vec![dhcp_ask(); MAX_ASKS + 1];
    let findings = run(&scope(), &healthy(), asks.clone()).await;
    assert_shape(&findings, &asks);
    let last: Vec<&Finding> = findings.iter().filter(|f| f.ask == MAX_ASKS).collect();
    assert!(last.iter().all(|f| !f.ok && f.evidence.contains("at most 64 asks")), "{last:?}");
    assert!(findings.iter().filter(|f| f.ask < MAX_ASKS).all(|f| f.ok));
}

#[tokio::test]
async fn an_open_vswitch_host_checks_the_hybrid_plug_and_says_it_does_not_read_br_int_yet() {
    let qbr = crate::firewall::hybrid_bridge_name(PORT);
    let mut obs = healthy();
    obs.links = vec![link(TAP, LinkKind::Tap, Some(&qbr)), link(&qbr, LinkKind::Bridge, None)];
    let port = || Ask::Port { port_id: PORT.into(), network_id: NET.into(), mac_address: MAC.into(), filtered: true };
    let scope = Scope { open_vswitch: true, ..scope() };
    let findings = run(&scope, &obs, vec![port()]).await;
    assert_eq!(findings.len(), 4, "{findings:#?}");
    assert!(findings.iter().all(|f| f.ok), "the tap, its qbr and its filter are read: {findings:#?}");
    let tap_bridge = findings.iter().find(|f| f.check == Check::TapBridge).unwrap();
    assert!(tap_bridge.evidence.contains(&qbr), "{tap_bridge:?}");

    // A tap out of its qbr is the first wrong hop, as out of a brq.
    obs.links = vec![link(TAP, LinkKind::Tap, None), link(&qbr, LinkKind::Bridge, None)];
    let findings = run(&scope, &obs, vec![port()]).await;
    assert!(findings.iter().any(|f| f.check == Check::TapBridge && !f.ok), "{findings:#?}");

    // br-int and br-tun (the network's hops) are not read yet, and say so.
    let network = Ask::Network {
        network_id: NET.into(),
        network_type: "vxlan".into(),
        segmentation_id: Some(1001),
        physical_network: None,
        remote_ports: vec![],
    };
    let findings = run(&scope, &obs, vec![network]).await;
    assert!(!findings.is_empty() && findings.iter().all(|f| !f.ok && f.evidence.contains("Open vSwitch")));
    // Without the firewall there is no hybrid plug: the tap is on br-int itself.
    let unfiltered = Scope { firewall: false, ..scope };
    let findings = run(&unfiltered, &healthy(), vec![port()]).await;
    assert!(findings.iter().all(|f| !f.ok && f.evidence.contains("Open vSwitch")), "{findings:#?}");
}
