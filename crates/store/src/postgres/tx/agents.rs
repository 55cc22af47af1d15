//! Host agents and what the schedulers assign them (networks to DHCP, routers to L3).

use super::{Param, PgTx};
use crate::{AgentRow, Assignment, StoreError};
use postgres::Row;

const AGENT_COLS: &str = "id, agent_type, host, heartbeat_at, body";

fn agent_row(r: &Row) -> AgentRow {
    AgentRow { id: r.get(0), agent_type: r.get(1), host: r.get(2), heartbeat_at: r.get(3), body: r.get(4) }
}

pub(super) fn agent_get(tx: &mut PgTx, id: &str) -> Result<Option<AgentRow>, StoreError> {
    Ok(tx.one(&format!("SELECT {AGENT_COLS} FROM agents WHERE id = ?1"), &[&id])?.as_ref().map(agent_row))
}

pub(super) fn agent_find(tx: &mut PgTx, agent_type: &str, host: &str) -> Result<Option<AgentRow>, StoreError> {
    let sql = format!("SELECT {AGENT_COLS} FROM agents WHERE agent_type = ?1 AND host = ?2");
    Ok(tx.one(&sql, &[&agent_type, &host])?.as_ref().map(agent_row))
}

pub(super) fn agent_list(tx: &mut PgTx) -> Result<Vec<AgentRow>, StoreError> {
    Ok(tx.all(&format!("SELECT {AGENT_COLS} FROM agents ORDER BY id"), &[])?.iter().map(agent_row).collect())
}

pub(super) fn agent_upsert(tx: &mut PgTx, a: &AgentRow) -> Result<(), StoreError> {
    let params: [Param; 5] = [&a.id, &a.agent_type, &a.host, &a.heartbeat_at, &a.body];
    tx.exec_guarded(
        "INSERT INTO agents (id, agent_type, host, heartbeat_at, body) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (id) DO UPDATE SET agent_type = excluded.agent_type, host = excluded.host, \
         heartbeat_at = excluded.heartbeat_at, body = excluded.body",
        &params,
    )?;
    Ok(())
}

pub(super) fn agent_delete(tx: &mut PgTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exec("DELETE FROM agents WHERE id = ?1", &[&id])? > 0)
}

pub(super) fn assignment_list(tx: &mut PgTx, kind: Assignment) -> Result<Vec<(String, String)>, StoreError> {
    let (table, col) = kind.table();
    let rows = tx.all(&format!("SELECT {col}, agent_id FROM {table} ORDER BY {col}, agent_id"), &[])?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub(super) fn assignment_add(
    tx: &mut PgTx,
    kind: Assignment,
    resource_id: &str,
    agent_id: &str,
) -> Result<bool, StoreError> {
    let (table, col) = kind.table();
    let sql = format!("INSERT INTO {table} ({col}, agent_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING");
    Ok(tx.exec(&sql, &[&resource_id, &agent_id])? > 0)
}

pub(super) fn assignment_remove(
    tx: &mut PgTx,
    kind: Assignment,
    resource_id: &str,
    agent_id: &str,
) -> Result<bool, StoreError> {
    let (table, col) = kind.table();
    Ok(tx.exec(&format!("DELETE FROM {table} WHERE {col} = ?1 AND agent_id = ?2"), &[&resource_id, &agent_id])? > 0)
}
