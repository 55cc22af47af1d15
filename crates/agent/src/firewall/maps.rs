//! The host's port dispatch as named maps and sets with one element per port (or per
//! profile), so that a port coming or going is a few element updates instead of rewriting
//! base-chain rules whose inline maps name every port of the host.
//!
//! The `nftables` crate has no `verdict` map type, so these objects are written as JSON
//! directly, in the same shape `nft -j` takes.

use std::sync::Arc;

use serde_json::json;

use super::doc::Command;

use super::compile::TABLE;

/// `table bridge neutrino`: `oifname` → `jump to-p…`, its profile's chain, of each filtered port.
pub const TO_PORTS: &str = "to-ports";
/// `table bridge neutrino`: `iifname` → `jump from-p…`, its profile's chain, of each filtered port.
pub const FROM_PORTS: &str = "from-ports";
/// `table bridge neutrino`: the taps the ruleset knows (filtered, port security off, the
/// agent's service ports); frames from or to any other `tap*` are dropped.
pub const KNOWN_TAPS: &str = "known-taps";
/// `table inet neutrino`: egress index (`meta mark & 0xffff0000`) → `jump egress-p…`, per profile.
pub const EGRESS_PORTS: &str = "egress-ports";
/// `table inet neutrino`: ingress index (`meta mark & 0xffff`) → `jump ingress-p…`, per profile.
pub const INGRESS_PORTS: &str = "ingress-ports";

/// `add map <family> neutrino <name> { type <key_type> : verdict; elements = { … } }`, each
/// element `[key, {"jump": {"target": chain}}]` as JSON.
pub(crate) fn verdict_map(family: &str, name: &str, key_type: &str, elems: Vec<String>) -> Arc<Command> {
    let map = json!({"family": family, "table": TABLE, "name": name, "type": key_type, "map": "verdict"});
    Command::named_set("map", map, elems)
}

/// `add set <family> neutrino <name> { type <types>; [flags interval;] elements = { … } }`.
pub(crate) fn named_set(family: &str, name: &str, types: &[&str], interval: bool, elems: Vec<String>) -> Arc<Command> {
    let ty = match types {
        [one] => json!(one),
        many => json!(many),
    };
    let mut set = json!({"family": family, "table": TABLE, "name": name, "type": ty});
    if interval {
        set["flags"] = json!(["interval"]);
    }
    Command::named_set("set", set, elems)
}
