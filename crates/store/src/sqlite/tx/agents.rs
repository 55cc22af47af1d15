//! Host agents and what the schedulers assign them (networks to DHCP, routers to L3).

use super::SqliteTx;
use crate::{AgentRow, Assignment, StoreError};
use rusqlite::{params, Row};

const AGENT_COLS: &str = "id, agent_type, host, heartbeat_at, body";

fn agent_row(r: &Row) -> rusqlite::Result<AgentRow> {
    Ok(AgentRow { id: r.get(0)?, agent_type: r.get(1)?, host: r.get(2)?, heartbeat_at: r.get(3)?, body: r.get(4)? })
}

pub(super) fn agent_get(tx: &SqliteTx, id: &str) -> Result<Option<AgentRow>, StoreError> {
    tx.one(&format!("SELECT {AGENT_COLS} FROM agents WHERE id = ?1"), &[&id], agent_row)
}

pub(super) fn agent_find(tx: &SqliteTx, agent_type: &str, host: &str) -> Result<Option<AgentRow>, StoreError> {
    tx.one(
        &format!("SELECT {AGENT_COLS} FROM agents WHERE agent_type = ?1 AND host = ?2"),
        &[&agent_type, &host],
        agent_row,
    )
}

pub(super) fn agent_list(tx: &SqliteTx) -> Result<Vec<AgentRow>, StoreError> {
    tx.all(&format!("SELECT {AGENT_COLS} FROM agents ORDER BY id"), &[], agent_row)
}

pub(super) fn agent_upsert(tx: &SqliteTx, a: &AgentRow) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO agents (id, agent_type, host, heartbeat_at, body) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (id) DO UPDATE SET agent_type = excluded.agent_type, host = excluded.host, \
             heartbeat_at = excluded.heartbeat_at, body = excluded.body",
        )?
        .execute(params![a.id, a.agent_type, a.host, a.heartbeat_at, a.body])?;
    Ok(())
}

pub(super) fn agent_delete(tx: &SqliteTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.conn.prepare_cached("DELETE FROM agents WHERE id = ?1")?.execute([id])? > 0)
}

pub(super) fn assignment_list(tx: &SqliteTx, kind: Assignment) -> Result<Vec<(String, String)>, StoreError> {
    let (table, col) = kind.table();
    tx.all(&format!("SELECT {col}, agent_id FROM {table} ORDER BY {col}, agent_id"), &[], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

pub(super) fn assignment_add(
    tx: &SqliteTx,
    kind: Assignment,
    resource_id: &str,
    agent_id: &str,
) -> Result<bool, StoreError> {
    let (table, col) = kind.table();
    let sql = format!("INSERT INTO {table} ({col}, agent_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING");
    Ok(tx.conn.prepare_cached(&sql)?.execute([resource_id, agent_id])? > 0)
}

pub(super) fn assignment_remove(
    tx: &SqliteTx,
    kind: Assignment,
    resource_id: &str,
    agent_id: &str,
) -> Result<bool, StoreError> {
    let (table, col) = kind.table();
    let sql = format!("DELETE FROM {table} WHERE {col} = ?1 AND agent_id = ?2");
    Ok(tx.conn.prepare_cached(&sql)?.execute([resource_id, agent_id])? > 0)
}
