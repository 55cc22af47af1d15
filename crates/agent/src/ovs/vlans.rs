//! Local VLANs: the agent-local tag each network's ports carry on br-int.
//!
//! Neutron's OVS agent keeps them in memory and writes each port's network and local VLAN
//! into the Port row (`tag`, and `other_config` `net_uuid`/`tag`...), from which it
//! recovers them after a restart; so does this. A VLAN is never handed to another network
//! while any br-int port still carries it as its `tag` (a VM of a network that left the
//! host may not be retagged yet), and a network's VLAN is freed once the host has no port
//! of it.

use std::collections::{BTreeMap, BTreeSet};

use super::ovsdb::PortRow;

/// The tag of a port that must not carry traffic (Neutron's `DEAD_VLAN_TAG`).
pub const DEAD_VLAN: u16 = 4095;
/// The local VLANs handed out.
pub const VLANS: std::ops::RangeInclusive<u16> = 1..=4094;

/// network id -> local VLAN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalVlans {
    by_network: BTreeMap<String, u16>,
}

impl LocalVlans {
    pub fn get(&self, network_id: &str) -> Option<u16> {
        self.by_network.get(network_id).copied()
    }

    /// Gives every network of `wanted` a VLAN (kept, recovered from `ports`' rows, or the
    /// lowest free one) and forgets the others. Returns the networks left without one
    /// (all 4094 in use).
    pub fn sync<'a>(&mut self, wanted: &BTreeSet<String>, ports: impl Iterator<Item = &'a PortRow>) -> Vec<String> {
        self.by_network.retain(|net, _| wanted.contains(net));
        let ports: Vec<&PortRow> = ports.collect();
        // Every tag a port carries now stays out of reach of other networks.
        let mut held: BTreeMap<u16, Option<&str>> = BTreeMap::new();
        for p in &ports {
            if let Some(tag) = p.tag.filter(|t| VLANS.contains(t)) {
                held.insert(tag, p.other_config.get("net_uuid").map(String::as_str));
            }
        }
        for p in &ports {
            let (Some(net), Some(vlan)) = (p.other_config.get("net_uuid"), recorded_vlan(p)) else { continue };
            let taken = self.by_network.values().any(|v| *v == vlan);
            let held_by_other = held.get(&vlan).is_some_and(|n| *n != Some(net.as_str()));
            if wanted.contains(net) && !self.by_network.contains_key(net) && !taken && !held_by_other {
                self.by_network.insert(net.clone(), vlan);
            }
        }
        let mut used: BTreeSet<u16> = self.by_network.values().copied().chain(held.keys().copied()).collect();
        let mut exhausted = Vec::new();
        for net in wanted {
            if self.by_network.contains_key(net) {
                continue;
            }
            match VLANS.clone().find(|v| !used.contains(v)) {
                Some(v) => {
                    used.insert(v);
                    self.by_network.insert(net.clone(), v);
                }
                None => exhausted.push(net.clone()),
            }
        }
        exhausted
    }
}

/// The local VLAN a port's row says it belongs to: its tag, or (dead-tagged) the
/// `other_config:tag` written with it.
fn recorded_vlan(p: &PortRow) -> Option<u16> {
    p.tag
        .filter(|t| VLANS.contains(t))
        .or_else(|| p.other_config.get("tag")?.parse().ok().filter(|t| VLANS.contains(t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, tag: Option<u16>, net: Option<&str>) -> PortRow {
        let mut p = PortRow { name: name.into(), tag, ..PortRow::default() };
        if let Some(net) = net {
            p.other_config.insert("net_uuid".into(), net.into());
            p.other_config.insert("tag".into(), tag.unwrap_or(DEAD_VLAN).to_string());
        }
        p
    }

    fn wanted(nets: &[&str]) -> BTreeSet<String> {
        nets.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn allocates_the_lowest_free_and_keeps_it() {
        let mut v = LocalVlans::default();
        assert!(v.sync(&wanted(&["a", "b"]), std::iter::empty()).is_empty());
        assert_eq!((v.get("a"), v.get("b")), (Some(1), Some(2)));
        v.sync(&wanted(&["b", "c"]), std::iter::empty());
        assert_eq!((v.get("a"), v.get("b"), v.get("c")), (None, Some(2), Some(1)), "a freed, b kept, c reuses 1");
    }

    #[test]
    fn recovers_from_port_rows_after_a_restart() {
        let ports = [port("qvo1", Some(7), Some("a")), port("qvo2", Some(DEAD_VLAN), Some("b"))];
        let mut p2 = ports[1].clone();
        p2.other_config.insert("tag".into(), "9".into());
        let mut v = LocalVlans::default();
        v.sync(&wanted(&["a", "b", "c"]), [&ports[0], &p2].into_iter());
        assert_eq!((v.get("a"), v.get("b"), v.get("c")), (Some(7), Some(9), Some(1)));
    }

    #[test]
    fn never_reuses_a_tag_a_port_still_carries() {
        // Network x left the host but its VM's port still has tag 1.
        let ports = [port("qvo1", Some(1), Some("x")), port("tapfoo", Some(2), None)];
        let mut v = LocalVlans::default();
        v.sync(&wanted(&["a"]), ports.iter());
        assert_eq!(v.get("a"), Some(3));
    }

    #[test]
    fn says_when_every_vlan_is_taken() {
        let ports: Vec<PortRow> = VLANS.map(|t| port(&format!("p{t}"), Some(t), Some(&format!("n{t}")))).collect();
        let mut v = LocalVlans::default();
        assert_eq!(v.sync(&wanted(&["a"]), ports.iter()), vec!["a".to_string()]);
    }
}
