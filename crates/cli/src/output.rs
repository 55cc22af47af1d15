//! Output the way python-openstackclient (cliff) prints it, so that scripts and eyes used to
//! `openstack` read `neutrino` unchanged:
//!
//! * `-f table`: one object as sorted `Field | Value` rows, a list as one row per object, in
//!   prettytable's ASCII style; values go through OSC's per-attribute formatters (`UP`/`DOWN`,
//!   sorted `a, b` lists, `key='value'` dicts...), and anything else prints as Python would.
//! * `-f json`: the raw values (cliff's "machine readable" form), keyed by field name for one
//!   object and by column header for lists.
//! * `-f value`: the raw values as Python's `str()` prints them, one field per line for one
//!   object, one space-separated row per object for lists.
//!
//! `-c` keeps only the named fields (or headers), in display order, like cliff.

use comfy_table::{CellAlignment, ContentArrangement, Table};
use neutrino_client::Object;
use serde_json::{Map, Value};

/// `-f` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Value,
}

/// OSC's formatter of one attribute, for tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// `UP` / `DOWN`.
    AdminState,
    /// `External` / `Internal`.
    RouterExternal,
    /// `a, b`, sorted.
    List,
    /// `a, b` in the server's order (DNS servers: the order matters).
    UnsortedList,
    /// `key='value', ...` per object, one object per line.
    ListOfDicts,
    /// `key='value', ...`, nested keys dotted.
    Dict,
    /// `start-end,start-end`.
    AllocationPools,
    /// Like `ListOfDicts`, with `nexthop` named `gateway` as `--host-route` spells it.
    HostRoutes,
    /// A trunk's `sub_ports`, as `ListOfDicts`.
    SubPorts,
}

/// How OSC shows one resource type.
#[derive(Debug)]
pub struct View {
    /// `(API attribute, displayed field)`: OSC shows some attributes under openstacksdk's names.
    pub renames: &'static [(&'static str, &'static str)],
    /// Attributes OSC never shows.
    pub hidden: &'static [&'static str],
    /// Formatters by API attribute; the rest print as Python would.
    pub cells: &'static [(&'static str, Cell)],
}

impl View {
    fn display_name<'a>(&self, attr: &'a str) -> &'a str {
        self.renames.iter().find(|(from, _)| *from == attr).map_or(attr, |(_, to)| to)
    }

    fn cell(&self, attr: &str) -> Option<Cell> {
        self.cells.iter().find(|(a, _)| *a == attr).map(|(_, c)| *c)
    }
}

/// One column of a list: its header and the API attribute it shows.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub header: &'static str,
    pub attr: &'static str,
}

/// Shorthand for a list column.
pub const fn col(header: &'static str, attr: &'static str) -> Column {
    Column { header, attr }
}

/// One object; the text ends with a newline unless it is empty.
pub fn render_one(obj: &Object, view: &View, format: Format, selected: &[String]) -> anyhow::Result<String> {
    let mut fields: Vec<(&str, &str)> =
        obj.keys().filter(|k| !view.hidden.contains(&k.as_str())).map(|k| (view.display_name(k), k.as_str())).collect();
    fields.sort();
    let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    let keep = selection(&names, selected)?;
    let fields: Vec<(&str, &str)> = fields.into_iter().filter(|(name, _)| keep(name)).collect();
    let value = |attr: &str| obj.get(attr).unwrap_or(&Value::Null);
    Ok(match format {
        Format::Json => {
            let m: Map<String, Value> = fields
                .iter()
                .map(|(name, attr)| ((*name).to_string(), machine(value(attr), view.cell(attr))))
                .collect();
            json_text(&Value::Object(m))
        }
        Format::Value => {
            fields.iter().map(|(_, attr)| python_str(&machine(value(attr), view.cell(attr))) + "\n").collect()
        }
        Format::Table => {
            if fields.is_empty() {
                return Ok(String::new());
            }
            let mut t = table();
            t.set_header(["Field", "Value"]);
            for (name, attr) in &fields {
                t.add_row([name.to_string(), human(value(attr), view.cell(attr))]);
            }
            format!("{t}\n")
        }
    })
}

/// A list with the given columns; the text ends with a newline unless it is empty.
pub fn render_list(
    items: &[Object],
    columns: &[Column],
    view: &View,
    format: Format,
    selected: &[String],
) -> anyhow::Result<String> {
    let headers: Vec<&str> = columns.iter().map(|c| c.header).collect();
    let keep = selection(&headers, selected)?;
    let columns: Vec<Column> = columns.iter().copied().filter(|c| keep(c.header)).collect();
    let value = |o: &'_ Object, c: &Column| o.get(c.attr).cloned().unwrap_or(Value::Null);
    let machine_value = |o: &'_ Object, c: &Column| machine(o.get(c.attr).unwrap_or(&Value::Null), view.cell(c.attr));
    Ok(match format {
        Format::Json => {
            let rows = items
                .iter()
                .map(|o| Value::Object(columns.iter().map(|c| (c.header.to_string(), machine_value(o, c))).collect()))
                .collect();
            json_text(&Value::Array(rows))
        }
        Format::Value => items
            .iter()
            .map(|o| columns.iter().map(|c| python_str(&machine_value(o, c))).collect::<Vec<_>>().join(" ") + "\n")
            .collect(),
        Format::Table => {
            let mut t = table();
            t.set_header(columns.iter().map(|c| c.header));
            for o in items {
                t.add_row(columns.iter().map(|c| human(&value(o, c), view.cell(c.attr))));
            }
            // cliff right-aligns the columns whose first value is a bare number.
            if let Some(first) = items.first() {
                for (i, c) in columns.iter().enumerate() {
                    if view.cell(c.attr).is_none() && value(first, c).is_number() {
                        if let Some(column) = t.column_mut(i) {
                            column.set_cell_alignment(CellAlignment::Right);
                        }
                    }
                }
            }
            if items.is_empty() {
                "\n".to_string()
            } else {
                format!("{t}\n")
            }
        }
    })
}

/// cliff's `-c`: no selection keeps everything; otherwise the named ones, at least one of which
/// must exist.
fn selection<'a>(available: &[&str], selected: &'a [String]) -> anyhow::Result<impl Fn(&str) -> bool + 'a> {
    if !selected.is_empty() && !selected.iter().any(|s| available.contains(&s.as_str())) {
        anyhow::bail!(
            "No recognized column names in {}. Recognized columns are: {}",
            selected.join(", "),
            available.join(", ")
        );
    }
    Ok(move |name: &str| selected.is_empty() || selected.iter().any(|s| s == name))
}

fn json_text(v: &Value) -> String {
    // Serializing a `Value` cannot fail: its map keys are strings.
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

/// prettytable's look, as cliff prints it: `+---+` rules, `|` columns, no row separators.
const OSC_PRESET: &str = "||--+-++|    ++++++";

pub fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(OSC_PRESET).set_content_arrangement(ContentArrangement::Disabled);
    t
}

/// A value as cliff's JSON and value formats take it (a formatter's "machine readable" form):
/// the API's value, except that missing lists and dicts read as empty ones, and a trunk as its
/// sub-ports.
pub fn machine(v: &Value, cell: Option<Cell>) -> Value {
    match (cell, v) {
        (Some(Cell::List | Cell::ListOfDicts | Cell::SubPorts), Value::Null) => Value::Array(Vec::new()),
        (Some(Cell::Dict), Value::Null) => Value::Object(Map::new()),
        (Some(Cell::SubPorts), Value::Object(trunk)) => machine(&trunk["sub_ports"], Some(Cell::SubPorts)),
        _ => v.clone(),
    }
}

/// A value as an OSC table shows it.
pub fn human(v: &Value, cell: Option<Cell>) -> String {
    let strings = |items: &[Value]| items.iter().map(python_str).collect::<Vec<_>>();
    let text = match (cell, v) {
        (Some(Cell::AdminState), v) => if truthy(v) { "UP" } else { "DOWN" }.to_string(),
        (Some(Cell::RouterExternal), v) => if truthy(v) { "External" } else { "Internal" }.to_string(),
        (
            Some(
                Cell::List
                | Cell::UnsortedList
                | Cell::ListOfDicts
                | Cell::AllocationPools
                | Cell::HostRoutes
                | Cell::SubPorts,
            ),
            Value::Null,
        ) => String::new(),
        (Some(Cell::SubPorts), Value::Object(trunk)) => human(&trunk["sub_ports"], Some(Cell::ListOfDicts)),
        (Some(Cell::List), Value::Array(items)) => {
            let mut s = strings(items);
            s.sort();
            s.join(", ")
        }
        (Some(Cell::UnsortedList), Value::Array(items)) => strings(items).join(", "),
        (Some(Cell::ListOfDicts), Value::Array(items)) => items.iter().map(dict_text).collect::<Vec<_>>().join("\n"),
        (Some(Cell::Dict), Value::Object(_)) => dict_text(v),
        (Some(Cell::AllocationPools), Value::Array(pools)) => pools
            .iter()
            .map(|p| format!("{}-{}", python_str(&p["start"]), python_str(&p["end"])))
            .collect::<Vec<_>>()
            .join(","),
        (Some(Cell::HostRoutes), Value::Array(routes)) => routes
            .iter()
            .map(|r| match r {
                Value::Object(m) => dict_text(&Value::Object(
                    m.iter()
                        .map(|(k, v)| (if k == "nexthop" { "gateway" } else { k }.to_string(), v.clone()))
                        .collect(),
                )),
                other => python_str(other),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        (_, v) => python_str(v),
    };
    text.replace("\r\n", "\n").replace('\r', " ")
}

/// osc-lib's `format_dict`: sorted `key='value'` pairs, nested objects as `outer.inner='v'`.
fn dict_text(v: &Value) -> String {
    fn walk(m: &Map<String, Value>, prefix: &str, out: &mut Vec<String>) {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        for k in keys {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match &m[k] {
                Value::Object(inner) => walk(inner, &key, out),
                Value::Null => out.push(format!("{key}=")),
                other => out.push(format!("{key}='{}'", python_str(other))),
            }
        }
    }
    match v {
        Value::Object(m) => {
            let mut parts = Vec::new();
            walk(m, "", &mut parts);
            parts.join(", ")
        }
        other => python_str(other),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Python's `str()` of the value openstacksdk would hold: strings bare, `None`, `True`,
/// containers as their `repr`.
pub fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => python_repr(other),
    }
}

/// Python's `repr()`: `['a', 'b']`, `{'k': 1}`, `None`, `True`.
pub fn python_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => python_string_repr(s),
        Value::Array(items) => format!("[{}]", items.iter().map(python_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", python_string_repr(k), python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A string literal as Python prints it: single quotes unless the text holds one and no double.
fn python_string_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    const NETWORK: View = View {
        renames: &[],
        hidden: &["tenant_id"],
        cells: &[("admin_state_up", Cell::AdminState), ("subnets", Cell::List), ("tags", Cell::List)],
    };

    const PORT: View = View {
        renames: &[("binding:host_id", "binding_host_id")],
        hidden: &["tenant_id"],
        cells: &[("fixed_ips", Cell::ListOfDicts), ("binding:profile", Cell::Dict)],
    };

    fn sample_network() -> Object {
        obj(json!({"name": "n1", "id": "5e0c", "admin_state_up": true, "tenant_id": "p", "project_id": "p",
                   "subnets": ["s2", "s1"], "mtu": 1450, "dns_domain": null, "tags": []}))
    }

    fn render(o: &Object, view: &View, format: Format) -> String {
        render_one(o, view, format, &[]).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn one_object_as_osc_field_value_table() {
        let t = render(&sample_network(), &NETWORK, Format::Table);
        assert_eq!(
            t,
            "\
+----------------+--------+
| Field          | Value  |
+----------------+--------+
| admin_state_up | UP     |
| dns_domain     | None   |
| id             | 5e0c   |
| mtu            | 1450   |
| name           | n1     |
| project_id     | p      |
| subnets        | s1, s2 |
| tags           |        |
+----------------+--------+
"
        );
    }

    #[test]
    fn one_object_as_sorted_raw_json_without_hidden_fields() {
        let j = render(&sample_network(), &NETWORK, Format::Json);
        assert!(j.starts_with("{\n  \"admin_state_up\": true,\n  \"dns_domain\": null,"), "{j}");
        let parsed: Value = serde_json::from_str(&j).unwrap_or_else(|e| panic!("{e}: {j}"));
        assert_eq!(parsed["subnets"], json!(["s2", "s1"]), "JSON keeps the server's order");
        assert!(parsed.get("tenant_id").is_none());
    }

    #[test]
    fn one_object_as_python_values() {
        let v = render(&sample_network(), &NETWORK, Format::Value);
        assert_eq!(v, "True\nNone\n5e0c\n1450\nn1\np\n['s2', 's1']\n[]\n");
    }

    #[test]
    fn renamed_fields_sort_by_their_shown_name() {
        let port = obj(json!({"binding:host_id": "h1", "binding:profile": {"b": 1, "a": {"x": null}},
                              "fixed_ips": [{"subnet_id": "s", "ip_address": "10.0.0.2"},
                                            {"subnet_id": "s", "ip_address": "10.0.0.3"}]}));
        let t = render(&port, &PORT, Format::Table);
        assert!(t.contains("| binding_host_id | h1 "), "{t}");
        assert!(t.contains("| binding:profile | a.x=, b='1' "), "{t}");
        assert!(
            t.contains("| fixed_ips       | ip_address='10.0.0.2', subnet_id='s' |\n|                 | ip_address='10.0.0.3', subnet_id='s' |"),
            "one dict per line:\n{t}"
        );
        let j: Value = serde_json::from_str(&render(&port, &PORT, Format::Json)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(j["binding_host_id"], "h1");
    }

    #[test]
    fn column_selection_keeps_display_order() {
        let picked = ["name".to_string(), "id".to_string()];
        let v = render_one(&sample_network(), &NETWORK, Format::Value, &picked).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v, "5e0c\nn1\n");
        let err = render_one(&sample_network(), &NETWORK, Format::Value, &["nope".to_string()]);
        assert!(err.is_err_and(|e| e.to_string().contains("No recognized column names in nope")));
    }

    const LIST_COLUMNS: [Column; 3] = [col("ID", "id"), col("Name", "name"), col("Subnets", "subnets")];

    #[test]
    fn list_as_osc_table() {
        let items = vec![sample_network(), obj(json!({"id": "77", "name": "n2", "subnets": []}))];
        let t = render_list(&items, &LIST_COLUMNS, &NETWORK, Format::Table, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t,
            "\
+------+------+---------+
| ID   | Name | Subnets |
+------+------+---------+
| 5e0c | n1   | s1, s2  |
| 77   | n2   |         |
+------+------+---------+
"
        );
        let empty = render_list(&[], &LIST_COLUMNS, &NETWORK, Format::Table, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(empty, "\n", "cliff prints an empty line for no rows");
    }

    #[test]
    fn list_as_json_by_header_and_as_values() {
        let items = vec![sample_network()];
        let j = render_list(&items, &LIST_COLUMNS, &NETWORK, Format::Json, &[]).unwrap_or_else(|e| panic!("{e}"));
        let parsed: Value = serde_json::from_str(&j).unwrap_or_else(|e| panic!("{e}: {j}"));
        assert_eq!(parsed, json!([{"ID": "5e0c", "Name": "n1", "Subnets": ["s2", "s1"]}]));
        let v = render_list(&items, &LIST_COLUMNS, &NETWORK, Format::Value, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v, "5e0c n1 ['s2', 's1']\n");
        let only_id = render_list(&items, &LIST_COLUMNS, &NETWORK, Format::Value, &["ID".to_string()]);
        assert_eq!(only_id.unwrap_or_else(|e| panic!("{e}")), "5e0c\n");
        assert_eq!(render_list(&[], &LIST_COLUMNS, &NETWORK, Format::Json, &[]).unwrap_or_default(), "[]\n");
    }

    #[test]
    fn numbers_in_lists_are_right_aligned() {
        let items = vec![obj(json!({"id": "a", "v": 4})), obj(json!({"id": "bbb", "v": 16}))];
        let view = View { renames: &[], hidden: &[], cells: &[] };
        let t = render_list(&items, &[col("ID", "id"), col("IP Version", "v")], &view, Format::Table, &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(t.contains("| a   |          4 |"), "{t}");
    }

    #[test]
    fn formatters_match_osc() {
        assert_eq!(human(&json!(false), Some(Cell::AdminState)), "DOWN");
        assert_eq!(human(&json!(true), Some(Cell::RouterExternal)), "External");
        assert_eq!(human(&json!(["8.8.8.8", "1.1.1.1"]), Some(Cell::UnsortedList)), "8.8.8.8, 1.1.1.1");
        assert_eq!(human(&json!(["b", "a"]), Some(Cell::List)), "a, b");
        assert_eq!(
            human(
                &json!([{"start": "10.0.0.2", "end": "10.0.0.9"}, {"start": "10.0.0.20", "end": "10.0.0.29"}]),
                Some(Cell::AllocationPools)
            ),
            "10.0.0.2-10.0.0.9,10.0.0.20-10.0.0.29"
        );
        assert_eq!(
            human(&json!([{"destination": "10.1.0.0/16", "nexthop": "10.0.0.254"}]), Some(Cell::HostRoutes)),
            "destination='10.1.0.0/16', gateway='10.0.0.254'"
        );
        assert_eq!(human(&json!({}), Some(Cell::Dict)), "");
        assert_eq!(
            human(
                &json!({"trunk_id": "t", "sub_ports": [{"port_id": "p", "segmentation_id": 7}]}),
                Some(Cell::SubPorts)
            ),
            "port_id='p', segmentation_id='7'"
        );
        assert_eq!(human(&json!(null), Some(Cell::SubPorts)), "");
    }

    #[test]
    fn missing_lists_and_dicts_are_empty_for_machines() {
        assert_eq!(machine(&json!(null), Some(Cell::List)), json!([]));
        assert_eq!(machine(&json!(null), Some(Cell::Dict)), json!({}));
        assert_eq!(machine(&json!(null), Some(Cell::AdminState)), json!(null));
        assert_eq!(machine(&json!(null), None), json!(null));
        assert_eq!(machine(&json!({"sub_ports": [{"port_id": "p"}]}), Some(Cell::SubPorts)), json!([{"port_id": "p"}]));
        let view = View { renames: &[], hidden: &[], cells: &[("tags", Cell::List)] };
        let items = vec![obj(json!({"id": "1"}))];
        let columns = [col("ID", "id"), col("Tags", "tags")];
        let j = render_list(&items, &columns, &view, Format::Json, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(serde_json::from_str::<Value>(&j).ok(), Some(json!([{"ID": "1", "Tags": []}])));
        let v = render_list(&items, &columns, &view, Format::Value, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v, "1 []\n");
        assert_eq!(human(&json!(null), None), "None");
        assert_eq!(human(&json!("a\r\nb\rc"), None), "a\nb c");
        assert_eq!(human(&json!([{"k": "v"}]), None), "[{'k': 'v'}]", "no formatter: Python's str()");
    }

    #[test]
    fn python_repr_quotes_like_python() {
        assert_eq!(python_repr(&json!("it's")), "\"it's\"");
        assert_eq!(python_repr(&json!("a'b\"c")), "'a\\'b\"c'");
        assert_eq!(python_repr(&json!("tab\there\\")), "'tab\\there\\\\'");
        assert_eq!(python_repr(&json!({"a": [1, true, null]})), "{'a': [1, True, None]}");
        assert_eq!(python_str(&json!("plain")), "plain");
    }
}
