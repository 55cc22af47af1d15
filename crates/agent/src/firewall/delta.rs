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

use serde_json::{json, Value};

use super::doc::{Command, Document, Kind};

type Key<'a> = (&'a str, &'a str);

/// A document's chains, their rules, and its sets and maps, by (family, name).
#[derive(Default)]
struct Parts<'a> {
    chains: BTreeMap<Key<'a>, &'a Command>,
    rules: BTreeMap<Key<'a>, Vec<&'a str>>,
    sets: BTreeMap<Key<'a>, &'a Command>,
}

fn parts(doc: &Document) -> Parts<'_> {
    let mut p = Parts::default();
    for c in &doc.commands {
        let key = (c.family.as_str(), c.name.as_str());
        match c.kind {
            Kind::Chain => {
                p.chains.insert(key, c);
            }
            Kind::Rule => p.rules.entry(key).or_default().push(&c.text),
            Kind::Set(_) => {
                p.sets.insert(key, c);
            }
            Kind::Table | Kind::Other => {}
        }
    }
    p
}

/// `{"<verb>": {"<kind>": {family, table, name}}}`.
fn named(verb: &str, kind: &str, c: &Command) -> String {
    json!({ verb: { kind: {"family": c.family, "table": c.table, "name": c.name} } }).to_string()
}

/// `{"<verb>": {"element": {family, table, name, elem: [...]}}}`; a map's elements are
/// deleted by their key.
fn elements(verb: &str, set: &Command, elems: &[&str]) -> Option<String> {
    if elems.is_empty() {
        return None;
    }
    let by_key = |e: &&str| -> String {
        match (verb, set.kind, serde_json::from_str::<Value>(e)) {
            ("delete", Kind::Set("map"), Ok(Value::Array(pair))) if !pair.is_empty() => pair[0].to_string(),
            _ => (*e).to_owned(),
        }
    };
    let elem: Vec<String> = elems.iter().map(by_key).collect();
    let head = json!({"family": set.family, "table": set.table, "name": set.name}).to_string();
    // `{"family":…,"name":…}` + `,"elem":[…]}`.
    let body = format!("{},\"elem\":[{}]}}", &head[..head.len() - 1], elem.join(","));
    Some(format!("{{\"{verb}\":{{\"element\":{body}}}}}"))
}

/// The transaction turning `old` (in the kernel) into `new` and its number of commands, or
/// `None` when it cannot be expressed as chain, set and element updates (a base chain or a
/// set's type changed) or nothing differs.
pub(crate) fn delta(old: &Document, new: &Document) -> Option<(String, usize)> {
    let (old, new) = (parts(old), parts(new));
    let (mut flush, mut del_elems, mut add, mut add_elems, mut rules, mut delete) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (key, chain) in &new.chains {
        let wanted = new.rules.get(key);
        match old.chains.get(key) {
            Some(before) if before.text != chain.text => return None,
            Some(_) if old.rules.get(key) == wanted => continue,
            Some(_) => flush.push(named("flush", "chain", chain)),
            None => add.push(chain.text.clone()),
        }
        rules.extend(wanted.into_iter().flatten().map(|r| (*r).to_owned()));
    }
    for (key, chain) in &old.chains {
        if !new.chains.contains_key(key) {
            // Emptied first: its rules may jump to other chains going away.
            flush.push(named("flush", "chain", chain));
            delete.push(named("delete", "chain", chain));
        }
    }
    for (key, set) in &new.sets {
        match old.sets.get(key) {
            Some(before) if before.text == set.text => {}
            Some(before) if before.kind != set.kind || before.definition != set.definition => return None,
            Some(before) => {
                let was: BTreeSet<&str> = before.elems.iter().map(String::as_str).collect();
                let is: BTreeSet<&str> = set.elems.iter().map(String::as_str).collect();
                del_elems.extend(elements("delete", set, &was.difference(&is).copied().collect::<Vec<_>>()));
                add_elems.extend(elements("add", set, &is.difference(&was).copied().collect::<Vec<_>>()));
            }
            None => add.push(set.text.clone()),
        }
    }
    for (key, set) in &old.sets {
        if !new.sets.contains_key(key) {
            let Kind::Set(kind) = set.kind else { continue };
            delete.push(named("delete", kind, set));
        }
    }
    let commands: Vec<String> =
        flush.into_iter().chain(del_elems).chain(add).chain(add_elems).chain(rules).chain(delete).collect();
    (!commands.is_empty()).then(|| (format!("{{\"nftables\":[{}]}}", commands.join(",")), commands.len()))
}
