//! `neutrino diagnose`'s questions to host agents and their answers (`host_questions`).

use super::{changes, SqliteTx};
use crate::{ChangeKind, ChangeOp, HostQuestionRow, StoreError};
use rusqlite::Row;

const COLUMNS: &str = "id, host, body, created_ms, answer, answered_ms";

fn row(r: &Row) -> rusqlite::Result<HostQuestionRow> {
    Ok(HostQuestionRow {
        id: r.get(0)?,
        host: r.get(1)?,
        body: r.get(2)?,
        created_ms: r.get(3)?,
        answer: r.get(4)?,
        answered_ms: r.get(5)?,
    })
}

pub(super) fn insert(tx: &mut SqliteTx, q: &HostQuestionRow) -> Result<u64, StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO host_questions (id, host, body, created_ms, answer, answered_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(rusqlite::params![q.id, q.host, q.body, q.created_ms, q.answer, q.answered_ms])?;
    changes::record_kind(tx, ChangeKind::HostQuestion, &q.host, ChangeOp::Create)
}

pub(super) fn pending(tx: &SqliteTx, host: &str, limit: u64) -> Result<Vec<HostQuestionRow>, StoreError> {
    tx.all(
        &format!(
            "SELECT {COLUMNS} FROM host_questions WHERE host = ?1 AND answer IS NULL ORDER BY created_ms, id LIMIT ?2"
        ),
        &[&host, &(limit as i64)],
        row,
    )
}

pub(super) fn get(tx: &SqliteTx, id: &str) -> Result<Option<HostQuestionRow>, StoreError> {
    tx.one(&format!("SELECT {COLUMNS} FROM host_questions WHERE id = ?1"), &[&id], row)
}

pub(super) fn answer(tx: &mut SqliteTx, id: &str, host: &str, answer: &str, at_ms: i64) -> Result<bool, StoreError> {
    let touched = tx
        .conn
        .prepare_cached(
            "UPDATE host_questions SET answer = ?3, answered_ms = ?4 WHERE id = ?1 AND host = ?2 AND answer IS NULL",
        )?
        .execute(rusqlite::params![id, host, answer, at_ms])?;
    if touched == 0 {
        return Ok(false);
    }
    changes::record_kind(tx, ChangeKind::HostAnswer, id, ChangeOp::Update)?;
    Ok(true)
}

pub(super) fn delete(tx: &SqliteTx, before_ms: i64, ids: &[String]) -> Result<u64, StoreError> {
    let mut gone = tx.conn.prepare_cached("DELETE FROM host_questions WHERE created_ms < ?1")?.execute([before_ms])?;
    let mut by_id = tx.conn.prepare_cached("DELETE FROM host_questions WHERE id = ?1")?;
    for id in ids {
        gone += by_id.execute([id])?;
    }
    Ok(gone as u64)
}
