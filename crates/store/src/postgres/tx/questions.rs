//! `neutrino diagnose`'s questions to host agents and their answers (`host_questions`).

use super::{feed, PgTx};
use crate::{ChangeKind, ChangeOp, HostQuestionRow, StoreError};
use postgres::Row;

const COLUMNS: &str = "id, host, body, created_ms, answer, answered_ms";

fn row(r: &Row) -> HostQuestionRow {
    HostQuestionRow {
        id: r.get(0),
        host: r.get(1),
        body: r.get(2),
        created_ms: r.get(3),
        answer: r.get(4),
        answered_ms: r.get(5),
    }
}

pub(super) fn insert(tx: &mut PgTx, q: &HostQuestionRow) -> Result<u64, StoreError> {
    tx.exec(
        "INSERT INTO host_questions (id, host, body, created_ms, answer, answered_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[&q.id, &q.host, &q.body, &q.created_ms, &q.answer, &q.answered_ms],
    )?;
    feed::record(tx, ChangeKind::HostQuestion, &q.host, ChangeOp::Create, "")
}

pub(super) fn pending(tx: &mut PgTx, host: &str, limit: u64) -> Result<Vec<HostQuestionRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM host_questions WHERE host = ?1 AND answer IS NULL ORDER BY created_ms, id LIMIT ?2"
    );
    Ok(tx.all(&sql, &[&host, &(limit as i64)])?.iter().map(row).collect())
}

pub(super) fn get(tx: &mut PgTx, id: &str) -> Result<Option<HostQuestionRow>, StoreError> {
    Ok(tx.one(&format!("SELECT {COLUMNS} FROM host_questions WHERE id = ?1"), &[&id])?.as_ref().map(row))
}

pub(super) fn answer(tx: &mut PgTx, id: &str, host: &str, answer: &str, at_ms: i64) -> Result<bool, StoreError> {
    let touched = tx.exec(
        "UPDATE host_questions SET answer = ?3, answered_ms = ?4 WHERE id = ?1 AND host = ?2 AND answer IS NULL",
        &[&id, &host, &answer, &at_ms],
    )?;
    if touched == 0 {
        return Ok(false);
    }
    feed::record(tx, ChangeKind::HostAnswer, id, ChangeOp::Update, "")?;
    Ok(true)
}

pub(super) fn delete(tx: &mut PgTx, before_ms: i64, ids: &[String]) -> Result<u64, StoreError> {
    let mut gone = tx.exec("DELETE FROM host_questions WHERE created_ms < ?1", &[&before_ms])?;
    for id in ids {
        gone += tx.exec("DELETE FROM host_questions WHERE id = ?1", &[id])?;
    }
    Ok(gone)
}
