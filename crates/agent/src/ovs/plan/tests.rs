use super::*;
use crate::l2::testdata::*;

fn cfg() -> OvsConfig {
    OvsConfig { bridge_mappings: [("physnet1".to_string(), "br-eth1".to_string())].into(), ..OvsConfig::default() }
}

#[test]
fn segments_follow_the_mappings_and_the_tunnel_endpoint() {
    let mut vlan = vlan_net(NET_B, 5000);
    vlan.segmentation_id = Some(5000);
    let state = host(vec![vxlan_net(NET_A, 100), vlan], vec![port(PORT_1, NET_A), port(PORT_2, NET_B)]);
    let (segs, issues) = segments(&state, &cfg(), None);
    assert!(segs.is_empty());
    assert_eq!(issues.len(), 2);
    assert!(issues[0].1.contains("no local_ip"), "{issues:?}");
    assert!(issues[1].1.contains("cannot wire"), "{issues:?}");
    let state = host(vec![vlan_net(NET_B, 7)], vec![port(PORT_2, NET_B)]);
    let (segs, _) = segments(&state, &cfg(), None);
    assert_eq!(segs[NET_B], Segment::Vlan { physnet: "physnet1".into(), bridge: "br-eth1".into(), vid: 7 });
    let mut unmapped = cfg();
    unmapped.bridge_mappings.clear();
    assert!(segments(&state, &unmapped, None).1[0].1.contains("no bridge mapping"));
}

#[test]
fn tunnel_ports_are_named_by_the_peers_address_in_hex() {
    assert_eq!(tunnel_port(ip("192.168.1.2")).as_deref(), Some("vxlan-c0a80102"));
    assert_eq!(tunnel_port(ip("2001:db8::1")), None);
}

#[test]
fn structure_adds_what_is_missing_and_removes_stale_tunnels_only() {
    let state = one_vxlan_port();
    let (segs, _) = segments(&state, &cfg(), Some(ip(LOCAL)));
    let empty = OvsState::default();
    let s = structure(&cfg(), Some(ip(LOCAL)), &segs, &state, &empty);
    assert!(matches!(&s.add[0], VsctlCommand::AddBridge { name, .. } if name == "br-int"));
    assert!(s.issues[0].1.contains("br-eth1"), "{:?}", s.issues);
    let tunnels = s.add.iter().filter(|c| matches!(c, VsctlCommand::AddTunnel { .. })).count();
    assert_eq!(tunnels, 2);
    assert!(s.remove.is_empty());
    // Without local_ip there is no br-tun at all.
    let s = structure(&cfg(), None, &BTreeMap::new(), &state, &empty);
    assert!(!s.add.iter().any(|c| c.to_string().contains("br-tun")));
}
