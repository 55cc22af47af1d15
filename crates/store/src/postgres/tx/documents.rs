//! The resource documents: the statements [`crate::doc_table`] builds, as on SQLite.

use super::{Param, PgTx};
use crate::doc_table::{doc_table, where_clause};
use crate::{Doc, IndexFilter, StoreError};
use neutrino_model::Resource;

fn params<T: postgres::types::ToSql + Sync>(values: &[T]) -> Vec<Param<'_>> {
    values.iter().map(|v| v as Param).collect()
}

pub(super) fn get(tx: &mut PgTx, resource: Resource, id: &str) -> Result<Option<String>, StoreError> {
    Ok(tx.one(&doc_table(resource).statements().get, &[&id])?.map(|r| r.get(0)))
}

pub(super) fn list(tx: &mut PgTx, resource: Resource, filter: &IndexFilter) -> Result<Vec<String>, StoreError> {
    let (clause, args) = where_clause(resource, filter);
    let sql = format!("SELECT body FROM {}{} ORDER BY id", doc_table(resource).name, clause);
    Ok(tx.all(&sql, &params(&args))?.iter().map(|r| r.get(0)).collect())
}

pub(super) fn count(tx: &mut PgTx, resource: Resource, filter: &IndexFilter) -> Result<u64, StoreError> {
    let (clause, args) = where_clause(resource, filter);
    let sql = format!("SELECT COUNT(*) FROM {}{}", doc_table(resource).name, clause);
    let row = tx.one(&sql, &params(&args))?;
    Ok(row.map_or(0, |r| r.get::<_, i64>(0)) as u64)
}

pub(super) fn insert(tx: &mut PgTx, resource: Resource, d: &Doc) -> Result<(), StoreError> {
    let table = doc_table(resource);
    tx.exec_guarded(&table.statements().insert, &params(&table.insert_values(d)))?;
    Ok(())
}

pub(super) fn update(tx: &mut PgTx, resource: Resource, d: &Doc) -> Result<bool, StoreError> {
    let table = doc_table(resource);
    Ok(tx.exec_guarded(&table.statements().update, &params(&table.update_values(d)))? > 0)
}

pub(super) fn delete(tx: &mut PgTx, resource: Resource, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exec(&doc_table(resource).statements().delete, &[&id])? > 0)
}
