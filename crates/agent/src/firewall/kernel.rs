//! What the firewall reads back from the kernel: the fingerprint a restarted agent checks,
//! the conntrack zones in use, and the tables' shape the verification compares.

use std::collections::BTreeMap;

use super::compile::{self, FINGERPRINT_PREFIX, TABLE, ZONES_TABLE};
use super::doc::{self, Document};
use super::nd::ND_TABLE;
use super::runner::{NftError, NftRunner};

/// What is compared with the kernel: per table, chain and set, the number of rules or
/// elements; and the fingerprint comment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    pub counts: BTreeMap<String, usize>,
    pub fingerprint: Option<String>,
}

impl Shape {
    /// Adds one object of a listing or of an `add` command.
    fn add(&mut self, object: &serde_json::Value) {
        let Some((kind, body)) = object.as_object().and_then(|o| o.iter().next()) else { return };
        let family = body.get("family").and_then(|f| f.as_str()).unwrap_or_default();
        let name = |key: &str| body.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        match kind.as_str() {
            "table" => {
                self.counts.insert(format!("table {family} {}", name("name")), 0);
            }
            "chain" => {
                self.counts.entry(format!("chain {family} {}", name("name"))).or_insert(0);
            }
            "rule" => {
                *self.counts.entry(format!("chain {family} {}", name("chain"))).or_insert(0) += 1;
                if let Some(fp) = body.get("comment").and_then(|c| c.as_str()) {
                    if let Some(fp) = fp.strip_prefix(FINGERPRINT_PREFIX) {
                        self.fingerprint = Some(fp.to_owned());
                    }
                }
            }
            "set" | "map" => {
                let len = body.get("elem").and_then(|e| e.as_array()).map_or(0, Vec::len);
                self.counts.insert(format!("set {family} {}", name("name")), len);
            }
            _ => {}
        }
    }
}

impl Shape {
    /// The shape of a compiled document, whose fingerprint is `fingerprint`.
    pub(super) fn of_document(doc: &Document, fingerprint: &str) -> Shape {
        let mut shape = Shape { fingerprint: Some(fingerprint.to_owned()), ..Shape::default() };
        for c in &doc.commands {
            let family = &c.family;
            match c.kind {
                doc::Kind::Table => {
                    shape.counts.insert(format!("table {family} {}", c.table), 0);
                }
                doc::Kind::Chain => {
                    shape.counts.entry(format!("chain {family} {}", c.name)).or_insert(0);
                }
                doc::Kind::Rule => *shape.counts.entry(format!("chain {family} {}", c.name)).or_insert(0) += 1,
                doc::Kind::Set(_) => {
                    shape.counts.insert(format!("set {family} {}", c.name), c.elems.len());
                }
                doc::Kind::Other => {}
            }
        }
        shape
    }
}

/// The fingerprint the kernel's ruleset carries (its `fingerprint` chain's comment).
pub(super) fn kernel_fingerprint(runner: &dyn NftRunner) -> Result<Option<String>, NftError> {
    let Some(listing) = runner.list_table("bridge", compile::FINGERPRINT_TABLE)? else { return Ok(None) };
    Ok(listing
        .get("nftables")
        .and_then(|n| n.as_array())
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("rule")?.get("comment")?.as_str())
        .find_map(|c| c.strip_prefix(FINGERPRINT_PREFIX))
        .map(str::to_owned))
}

/// The bridge → zone map of the kernel's zone chain (empty when there is none).
pub(super) fn kernel_zones(runner: &dyn NftRunner) -> Result<BTreeMap<String, u16>, NftError> {
    let Some(listing) = runner.list_table("inet", ZONES_TABLE)? else { return Ok(BTreeMap::new()) };
    let mut zones = BTreeMap::new();
    let rules = listing.get("nftables").and_then(|n| n.as_array()).into_iter().flatten().filter_map(|o| o.get("rule"));
    for rule in rules.filter(|r| r.get("chain").and_then(|c| c.as_str()) == Some(compile::ZONE_CHAIN)) {
        let statements = rule.get("expr").and_then(|e| e.as_array()).into_iter().flatten();
        for pairs in statements.filter_map(|s| s.get("mangle")?.get("value")?.get("map")?.get("data")?.get("set")) {
            for pair in pairs.as_array().into_iter().flatten() {
                let bridge = pair.get(0).and_then(|b| b.as_str());
                let zone = pair.get(1).and_then(|z| z.as_u64()).and_then(|z| u16::try_from(z).ok());
                if let (Some(bridge), Some(zone)) = (bridge, zone) {
                    zones.insert(bridge.to_owned(), zone);
                }
            }
        }
    }
    Ok(zones)
}

/// The shape of what the kernel has in the agent's tables.
pub(super) fn kernel_shape(runner: &dyn NftRunner) -> Result<Shape, NftError> {
    let mut shape = Shape::default();
    for (family, table) in [
        ("bridge", TABLE),
        ("inet", TABLE),
        ("bridge", compile::FINGERPRINT_TABLE),
        ("inet", ZONES_TABLE),
        ("bridge", ND_TABLE),
    ] {
        let Some(listing) = runner.list_table(family, table)? else { continue };
        for object in listing.get("nftables").and_then(|n| n.as_array()).into_iter().flatten() {
            shape.add(object);
        }
    }
    Ok(shape)
}
