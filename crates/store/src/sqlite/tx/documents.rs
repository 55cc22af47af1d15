//! The resource documents: every statement built from [`crate::doc_table`].

use super::SqliteTx;
use crate::doc_table::{doc_table, where_clause};
use crate::{Doc, IndexFilter, StoreError};
use neutrino_model::Resource;
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
