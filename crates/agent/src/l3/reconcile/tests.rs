use neutrino_agent_api::{FloatingIpState, HostRoute, PortForwardingState, RouterGateway, RouterPort};

use super::*;
use crate::l3::fake::FakeL3;
use crate::l3::nat::FipNat;
use crate::l3::system::Route;
use crate::netns::cidr::{Cidr, IfAddr};

const ROUTER: &str = "11111111-2222-4333-8444-555555555555";
const NS: &str = "qrouter-11111111-2222-4333-8444-555555555555";
const QG: &str = "qg-aaaaaaaa-00";
const QR: &str = "qr-bbbbbbbb-00";
const QR2: &str = "qr-cccccccc-00";

fn port(id: &str, mac: &str, addr: &str, cidr: &str) -> RouterPort {
    RouterPort {
        subnets: vec![],
        port_id: id.into(),
        network_id: "net".into(),
        mac_address: mac.into(),
        mtu: 1450,
        addresses: vec![addr.into()],
        cidrs: vec![cidr.into()],
    }
}

fn router() -> RouterState {
    RouterState {
        metadata_hosts: vec![],
        id: ROUTER.into(),
        project_id: "p".into(),
        admin_state_up: true,
        gateway: Some(RouterGateway {
            port: port(
                "aaaaaaaa-0000-4000-8000-000000000001",
                "fa:16:3e:00:00:01",
                "203.0.113.10/24",
                "203.0.113.0/24",
            ),
            gateway_ips: vec!["203.0.113.1".parse().unwrap()],
            enable_snat: true,
        }),
        interfaces: vec![port(
            "bbbbbbbb-0000-4000-8000-000000000002",
            "fa:16:3e:00:00:02",
            "10.0.0.1/24",
            "10.0.0.0/24",
        )],
        routes: vec![HostRoute { destination: "192.168.0.0/16".into(), nexthop: "10.0.0.254".parse().unwrap() }],
        floating_ips: vec![FloatingIpState {
            id: "fip1".into(),
            floating_ip_address: "203.0.113.20".parse().unwrap(),
            fixed_ip_address: "10.0.0.5".parse().unwrap(),
            port_id: "vm".into(),
            status: String::new(),
        }],
        port_forwardings: vec![],
    }
}

fn reconciler() -> L3Reconciler<FakeL3> {
    L3Reconciler::with_system(FakeL3::new())
}

fn ifaddr(text: &str) -> IfAddr {
    let (a, l) = text.split_once('/').unwrap();
    IfAddr { addr: a.parse().unwrap(), prefix_len: l.parse().unwrap() }
}

fn route(dst: &str, gw: &str) -> Route {
    Route { destination: Cidr::parse(dst).unwrap(), gateway: gw.parse().unwrap() }
}

#[tokio::test]
async fn builds_a_router_then_changes_nothing() {
    let mut r = reconciler();
    let report = r.reconcile(&[router()]).await;
    assert!(report.issues.is_empty(), "{report:#?}");
    let sys = r.system();
    assert_eq!(sys.namespace_names(), vec![NS.to_owned()]);
    assert!(sys.forwarding_on(NS));
    let qg = sys.dev(NS, QG).unwrap();
    assert_eq!((qg.mtu, qg.mac.to_string(), qg.up), (1450, "fa:16:3e:00:00:01".to_owned(), true));
    assert_eq!(qg.addrs, vec![ifaddr("203.0.113.10/24"), ifaddr("203.0.113.20/32")]);
    assert_eq!(sys.dev(NS, QR).unwrap().addrs, vec![ifaddr("10.0.0.1/24")]);
    assert_eq!(sys.route_set(NS), [route("0.0.0.0/0", "203.0.113.1"), route("192.168.0.0/16", "10.0.0.254")].into());
    let nat = sys.nat_table(NS).unwrap();
    assert_eq!(nat.fips().len(), 1);
    assert!(nat.rules.iter().any(|(_, c)| c == "snat 10.0.0.0/24 -> 203.0.113.10 out qg-aaaaaaaa-00"));
    assert_eq!(
        sys.take_calls(),
        vec![
            format!("netns-add {NS}"),
            format!("forwarding-on {NS}"),
            format!("veth-add tapaaaaaaaa-00 {QG}"),
            format!("addr-add 203.0.113.10/24 {QG}"),
            format!("addr-add 203.0.113.20/32 {QG}"),
            format!("veth-add tapbbbbbbbb-00 {QR}"),
            format!("addr-add 10.0.0.1/24 {QR}"),
            "route-add 0.0.0.0/0 via 203.0.113.1".to_owned(),
            "route-add 192.168.0.0/16 via 10.0.0.254".to_owned(),
            format!("nft-apply {NS}"),
        ]
    );
    // Idempotent, also for a fresh reconciler (an agent restart): the table is read back.
    assert_eq!(r.reconcile(&[router()]).await, Report::new(SubsystemKind::L3));
    let mut restarted = L3Reconciler::with_system(FakeL3::new());
    std::mem::swap(&mut restarted.sys, &mut r.sys);
    assert_eq!(restarted.reconcile(&[router()]).await, Report::new(SubsystemKind::L3));
}

#[tokio::test]
async fn heals_what_was_broken_by_hand() {
    let mut r = reconciler();
    r.reconcile(&[router()]).await;
    let sys = r.system();
    sys.edit_dev(NS, QR, |d| {
        d.addrs.clear();
        d.up = false;
    });
    sys.delete_route_by_hand(NS, &route("0.0.0.0/0", "203.0.113.1"));
    sys.delete_nat_by_hand(NS);
    sys.disable_forwarding_by_hand(NS);
    sys.take_calls();
    let report = r.reconcile(&[router()]).await;
    assert!(report.issues.is_empty(), "{report:#?}");
    assert_eq!(
        r.system().take_calls(),
        vec![
            format!("forwarding-on {NS}"),
            format!("link-set {QR}"),
            format!("addr-add 10.0.0.1/24 {QR}"),
            "route-add 0.0.0.0/0 via 203.0.113.1".to_owned(),
            format!("nft-apply {NS}"),
        ]
    );
    // A table that was missing gives nothing to flush.
    assert!(r.system().flushed().is_empty());

    r.system().delete_namespace_by_hand(NS);
    let report = r.reconcile(&[router()]).await;
    assert!(report.issues.is_empty(), "{report:#?}");
    assert!(report.applied.contains(&format!("create namespace {NS}")), "{report:#?}");
    assert!(r.system().dev(NS, QG).is_some() && r.system().nat_table(NS).is_some());
    assert_eq!(r.reconcile(&[router()]).await, Report::new(SubsystemKind::L3));
}

#[tokio::test]
async fn disassociated_floating_ip_is_unplumbed_and_its_sessions_flushed() {
    let mut r = reconciler();
    let mut state = router();
    state.port_forwardings.push(PortForwardingState {
        id: "pf1".into(),
        floating_ip_address: "203.0.113.21".parse().unwrap(),
        protocol: "tcp".into(),
        external_port: 2222,
        internal_ip_address: "10.0.0.6".parse().unwrap(),
        internal_port: 22,
    });
    r.reconcile(std::slice::from_ref(&state)).await;
    assert_eq!(r.system().dev(NS, QG).unwrap().addrs.len(), 3);
    state.floating_ips.clear();
    state.port_forwardings.clear();
    r.system().take_calls();
    let report = r.reconcile(std::slice::from_ref(&state)).await;
    assert!(report.issues.is_empty(), "{report:#?}");
    assert_eq!(
        r.system().take_calls(),
        vec![
            format!("addr-del 203.0.113.20/32 {QG}"),
            format!("addr-del 203.0.113.21/32 {QG}"),
            format!("nft-apply {NS}"),
            "conntrack-delete floating IP 203.0.113.20".to_owned(),
            "conntrack-delete port forwarding tcp 203.0.113.21:2222".to_owned(),
        ]
    );
    assert_eq!(r.system().nat_table(NS).unwrap().fips(), Default::default());

    // A floating IP moved to another fixed IP: its old sessions go too.
    state.floating_ips = router().floating_ips;
    r.reconcile(std::slice::from_ref(&state)).await;
    state.floating_ips[0].fixed_ip_address = "10.0.0.7".parse().unwrap();
    let report = r.reconcile(std::slice::from_ref(&state)).await;
    assert!(report.applied.iter().any(|l| l.starts_with("delete conntrack entries of floating IP 203.0.113.20")));
    let fips = r.system().nat_table(NS).unwrap().fips();
    let moved = FipNat { floating: "203.0.113.20".parse().unwrap(), fixed: "10.0.0.7".parse().unwrap() };
    assert_eq!(fips, [moved].into());
}

#[tokio::test]
async fn missing_conntrack_is_an_issue_not_a_failure() {
    let mut r = reconciler();
    r.reconcile(&[router()]).await;
    r.system().remove_conntrack();
    let mut state = router();
    state.floating_ips.clear();
    let report = r.reconcile(&[state.clone()]).await;
    assert_eq!(report.issues.len(), 1, "{report:#?}");
    assert!(report.issues[0].reason.contains("conntrack"), "{report:#?}");
    assert!(r.system().nat_table(NS).unwrap().fips().is_empty());
    // The table is right now, so there is nothing more to do.
    assert_eq!(r.reconcile(&[state]).await, Report::new(SubsystemKind::L3));
}

#[tokio::test]
async fn interfaces_routes_and_routers_that_leave_are_removed() {
    let mut r = reconciler();
    let mut state = router();
    state.interfaces.push(port(
        "cccccccc-0000-4000-8000-000000000003",
        "fa:16:3e:00:00:03",
        "10.1.0.1/24",
        "10.1.0.0/24",
    ));
    r.reconcile(std::slice::from_ref(&state)).await;
    assert!(r.system().dev(NS, QR2).is_some());
    let nat = r.system().nat_table(NS).unwrap();
    assert!(nat.rules.iter().any(|(_, c)| c == "snat 10.1.0.0/24 -> 203.0.113.10 out qg-aaaaaaaa-00"));

    state.interfaces.pop();
    state.routes.clear();
    r.system().take_calls();
    let report = r.reconcile(std::slice::from_ref(&state)).await;
    assert!(report.issues.is_empty(), "{report:#?}");
    assert_eq!(
        r.system().take_calls(),
        vec![
            format!("link-delete {NS} {QR2}"),
            "route-del 192.168.0.0/16 via 10.0.0.254".to_owned(),
            format!("nft-apply {NS}"),
        ]
    );

    assert_eq!(r.reconcile(&[]).await.applied, vec![format!("delete namespace {NS}")]);
    assert_eq!(r.reconcile(&[]).await, Report::new(SubsystemKind::L3));
}

/// A disabled router's ports stay plugged (the L2 pass wires their taps, so they turn
/// ACTIVE, which Tempest waits for before it removes an interface), but the router is inert:
/// its devices are down without addresses, nothing forwards, routes and NAT are gone. Before,
/// a disabled router had no namespace at all and its ports stayed DOWN.
#[tokio::test]
async fn a_disabled_router_keeps_its_ports_plugged_but_inert() {
    let mut r = reconciler();
    let mut state = router();
    state.admin_state_up = false;
    let report = r.reconcile(std::slice::from_ref(&state)).await;
    assert!(report.issues.is_empty(), "{report:#?}");
    let sys = r.system();
    assert_eq!(sys.namespace_names(), vec![NS.to_owned()]);
    for dev in [QG, QR] {
        let d = sys.dev(NS, dev).unwrap();
        assert!(!d.up && d.addrs.is_empty(), "{dev}: {d:?}");
    }
    assert!(!sys.forwarding_on(NS));
    assert!(sys.route_set(NS).is_empty());
    assert!(sys.nat_table(NS).unwrap().rules.is_empty());
    assert_eq!(r.reconcile(std::slice::from_ref(&state)).await, Report::new(SubsystemKind::L3));

    // Enabled: the same devices come up with their addresses, routes and NAT.
    state.admin_state_up = true;
    r.system().take_calls();
    let report = r.reconcile(std::slice::from_ref(&state)).await;
    assert!(report.issues.is_empty(), "{report:#?}");
    let calls = r.system().take_calls();
    assert!(!calls.iter().any(|c| c.starts_with("veth-add")), "the pairs stay: {calls:?}");
    assert!(r.system().forwarding_on(NS));
    assert!(r.system().dev(NS, QR).unwrap().up);
    assert_eq!(r.system().dev(NS, QR).unwrap().addrs, vec![ifaddr("10.0.0.1/24")]);
    assert_eq!(r.system().nat_table(NS).unwrap().fips().len(), 1);

    // Disabled again: down, forwarding off, the translations and their connections gone.
    state.admin_state_up = false;
    let report = r.reconcile(std::slice::from_ref(&state)).await;
    assert!(report.applied.contains(&format!("disable forwarding in {NS}")), "{report:#?}");
    assert!(!r.system().dev(NS, QG).unwrap().up);
    assert!(r.system().route_set(NS).is_empty());
    assert!(!r.system().flushed().is_empty());
}

#[tokio::test]
async fn bad_input_and_failures_are_issues_of_that_router_only() {
    let mut r = reconciler();
    let mut bad = router();
    bad.id = "other-router".into();
    bad.interfaces[0].mac_address = "not a mac".into();
    let mut odd = router();
    odd.routes.push(HostRoute { destination: "nonsense".into(), nexthop: "10.0.0.9".parse().unwrap() });
    odd.floating_ips.push(FloatingIpState {
        id: "fip6".into(),
        floating_ip_address: "2001:db8::1".parse().unwrap(),
        fixed_ip_address: "10.0.0.9".parse().unwrap(),
        port_id: "vm".into(),
        status: String::new(),
    });
    let report = r.reconcile(&[bad, odd.clone()]).await;
    assert_eq!(report.issues.len(), 3, "{report:#?}");
    assert!(report.issues[0].reason.contains("other-router") && report.issues[0].reason.contains("MAC"), "{report:#?}");
    assert!(report.issues[1].reason.contains("skipped floating IP fip6"), "{report:#?}");
    assert!(report.issues[2].reason.contains("skipped route nonsense"), "{report:#?}");
    assert_eq!(report.issues[0].object, Object::Router("other-router".into()));
    assert!(report.issues[1..].iter().all(|i| i.object == Object::Router(ROUTER.into())), "{report:#?}");
    assert!(r.system().nat_table(NS).is_some());

    // A failing route is an issue of its own; the rest of the router goes on.
    let mut r = reconciler();
    r.system().fail_next("route-add");
    let report = r.reconcile(&[router()]).await;
    assert_eq!(report.issues.len(), 1, "{report:#?}");
    assert!(r.system().nat_table(NS).is_some());
    assert_eq!(r.reconcile(&[router()]).await.applied, vec!["add route 0.0.0.0/0 via 203.0.113.1 in ".to_owned() + NS]);

    // A failing step stops that router's pass; the next pass finishes it.
    let mut r = reconciler();
    r.system().fail_next("nft-apply");
    let report = r.reconcile(&[router()]).await;
    assert!(report.issues[0].reason.contains("nft-apply"), "{report:#?}");
    let report = r.reconcile(&[router()]).await;
    assert!(report.issues.is_empty(), "{report:#?}");
    // 5 NAT rules and the 2 forward drops of metadata requests.
    assert_eq!(report.applied, vec![format!("apply nat table of {NS} (7 rules)")]);
    assert_eq!(r.reconcile(&[router()]).await, Report::new(SubsystemKind::L3));
}
