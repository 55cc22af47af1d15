//! An in-memory nftables for the firewall's unit tests: it keeps, per table, the objects
//! the applied transactions added, and lists them back as `nft -j list table` would
//! (without handles).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::runner::{NftError, NftRunner};

#[derive(Debug, Default)]
struct Kernel {
    /// (family, table) → its objects in order.
    tables: BTreeMap<(String, String), Vec<Value>>,
    applies: usize,
    last_document: Option<String>,
    fail_apply: Option<String>,
}

/// The fake kernel. Transactions are atomic: a failing one changes nothing.
#[derive(Debug, Default)]
pub struct FakeNft {
    kernel: Mutex<Kernel>,
}

fn failed(command: &str, stderr: &str) -> NftError {
    NftError::Failed { command: command.to_owned(), status: "exit status: 1".to_owned(), stderr: stderr.to_owned() }
}

fn key(body: &Value, name_key: &str) -> (String, String) {
    let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    (text("family"), text(name_key))
}

impl FakeNft {
    pub fn new() -> Self {
        FakeNft::default()
    }

    fn kernel(&self) -> std::sync::MutexGuard<'_, Kernel> {
        self.kernel.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many transactions were applied.
    pub fn applies(&self) -> usize {
        self.kernel().applies
    }

    /// The last document applied.
    pub fn last_document(&self) -> Option<String> {
        self.kernel().last_document.clone()
    }

    /// Makes the next applies fail with this stderr (`None`: succeed again).
    pub fn fail_apply(&self, stderr: Option<&str>) {
        self.kernel().fail_apply = stderr.map(str::to_owned);
    }

    /// Deletes the last rule of a table, as an operator's hand would.
    pub fn delete_last_rule(&self, family: &str, table: &str) {
        let mut k = self.kernel();
        if let Some(objects) = k.tables.get_mut(&(family.to_owned(), table.to_owned())) {
            if let Some(pos) = objects.iter().rposition(|o| o.get("rule").is_some()) {
                objects.remove(pos);
            }
        }
    }
}

type Tables = BTreeMap<(String, String), Vec<Value>>;

/// The set or map an `element` command names.
fn find_set<'a>(tables: &'a mut Tables, element: &Value) -> Option<&'a mut Value> {
    let objects = tables.get_mut(&key(element, "table"))?;
    objects
        .iter_mut()
        .filter_map(|o| o.as_object_mut()?.iter_mut().find(|(k, _)| *k == "set" || *k == "map").map(|(_, b)| b))
        .find(|s| key(s, "name") == key(element, "name"))
}

/// `flush`/`delete` of a chain, set or map, as the kernel does it: a chain a map element
/// still jumps to cannot be deleted.
fn flush_or_delete(tables: &mut Tables, verb: &str, object: &Value) -> Result<(), &'static str> {
    let Some((kind, body)) = object.as_object().and_then(|o| o.iter().next()) else {
        return Err("unsupported command");
    };
    let name_key = match kind.as_str() {
        "chain" => "chain",
        "set" | "map" => "name",
        _ => return Err("unsupported command"),
    };
    let (family, name) = key(body, "name");
    let objects = tables.get_mut(&key(body, "table")).ok_or("no such table")?;
    let same =
        |o: &Value, k: &str, field: &str| o.get(k).is_some_and(|b| key(b, field) == (family.clone(), name.clone()));
    if !objects.iter().any(|o| same(o, kind, "name")) {
        return Err("Error: No such file or directory");
    }
    match (verb, kind.as_str()) {
        ("flush", "chain") => objects.retain(|o| !same(o, "rule", name_key)),
        ("flush", _) => {
            for o in objects.iter_mut().filter(|o| same(o, kind, "name")) {
                if let Some(set) = o[kind.as_str()].as_object_mut() {
                    set.remove("elem");
                }
            }
        }
        ("delete", "chain") => {
            let jumped = objects.iter().filter_map(|o| o.get("map")?.get("elem")?.as_array()).flatten().any(|e| {
                e.get(1).and_then(|v| v.get("jump")).and_then(|j| j.get("target")).and_then(Value::as_str)
                    == Some(name.as_str())
            });
            if jumped {
                return Err("Error: Could not process rule: Device or resource busy");
            }
            objects.retain(|o| !same(o, kind, "name"));
        }
        _ => objects.retain(|o| !same(o, kind, "name")),
    }
    Ok(())
}

impl NftRunner for FakeNft {
    fn list_table(&self, family: &str, name: &str) -> Result<Option<Value>, NftError> {
        let k = self.kernel();
        Ok(k.tables.get(&(family.to_owned(), name.to_owned())).map(|objects| {
            let mut out = vec![json!({"table": {"family": family, "name": name}})];
            out.extend(objects.iter().cloned());
            json!({ "nftables": out })
        }))
    }

    /// Only what the firewall sends ([`super::nd::BOOTSTRAP`]): the ND table and its set,
    /// when missing.
    fn apply_script(&self, script: &str) -> Result<(), NftError> {
        let mut k = self.kernel();
        if script != super::nd::BOOTSTRAP {
            return Err(failed("nft -f -", "the fake takes only the ND bootstrap"));
        }
        let table = super::nd::ND_TABLE;
        let objects = k.tables.entry(("bridge".to_owned(), table.to_owned())).or_default();
        if !objects.iter().any(|o| o.get("set").is_some()) {
            let set = json!({"set": {"family": "bridge", "table": table, "name": super::nd::ND_TARGETS,
                "type": ["ifname", "ether_addr", "integer"], "flags": ["interval"]}});
            objects.push(set);
        }
        Ok(())
    }

    fn apply(&self, document: &str) -> Result<(), NftError> {
        let command = "nft -j -f -";
        let mut k = self.kernel();
        if let Some(stderr) = k.fail_apply.clone() {
            return Err(failed(command, &stderr));
        }
        let doc: Value =
            serde_json::from_str(document).map_err(|source| NftError::Parse { command: command.into(), source })?;
        let mut tables = k.tables.clone();
        for cmd in doc.get("nftables").and_then(Value::as_array).into_iter().flatten() {
            if let Some(table) = cmd.get("delete").and_then(|d| d.get("table")) {
                if tables.remove(&key(table, "name")).is_none() {
                    return Err(failed(command, "Error: No such file or directory"));
                }
            } else if let Some(object) = cmd.get("add") {
                if let Some(table) = object.get("table") {
                    tables.entry(key(table, "name")).or_default();
                } else if let Some(element) = object.get("element") {
                    let set = find_set(&mut tables, element)
                        .ok_or_else(|| failed(command, "Error: No such file or directory"))?;
                    let mut elems = set.get("elem").and_then(Value::as_array).cloned().unwrap_or_default();
                    elems.extend(element["elem"].as_array().cloned().unwrap_or_default());
                    set["elem"] = Value::Array(elems);
                } else if let Some((_, body)) = object.as_object().and_then(|o| o.iter().next()) {
                    let objects =
                        tables.get_mut(&key(body, "table")).ok_or_else(|| failed(command, "no such table"))?;
                    // `add` of a chain or set that exists changes nothing.
                    let kind = object.as_object().and_then(|o| o.keys().next()).cloned().unwrap_or_default();
                    let exists = kind != "rule"
                        && objects.iter().any(|o| o.get(&kind).is_some_and(|b| key(b, "name") == key(body, "name")));
                    if !exists {
                        objects.push(object.clone());
                    }
                }
            } else if let Some(element) = cmd.get("delete").and_then(|d| d.get("element")) {
                let set = find_set(&mut tables, element)
                    .ok_or_else(|| failed(command, "Error: No such file or directory"))?;
                let mut elems = set.get("elem").and_then(Value::as_array).cloned().unwrap_or_default();
                for gone in element["elem"].as_array().into_iter().flatten() {
                    // A map's element is named by its key.
                    let pos = elems.iter().position(|e| e == gone || e.get(0) == Some(gone));
                    let pos =
                        pos.ok_or_else(|| failed(command, "Error: Could not process rule: No such file or directory"))?;
                    elems.remove(pos);
                }
                set["elem"] = Value::Array(elems);
            } else if let Some((verb, object)) = ["flush", "delete"].iter().find_map(|v| cmd.get(*v).map(|o| (*v, o))) {
                flush_or_delete(&mut tables, verb, object).map_err(|e| failed(command, e))?;
            } else {
                return Err(failed(command, "unsupported command"));
            }
        }
        k.tables = tables;
        k.applies += 1;
        k.last_document = Some(document.to_owned());
        Ok(())
    }
}
