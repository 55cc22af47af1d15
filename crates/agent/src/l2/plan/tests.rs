use super::*;
use crate::l2::dataplane::MacAddr;
use crate::l2::testdata::*;

fn entry(mac: &str, dst: &str) -> FdbEntry {
    FdbEntry { mac: mac.parse::<MacAddr>().expect("test mac"), dst: ip(dst) }
}

#[test]
fn vxlan_network_gets_bridge_device_fdb_and_tap() {
    let (desired, issues) = plan(&one_vxlan_port(), &config());
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(desired.bridges.get("brq0c1b2a39-8e"), Some(&BridgeSpec { name: "brq0c1b2a39-8e".into(), mtu: 1450 }));
    let vx = desired.vxlans.get("vxlan-100").expect("vxlan device");
    assert_eq!(vx.spec, VxlanSpec { name: "vxlan-100".into(), vni: 100, local: ip(LOCAL), dstport: 4789, mtu: 1450 });
    assert_eq!(vx.bridge, "brq0c1b2a39-8e");
    let want: BTreeSet<_> = [
        entry("00:00:00:00:00:00", REMOTE_1),
        entry("00:00:00:00:00:00", REMOTE_2),
        entry("fa:16:3e:00:00:02", REMOTE_1),
    ]
    .into();
    assert_eq!(vx.fdb, want);
    let tap = desired.taps.get("tapa1b2c3d4-e5").expect("tap");
    assert_eq!(tap, &DesiredTap { port_id: PORT_1.into(), bridge: "brq0c1b2a39-8e".into(), mtu: 1450, up: true });
    assert_eq!(desired.master_of("vxlan-100"), Some("brq0c1b2a39-8e"));
    assert_eq!(desired.master_of("tapa1b2c3d4-e5"), Some("brq0c1b2a39-8e"));
    assert_eq!(desired.master_of("eth0"), None);
    assert!(desired.warnings.is_empty());
}

#[test]
fn admin_down_port_wants_its_tap_down() {
    let mut state = one_vxlan_port();
    state.ports[0].admin_state_up = false;
    let (desired, _) = plan(&state, &config());
    assert!(!desired.taps["tapa1b2c3d4-e5"].up);
}

#[test]
fn flat_network_enslaves_the_mapped_interface() {
    let state = host(vec![flat_net(NET_B)], vec![port(PORT_2, NET_B)]);
    let (desired, issues) = plan(&state, &config());
    assert!(issues.is_empty());
    assert_eq!(
        desired.uplinks.get("eth1"),
        Some(&DesiredUplink { bridge: "brq5f3e2d1c-0b".into(), network_id: NET_B.into() })
    );
    assert!(desired.vxlans.is_empty() && desired.vlans.is_empty());
    assert_eq!(desired.taps["tapb2c3d4e5-f6"].mtu, 1500);
}

#[test]
fn vlan_network_gets_a_subinterface() {
    let state = host(vec![vlan_net(NET_B, 42)], vec![port(PORT_2, NET_B)]);
    let (desired, issues) = plan(&state, &config());
    assert!(issues.is_empty());
    let vlan = desired.vlans.get("eth1.42").expect("subinterface");
    assert_eq!(vlan.spec, VlanSpec { name: "eth1.42".into(), parent: "eth1".into(), vid: 42, mtu: 1500 });
    assert_eq!(vlan.bridge, "brq5f3e2d1c-0b");
    assert!(desired.uplinks.is_empty());
}

#[test]
fn unwireable_networks_are_reasons_and_their_ports_down() {
    let state = host(vec![vxlan_net(NET_A, 100), vlan_net(NET_B, 7)], vec![port(PORT_1, NET_A), port(PORT_2, NET_B)]);
    let cfg = L2Config::default();
    let (desired, issues) = plan(&state, &cfg);
    assert!(desired.bridges.is_empty() && desired.taps.is_empty());
    assert_eq!(issues[PORT_1], PlanIssue::NoTunnelEndpoint { network_id: NET_A.into() });
    assert_eq!(
        issues[PORT_2],
        PlanIssue::PhysnetNotMapped { network_id: NET_B.into(), physical_network: Some("physnet1".into()) }
    );
    assert_eq!(issues[PORT_1].to_string(), format!("network {NET_A}: vxlan segment but no local_ip configured"));
}

#[test]
fn bad_segments_are_reported() {
    let mut too_big = vxlan_net(NET_A, MAX_VNI + 1);
    too_big.id = NET_A.into();
    let mut unknown = flat_net(NET_B);
    unknown.network_type = "geneve".into();
    let state = host(vec![too_big, unknown], vec![port(PORT_1, NET_A), port(PORT_2, NET_B)]);
    let (desired, issues) = plan(&state, &config());
    assert!(desired.bridges.is_empty());
    assert!(matches!(issues[PORT_1], PlanIssue::BadSegment { .. }));
    assert!(matches!(issues[PORT_2], PlanIssue::BadSegment { .. }));

    let mut long = config();
    long.physical_interface_mappings.insert("physnet1".into(), "enp129s0f1np1".into());
    let state = host(vec![vlan_net(NET_B, 4000)], vec![port(PORT_2, NET_B)]);
    let (_, issues) = plan(&state, &long);
    assert!(issues[PORT_2].to_string().contains("longer than 15"), "{}", issues[PORT_2]);
}

#[test]
fn port_of_a_missing_network_is_reported() {
    let state = host(vec![], vec![port(PORT_1, NET_A)]);
    let (_, issues) = plan(&state, &config());
    assert_eq!(issues[PORT_1], PlanIssue::UnknownNetwork { network_id: NET_A.into() });
}

#[test]
fn two_flat_networks_cannot_share_an_interface() {
    let state = host(vec![flat_net(NET_A), flat_net(NET_B)], vec![port(PORT_1, NET_A), port(PORT_2, NET_B)]);
    let (desired, issues) = plan(&state, &config());
    assert_eq!(desired.uplinks["eth1"].network_id, NET_A);
    assert_eq!(
        issues[PORT_2],
        PlanIssue::Conflict { network_id: NET_B.into(), device: "eth1".into(), other_network: NET_A.into() }
    );
    assert!(!issues.contains_key(PORT_1));
}

#[test]
fn bad_remotes_are_warnings_not_failures() {
    let mut net = vxlan_net(NET_A, 100);
    net.remote_endpoints.push(ip(LOCAL));
    net.remote_endpoints.push(ip("2001:db8::1"));
    net.remote_ports[0].mac_address = "not-a-mac".into();
    let state = host(vec![net], vec![port(PORT_1, NET_A)]);
    let (desired, issues) = plan(&state, &config());
    assert!(issues.is_empty());
    let fdb = &desired.vxlans["vxlan-100"].fdb;
    assert_eq!(fdb.len(), 2, "only the two IPv4 remote endpoints: {fdb:?}");
    assert_eq!(desired.warnings.len(), 2, "{:?}", desired.warnings);
}
