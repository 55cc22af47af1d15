use std::path::{Path, PathBuf};

use neutrino_agent_api::{RouterPort, RouterState, RouterSubnet};

use crate::l3::fake::FakeL3;
use crate::l3::radvd::{RaConfig, RadvdPaths};
use crate::l3::L3Reconciler;

const ROUTER: &str = "11111111-2222-4333-8444-555555555555";
const NS: &str = "qrouter-11111111-2222-4333-8444-555555555555";

fn ra() -> RaConfig {
    RaConfig { state_dir: PathBuf::from("/state/ra"), ..RaConfig::default() }
}

fn paths() -> RadvdPaths {
    RadvdPaths::new(Path::new("/state/ra"), ROUTER)
}

fn iface(id: &str, mac: &str, addr: &str, cidr: &str, ra_mode: Option<&str>) -> RouterPort {
    let v6 = cidr.contains(':');
    RouterPort {
        port_id: id.into(),
        network_id: "net".into(),
        mac_address: mac.into(),
        mtu: 1450,
        addresses: vec![addr.into()],
        cidrs: vec![cidr.into()],
        subnets: vec![RouterSubnet {
            id: format!("subnet-{id}"),
            cidr: cidr.into(),
            ip_version: if v6 { 6 } else { 4 },
            ipv6_ra_mode: ra_mode.map(str::to_owned),
            ipv6_address_mode: ra_mode.map(str::to_owned),
            dns_nameservers: vec![],
        }],
    }
}

fn slaac() -> RouterPort {
    iface("bbbbbbbb-0000-4000-8000-000000000002", "fa:16:3e:00:00:02", "2001:db8::1/64", "2001:db8::/64", Some("slaac"))
}

fn v4() -> RouterPort {
    iface("cccccccc-0000-4000-8000-000000000003", "fa:16:3e:00:00:03", "10.0.0.1/24", "10.0.0.0/24", None)
}

fn router(interfaces: Vec<RouterPort>) -> RouterState {
    RouterState {
        id: ROUTER.into(),
        project_id: "p".into(),
        admin_state_up: true,
        gateway: None,
        interfaces,
        routes: vec![],
        floating_ips: vec![],
        port_forwardings: vec![],
        metadata_hosts: vec![],
    }
}

fn radvd_calls(calls: Vec<String>) -> Vec<String> {
    calls.into_iter().filter(|c| c.starts_with("radvd-") || c.starts_with("write") || c.starts_with("rm")).collect()
}

#[tokio::test]
async fn starts_radvd_with_the_rendered_config_and_leaves_it_alone() {
    let mut r = L3Reconciler::with_ra(FakeL3::new(), ra());
    let report = r.reconcile(&[router(vec![slaac(), v4()])]).await;
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    let daemon = r.system().radvd_of(&paths().pid).expect("radvd runs");
    assert_eq!(daemon.namespace, NS);
    let conf = r.system().file(&paths().conf).expect("config written");
    assert!(conf.starts_with("interface qr-bbbbbbbb-00\n{\n"), "{conf}");
    assert!(!conf.contains("qr-cccccccc-00"), "an IPv4-only port gets no section: {conf}");
    assert_eq!(daemon.config.as_deref(), Some(conf.as_str()));
    assert_eq!(daemon.argv.join(" "), crate::l3::radvd::argv(&ra(), &paths()).join(" "));
    r.system().take_calls();

    // Nothing changed: no write, no signal, same pid.
    let report = r.reconcile(&[router(vec![slaac(), v4()])]).await;
    assert!(report.applied.is_empty(), "{:?}", report.applied);
    assert!(radvd_calls(r.system().take_calls()).is_empty());
    assert_eq!(r.system().radvd_of(&paths().pid).map(|d| d.pid), Some(daemon.pid));
}

#[tokio::test]
async fn a_changed_config_is_written_and_reloaded_not_restarted() {
    let mut r = L3Reconciler::with_ra(FakeL3::new(), ra());
    r.reconcile(&[router(vec![slaac()])]).await;
    let pid = r.system().radvd_of(&paths().pid).unwrap().pid;
    r.system().take_calls();
    let mut other = iface(
        "dddddddd-0000-4000-8000-000000000004",
        "fa:16:3e:00:00:04",
        "2001:db8:1::1/64",
        "2001:db8:1::/64",
        Some("dhcpv6-stateful"),
    );
    other.mtu = 1500;
    r.reconcile(&[router(vec![slaac(), other])]).await;
    let calls = radvd_calls(r.system().take_calls());
    assert_eq!(calls, vec![format!("write {}", paths().conf.display()), format!("radvd-hup {pid}")]);
    let daemon = r.system().radvd_of(&paths().pid).unwrap();
    assert_eq!(daemon.pid, pid);
    let config = daemon.config.unwrap();
    assert!(config.contains("AdvManagedFlag on;") && config.contains("AdvAutonomous off;"), "{config}");
}

#[tokio::test]
async fn a_dead_radvd_is_started_again() {
    let mut r = L3Reconciler::with_ra(FakeL3::new(), ra());
    r.reconcile(&[router(vec![slaac()])]).await;
    let pid = r.system().radvd_of(&paths().pid).unwrap().pid;
    r.system().kill_radvd_by_hand(&paths().pid);
    r.system().take_calls();
    let report = r.reconcile(&[router(vec![slaac()])]).await;
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!(radvd_calls(r.system().take_calls()), vec![format!("radvd-start {NS}")]);
    assert_ne!(r.system().radvd_of(&paths().pid).unwrap().pid, pid);
}

#[tokio::test]
async fn a_radvd_left_in_a_deleted_namespace_is_restarted_in_the_new_one() {
    let mut r = L3Reconciler::with_ra(FakeL3::new(), ra());
    r.reconcile(&[router(vec![slaac()])]).await;
    let pid = r.system().radvd_of(&paths().pid).unwrap().pid;
    r.system().delete_namespace_by_hand(NS);
    r.system().take_calls();
    r.reconcile(&[router(vec![slaac()])]).await;
    let calls = radvd_calls(r.system().take_calls());
    assert_eq!(calls, vec![format!("radvd-stop {pid}"), format!("radvd-start {NS}")]);
    let daemon = r.system().radvd_of(&paths().pid).unwrap();
    assert!(!daemon.orphaned);
}

#[tokio::test]
async fn a_changed_command_line_restarts_radvd() {
    let mut r = L3Reconciler::with_ra(FakeL3::new(), ra());
    r.reconcile(&[router(vec![slaac()])]).await;
    let pid = r.system().radvd_of(&paths().pid).unwrap().pid;
    let moved = RaConfig { radvd_path: PathBuf::from("/usr/local/sbin/radvd"), ..ra() };
    let mut r = L3Reconciler::with_ra(r.into_system(), moved);
    r.system().take_calls();
    r.reconcile(&[router(vec![slaac()])]).await;
    assert_eq!(radvd_calls(r.system().take_calls()), vec![format!("radvd-stop {pid}"), format!("radvd-start {NS}")]);
}

#[tokio::test]
async fn radvd_stops_when_the_last_ipv6_interface_goes_or_the_router_is_disabled_or_leaves() {
    let mut r = L3Reconciler::with_ra(FakeL3::new(), ra());
    r.reconcile(&[router(vec![slaac(), v4()])]).await;
    let pid = r.system().radvd_of(&paths().pid).unwrap().pid;
    r.system().take_calls();
    let report = r.reconcile(&[router(vec![v4()])]).await;
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    let calls = radvd_calls(r.system().take_calls());
    assert_eq!(calls, vec![format!("radvd-stop {pid}"), format!("rm {}", paths().dir.display())]);
    assert!(r.system().radvd_of(&paths().pid).is_none());
    assert!(r.system().file_paths().is_empty());
    // And stays stopped.
    r.reconcile(&[router(vec![v4()])]).await;
    assert!(radvd_calls(r.system().take_calls()).is_empty());

    r.reconcile(&[router(vec![slaac()])]).await;
    assert!(r.system().radvd_of(&paths().pid).is_some());
    let mut disabled = router(vec![slaac()]);
    disabled.admin_state_up = false;
    r.reconcile(&[disabled]).await;
    assert!(r.system().radvd_of(&paths().pid).is_none());

    r.reconcile(&[router(vec![slaac()])]).await;
    r.system().take_calls();
    let report = r.reconcile(&[]).await;
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    let calls = r.system().take_calls();
    let stop = calls.iter().position(|c| c.starts_with("radvd-stop"));
    let delete = calls.iter().position(|c| c == &format!("netns-delete {NS}"));
    assert!(stop.is_some() && stop < delete, "radvd stops before its namespace goes: {calls:?}");
    assert!(r.system().radvd_of(&paths().pid).is_none());
    assert!(r.system().file_paths().is_empty());
}

#[tokio::test]
async fn a_recreated_port_gets_radvd_a_sighup() {
    let mut r = L3Reconciler::with_ra(FakeL3::new(), ra());
    r.reconcile(&[router(vec![slaac()])]).await;
    let pid = r.system().radvd_of(&paths().pid).unwrap().pid;
    r.system().edit_dev(NS, "qr-bbbbbbbb-00", |d| d.kind = crate::l2::dataplane::LinkKind::Other("dummy".into()));
    r.system().take_calls();
    r.reconcile(&[router(vec![slaac()])]).await;
    assert_eq!(radvd_calls(r.system().take_calls()), vec![format!("radvd-hup {pid}")]);
}
