//! The reconciler against [`FakeDhcp`]: first wiring, idempotency, SIGHUP versus restart,
//! healing, teardown, and one failure not stopping the other networks.

use std::path::Path;

use neutrino_agent_api::DhcpFixedIp;

use super::super::dnsmasq::tests::{dual_stack, NET};
use super::super::fake::FakeDhcp;
use super::*;

const NS: &str = "qdhcp-5e0f6a4c-1d2b-4c3d-8e9f-0a1b2c3d4e5f";
const TAP: &str = "tapd1c2b3a4-00";
const DEV: &str = "ns-d1c2b3a4-00";

fn reconciler(state: &Path) -> DhcpReconciler<FakeDhcp> {
    let cfg = DhcpConfig { state_dir: state.to_owned(), ..DhcpConfig::default() };
    DhcpReconciler::with_system(cfg, FakeDhcp::new())
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn addrs(r: &DhcpReconciler<FakeDhcp>) -> Vec<String> {
    let mut a: Vec<String> = r.system().dev(NS, DEV).unwrap().addrs.iter().map(|a| a.to_string()).collect();
    a.sort();
    a
}

#[test]
fn first_pass_wires_everything_then_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = reconciler(tmp.path());
    let nets = [dual_stack()];
    let report = block_on(r.reconcile(&nets));
    assert!(report.issues.is_empty(), "{report:#?}");
    assert_eq!(
        r.system().take_calls(),
        vec![
            format!("netns-add {NS}"),
            format!("veth-add {TAP} {DEV}"),
            format!("addr-add 10.0.0.2/24 {DEV}"),
            format!("addr-add 169.254.169.254/32 {DEV}"),
            format!("addr-add 2001:db8::2/64 {DEV}"),
            // The network has an IPv6 subnet: the IPv6 metadata address too.
            format!("addr-add fe80::a9fe:a9fe/128 {DEV}"),
            format!("route-replace default via 10.0.0.1 dev {DEV} in {NS}"),
            format!("route-replace default via 2001:db8::1 dev {DEV} in {NS}"),
            format!("nft-apply {NS}"),
            format!("dnsmasq-start {NS}"),
        ]
    );
    let dev = r.system().dev(NS, DEV).unwrap();
    assert_eq!((dev.mac.to_string().as_str(), dev.mtu, dev.up), ("fa:16:3e:00:00:01", 1450, true));
    let dir = tmp.path().join(NET);
    for f in ["host", "addn_hosts", "opts", "leases"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    assert!(std::fs::read_to_string(dir.join("leases")).unwrap().contains("0 fa:16:3e:00:00:0a 10.0.0.5 * *"));
    let procs = r.system().processes();
    let p = procs.values().next().unwrap();
    assert_eq!(p.argv, dnsmasq::render(r.config(), &nets[0]).unwrap().argv);
    assert_eq!(p.pid_file, dir.join("pid"));
    assert_eq!(report.applied.last().unwrap(), &format!("start dnsmasq of network {NET} in {NS} (pid 1001)"));

    // Level-triggered: the second pass (and a restarted agent) changes and signals nothing.
    assert_eq!(block_on(r.reconcile(&nets)), Report::new(SubsystemKind::Dhcp));
    assert!(r.system().take_calls().is_empty());
}

#[test]
fn host_changes_reload_and_range_changes_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = reconciler(tmp.path());
    let mut net = dual_stack();
    block_on(r.reconcile(std::slice::from_ref(&net)));
    r.system().take_calls();

    net.hosts[0].fixed_ips[0].ip_address = "10.0.0.50".parse().unwrap();
    net.subnets[0].dns_nameservers.push("1.1.1.1".into());
    let report = block_on(r.reconcile(std::slice::from_ref(&net)));
    assert_eq!(r.system().take_calls(), vec!["dnsmasq-hup 1001".to_owned()]);
    assert_eq!(report.applied.len(), 4, "{report:#?}"); // host, addn_hosts, opts, reload
    assert_eq!(r.system().processes()[&1001].reloads, 1);

    net.mtu = 1400;
    let report = block_on(r.reconcile(std::slice::from_ref(&net)));
    assert_eq!(
        r.system().take_calls(),
        vec![format!("link-set {DEV}"), "dnsmasq-stop 1001".to_owned(), format!("dnsmasq-start {NS}")]
    );
    assert!(report.applied.iter().any(|l| l.ends_with("its command line changed")), "{report:#?}");
}

#[test]
fn heals_devices_addresses_and_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = reconciler(tmp.path());
    let nets = [dual_stack()];
    block_on(r.reconcile(&nets));
    r.system().take_calls();

    // Wrong address, MTU and down by hand.
    r.system().edit_dev(NS, DEV, |d| {
        d.addrs.retain(|a| a.to_string() != "10.0.0.2/24");
        d.addrs.push(IfAddr { addr: "10.0.0.99".parse().unwrap(), prefix_len: 24 });
        d.addrs.push(IfAddr { addr: "fe80::1".parse().unwrap(), prefix_len: 64 });
        d.mtu = 1500;
        d.up = false;
    });
    block_on(r.reconcile(&nets));
    assert_eq!(
        r.system().take_calls(),
        vec![format!("link-set {DEV}"), format!("addr-add 10.0.0.2/24 {DEV}"), format!("addr-del 10.0.0.99/24 {DEV}")]
    );
    // The kernel's fe80::1 stays; so does ours, fe80::a9fe:a9fe, which is not re-added.
    assert_eq!(addrs(&r), ["10.0.0.2/24", "169.254.169.254/32", "2001:db8::2/64", "fe80::1/64", "fe80::a9fe:a9fe/128"]);

    // A dead dnsmasq is started again.
    r.system().kill(1001);
    block_on(r.reconcile(&nets));
    assert_eq!(r.system().take_calls(), vec![format!("dnsmasq-start {NS}")]);

    // The namespace deleted by hand while dnsmasq keeps it alive: the tap lingers, its
    // peer is out of reach; all recreated, dnsmasq restarted inside the new namespace.
    r.system().delete_namespace_by_hand(NS);
    let report = block_on(r.reconcile(&nets));
    assert!(report.issues.is_empty(), "{report:#?}");
    let calls = r.system().take_calls();
    assert_eq!(calls[..3], [format!("netns-add {NS}"), format!("link-delete {TAP}"), format!("veth-add {TAP} {DEV}")]);
    assert_eq!(calls[calls.len() - 2..], ["dnsmasq-stop 1002".to_owned(), format!("dnsmasq-start {NS}")]);
    assert!(report.applied.iter().any(|l| l.ends_with("it runs outside of its namespace")), "{report:#?}");
    assert_eq!(block_on(r.reconcile(&nets)), Report::new(SubsystemKind::Dhcp));
}

#[test]
fn networks_no_longer_served_are_torn_down() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = reconciler(tmp.path());
    block_on(r.reconcile(&[dual_stack()]));
    // A leftover directory without namespace (an agent killed mid-teardown).
    std::fs::create_dir_all(tmp.path().join("0000aaaa-dead")).unwrap();
    r.system().take_calls();
    let report = block_on(r.reconcile(&[]));
    assert!(report.issues.is_empty(), "{report:#?}");
    assert_eq!(r.system().take_calls(), vec!["dnsmasq-stop 1001".to_owned(), format!("netns-delete {NS}")]);
    assert!(r.system().namespace_names().is_empty());
    assert!(r.system().tap(TAP).is_none());
    assert!(!tmp.path().join(NET).exists() && !tmp.path().join("0000aaaa-dead").exists());
    assert_eq!(block_on(r.reconcile(&[])), Report::new(SubsystemKind::Dhcp));
}

#[test]
fn a_failure_is_reported_and_the_other_networks_proceed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = reconciler(tmp.path());
    let mut other = dual_stack();
    other.network_id = "11111111-2222-4333-8444-555555555555".into();
    other.port.id = "99999999-0000-4000-8000-000000000009".into();
    let mut bad = dual_stack();
    bad.network_id = "../etc".into();
    r.system().fail_next("veth-add");
    let report = block_on(r.reconcile(&[bad, dual_stack(), other.clone()]));
    assert_eq!(report.issues.len(), 2, "{report:#?}");
    assert_eq!(report.issues[0].reason, "dhcp for network ../etc: invalid network id \"../etc\"");
    assert_eq!(report.issues[0].object, Object::Network("../etc".into()));
    assert_eq!(report.issues[1].object, Object::Network(NET.into()));
    assert!(
        report.issues[1].reason.starts_with(&format!("dhcp for network {NET}: fake veth-add {TAP} {DEV}: injected")),
        "{report:#?}"
    );
    assert_eq!(r.system().processes().len(), 1);
    // The next pass finishes the job.
    let report = block_on(r.reconcile(&[dual_stack(), other]));
    assert!(report.issues.is_empty(), "{report:#?}");
    assert_eq!(r.system().processes().len(), 2);
}

#[test]
fn addresses_outside_known_subnets_are_skipped() {
    let mut net = dual_stack();
    net.port.fixed_ips.push(DhcpFixedIp { subnet_id: "not-dhcp".into(), ip_address: "192.168.0.2".parse().unwrap() });
    let cfg = DhcpConfig::default();
    let got: Vec<String> = port_addresses(&cfg, &net).iter().map(|a| a.to_string()).collect();
    assert_eq!(got, ["10.0.0.2/24", "169.254.169.254/32", "2001:db8::2/64", "fe80::a9fe:a9fe/128"]);
    // Every subnet routed: the router serves metadata, the namespace holds no such address.
    for s in &mut net.subnets {
        s.router_attached = true;
    }
    let got: Vec<String> = port_addresses(&cfg, &net).iter().map(|a| a.to_string()).collect();
    assert_eq!(got, ["10.0.0.2/24", "2001:db8::2/64"]);
    let force = DhcpConfig { metadata: crate::dhcp::MetadataMode { force_metadata: true, ..cfg.metadata }, ..cfg };
    assert!(port_addresses(&force, &net).iter().any(|a| a.to_string() == "169.254.169.254/32"));
    assert!(port_addresses(&force, &net).iter().any(|a| a.to_string() == "fe80::a9fe:a9fe/128"));
    // An IPv4-only network gets no IPv6 metadata address.
    net.subnets.retain(|s| s.ip_version == 4);
    assert!(port_addresses(&force, &net).iter().all(|a| a.addr.is_ipv4()));
}

#[test]
fn reconcile_can_run_in_a_spawned_task() {
    fn is_send<T: Send>(_: &T) {}
    let mut r = DhcpReconciler::new(DhcpConfig::default());
    let future = r.reconcile(&[]);
    is_send(&future); // never polled: nothing touches the host
}

#[test]
fn default_routes_and_the_dns_guard_follow_the_subnets() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = reconciler(tmp.path());
    let mut net = dual_stack();
    block_on(r.reconcile(std::slice::from_ref(&net)));
    let routes = r.system().default_routes(NS);
    assert_eq!(routes.keys().map(ToString::to_string).collect::<Vec<_>>(), ["10.0.0.1", "2001:db8::1"]);
    let guard = r.system().guard(NS).expect("guard applied");
    r.system().take_calls();

    // A new gateway replaces the route; a gateway outside the subnet is on-link; no IPv6
    // gateway any more: that default route goes.
    net.subnets[0].gateway_ip = Some("10.9.0.1".parse().unwrap());
    net.subnets[1].gateway_ip = None;
    let report = block_on(r.reconcile(std::slice::from_ref(&net)));
    assert!(report.issues.is_empty(), "{report:#?}");
    assert_eq!(
        r.system().take_calls(),
        [
            format!("route-replace default via 10.9.0.1 dev {DEV} in {NS}"),
            format!("route-del default via 2001:db8::1 in {NS}"),
            "dnsmasq-hup 1001".to_owned(),
        ]
    );
    assert_eq!(
        r.system().default_routes(NS).into_iter().collect::<Vec<_>>(),
        [("10.9.0.1".parse().unwrap(), (DEV.to_owned(), true))]
    );

    // The guard is left alone while its fingerprint matches, restored when deleted by hand
    // and replaced when the subnets change.
    assert_eq!(r.system().guard(NS), Some(guard.clone()));
    r.system().delete_guard_by_hand(NS);
    block_on(r.reconcile(std::slice::from_ref(&net)));
    assert_eq!(r.system().take_calls(), [format!("nft-apply {NS}")]);
    net.subnets.truncate(1);
    block_on(r.reconcile(std::slice::from_ref(&net)));
    assert!(r.system().take_calls().contains(&format!("nft-apply {NS}")));
    assert_ne!(r.system().guard(NS), Some(guard));
}
