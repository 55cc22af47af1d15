use neutrino_agent_api::WiredStatus;

use super::*;
use crate::l2::dataplane::{FdbEntry, MacAddr, Op, VxlanInfo};
use crate::l2::fake::FakeDataplane;
use crate::l2::testdata::*;

const BRQ_A: &str = "brq0c1b2a39-8e";
const BRQ_B: &str = "brq5f3e2d1c-0b";
const TAP_1: &str = "tapa1b2c3d4-e5";
const TAP_2: &str = "tapb2c3d4e5-f6";

fn reconciler() -> (FakeDataplane, Reconciler<FakeDataplane>) {
    let fake = FakeDataplane::new();
    (fake.clone(), Reconciler::new(fake, config()))
}

async fn run(r: &mut Reconciler<FakeDataplane>, state: &HostState) -> ReconcileReport {
    r.reconcile(state).await.expect("reconcile")
}

fn flood(dst: &str) -> FdbEntry {
    FdbEntry { mac: MacAddr::ZERO, dst: ip(dst) }
}

fn position(calls: &[(Op, String)], op: Op, dev: &str) -> usize {
    calls.iter().position(|(o, d)| *o == op && d == dev).unwrap_or_else(|| panic!("no {op} {dev} in {calls:?}"))
}

#[tokio::test]
async fn wires_a_vxlan_network_and_its_plugged_tap() {
    let (fake, mut r) = reconciler();
    fake.plug_tap(TAP_1);
    let report = run(&mut r, &one_vxlan_port()).await;

    assert_eq!(report.port_status[PORT_1], WiredStatus::Active);
    assert!(report.report.issues.is_empty(), "{:?}", report.report.issues);
    assert_eq!(report.report.applied[0], format!("create bridge {BRQ_A} mtu 1450"));
    let bridge = fake.link(BRQ_A).expect("bridge");
    assert!(bridge.up && bridge.mtu == 1450);
    let vx = fake.link("vxlan-100").expect("vxlan");
    assert_eq!(vx.master.as_deref(), Some(BRQ_A));
    assert_eq!(
        vx.vxlan,
        Some(VxlanInfo { vni: 100, local: Some(ip(LOCAL)), dstport: 4789, learning: false, group: None })
    );
    assert_eq!(fake.fdb_of("vxlan-100").len(), 3);
    assert!(fake.fdb_of("vxlan-100").contains(&flood(REMOTE_2)));
    let tap = fake.link(TAP_1).expect("tap");
    assert_eq!((tap.master.as_deref(), tap.mtu, tap.up), (Some(BRQ_A), 1450, true));

    // Safe order: the bridge exists before anything joins it; MTU before enslaving.
    let calls = fake.calls();
    let bridge_at = position(&calls, Op::CreateBridge, BRQ_A);
    assert!(bridge_at < position(&calls, Op::SetMaster, "vxlan-100"));
    assert!(position(&calls, Op::SetMtu, TAP_1) < position(&calls, Op::SetMaster, TAP_1));
}

#[tokio::test]
async fn second_run_and_restart_apply_nothing() {
    let (fake, mut r) = reconciler();
    fake.plug_tap(TAP_1);
    let state = one_vxlan_port();
    run(&mut r, &state).await;
    fake.take_calls();

    let again = run(&mut r, &state).await;
    assert!(again.report.applied.is_empty(), "{:?}", again.report.applied);
    assert_eq!(again.port_status[PORT_1], WiredStatus::Active);

    let mut restarted = Reconciler::new(fake.clone(), config());
    let report = run(&mut restarted, &state).await;
    assert!(report.report.applied.is_empty(), "{:?}", report.report.applied);
    assert!(fake.calls().is_empty(), "no change at all: {:?}", fake.calls());
}

#[tokio::test]
async fn tap_plugged_later_turns_the_port_active() {
    let (fake, mut r) = reconciler();
    let state = one_vxlan_port();
    let first = run(&mut r, &state).await;
    assert_eq!(first.port_status[PORT_1], WiredStatus::Down);

    fake.plug_tap(TAP_1);
    let second = run(&mut r, &state).await;
    assert_eq!(second.port_status[PORT_1], WiredStatus::Active);
    // The host's IPv6 goes first: no link-local address for VMs to reach, and no route walk
    // per later change.
    assert_eq!(
        second.report.applied,
        vec![
            format!("disable ipv6 on {TAP_1}"),
            format!("set {TAP_1} mtu 1450"),
            format!("set {TAP_1} master {BRQ_A}")
        ]
    );
    assert_eq!(fake.link(TAP_1).map(|l| l.ipv6), Some(false));
    assert!(run(&mut r, &state).await.report.applied.is_empty());
}

#[tokio::test]
async fn admin_down_port_is_enslaved_but_down() {
    let (fake, mut r) = reconciler();
    fake.plug_tap(TAP_1);
    let mut state = one_vxlan_port();
    state.ports[0].admin_state_up = false;
    let report = run(&mut r, &state).await;
    assert_eq!(report.port_status[PORT_1], WiredStatus::Down);
    let tap = fake.link(TAP_1).expect("tap");
    assert!(!tap.up && tap.master.as_deref() == Some(BRQ_A));

    state.ports[0].admin_state_up = true;
    let report = run(&mut r, &state).await;
    assert_eq!(report.report.applied, vec![format!("set {TAP_1} up")]);
    assert_eq!(report.port_status[PORT_1], WiredStatus::Active);
}

#[tokio::test]
async fn hand_deleted_devices_are_recreated() {
    let (fake, mut r) = reconciler();
    fake.plug_tap(TAP_1);
    let state = one_vxlan_port();
    run(&mut r, &state).await;

    fake.remove_link("vxlan-100");
    let report = run(&mut r, &state).await;
    assert!(
        report.report.applied[0].starts_with("create vxlan vxlan-100 id 100 local 198.18.0.1 dstport 4789 nolearning")
    );
    assert_eq!(fake.fdb_of("vxlan-100").len(), 3);
    assert_eq!(fake.link("vxlan-100").and_then(|l| l.master), Some(BRQ_A.to_owned()));

    fake.remove_link(BRQ_A); // the kernel frees its ports
    let report = run(&mut r, &state).await;
    assert_eq!(report.port_status[PORT_1], WiredStatus::Active);
    assert_eq!(
        report.report.applied,
        vec![
            format!("create bridge {BRQ_A} mtu 1450"),
            format!("disable ipv6 on {BRQ_A}"),
            format!("set vxlan-100 master {BRQ_A}"),
            format!("set {TAP_1} master {BRQ_A}"),
        ]
    );
}

#[tokio::test]
async fn fdb_follows_the_remotes_adding_before_removing() {
    let (fake, mut r) = reconciler();
    let mut state = one_vxlan_port();
    run(&mut r, &state).await;
    let stale = FdbEntry { mac: "fa:16:3e:99:99:99".parse().expect("mac"), dst: ip("198.18.0.9") };
    fake.insert_fdb("vxlan-100", stale);
    state.networks[0].remote_endpoints = vec![ip(REMOTE_1), ip("198.18.0.4")];
    fake.take_calls();

    let report = run(&mut r, &state).await;
    assert_eq!(
        report.report.applied,
        vec![
            "fdb append 00:00:00:00:00:00 dev vxlan-100 dst 198.18.0.4",
            "fdb del 00:00:00:00:00:00 dev vxlan-100 dst 198.18.0.3",
            "fdb del fa:16:3e:99:99:99 dev vxlan-100 dst 198.18.0.9",
        ]
    );
    assert!(!fake.fdb_of("vxlan-100").contains(&stale));
    assert!(!fake.fdb_of("vxlan-100").contains(&flood(REMOTE_2)));
}

#[tokio::test]
async fn a_remote_port_that_moved_host_is_repointed_not_lost() {
    let (fake, mut r) = reconciler();
    let mut state = one_vxlan_port();
    run(&mut r, &state).await;
    let moved = state.networks[0].remote_ports[0].clone();
    let old = FdbEntry { mac: moved.mac_address.parse().expect("mac"), dst: moved.endpoint };
    assert!(fake.fdb_of("vxlan-100").contains(&old));
    state.networks[0].remote_ports[0].endpoint = ip(REMOTE_2);
    fake.take_calls();

    let report = run(&mut r, &state).await;
    let new = FdbEntry { dst: ip(REMOTE_2), ..old };
    assert_eq!(
        report.report.applied,
        vec![
            format!("fdb del {} dev vxlan-100 dst {}", old.mac, old.dst),
            format!("fdb append {} dev vxlan-100 dst {}", new.mac, new.dst),
        ]
    );
    let fdb = fake.fdb_of("vxlan-100");
    assert!(fdb.contains(&new) && !fdb.contains(&old), "{fdb:?}");
}

#[tokio::test]
async fn wrong_vxlan_attributes_mean_delete_and_create() {
    let (fake, mut r) = reconciler();
    let state = one_vxlan_port();
    run(&mut r, &state).await;
    fake.edit_link("vxlan-100", |l| {
        if let Some(info) = l.vxlan.as_mut() {
            info.learning = true;
        }
    });
    let report = run(&mut r, &state).await;
    assert!(report.report.applied[0].starts_with("delete vxlan vxlan-100"), "{:?}", report.report.applied);
    assert!(report.report.applied[1].starts_with("create vxlan vxlan-100"));
    assert_eq!(fake.link("vxlan-100").and_then(|l| l.vxlan).map(|v| v.learning), Some(false));

    fake.edit_link(BRQ_A, |l| l.mtu = 1500);
    let report = run(&mut r, &state).await;
    assert_eq!(report.report.applied, vec![format!("set {BRQ_A} mtu 1450")], "MTU is changed in place");
}

#[tokio::test]
async fn removed_port_releases_its_tap_and_the_empty_network_goes() {
    let (fake, mut r) = reconciler();
    fake.plug_tap(TAP_1);
    run(&mut r, &one_vxlan_port()).await;
    fake.take_calls();

    let report = run(&mut r, &host(vec![], vec![])).await;
    assert!(report.port_status.is_empty());
    let tap = fake.link(TAP_1).expect("taps are never deleted");
    assert_eq!(tap.master, None);
    assert!(fake.link("vxlan-100").is_none() && fake.link(BRQ_A).is_none());
    let calls = fake.calls();
    assert_eq!(
        calls,
        vec![
            (Op::SetNomaster, TAP_1.to_owned()),
            (Op::DeleteLink, "vxlan-100".to_owned()),
            (Op::DeleteLink, BRQ_A.to_owned()),
        ]
    );
}

#[tokio::test]
async fn port_moving_to_another_network_moves_its_tap() {
    let (fake, mut r) = reconciler();
    fake.plug_tap(TAP_1);
    fake.add_nic("eth1");
    run(&mut r, &one_vxlan_port()).await;

    let state = host(vec![flat_net(NET_B)], vec![port(PORT_1, NET_B)]);
    let report = run(&mut r, &state).await;
    assert_eq!(report.port_status[PORT_1], WiredStatus::Active);
    assert_eq!(fake.link(TAP_1).and_then(|l| l.master), Some(BRQ_B.to_owned()));
    assert_eq!(fake.link("eth1").and_then(|l| l.master), Some(BRQ_B.to_owned()));
    assert!(fake.link(BRQ_A).is_none() && fake.link("vxlan-100").is_none());

    // The flat network leaves: the NIC is released, never deleted.
    run(&mut r, &host(vec![], vec![])).await;
    assert_eq!(fake.link("eth1").map(|l| l.master), Some(None));
}

#[tokio::test]
async fn foreign_devices_are_left_alone() {
    let (fake, mut r) = reconciler();
    fake.add_nic("eth0");
    fake.add_nic("eth1");
    fake.add_link(Link { kind: LinkKind::Bridge, ..fake_link("br-ex") });
    fake.edit_link("eth1", |l| l.master = Some("br-ex".to_owned()));
    fake.add_link(Link { kind: LinkKind::Veth, master: Some("br-ex".to_owned()), ..fake_link("veth-ops") });
    fake.add_link(Link { kind: LinkKind::Bridge, ..fake_link("docker0") });
    fake.plug_tap("tapdeadbeef-00"); // a VM port of another agent's network, in no bridge
    let before = fake.link_names();

    let state = host(vec![flat_net(NET_B), vxlan_net(NET_A, 100)], vec![port(PORT_2, NET_B)]);
    let report = run(&mut r, &state).await;
    assert!(report.report.issues.iter().any(|i| i.reason.contains("br-ex")), "{:?}", report.report.issues);
    assert_eq!(fake.link("eth1").and_then(|l| l.master), Some("br-ex".to_owned()));

    run(&mut r, &host(vec![], vec![])).await;
    assert_eq!(fake.link_names(), before, "only our devices came and went");
    assert_eq!(fake.link("veth-ops").and_then(|l| l.master), Some("br-ex".to_owned()));
}

fn fake_link(name: &str) -> Link {
    Link {
        name: name.to_owned(),
        kind: LinkKind::Other(String::new()),
        master: None,
        mtu: 1500,
        up: true,
        carrier: true,
        vxlan: None,
        vlan: None,
        ipv6: true,
    }
}

#[tokio::test]
async fn unwireable_network_reports_and_releases() {
    let (fake, mut r) = reconciler();
    fake.plug_tap(TAP_1);
    run(&mut r, &one_vxlan_port()).await;

    let mut cfg = config();
    cfg.local_ip = None;
    let mut r = Reconciler::new(fake.clone(), cfg);
    let report = run(&mut r, &one_vxlan_port()).await;
    assert_eq!(report.port_status[PORT_1], WiredStatus::Down);
    let reasons: Vec<&str> = report.report.issues.iter().map(|i| i.reason.as_str()).collect();
    assert_eq!(reasons, vec![format!("network {NET_A}: vxlan segment but no local_ip configured")]);
    assert_eq!(report.report.issues[0].object, Object::Network(NET_A.into()));
    assert_eq!(fake.link(TAP_1).and_then(|l| l.master), None);
    assert!(fake.link(BRQ_A).is_none());
}

#[tokio::test]
async fn a_failed_change_is_an_issue_and_heals_on_the_next_run() {
    let (fake, mut r) = reconciler();
    fake.plug_tap(TAP_1);
    fake.fail(Op::SetMaster, TAP_1);
    let report = run(&mut r, &one_vxlan_port()).await;
    assert_eq!(report.port_status[PORT_1], WiredStatus::Down);
    assert_eq!(report.report.issues.len(), 1, "{:?}", report.report.issues);
    assert!(report.report.issues[0]
        .reason
        .starts_with(&format!("set {TAP_1} master {BRQ_A}: ip link set master {TAP_1} failed")));
    assert_eq!(report.report.issues[0].object, Object::Device(TAP_1.into()));
    assert!(fake.link("vxlan-100").is_some(), "the rest was applied");

    fake.clear_failures();
    let report = run(&mut r, &one_vxlan_port()).await;
    assert_eq!(report.report.applied, vec![format!("set {TAP_1} master {BRQ_A}")]);
    assert_eq!(report.port_status[PORT_1], WiredStatus::Active);
}

#[tokio::test]
async fn failed_bridge_leaves_members_alone() {
    let (fake, mut r) = reconciler();
    fake.plug_tap(TAP_1);
    fake.fail(Op::CreateBridge, BRQ_A);
    let report = run(&mut r, &one_vxlan_port()).await;
    assert_eq!(report.port_status[PORT_1], WiredStatus::Down);
    let calls = fake.calls();
    assert!(!calls.iter().any(|(op, _)| *op == Op::SetMaster), "{calls:?}");
}

#[tokio::test]
async fn unreadable_host_is_an_error() {
    let (fake, mut r) = reconciler();
    fake.fail(Op::ListLinks, "");
    let err = r.reconcile(&one_vxlan_port()).await.expect_err("cannot observe");
    assert_eq!(
        error_chain(&err),
        "cannot read the host's network devices: ip link show failed: Input/output error (os error 5)"
    );
}

#[tokio::test]
async fn vlan_network_uses_a_subinterface_and_cleans_it_up() {
    let (fake, mut r) = reconciler();
    fake.add_nic("eth1");
    fake.plug_tap(TAP_2);
    let state = host(vec![vlan_net(NET_B, 42)], vec![port(PORT_2, NET_B)]);
    let report = run(&mut r, &state).await;
    assert_eq!(report.port_status[PORT_2], WiredStatus::Active);
    assert!(report.report.applied.contains(&"create vlan eth1.42 link eth1 id 42 mtu 1500".to_owned()));
    assert_eq!(fake.link("eth1.42").and_then(|l| l.master), Some(BRQ_B.to_owned()));
    assert!(run(&mut r, &state).await.report.applied.is_empty());

    run(&mut r, &host(vec![], vec![])).await;
    assert!(fake.link("eth1.42").is_none() && fake.link(BRQ_B).is_none());
    assert!(fake.link("eth1").is_some());
}

#[tokio::test]
async fn kernel_without_8021q_reports_the_vlan_network() {
    let (fake, mut r) = reconciler();
    fake.add_nic("eth1");
    fake.without_vlan_support();
    let state = host(vec![vlan_net(NET_B, 42)], vec![port(PORT_2, NET_B)]);
    let report = run(&mut r, &state).await;
    assert!(
        report.report.issues.iter().any(|i| i.reason.contains("not supported by this kernel")),
        "{:?}",
        report.report.issues
    );
    assert_eq!(report.port_status[PORT_2], WiredStatus::Down);
}

/// The runner spawns reconciles: they must be `Send` for any dataplane.
#[allow(dead_code)]
fn reconcile_is_send<D: Dataplane + 'static>(r: &'static mut Reconciler<D>, state: &'static HostState) {
    fn assert_send<T: Send>(_: T) {}
    assert_send(r.reconcile(state));
}

#[tokio::test]
async fn a_gate_holds_unconfirmed_taps_out_of_their_bridge_and_leaves_wired_ones() {
    let (fake, mut r) = reconciler();
    fake.plug_tap(TAP_1);
    let one = one_vxlan_port();
    let confirmed = FilterGate { confirmed: [PORT_1.to_owned()].into(), failure: None };
    assert_eq!(r.reconcile_gated(&one, Some(&confirmed)).await.unwrap().port_status[PORT_1], WiredStatus::Active);

    // A second port's filter did not make it into the kernel; the gate no longer lists the
    // first one either (a restarted agent whose nft fails knows nothing).
    let mut two = one_vxlan_port();
    two.ports.push(port(PORT_2, NET_A));
    fake.plug_tap(TAP_2);
    fake.take_calls();
    let failed = FilterGate { confirmed: Default::default(), failure: Some("nft: Error: simulated".into()) };
    let report = r.reconcile_gated(&two, Some(&failed)).await.unwrap();
    assert_eq!(report.port_status[PORT_2], WiredStatus::Down);
    assert_eq!(report.port_status[PORT_1], WiredStatus::Active, "a wired tap keeps its kernel filter");
    assert_eq!(
        report.held,
        vec![WiringHeld::FilterNotConfirmed {
            port_id: PORT_2.into(),
            tap: TAP_2.into(),
            bridge: BRQ_A.into(),
            reason: "the nftables transaction failed: nft: Error: simulated".into(),
        }]
    );
    assert!(
        report
            .report
            .issues
            .iter()
            .any(|i| i.reason == report.held[0].to_string() && i.object == report.held[0].object()),
        "{:?}",
        report.report.issues
    );
    assert_eq!(fake.link(TAP_2).unwrap().master, None);
    assert!(fake.take_calls().iter().all(|(_, dev)| dev != TAP_1 && dev != TAP_2), "neither tap touched");

    // Confirmed: wired (MTU first, then into the bridge).
    let both = FilterGate { confirmed: [PORT_1.to_owned(), PORT_2.to_owned()].into(), failure: None };
    let report = r.reconcile_gated(&two, Some(&both)).await.unwrap();
    assert_eq!(report.port_status[PORT_2], WiredStatus::Active);
    let calls = fake.calls();
    assert!(position(&calls, Op::SetMtu, TAP_2) < position(&calls, Op::SetMaster, TAP_2));
}

#[tokio::test]
async fn a_quiet_kernel_and_an_unchanged_plan_skip_the_kernel_read_until_the_next_full_pass() {
    let (fake, mut r) = reconciler();
    fake.plug_tap(TAP_1);
    let state = one_vxlan_port();
    let first = r.reconcile_unless_unchanged(&state, None, true).await.expect("first");
    assert!(!first.report.applied.is_empty(), "no earlier pass to trust: the first one reads and wires");
    let clean = r.reconcile_unless_unchanged(&state, None, false).await.expect("clean");
    assert!(clean.report.applied.is_empty());

    // The tap goes without the agent hearing of it: a quiet pass with the same plan trusts
    // the last clean one (this is the skip), a full pass finds the truth.
    fake.remove_link(TAP_1);
    let trusted = r.reconcile_unless_unchanged(&state, None, true).await.expect("quiet");
    assert_eq!(trusted, clean);
    let full = r.reconcile_unless_unchanged(&state, None, false).await.expect("full");
    assert_eq!(full.port_status[PORT_1], WiredStatus::Down);

    // A plan that changed is never skipped, kernel quiet or not.
    fake.plug_tap(TAP_1);
    r.reconcile_unless_unchanged(&state, None, false).await.expect("rewired");
    let mut moved = state.clone();
    moved.networks[0].mtu = 1400;
    let changed = r.reconcile_unless_unchanged(&moved, None, true).await.expect("changed");
    assert!(changed.report.applied.contains(&format!("set {BRQ_A} mtu 1400")), "{:?}", changed.report.applied);

    // Nor is a pass whose gate changed (the firewall confirmed or dropped ports).
    r.reconcile_unless_unchanged(&moved, None, false).await.expect("clean again");
    fake.remove_link(TAP_1);
    let gate = FilterGate::default();
    let gated = r.reconcile_unless_unchanged(&moved, Some(&gate), true).await.expect("gated");
    assert_eq!(gated.port_status[PORT_1], WiredStatus::Down, "a new gate means a real read");
}
