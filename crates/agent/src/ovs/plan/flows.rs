//! Every bridge's whole flow table, as Neutron's OVS agent lays it out (its table numbers
//! and its flows, so an operator who knows `ovs-ofctl dump-flows` of a Neutron host reads
//! these). Flows name ports by name and only ports the switch has with an OpenFlow port
//! number (read back after the structure pass): a table naming a missing port, or one whose
//! device ovs-vswitchd could not open (`ofport` -1), would be refused whole.

use std::collections::BTreeMap;

use neutrino_agent_api::HostState;

use super::{tunnel_port, Segment};
use crate::ovs::openflow::Flow;
use crate::ovs::ovsdb::OvsState;
use crate::ovs::vlans::{LocalVlans, DEAD_VLAN};
use crate::ovs::{int_patch, phy_patch, OvsConfig, PATCH_INT, PATCH_TUN};

/// br-int: local switching (Neutron's `LOCAL_SWITCHING` 0 and `TRANSIENT_TABLE` 60).
pub const INT_LOCAL_SWITCHING: u8 = 0;
pub const INT_TRANSIENT: u8 = 60;
/// br-tun (Neutron's `constants.py` numbers).
pub const TUN_PATCH_LV_TO_TUN: u8 = 2;
pub const TUN_VXLAN_TUN_TO_LV: u8 = 4;
pub const TUN_LEARN_FROM_TUN: u8 = 10;
pub const TUN_UCAST_TO_TUN: u8 = 20;
pub const TUN_FLOOD_TO_TUN: u8 = 22;

/// What the flows are computed from.
pub struct FlowInput<'a> {
    pub cfg: &'a OvsConfig,
    pub state: &'a HostState,
    pub segments: &'a BTreeMap<String, Segment>,
    pub vlans: &'a LocalVlans,
    /// The switch as read back after the structure and port changes.
    pub switch: &'a OvsState,
}

/// bridge name -> its whole table, for every bridge the agent manages that exists.
pub fn flows(input: &FlowInput<'_>) -> BTreeMap<String, Vec<Flow>> {
    let mut out = BTreeMap::new();
    let cfg = input.cfg;
    if input.switch.bridges.contains_key(&cfg.integration_bridge) {
        out.insert(cfg.integration_bridge.clone(), br_int(input));
    }
    for bridge in cfg.bridge_mappings.values() {
        if input.switch.bridges.contains_key(bridge) {
            out.insert(bridge.clone(), br_phys(input, bridge));
        }
    }
    if input.switch.bridges.contains_key(&cfg.tunnel_bridge) {
        out.insert(cfg.tunnel_bridge.clone(), br_tun(input));
    }
    for table in out.values_mut() {
        table.sort();
        // One flow per match (two remote ports with one MAC): the switch keeps one anyway.
        table.dedup_by(|a, b| (a.table, a.priority, &a.matches) == (b.table, b.priority, &b.matches));
    }
    out
}

/// The networks with a local VLAN, with it.
fn local<'a>(input: &'a FlowInput<'_>) -> impl Iterator<Item = (&'a String, &'a Segment, u16)> {
    input.segments.iter().filter_map(|(id, s)| Some((id, s, input.vlans.get(id)?)))
}

fn quoted(port: &str) -> String {
    format!("\"{port}\"")
}

fn br_int(input: &FlowInput<'_>) -> Vec<Flow> {
    let (int, sw) = (&input.cfg.integration_bridge, input.switch);
    let mut f = vec![
        // Frames of dead ports (tag 4095) go nowhere.
        Flow::new(INT_LOCAL_SWITCHING, 65535, "vlan_tci=0x0fff/0x1fff", "drop"),
        // Unlike Neutron (`priority=0 actions=resubmit(,60)`), only ports with a local VLAN
        // and br-tun's patch reach NORMAL: a port Nova plugged but the agent has not tagged
        // yet is a trunk port on NORMAL, and would put the VM's 802.1Q frames on any
        // network of the host. Until its tag is set it is dropped here (fails closed).
        Flow::new(INT_LOCAL_SWITCHING, 0, "", "drop"),
        Flow::new(INT_TRANSIENT, 3, "", "NORMAL"),
    ];
    for p in sw.ports(int).filter(|p| p.is_live()) {
        let in_port = format!("in_port={}", quoted(&p.name));
        match p.tag {
            Some(DEAD_VLAN) => f.push(Flow::new(INT_LOCAL_SWITCHING, 2, in_port, "drop")),
            Some(_) => f.push(Flow::new(INT_LOCAL_SWITCHING, 1, in_port, format!("resubmit(,{INT_TRANSIENT})"))),
            None if p.name == PATCH_TUN => {
                f.push(Flow::new(INT_LOCAL_SWITCHING, 1, in_port, format!("resubmit(,{INT_TRANSIENT})")))
            }
            None => {}
        }
    }
    for bridge in input.cfg.bridge_mappings.values() {
        let patch = int_patch(bridge);
        if !sw.has_live_port(int, &patch) {
            continue;
        }
        let in_port = format!("in_port={}", quoted(&patch));
        for (_, segment, lv) in local(input) {
            let provider = match segment {
                Segment::Vlan { bridge: b, vid, .. } if b == bridge => format!("dl_vlan={vid}"),
                Segment::Flat { bridge: b, .. } if b == bridge => "vlan_tci=0x0000/0x1fff".into(),
                _ => continue,
            };
            let actions = format!("mod_vlan_vid:{lv},resubmit(,{INT_TRANSIENT})");
            f.push(Flow::new(INT_LOCAL_SWITCHING, 3, format!("{in_port},{provider}"), actions));
        }
        f.push(Flow::new(INT_LOCAL_SWITCHING, 2, in_port, "drop"));
    }
    f
}

fn br_phys(input: &FlowInput<'_>, bridge: &str) -> Vec<Flow> {
    let mut f = vec![Flow::new(0, 0, "", "NORMAL")];
    let patch = phy_patch(bridge);
    if !input.switch.has_live_port(bridge, &patch) {
        return f;
    }
    let in_port = format!("in_port={}", quoted(&patch));
    for (_, segment, lv) in local(input) {
        let actions = match segment {
            Segment::Vlan { bridge: b, vid, .. } if b == bridge => format!("mod_vlan_vid:{vid},NORMAL"),
            Segment::Flat { bridge: b, .. } if b == bridge => "strip_vlan,NORMAL".into(),
            _ => continue,
        };
        f.push(Flow::new(0, 4, format!("{in_port},dl_vlan={lv}"), actions));
    }
    f.push(Flow::new(0, 2, in_port, "drop"));
    f
}

fn br_tun(input: &FlowInput<'_>) -> Vec<Flow> {
    let (tun, sw) = (&input.cfg.tunnel_bridge, input.switch);
    let mut f = vec![
        Flow::new(0, 0, "", "drop"),
        Flow::new(
            TUN_PATCH_LV_TO_TUN,
            0,
            "dl_dst=00:00:00:00:00:00/01:00:00:00:00:00",
            format!("resubmit(,{TUN_UCAST_TO_TUN})"),
        ),
        Flow::new(
            TUN_PATCH_LV_TO_TUN,
            0,
            "dl_dst=01:00:00:00:00:00/01:00:00:00:00:00",
            format!("resubmit(,{TUN_FLOOD_TO_TUN})"),
        ),
        Flow::new(TUN_VXLAN_TUN_TO_LV, 0, "", "drop"),
        Flow::new(TUN_UCAST_TO_TUN, 0, "", format!("resubmit(,{TUN_FLOOD_TO_TUN})")),
        Flow::new(TUN_FLOOD_TO_TUN, 0, "", "drop"),
    ];
    if sw.has_live_port(tun, PATCH_INT) {
        f.push(Flow::new(0, 1, format!("in_port={}", quoted(PATCH_INT)), format!("resubmit(,{TUN_PATCH_LV_TO_TUN})")));
        f.push(Flow::new(TUN_LEARN_FROM_TUN, 1, "", format!("output:{}", quoted(PATCH_INT))));
    }
    for p in sw.ports(tun).filter(|p| p.is_live() && p.interfaces.iter().any(|i| i.kind == "vxlan")) {
        f.push(Flow::new(0, 1, format!("in_port={}", quoted(&p.name)), format!("resubmit(,{TUN_VXLAN_TUN_TO_LV})")));
    }
    let tunnel = |ep| tunnel_port(ep).filter(|name| sw.has_live_port(tun, name));
    for (id, segment, lv) in local(input) {
        let Segment::Vxlan { vni } = segment else { continue };
        let to_lv = format!("mod_vlan_vid:{lv},resubmit(,{TUN_LEARN_FROM_TUN})");
        f.push(Flow::new(TUN_VXLAN_TUN_TO_LV, 1, format!("tun_id={vni:#x}"), to_lv));
        let Some(net) = input.state.networks.iter().find(|n| &n.id == id) else { continue };
        let encap = format!("strip_vlan,set_field:{vni:#x}->tun_id");
        let outputs: Vec<String> = net
            .remote_endpoints
            .iter()
            .filter_map(|ep| tunnel(*ep))
            .map(|n| format!("output:{}", quoted(&n)))
            .collect();
        if !outputs.is_empty() {
            f.push(Flow::new(TUN_FLOOD_TO_TUN, 1, format!("dl_vlan={lv}"), format!("{encap},{}", outputs.join(","))));
        }
        for rp in &net.remote_ports {
            let (Some(port), Ok(mac)) = (tunnel(rp.endpoint), rp.mac_address.parse::<crate::l2::dataplane::MacAddr>())
            else {
                continue;
            };
            if mac.is_unicast() {
                let matches = format!("dl_vlan={lv},dl_dst={mac}");
                f.push(Flow::new(TUN_UCAST_TO_TUN, 2, matches, format!("{encap},output:{}", quoted(&port))));
            }
        }
    }
    f
}
