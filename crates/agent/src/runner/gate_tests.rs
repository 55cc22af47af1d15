//! The L2 pass with a firewall, on the fakes: a port is wired only after its filter is in
//! the (fake) kernel, and a failed nftables transaction leaves new ports unwired.

use std::sync::{Arc, Mutex};

use neutrino_agent_api::{HostState, PortSecurity, SecurityGroupState, SecurityRule, WiredStatus};

use crate::firewall::fake::FakeNft;
use crate::firewall::{Firewall, FirewallConfig, NftError, NftRunner};
use crate::l2::dataplane::Op;
use crate::l2::fake::FakeDataplane;
use crate::l2::reconcile::{ReconcileReport, Reconciler, WiringHeld};
use crate::l2::testdata::*;
use crate::report::{Object, SubsystemKind};
use crate::subsystem::{run_pass, PassError, Subsystem};

/// The L2 part of a pass as the runner runs it: the firewall (when there is one), then L2.
async fn filter_then_wire(
    firewall: &mut Option<Firewall>,
    reconciler: &mut Reconciler<FakeDataplane>,
    state: &HostState,
) -> Result<ReconcileReport, PassError> {
    let mut subsystems: Vec<Box<dyn Subsystem + '_>> = Vec::new();
    if let Some(fw) = firewall.as_mut() {
        subsystems.push(Box::new(fw));
    }
    subsystems.push(Box::new(reconciler));
    let mut pass = run_pass(&mut subsystems, state).await;
    if let Some(e) = pass.error.take() {
        return Err(e);
    }
    let wiring = pass.wiring.take().unwrap();
    let report = pass.reports.into_iter().find(|r| r.subsystem == SubsystemKind::L2).unwrap();
    Ok(ReconcileReport { port_status: wiring.port_status, report, held: wiring.held })
}

const BRQ_A: &str = "brq0c1b2a39-8e";
const TAP_1: &str = "tapa1b2c3d4-e5";
const TAP_2: &str = "tapb2c3d4e5-f6";
const GROUP: &str = "11111111-1111-4111-8111-111111111111";

/// Each watched tap and the bridge it was in.
type Masters = Vec<(String, Option<String>)>;

/// The fake nftables, noting at each successful transaction which bridge each of the
/// watched taps was in at that moment.
struct Watching {
    nft: Arc<FakeNft>,
    dp: FakeDataplane,
    taps: Vec<&'static str>,
    /// Per successful apply: (tap, its master then).
    seen: Mutex<Vec<Masters>>,
}

impl NftRunner for Watching {
    fn list_table(&self, family: &str, name: &str) -> Result<Option<serde_json::Value>, NftError> {
        self.nft.list_table(family, name)
    }

    fn apply_script(&self, script: &str) -> Result<(), NftError> {
        self.nft.apply_script(script)
    }

    fn apply(&self, document: &str) -> Result<(), NftError> {
        self.nft.apply(document)?;
        let masters = self.taps.iter().map(|t| ((*t).to_owned(), self.dp.link(t).and_then(|l| l.master))).collect();
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).push(masters);
        Ok(())
    }
}

fn security(port_id: &str, mac: &str, ip: &str) -> PortSecurity {
    PortSecurity {
        port_id: port_id.into(),
        mac_address: mac.into(),
        ip_addresses: vec![ip.parse().unwrap()],
        allowed_address_pairs: vec![],
        port_security_enabled: true,
        security_group_ids: vec![GROUP.into()],
    }
}

fn group() -> SecurityGroupState {
    let rule = |id: &str, direction: &str| SecurityRule {
        id: id.into(),
        direction: direction.into(),
        ethertype: "IPv4".into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: None,
        remote_address_group_id: None,
    };
    SecurityGroupState { id: GROUP.into(), stateful: true, rules: vec![rule("r1", "egress"), rule("r2", "ingress")] }
}

/// PORT_1 (and PORT_2 when `both`) on one VXLAN network, filtered by one group.
fn state(both: bool) -> HostState {
    let mut s = one_vxlan_port();
    s.port_security.push(security(PORT_1, "fa:16:3e:00:00:01", "10.0.0.4"));
    if both {
        let mut p2 = port(PORT_2, NET_A);
        p2.mac_address = "fa:16:3e:00:00:22".into();
        p2.ip_addresses = vec![ip("10.0.0.22")];
        s.ports.push(p2);
        s.port_security.push(security(PORT_2, "fa:16:3e:00:00:22", "10.0.0.22"));
    }
    s.security_groups.push(group());
    s.revision += u64::from(both);
    s
}

fn setup() -> (FakeDataplane, Arc<FakeNft>, Arc<Watching>, Option<Firewall>, Reconciler<FakeDataplane>) {
    let dp = FakeDataplane::new();
    let nft = Arc::new(FakeNft::new());
    let watching =
        Arc::new(Watching { nft: Arc::clone(&nft), dp: dp.clone(), taps: vec![TAP_1, TAP_2], seen: Mutex::default() });
    let cfg = FirewallConfig {
        nft_path: "/nonexistent/nft".into(),
        bridge_sysctl_dir: "/nonexistent/bridge".into(),
        verify_interval: std::time::Duration::from_secs(300),
        hybrid_plug: false,
    };
    let firewall = Some(Firewall::with_runner(cfg, Arc::clone(&watching) as Arc<dyn NftRunner>));
    (dp.clone(), nft, watching, firewall, Reconciler::new(dp, config()))
}

#[tokio::test]
async fn a_port_joins_its_bridge_only_after_its_filter_is_applied() {
    let (dp, nft, watching, mut fw, mut r) = setup();
    dp.plug_tap(TAP_1);
    let report = filter_then_wire(&mut fw, &mut r, &state(false)).await.unwrap();

    assert_eq!(report.port_status[PORT_1], WiredStatus::Active, "{report:?}");
    assert!(report.held.is_empty(), "{:?}", report.held);
    assert_eq!(nft.applies(), 1);
    // When the ruleset naming the tap went in, the tap was in no bridge yet.
    let seen = watching.seen.lock().unwrap().clone();
    assert_eq!(seen, vec![vec![(TAP_1.to_owned(), None), (TAP_2.to_owned(), None)]]);
    assert!(nft.last_document().unwrap().contains(r#"["tapa1b2c3d4-e5",{"jump":{"target":"from-p"#));
    assert_eq!(dp.link(TAP_1).unwrap().master.as_deref(), Some(BRQ_A));
}

#[tokio::test]
async fn a_failed_apply_leaves_new_ports_unwired_and_wired_ones_as_they_were() {
    let (dp, nft, _watching, mut fw, mut r) = setup();
    dp.plug_tap(TAP_1);
    filter_then_wire(&mut fw, &mut r, &state(false)).await.unwrap();
    let good = nft.last_document().unwrap();
    dp.take_calls();

    // nft now refuses every transaction; a second VM boots.
    nft.fail_apply(Some("Error: Could not process rule: No buffer space available"));
    dp.plug_tap(TAP_2);
    let report = filter_then_wire(&mut fw, &mut r, &state(true)).await.unwrap();
    assert_eq!(report.port_status[PORT_2], WiredStatus::Down, "{report:?}");
    assert_eq!(report.port_status[PORT_1], WiredStatus::Active, "{report:?}");
    assert_eq!(report.held.len(), 1, "{:?}", report.held);
    let WiringHeld::FilterNotConfirmed { port_id, tap, bridge, reason } = &report.held[0];
    assert_eq!((port_id.as_str(), tap.as_str(), bridge.as_str()), (PORT_2, TAP_2, BRQ_A));
    assert!(reason.contains("No buffer space available"), "{reason}");
    assert!(
        report
            .report
            .issues
            .iter()
            .any(|i| i.object == Object::Port(PORT_2.into()) && i.reason.contains("not in the kernel")),
        "{:?}",
        report.report.issues
    );
    assert_eq!(dp.link(TAP_2).unwrap().master, None, "the new tap stays out of the bridge");
    let calls = dp.take_calls();
    assert!(!calls.iter().any(|(op, d)| *op == Op::SetMaster && d == TAP_2), "{calls:?}");
    assert!(!calls.iter().any(|(op, d)| *op == Op::SetNomaster && d == TAP_1), "{calls:?}");
    // The kernel keeps the last good ruleset (atomic transactions).
    assert_eq!(nft.last_document().unwrap(), good);

    // Still failing: still held, and retried every pass.
    let again = filter_then_wire(&mut fw, &mut r, &state(true)).await.unwrap();
    assert_eq!(again.port_status[PORT_2], WiredStatus::Down);

    // nft works again: the filter goes in, then the port is wired.
    nft.fail_apply(None);
    let healed = filter_then_wire(&mut fw, &mut r, &state(true)).await.unwrap();
    assert_eq!(healed.port_status[PORT_2], WiredStatus::Active, "{healed:?}");
    assert!(healed.held.is_empty());
    assert!(nft.last_document().unwrap().contains(r#"["tapb2c3d4e5-f6",{"jump":{"target":"from-p"#));
    assert_eq!(dp.link(TAP_2).unwrap().master.as_deref(), Some(BRQ_A));
}

#[tokio::test]
async fn a_restarted_agent_with_nft_failing_wires_nothing_new_and_unwires_nothing() {
    let (dp, nft, watching, mut fw, mut r) = setup();
    dp.plug_tap(TAP_1);
    filter_then_wire(&mut fw, &mut r, &state(false)).await.unwrap();
    dp.take_calls();

    // The agent restarts (nothing in memory), nft fails, and the state has a new port.
    nft.fail_apply(Some("Error: simulated"));
    dp.plug_tap(TAP_2);
    let cfg = FirewallConfig {
        nft_path: "/nonexistent/nft".into(),
        bridge_sysctl_dir: "/nonexistent/bridge".into(),
        verify_interval: std::time::Duration::from_secs(300),
        hybrid_plug: false,
    };
    let mut fw = Some(Firewall::with_runner(cfg, Arc::clone(&watching) as Arc<dyn NftRunner>));
    let mut r = Reconciler::new(dp.clone(), config());
    let report = filter_then_wire(&mut fw, &mut r, &state(true)).await.unwrap();
    assert_eq!(report.port_status[PORT_2], WiredStatus::Down);
    assert_eq!(report.port_status[PORT_1], WiredStatus::Active, "the wired port keeps its kernel filter");
    assert!(report
        .held
        .iter()
        .all(|h| matches!(h, WiringHeld::FilterNotConfirmed { port_id, .. } if port_id == PORT_2)));
    let calls = dp.take_calls();
    assert!(!calls.iter().any(|(op, d)| matches!(op, Op::SetMaster | Op::SetNomaster) && (d == TAP_1 || d == TAP_2)));
}

#[tokio::test]
async fn ports_without_port_security_are_known_and_wired() {
    let (dp, _nft, _watching, mut fw, mut r) = setup();
    dp.plug_tap(TAP_1);
    let mut s = state(false);
    s.port_security[0].port_security_enabled = false;
    let report = filter_then_wire(&mut fw, &mut r, &s).await.unwrap();
    assert_eq!(report.port_status[PORT_1], WiredStatus::Active, "{report:?}");
    // A port the server did not send filtering for at all is not known: never wired.
    let mut unknown = state(false);
    unknown.port_security.clear();
    unknown.revision += 5;
    let mut r2 = Reconciler::new(FakeDataplane::new(), config());
    r2.dataplane().plug_tap(TAP_1);
    let report = filter_then_wire(&mut fw, &mut r2, &unknown).await.unwrap();
    assert_eq!(report.port_status[PORT_1], WiredStatus::Down, "{report:?}");
}

#[tokio::test]
async fn without_a_firewall_every_plugged_port_is_wired() {
    let dp = FakeDataplane::new();
    dp.plug_tap(TAP_1);
    let mut r = Reconciler::new(dp.clone(), config());
    let report = filter_then_wire(&mut None, &mut r, &state(false)).await.unwrap();
    assert_eq!(report.port_status[PORT_1], WiredStatus::Active);
}

#[tokio::test]
async fn l2_run_before_the_firewall_wires_nothing_new() {
    let (dp, _nft, _watching, fw, mut r) = setup();
    let mut fw = fw.unwrap();
    dp.plug_tap(TAP_1);
    // The wrong order: the gate the pass starts with confirms nothing (fail closed).
    let mut subsystems: Vec<Box<dyn Subsystem + '_>> = vec![Box::new(&mut r), Box::new(&mut fw)];
    let pass = run_pass(&mut subsystems, &state(false)).await;
    let wiring = pass.wiring.unwrap();
    assert_eq!(wiring.port_status[PORT_1], WiredStatus::Down, "{wiring:?}");
    assert_eq!(wiring.held.len(), 1, "{wiring:?}");
    assert_eq!(dp.link(TAP_1).unwrap().master, None);
}

/// A pass times each subsystem in the order they ran and carries the ruleset write's time.
#[tokio::test]
async fn a_pass_carries_what_metrics_count() {
    let (dp, _nft, _watching, mut fw, mut r) = setup();
    dp.plug_tap(TAP_1);
    let mut subsystems: Vec<Box<dyn Subsystem + '_>> = Vec::new();
    if let Some(fw) = fw.as_mut() {
        subsystems.push(Box::new(fw));
    }
    subsystems.push(Box::new(&mut r));
    let pass = run_pass(&mut subsystems, &state(false)).await;
    let kinds: Vec<SubsystemKind> = pass.durations.iter().map(|(k, _)| *k).collect();
    assert_eq!(kinds, [SubsystemKind::Firewall, SubsystemKind::L2]);
    assert!(pass.nft_apply.is_some(), "the ruleset was written");
    let again = run_pass(&mut subsystems, &state(false)).await;
    assert_eq!(again.nft_apply, None, "nothing written the second time");
}
