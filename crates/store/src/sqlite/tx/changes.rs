//! The change feed agents and the schedulers watch. Kinds and ops are stored by their
//! names ([`ChangeKind::as_str`], [`ChangeOp::as_str`]).

use super::SqliteTx;
use crate::{Change, ChangeKind, ChangeOp, StoreError};
use neutrino_model::Resource;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{params, Row};

/// A stored kind the store does not know (a newer version's, or a damaged row).
#[derive(Debug, thiserror::Error)]
#[error("unknown change kind '{0}'")]
struct UnknownKind(String);

impl FromSql for ChangeKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let name = value.as_str()?;
        ChangeKind::from_name(name).ok_or_else(|| FromSqlError::Other(Box::new(UnknownKind(name.into()))))
    }
}

/// Appends one change and remembers its sequence for the commit's notification.
fn append(tx: &mut SqliteTx, kind: ChangeKind, id: &str, op: ChangeOp, project_id: &str) -> Result<u64, StoreError> {
    tx.conn
        .prepare_cached("INSERT INTO changes (resource, resource_id, op, project_id) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![kind.as_str(), id, op.as_str(), project_id])?;
    tx.last_change = tx.conn.last_insert_rowid() as u64;
    Ok(tx.last_change)
}

pub(super) fn record(
    tx: &mut SqliteTx,
    resource: Resource,
    id: &str,
    op: ChangeOp,
    project_id: &str,
) -> Result<u64, StoreError> {
    append(tx, ChangeKind::from(resource), id, op, project_id)
}

/// A change of an agent (or a revocation, a key rotation), which belongs to no project.
pub(super) fn record_kind(tx: &mut SqliteTx, kind: ChangeKind, id: &str, op: ChangeOp) -> Result<u64, StoreError> {
    append(tx, kind, id, op, "")
}

pub(super) fn latest(tx: &SqliteTx) -> Result<u64, StoreError> {
    let mut stmt = tx.conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM changes")?;
    Ok(stmt.query_row([], |r| r.get::<_, i64>(0))? as u64)
}

pub(super) fn compact(tx: &SqliteTx, keep: u64) -> Result<u64, StoreError> {
    let dropped = tx
        .conn
        .prepare_cached("DELETE FROM changes WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM changes) - ?1")?
        .execute([keep as i64])?;
    Ok(dropped as u64)
}

fn change_row(r: &Row) -> rusqlite::Result<Change> {
    Ok(Change { seq: r.get::<_, i64>(0)? as u64, kind: r.get(1)?, id: r.get(2)? })
}

pub(super) fn list_since(tx: &SqliteTx, seq: u64, limit: u64) -> Result<Vec<Change>, StoreError> {
    tx.all(
        "SELECT seq, resource, resource_id FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        &[&(seq as i64), &(limit as i64)],
        change_row,
    )
}
