use super::*;
use crate::l2::testdata::*;
use crate::ovs::fake::FakeSwitch;
use crate::ovs::service::HostDevices;
use crate::ovs::vlans::DEAD_VLAN;
use std::collections::BTreeSet;

fn cfg() -> OvsConfig {
    OvsConfig {
        bridge_mappings: [("physnet1".to_string(), "br-eth1".to_string())].into(),
        datapath_type: "netdev".into(),
        ..OvsConfig::default()
    }
}

/// A switch with the operator's br-eth1, and the agent over it.
fn agent() -> OvsReconciler<FakeSwitch> {
    let sw = FakeSwitch::default();
    sw.add_bridge("br-eth1");
    OvsReconciler::new(sw, cfg(), Some(ip(LOCAL)))
}

/// Nova's hybrid plug as br-int sees it: `qvo<id>` with the port's id.
fn plug(agent: &OvsReconciler<FakeSwitch>, port_id: &str) -> String {
    let name = format!("qvo{}", &port_id[..11]);
    agent.switch().plug("br-int", &name, &[("iface-id", port_id), ("attached-mac", "fa:16:3e:00:00:01")]);
    name
}

fn lines(agent: &OvsReconciler<FakeSwitch>, bridge: &str) -> Vec<String> {
    agent.switch().flows(bridge).iter().map(ToString::to_string).collect()
}

fn has(lines: &[String], want: &str) -> bool {
    lines.iter().any(|l| l == want)
}

#[tokio::test]
async fn builds_neutrons_bridges_and_vxlan_tables() {
    let mut a = agent();
    let state = one_vxlan_port();
    let r = a.reconcile_gated(&state, None).await.unwrap();
    assert!(r.report.issues.is_empty(), "{:?}", r.report.issues);
    assert_eq!(r.port_status[PORT_1], WiredStatus::Down, "not plugged yet");
    let sw = a.switch().state();
    assert_eq!(sw.bridges["br-int"].datapath_type, "netdev");
    for (bridge, port) in
        [("br-int", "patch-tun"), ("br-tun", "patch-int"), ("br-int", "int-br-eth1"), ("br-eth1", "phy-br-eth1")]
    {
        assert!(sw.has_port(bridge, port), "{bridge} {port}");
    }
    assert!(sw.has_port("br-tun", "vxlan-c6120002") && sw.has_port("br-tun", "vxlan-c6120003"));

    let qvo = plug(&a, PORT_1);
    let r = a.reconcile_gated(&state, None).await.unwrap();
    assert_eq!(r.port_status[PORT_1], WiredStatus::Active);
    let port = &a.switch().state().bridges["br-int"].ports[&qvo];
    assert_eq!(port.tag, Some(1));
    assert_eq!(port.other_config["net_uuid"], NET_A);
    assert_eq!(
        (port.other_config["network_type"].as_str(), port.other_config["segmentation_id"].as_str()),
        ("vxlan", "100")
    );
    let tun = lines(&a, "br-tun");
    for want in [
        "table=0,priority=1,in_port=\"patch-int\" actions=resubmit(,2)",
        "table=0,priority=1,in_port=\"vxlan-c6120002\" actions=resubmit(,4)",
        "table=4,priority=1,tun_id=0x64 actions=mod_vlan_vid:1,resubmit(,10)",
        "table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:02 actions=strip_vlan,set_field:0x64->tun_id,output:\"vxlan-c6120002\"",
        "table=22,priority=1,dl_vlan=1 actions=strip_vlan,set_field:0x64->tun_id,output:\"vxlan-c6120002\",output:\"vxlan-c6120003\"",
        "table=22,priority=0 actions=drop",
    ] {
        assert!(has(&tun, want), "{want} not in {tun:#?}");
    }
    let int = lines(&a, "br-int");
    assert!(has(&int, "table=0,priority=2,in_port=\"int-br-eth1\" actions=drop"), "{int:#?}");
    assert!(has(&int, "table=60,priority=3 actions=NORMAL"));
    assert!(has(&int, &format!("table=0,priority=1,in_port=\"{qvo}\" actions=resubmit(,60)")), "{int:#?}");
    assert!(has(&int, "table=0,priority=1,in_port=\"patch-tun\" actions=resubmit(,60)"));
    assert!(has(&int, "table=0,priority=0 actions=drop"), "an untagged port (a trunk on NORMAL) reaches nothing");

    a.switch().take_log();
    let again = a.reconcile_gated(&state, None).await.unwrap();
    assert!(again.report.applied.is_empty() && a.switch().take_log().is_empty(), "a converged switch is not touched");
}

#[tokio::test]
async fn translates_local_and_provider_vlans_as_the_seed_shows() {
    let mut a = agent();
    let state = host(vec![vlan_net(NET_A, 1000), flat_net(NET_B)], vec![port(PORT_1, NET_A), port(PORT_2, NET_B)]);
    plug(&a, PORT_1);
    plug(&a, PORT_2);
    let r = a.reconcile_gated(&state, None).await.unwrap();
    assert!(r.port_status.values().all(|s| *s == WiredStatus::Active), "{:?}", r.report.issues);
    let (lv_a, lv_b) = (a.local_vlan(NET_A).unwrap(), a.local_vlan(NET_B).unwrap());
    let phys = lines(&a, "br-eth1");
    assert!(
        has(
            &phys,
            &format!("table=0,priority=4,in_port=\"phy-br-eth1\",dl_vlan={lv_a} actions=mod_vlan_vid:1000,NORMAL")
        ),
        "{phys:#?}"
    );
    assert!(has(
        &phys,
        &format!("table=0,priority=4,in_port=\"phy-br-eth1\",dl_vlan={lv_b} actions=strip_vlan,NORMAL")
    ));
    assert!(has(&phys, "table=0,priority=2,in_port=\"phy-br-eth1\" actions=drop"));
    let int = lines(&a, "br-int");
    let want =
        format!("table=0,priority=3,in_port=\"int-br-eth1\",dl_vlan=1000 actions=mod_vlan_vid:{lv_a},resubmit(,60)");
    assert!(has(&int, &want), "{int:#?}");
    let flat = format!(
        "table=0,priority=3,in_port=\"int-br-eth1\",vlan_tci=0x0000/0x1fff actions=mod_vlan_vid:{lv_b},resubmit(,60)"
    );
    assert!(has(&int, &flat));
    assert!(lines(&a, "br-tun").iter().all(|l| !l.contains("tun_id=0x")), "no VXLAN network, no tunnel flows");
}

#[tokio::test]
async fn a_restarted_agent_recovers_its_vlans_and_changes_nothing() {
    let mut a = agent();
    let state =
        host(vec![vxlan_net(NET_A, 100), vxlan_net(NET_B, 200)], vec![port(PORT_1, NET_A), port(PORT_2, NET_B)]);
    plug(&a, PORT_1);
    plug(&a, PORT_2);
    a.reconcile_gated(&state, None).await.unwrap();
    let before: Vec<_> = [NET_A, NET_B].iter().map(|n| a.local_vlan(n)).collect();
    let OvsReconciler { switch, .. } = a;
    switch.take_log();
    // The new agent meets the networks in the other order: it must still recover.
    let swapped =
        host(vec![vxlan_net(NET_B, 200), vxlan_net(NET_A, 100)], vec![port(PORT_2, NET_B), port(PORT_1, NET_A)]);
    let mut restarted = OvsReconciler::new(switch, cfg(), Some(ip(LOCAL)));
    let r = restarted.reconcile_gated(&swapped, None).await.unwrap();
    assert_eq!([NET_A, NET_B].iter().map(|n| restarted.local_vlan(n)).collect::<Vec<_>>(), before);
    assert!(r.report.applied.is_empty() && restarted.switch().take_log().is_empty(), "{:?}", r.report.applied);
    assert!(r.port_status.values().all(|s| *s == WiredStatus::Active));
}

#[tokio::test]
async fn a_port_without_a_confirmed_filter_or_admin_down_is_dead() {
    let mut a = agent();
    let mut state = one_vxlan_port();
    let qvo = plug(&a, PORT_1);
    let gate = FilterGate::default();
    let r = a.reconcile_gated(&state, Some(&gate)).await.unwrap();
    assert_eq!(r.port_status[PORT_1], WiredStatus::Down);
    assert_eq!(r.held.len(), 1);
    assert_eq!(a.switch().state().bridges["br-int"].ports[&qvo].tag, Some(DEAD_VLAN));
    assert!(has(&lines(&a, "br-int"), &format!("table=0,priority=2,in_port=\"{qvo}\" actions=drop")));
    let confirmed = FilterGate { confirmed: [PORT_1.to_string()].into(), failure: None };
    let r = a.reconcile_gated(&state, Some(&confirmed)).await.unwrap();
    assert_eq!(r.port_status[PORT_1], WiredStatus::Active);
    // Once on its VLAN, a failed firewall pass does not cut it.
    let r = a.reconcile_gated(&state, Some(&gate)).await.unwrap();
    assert_eq!(r.port_status[PORT_1], WiredStatus::Active);
    state.ports[0].admin_state_up = false;
    let r = a.reconcile_gated(&state, None).await.unwrap();
    assert_eq!(r.port_status[PORT_1], WiredStatus::Down);
    assert_eq!(a.switch().state().bridges["br-int"].ports[&qvo].tag, Some(DEAD_VLAN));
}

#[tokio::test]
async fn a_network_leaving_kills_its_ports_frees_its_vlan_and_its_tunnels() {
    let mut a = agent();
    let qvo = plug(&a, PORT_1);
    a.reconcile_gated(&one_vxlan_port(), None).await.unwrap();
    assert_eq!(a.local_vlan(NET_A), Some(1));
    let other = host(vec![vxlan_net(NET_B, 200)], vec![port(PORT_2, NET_B)]);
    let qvo2 = plug(&a, PORT_2);
    a.reconcile_gated(&other, None).await.unwrap();
    let sw = a.switch().state();
    assert_eq!(sw.bridges["br-int"].ports[&qvo].tag, Some(DEAD_VLAN), "the VM left behind is cut off");
    assert_eq!(sw.bridges["br-int"].ports[&qvo2].tag, Some(2), "1 was still a port's tag when NET_B came");
    assert_eq!(a.local_vlan(NET_A), None);
    let lonely = host(vec![flat_net(NET_B)], vec![port(PORT_2, NET_B)]);
    a.reconcile_gated(&lonely, None).await.unwrap();
    let sw = a.switch().state();
    assert!(!sw.bridges["br-tun"].ports.keys().any(|p| p.starts_with("vxlan-")), "no VXLAN network, no tunnel");
    assert_eq!(sw.bridges["br-int"].ports[&qvo2].tag, a.local_vlan(NET_B));
}

#[tokio::test]
async fn a_missing_mapped_bridge_and_a_failed_transaction_are_issues_healed_later() {
    let mut a = OvsReconciler::new(FakeSwitch::default(), cfg(), Some(ip(LOCAL)));
    let state = host(vec![flat_net(NET_B)], vec![port(PORT_2, NET_B)]);
    let r = a.reconcile_gated(&state, None).await.unwrap();
    assert!(r.report.concerns(&Object::Device("br-eth1".into())), "{:?}", r.report.issues);
    a.switch().add_bridge("br-eth1");
    plug(&a, PORT_2);
    a.switch().fail_next_transact();
    let r = a.reconcile_gated(&state, None).await.unwrap();
    assert!(r.report.concerns(&Object::Host));
    assert_eq!(r.port_status[PORT_2], WiredStatus::Down);
    let r = a.reconcile_gated(&state, None).await.unwrap();
    assert!(r.report.issues.is_empty(), "{:?}", r.report.issues);
    assert_eq!(r.port_status[PORT_2], WiredStatus::Active);
}

/// Devices of the host namespace, shared with the test.
#[derive(Clone, Default)]
struct Devices(std::sync::Arc<std::sync::Mutex<BTreeSet<String>>>);

impl HostDevices for Devices {
    fn exists(&self, name: &str) -> bool {
        self.0.lock().unwrap().contains(name)
    }
}

#[tokio::test]
async fn dhcp_and_router_taps_are_plugged_tagged_and_unplugged() {
    let devices = Devices::default();
    let mut a = agent().with_devices(devices.clone());
    let mut state = one_vxlan_port();
    let mut dhcp = port(PORT_2, NET_A);
    dhcp.device_owner = "network:dhcp".into();
    state.ports.push(dhcp);
    let tap = neutrino_agent_api::tap_name(PORT_2);
    let r = a.reconcile_gated(&state, None).await.unwrap();
    assert_eq!(r.port_status[PORT_2], WiredStatus::Down, "the DHCP subsystem has not made its veth yet");
    devices.0.lock().unwrap().insert(tap.clone());
    let r = a.reconcile_gated(&state, None).await.unwrap();
    assert_eq!(r.port_status[PORT_2], WiredStatus::Active, "plugged and tagged in one pass: {:?}", r.report);
    let row = &a.switch().state().bridges["br-int"].ports[&tap];
    assert_eq!(row.tag, a.local_vlan(NET_A));
    assert_eq!(row.interfaces[0].external_ids["iface-id"], PORT_2);
    // Its namespace deleted (the veth with it): unplugged, so no row points at nothing.
    devices.0.lock().unwrap().clear();
    a.reconcile_gated(&state, None).await.unwrap();
    assert!(!a.switch().state().has_port("br-int", &tap));
    devices.0.lock().unwrap().insert(tap.clone());
    a.reconcile_gated(&state, None).await.unwrap();
    assert!(a.switch().state().has_port("br-int", &tap));
    state.ports.pop();
    a.reconcile_gated(&state, None).await.unwrap();
    assert!(!a.switch().state().has_port("br-int", &tap), "the port left the host");
}

#[tokio::test]
async fn a_port_whose_device_is_gone_does_not_block_the_others_flows() {
    let mut a = agent();
    let state = host(vec![vxlan_net(NET_A, 100)], vec![port(PORT_1, NET_A), port(PORT_2, NET_A)]);
    let (q1, q2) = (plug(&a, PORT_1), plug(&a, PORT_2));
    a.reconcile_gated(&state, None).await.unwrap();
    a.switch().lose_device("br-int", &q1);
    let r = a.reconcile_gated(&state, None).await.unwrap();
    assert!(r.report.issues.is_empty(), "{:?}", r.report.issues);
    assert_eq!((r.port_status[PORT_1], r.port_status[PORT_2]), (WiredStatus::Down, WiredStatus::Active));
    let int = lines(&a, "br-int");
    assert!(!int.iter().any(|l| l.contains(&q1)) && int.iter().any(|l| l.contains(&q2)), "{int:#?}");
}
