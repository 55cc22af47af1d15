//! The host's port dispatch as named maps and sets with one element per port, so that a
//! port coming or going is a few element updates (plus its own chains) instead of
//! rewriting base-chain rules whose inline maps name every port of the host.
//!
//! The `nftables` crate has no `verdict` map type, so these objects are written as JSON
//! directly, in the same shape `nft -j` takes.

use serde_json::{json, Value};

use super::compile::TABLE;

/// `table bridge neutrino`: `oifname` → `jump to-tap…` of each filtered port.
pub const TO_PORTS: &str = "to-ports";
/// `table bridge neutrino`: `iifname` → `jump from-tap…` of each filtered port.
pub const FROM_PORTS: &str = "from-ports";
/// `table bridge neutrino`: the taps the ruleset knows (filtered, port security off, the
/// agent's service ports); frames from or to any other `tap*` are dropped.
pub const KNOWN_TAPS: &str = "known-taps";
/// `table inet neutrino`: egress index (`meta mark & 0xffff0000`) → `jump egress-tap…`.
pub const EGRESS_PORTS: &str = "egress-ports";
/// `table inet neutrino`: ingress index (`meta mark & 0xffff`) → `jump ingress-tap…`.
pub const INGRESS_PORTS: &str = "ingress-ports";

/// `add map <family> neutrino <name> { type <key_type> : verdict; elements = { k : jump c, … } }`.
pub(crate) fn verdict_map(family: &str, name: &str, key_type: &str, jumps: Vec<(Value, String)>) -> Value {
    let mut map = json!({"family": family, "table": TABLE, "name": name, "type": key_type, "map": "verdict"});
    if !jumps.is_empty() {
        let elems: Vec<Value> = jumps.into_iter().map(|(k, chain)| json!([k, {"jump": {"target": chain}}])).collect();
        map["elem"] = Value::Array(elems);
    }
    json!({"add": {"map": map}})
}

/// `add set <family> neutrino <name> { type ifname; elements = { … } }`.
pub(crate) fn ifname_set<'a>(family: &str, name: &str, names: impl Iterator<Item = &'a String>) -> Value {
    let mut set = json!({"family": family, "table": TABLE, "name": name, "type": "ifname"});
    let elems: Vec<Value> = names.map(|n| Value::String(n.clone())).collect();
    if !elems.is_empty() {
        set["elem"] = Value::Array(elems);
    }
    json!({"add": {"set": set}})
}
