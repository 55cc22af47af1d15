//! The change feed. Sequences come from a `BIGSERIAL`; since every write transaction holds
//! the write lock, they commit in order.

use super::PgTx;
use crate::{Change, ChangeKind, ChangeOp, StoreError};

pub(super) fn record(
    tx: &mut PgTx,
    kind: ChangeKind,
    id: &str,
    op: ChangeOp,
    project_id: &str,
) -> Result<u64, StoreError> {
    let row = tx.one(
        "INSERT INTO changes (resource, resource_id, op, project_id) VALUES (?1, ?2, ?3, ?4) RETURNING seq",
        &[&kind.as_str(), &id, &op.as_str(), &project_id],
    )?;
    let seq = row.map_or(0, |r| r.get::<_, i64>(0)) as u64;
    tx.last_change = tx.last_change.max(seq);
    Ok(seq)
}

pub(super) fn latest(tx: &mut PgTx) -> Result<u64, StoreError> {
    let row = tx.one("SELECT COALESCE(MAX(seq), 0) FROM changes", &[])?;
    Ok(row.map_or(0, |r| r.get::<_, i64>(0)) as u64)
}

pub(super) fn compact(tx: &mut PgTx, keep: u64) -> Result<u64, StoreError> {
    tx.exec("DELETE FROM changes WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM changes) - ?1", &[&(keep as i64)])
}

pub(super) fn list_since(tx: &mut PgTx, seq: u64, limit: u64) -> Result<Vec<Change>, StoreError> {
    let rows = tx.all(
        "SELECT seq, resource, resource_id FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        &[&(seq as i64), &(limit as i64)],
    )?;
    rows.iter()
        .map(|r| {
            let name: String = r.get(1);
            let kind = ChangeKind::from_name(&name).ok_or(StoreError::UnknownChangeKind(name))?;
            Ok(Change { seq: r.get::<_, i64>(0) as u64, kind, id: r.get(2) })
        })
        .collect()
}
