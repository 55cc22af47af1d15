//! An incremental transaction: from the document last applied to a new one, touching only
//! the chains, sets and elements that differ.
//!
//! With groups compiled into shared chains and ports dispatched through named maps, a rule
//! change rewrites one `sg-…` chain (and the one-rule chain that carries the fingerprint),
//! a port coming adds its chains and one element to each port map, and a remote group's
//! member coming or going adds or deletes one set element: a few commands where the whole
//! document is thousands of rules. It is only valid while the kernel still holds the old
//! document; [`super::Firewall::sync`] uses it only then, and falls back to the whole
//! document when nft rejects it.
//!
//! Order inside the transaction: chains whose rules change are flushed and elements gone
//! are deleted first (a map element jumping to a chain, or a rule naming a set, holds it),
//! then new sets, maps and chains are added, then new elements (they may jump to the new
//! chains) and the rules, and last the chains and sets no longer wanted are deleted.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

type Key = (String, String);

/// A document's chains, their rules, and its sets and maps, by (family, name).
#[derive(Default)]
struct Parts<'a> {
    chains: BTreeMap<Key, &'a Value>,
    rules: BTreeMap<Key, Vec<&'a Value>>,
    /// `("set" | "map", body)`.
    sets: BTreeMap<Key, (&'a str, &'a Value)>,
}

fn text(body: &Value, key: &str) -> String {
    body.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn parts(doc: &Value) -> Option<Parts<'_>> {
    let mut p = Parts::default();
    for cmd in doc.get("nftables")?.as_array()? {
        let Some(object) = cmd.get("add") else { continue };
        let (kind, body) = object.as_object()?.iter().next()?;
        match kind.as_str() {
            "table" => {}
            "chain" => {
                p.chains.insert((text(body, "family"), text(body, "name")), body);
            }
            "rule" => p.rules.entry((text(body, "family"), text(body, "chain"))).or_default().push(body),
            "set" | "map" => {
                p.sets.insert((text(body, "family"), text(body, "name")), (kind.as_str(), body));
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

/// A set's or map's definition without its elements.
fn definition(set: &Value) -> Value {
    let mut set = set.clone();
    if let Some(map) = set.as_object_mut() {
        map.remove("elem");
    }
    set
}

fn elems(set: &Value) -> BTreeSet<String> {
    set.get("elem").and_then(Value::as_array).into_iter().flatten().map(Value::to_string).collect()
}

/// `{verb: {element: {family, table, name, elem: [...]}}}` for the elements (as JSON text);
/// a map's elements are deleted by their key.
fn element_command(verb: &str, kind: &str, set: &Value, elements: &BTreeSet<&String>) -> Option<Value> {
    if elements.is_empty() {
        return None;
    }
    let mut element = object(set, &["family", "table", "name"]);
    let parsed = elements.iter().filter_map(|e| serde_json::from_str::<Value>(e).ok());
    let by_key = |e: Value| match e {
        Value::Array(mut pair) if verb == "delete" && kind == "map" && !pair.is_empty() => pair.swap_remove(0),
        e => e,
    };
    let parsed: Vec<Value> = parsed.map(by_key).collect();
    element["elem"] = Value::Array(parsed);
    Some(json!({ verb: {"element": element} }))
}

/// The transaction turning `old` (in the kernel) into `new`, or `None` when it cannot be
/// expressed as chain, set and element updates (a base chain or a set's type changed) or
/// nothing differs.
pub(crate) fn delta(old: &Value, new: &Value) -> Option<Value> {
    let (old, new) = (parts(old)?, parts(new)?);
    let id = ["family", "table", "name"];
    let (mut flush, mut del_elems, mut add, mut add_elems, mut rules, mut delete) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
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
    for (key, (kind, set)) in &new.sets {
        match old.sets.get(key) {
            Some((_, before)) if before == set => {}
            Some((before_kind, before)) if before_kind != kind || definition(before) != definition(set) => return None,
            Some((_, before)) => {
                let (was, is) = (elems(before), elems(set));
                del_elems.extend(element_command("delete", kind, set, &was.difference(&is).collect()));
                add_elems.extend(element_command("add", kind, set, &is.difference(&was).collect()));
            }
            None => add.push(json!({"add": {*kind: set}})),
        }
    }
    for (key, (kind, set)) in &old.sets {
        if !new.sets.contains_key(key) {
            delete.push(json!({"delete": {*kind: object(set, &id)}}));
        }
    }
    let commands: Vec<Value> =
        flush.into_iter().chain(del_elems).chain(add).chain(add_elems).chain(rules).chain(delete).collect();
    (!commands.is_empty()).then(|| json!({ "nftables": commands }))
}
