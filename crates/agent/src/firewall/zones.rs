//! Conntrack zones per network bridge on a host: stable across agent restarts (kept from
//! what the kernel has), derived from the bridge name otherwise, never 0.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use sha2::{Digest, Sha256};

/// Per-bridge conntrack zones: zones kept from `previous` first (in bridge order), then the
/// first 16 bits of SHA-256(bridge name), probing upwards on collision, never 0 (the zone of
/// the host's own traffic). `Err` names the first bridge left without a zone (all 65535
/// taken).
pub(super) fn assign_zones(
    bridges: &BTreeSet<String>,
    previous: &BTreeMap<String, u16>,
) -> (BTreeMap<String, u16>, Option<String>) {
    let mut used = HashSet::new();
    let mut out = BTreeMap::new();
    for bridge in bridges {
        if let Some(&zone) = previous.get(bridge) {
            if zone != 0 && used.insert(zone) {
                out.insert(bridge.clone(), zone);
            }
        }
    }
    let kept: BTreeSet<String> = out.keys().cloned().collect();
    for bridge in bridges.iter().filter(|b| !kept.contains(*b)) {
        let digest = Sha256::digest(bridge.as_bytes());
        let mut zone = u16::from_be_bytes([digest[0], digest[1]]);
        let mut probes = 0u32;
        while zone == 0 || used.contains(&zone) {
            zone = zone.wrapping_add(1);
            probes += 1;
            if probes > u32::from(u16::MAX) {
                return (out, Some(bridge.clone()));
            }
        }
        used.insert(zone);
        out.insert(bridge.clone(), zone);
    }
    (out, None)
}
