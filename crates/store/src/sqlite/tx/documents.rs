//! The resource documents: every statement built from [`doc_table`].

use super::doc_table::doc_table;
use super::SqliteTx;
use crate::{Doc, IndexFilter, StoreError, Visibility};
use neutrino_model::Resource;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, OptionalExtension};

pub(super) fn get(tx: &SqliteTx, resource: Resource, id: &str) -> Result<Option<String>, StoreError> {
    let mut stmt = tx.conn.prepare_cached(&doc_table(resource).statements().get)?;
    Ok(stmt.query_row([id], |r| r.get(0)).optional()?)
}

pub(super) fn list(tx: &SqliteTx, resource: Resource, filter: &IndexFilter) -> Result<Vec<String>, StoreError> {
    let (clause, args) = where_clause(resource, filter);
    let sql = format!("SELECT body FROM {}{} ORDER BY id", doc_table(resource).name, clause);
    let mut stmt = tx.conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn count(tx: &SqliteTx, resource: Resource, filter: &IndexFilter) -> Result<u64, StoreError> {
    let (clause, args) = where_clause(resource, filter);
    let sql = format!("SELECT COUNT(*) FROM {}{}", doc_table(resource).name, clause);
    let mut stmt = tx.conn.prepare_cached(&sql)?;
    Ok(stmt.query_row(params_from_iter(args), |r| r.get::<_, i64>(0))? as u64)
}

pub(super) fn insert(tx: &SqliteTx, resource: Resource, d: &Doc) -> Result<(), StoreError> {
    let table = doc_table(resource);
    tx.conn.prepare_cached(&table.statements().insert)?.execute(params_from_iter(table.insert_values(d)))?;
    Ok(())
}

pub(super) fn update(tx: &SqliteTx, resource: Resource, d: &Doc) -> Result<bool, StoreError> {
    let table = doc_table(resource);
    let n = tx.conn.prepare_cached(&table.statements().update)?.execute(params_from_iter(table.update_values(d)))?;
    Ok(n > 0)
}

pub(super) fn delete(tx: &SqliteTx, resource: Resource, id: &str) -> Result<bool, StoreError> {
    Ok(tx.conn.prepare_cached(&doc_table(resource).statements().delete)?.execute([id])? > 0)
}

/// Builds `WHERE col IN (?, ...) AND ...` for the set fields of an index filter: `id` and
/// `project_id`, then the table's filterable columns, then the caller's visibility.
pub(in crate::sqlite) fn where_clause(resource: Resource, filter: &IndexFilter) -> (String, Vec<SqlValue>) {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    let mut add = |col: &str, values: &Option<Vec<String>>| {
        if let Some(values) = values {
            if values.is_empty() {
                conds.push("0 = 1".into());
                return;
            }
            let marks: Vec<String> = values
                .iter()
                .map(|v| {
                    args.push(SqlValue::Text(v.clone()));
                    format!("?{}", args.len())
                })
                .collect();
            conds.push(format!("{col} IN ({})", marks.join(", ")));
        }
    };
    add("id", &filter.ids);
    add("project_id", &filter.project_ids);
    for column in doc_table(resource).columns {
        if let Some(values) = column.filter {
            add(column.name, values(filter));
        }
    }
    if let Some(seen) = &filter.visible_to {
        conds.push(visibility_condition(resource, seen, &mut args));
    }
    let clause = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
    (clause, args)
}

/// `project_id = ? [OR <column> IN (objects an RBAC policy grants the project)]`.
fn visibility_condition(resource: Resource, seen: &Visibility, args: &mut Vec<SqlValue>) -> String {
    args.push(SqlValue::Text(seen.project_id.clone()));
    let project = args.len();
    let own = format!("project_id = ?{project}");
    let Some(shared) = doc_table(resource).shared_by.as_ref().filter(|_| !seen.rbac_actions.is_empty()) else {
        return own;
    };
    let actions: Vec<String> = seen
        .rbac_actions
        .iter()
        .map(|a| {
            args.push(SqlValue::Text(a.clone()));
            format!("?{}", args.len())
        })
        .collect();
    format!(
        "({own} OR {} IN (SELECT object_id FROM rbac_policies WHERE object_type = '{}' \
         AND action IN ({}) AND target_project IN (?{project}, '*')))",
        shared.column,
        shared.object_type,
        actions.join(", ")
    )
}
