//! Output like python-openstackclient: `Field | Value` tables for one object, a row per
//! object for lists, or JSON / bare values with `-f`.

use comfy_table::{ContentArrangement, Table};
use neutrino_client::Object;
use serde_json::Value;

/// `-f` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Value,
}

/// How OSC prints a value in a table cell.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => {
            if *b {
                "True".into()
            } else {
                "False".into()
            }
        }
        Value::Number(n) => n.to_string(),
        Value::Array(items) if items.iter().all(|i| !i.is_object()) => {
            items.iter().map(cell).collect::<Vec<_>>().join(", ")
        }
        Value::Array(items) => items.iter().map(dict_cell).collect::<Vec<_>>().join("\n"),
        Value::Object(_) => dict_cell(v),
    }
}

fn dict_cell(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            keys.iter().map(|k| format!("{k}='{}'", cell(&m[*k]))).collect::<Vec<_>>().join(", ")
        }
        other => cell(other),
    }
}

/// prettytable's look, as cliff prints it: `+---+` rules, `|` columns, no row separators.
const OSC_PRESET: &str = "||--+-++|    ++++++";

fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(OSC_PRESET).set_content_arrangement(ContentArrangement::Disabled);
    t
}

/// One object: sorted `Field | Value` rows.
pub fn render_one(obj: &Object, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(obj).unwrap_or_default(),
        Format::Value => {
            let mut keys: Vec<&String> = obj.keys().collect();
            keys.sort();
            keys.iter().map(|k| cell(&obj[*k])).collect::<Vec<_>>().join("\n")
        }
        Format::Table => {
            let mut t = table();
            t.set_header(vec!["Field", "Value"]);
            let mut keys: Vec<&String> = obj.keys().collect();
            keys.sort();
            for k in keys {
                t.add_row(vec![k.clone(), cell(&obj[k])]);
            }
            t.to_string()
        }
    }
}

/// A list with the given `(header, attribute)` columns.
pub fn render_list(items: &[Object], columns: &[(&str, &str)], format: Format) -> String {
    match format {
        Format::Json => {
            let rows: Vec<Value> = items
                .iter()
                .map(|o| {
                    let mut m = serde_json::Map::new();
                    for (header, key) in columns {
                        m.insert((*header).to_string(), o.get(*key).cloned().unwrap_or(Value::Null));
                    }
                    Value::Object(m)
                })
                .collect();
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        }
        Format::Value => items
            .iter()
            .map(|o| columns.iter().map(|(_, k)| cell(o.get(*k).unwrap_or(&Value::Null))).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n"),
        Format::Table => {
            let mut t = table();
            t.set_header(columns.iter().map(|(h, _)| *h).collect::<Vec<_>>());
            for o in items {
                t.add_row(columns.iter().map(|(_, k)| cell(o.get(*k).unwrap_or(&Value::Null))).collect::<Vec<_>>());
            }
            t.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn cells_look_like_osc() {
        assert_eq!(cell(&json!(true)), "True");
        assert_eq!(cell(&json!(["b", "a"])), "b, a");
        assert_eq!(
            cell(&json!([{"ip_address": "10.0.0.2", "subnet_id": "s"}])),
            "ip_address='10.0.0.2', subnet_id='s'"
        );
        assert_eq!(cell(&Value::Null), "");
    }

    #[test]
    fn one_object_as_field_value_table() {
        let t = render_one(&obj(json!({"name": "n1", "id": "x", "admin_state_up": true})), Format::Table);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[1].contains("Field") && lines[1].contains("Value"), "{t}");
        let admin = lines.iter().position(|l| l.contains("admin_state_up")).unwrap();
        let name = lines.iter().position(|l| l.contains("| name")).unwrap();
        assert!(admin < name, "rows are sorted by field:\n{t}");
        assert!(t.contains("True"));
    }

    #[test]
    fn lists_as_table_json_and_value() {
        let items = vec![obj(json!({"id": "1", "name": "a", "subnets": ["s1"]}))];
        let cols = [("ID", "id"), ("Name", "name"), ("Subnets", "subnets")];
        let t = render_list(&items, &cols, Format::Table);
        assert!(t.contains("| ID") && t.contains("s1"), "{t}");
        let j: Value = serde_json::from_str(&render_list(&items, &cols, Format::Json)).unwrap();
        assert_eq!(j, json!([{"ID": "1", "Name": "a", "Subnets": ["s1"]}]));
        assert_eq!(render_list(&items, &cols, Format::Value), "1 a s1");
    }
}
