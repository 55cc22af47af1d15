//! The compiled transaction as a list of commands, each kept as its JSON text with what the
//! delta and the verification need to know about it (kind, family, table, name, a set's
//! elements).
//!
//! Why not one `serde_json::Value`: at a thousand ports the document is ~10 MB, and building,
//! hashing, comparing and freeing a tree of millions of small maps on every pass cost more
//! than the kernel work a change needs. Commands are shared (`Arc`), so a port whose inputs did
//! not change reuses its compiled commands from the last pass (see `fragment`), and the
//! delta compares texts.

use std::sync::Arc;

use nftables::schema::{NfCmd, NfListObject, NfObject};
use nftables::types::NfFamily;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// What a command adds (or does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Table,
    Chain,
    Rule,
    /// A set (`"set"`) or map (`"map"`).
    Set(&'static str),
    /// Anything else (`delete table`).
    Other,
}

/// One command of the document.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    pub(crate) kind: Kind,
    pub(crate) family: String,
    pub(crate) table: String,
    /// The object's name; for a rule, its chain.
    pub(crate) name: String,
    /// The whole command, as `nft -j` takes it.
    pub(crate) text: String,
    /// A set's or map's definition without its elements (JSON of its body).
    pub(crate) definition: String,
    /// A set's or map's elements, each as JSON.
    pub(crate) elems: Vec<String>,
}

/// A family as nft names it (the `nftables` crate's serde names).
fn family_name(family: NfFamily) -> &'static str {
    match family {
        NfFamily::IP => "ip",
        NfFamily::IP6 => "ip6",
        NfFamily::INet => "inet",
        NfFamily::ARP => "arp",
        NfFamily::Bridge => "bridge",
        NfFamily::NetDev => "netdev",
    }
}

fn field(body: &Value, key: &str) -> String {
    body.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

impl Command {
    /// The command a JSON object is (`{"add": {"rule": {...}}}`, `{"delete": {"table": …}}`).
    pub(crate) fn of(value: Value) -> Arc<Command> {
        let text = value.to_string();
        let added = value.get("add").and_then(Value::as_object).and_then(|o| o.iter().next());
        let (kind, body) = match added {
            Some((k, body)) => (
                match k.as_str() {
                    "table" => Kind::Table,
                    "chain" => Kind::Chain,
                    "rule" => Kind::Rule,
                    "set" => Kind::Set("set"),
                    "map" => Kind::Set("map"),
                    _ => Kind::Other,
                },
                body.clone(),
            ),
            None => (Kind::Other, Value::Null),
        };
        let name = field(&body, if kind == Kind::Rule { "chain" } else { "name" });
        let (table, family) =
            (field(&body, if kind == Kind::Table { "name" } else { "table" }), field(&body, "family"));
        let (mut definition, mut elems) = (String::new(), Vec::new());
        if let Kind::Set(_) = kind {
            let mut body = body;
            if let Some(Value::Array(items)) = body.as_object_mut().and_then(|b| b.remove("elem")) {
                elems = items.iter().map(Value::to_string).collect();
            }
            definition = body.to_string();
        }
        Arc::new(Command { kind, family, table, name, text, definition, elems })
    }

    /// `add set` or `add map` (`kind`) of `body` (family, table, name, type, flags…) with
    /// `elems` (each its JSON), written as text without building a JSON tree of the elements.
    pub(crate) fn named_set(kind: &'static str, body: Value, elems: Vec<String>) -> Arc<Command> {
        let definition = body.to_string();
        let text = if elems.is_empty() {
            format!("{{\"add\":{{\"{kind}\":{definition}}}}}")
        } else {
            // `{…}` + `,"elem":[…]}`.
            format!(
                "{{\"add\":{{\"{kind}\":{},\"elem\":[{}]}}}}}}",
                &definition[..definition.len() - 1],
                elems.join(",")
            )
        };
        Arc::new(Command {
            kind: Kind::Set(kind),
            family: field(&body, "family"),
            table: field(&body, "table"),
            name: field(&body, "name"),
            text,
            definition,
            elems,
        })
    }

    /// A typed command of the `nftables` crate: serialized straight to text (no JSON tree)
    /// unless it is a set, whose elements are kept one by one.
    pub(crate) fn typed(object: NfObject<'static>) -> Arc<Command> {
        let (kind, family, table, name) = match &object {
            NfObject::CmdObject(NfCmd::Add(NfListObject::Table(t))) => (Kind::Table, t.family, &t.name, &t.name),
            NfObject::CmdObject(NfCmd::Add(NfListObject::Chain(c))) => (Kind::Chain, c.family, &c.table, &c.name),
            NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(r))) => (Kind::Rule, r.family, &r.table, &r.chain),
            _ => return Command::of(serde_json::to_value(object).unwrap_or_default()),
        };
        Arc::new(Command {
            kind,
            family: family_name(family).to_owned(),
            table: table.to_string(),
            name: name.to_string(),
            text: serde_json::to_string(&object).unwrap_or_default(),
            definition: String::new(),
            elems: Vec::new(),
        })
    }
}

/// The whole transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    pub(crate) commands: Vec<Arc<Command>>,
}

impl Document {
    /// `{"nftables": [ … ]}`, as `nft -j -f -` takes it.
    pub fn to_json(&self) -> String {
        let len = self.commands.iter().map(|c| c.text.len() + 1).sum::<usize>() + 16;
        let mut out = String::with_capacity(len);
        out.push_str("{\"nftables\":[");
        for (i, c) in self.commands.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&c.text);
        }
        out.push_str("]}");
        out
    }

    /// The document as a JSON value (tests, golden files).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.to_json()).unwrap_or_default()
    }

    /// SHA-256 (hex) of [`Document::to_json`], without building it.
    pub(crate) fn sha256(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(b"{\"nftables\":[");
        for (i, c) in self.commands.iter().enumerate() {
            if i > 0 {
                hash.update(b",");
            }
            hash.update(c.text.as_bytes());
        }
        hash.update(b"]}");
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}
