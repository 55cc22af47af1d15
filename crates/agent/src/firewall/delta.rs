//! An incremental transaction: from the document last applied to a new one, touching only
//! the chains and sets that differ.
//!
//! With groups compiled into shared chains, a rule change rewrites one `sg-…` chain (and
//! the one-rule chain that carries the fingerprint), so the delta is a few
//! commands where the whole document is thousands of rules. It is only valid while the
//! kernel still holds the old document; [`super::Firewall::sync`] uses it only then, and
//! falls back to the whole document when nft rejects it.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

type Key = (String, String);

/// A document's chains, their rules, and its sets, by (family, name).
#[derive(Default)]
struct Parts {
    chains: BTreeMap<Key, Value>,
    rules: BTreeMap<Key, Vec<Value>>,
    sets: BTreeMap<Key, Value>,
}

fn text(body: &Value, key: &str) -> String {
    body.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn parts(doc: &Value) -> Option<Parts> {
    let mut p = Parts::default();
    for cmd in doc.get("nftables")?.as_array()? {
        let Some(object) = cmd.get("add") else { continue };
        let (kind, body) = object.as_object()?.iter().next()?;
        match kind.as_str() {
            "table" => {}
            "chain" => {
                p.chains.insert((text(body, "family"), text(body, "name")), body.clone());
            }
            "rule" => p.rules.entry((text(body, "family"), text(body, "chain"))).or_default().push(body.clone()),
            "set" => {
                p.sets.insert((text(body, "family"), text(body, "name")), body.clone());
            }
            _ => return None,
        }
    }
    Some(p)
}

fn object(body: &Value, keys: &[&str]) -> Value {
    let map: Map<String, Value> =
        keys.iter().filter_map(|k| body.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect();
    Value::Object(map)
}

fn without_elems(set: &Value) -> Value {
    let mut set = set.clone();
    if let Some(map) = set.as_object_mut() {
        map.remove("elem");
    }
    set
}

/// The transaction turning `old` (in the kernel) into `new`, or `None` when it cannot be
/// expressed as chain and set updates (a base chain or a set's type changed) or nothing
/// differs.
pub(crate) fn delta(old: &Value, new: &Value) -> Option<Value> {
    let (old, new) = (parts(old)?, parts(new)?);
    let id = ["family", "table", "name"];
    let mut flush = Vec::new();
    let mut add = Vec::new();
    let mut rules = Vec::new();
    let mut delete = Vec::new();
    for (key, chain) in &new.chains {
        let wanted = new.rules.get(key);
        match old.chains.get(key) {
            Some(before) if before != chain => return None,
            Some(_) if old.rules.get(key) == wanted => continue,
            Some(_) => flush.push(json!({"flush": {"chain": object(chain, &id)}})),
            None => add.push(json!({"add": {"chain": chain}})),
        }
        rules.extend(wanted.into_iter().flatten().map(|r| json!({"add": {"rule": r}})));
    }
    for (key, chain) in &old.chains {
        if !new.chains.contains_key(key) {
            // Emptied first: its rules may jump to other chains going away.
            flush.push(json!({"flush": {"chain": object(chain, &id)}}));
            delete.push(json!({"delete": {"chain": object(chain, &id)}}));
        }
    }
    for (key, set) in &new.sets {
        match old.sets.get(key) {
            Some(before) if before == set => {}
            Some(before) if without_elems(before) != without_elems(set) => return None,
            Some(_) => {
                add.push(json!({"flush": {"set": object(set, &id)}}));
                if let Some(elem) = set.get("elem") {
                    let mut element = object(set, &id);
                    element["elem"] = elem.clone();
                    add.push(json!({"add": {"element": element}}));
                }
            }
            None => add.push(json!({"add": {"set": set}})),
        }
    }
    for (key, set) in &old.sets {
        if !new.sets.contains_key(key) {
            delete.push(json!({"delete": {"set": object(set, &id)}}));
        }
    }
    let commands: Vec<Value> = flush.into_iter().chain(add).chain(rules).chain(delete).collect();
    (!commands.is_empty()).then(|| json!({ "nftables": commands }))
}
