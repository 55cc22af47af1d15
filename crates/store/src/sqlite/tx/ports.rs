//! What a port is tied to besides its document: its binding to a host and segment, and the
//! security groups it uses.
//!
//! A binding's result is stored in two columns, `segment_id` and `failure`, one of them
//! `''`: a bound port has no failure, a failed one no segment. [`BindingResult`] is mapped
//! to and from them here, at the row boundary.

use super::SqliteTx;
use crate::{BindingResult, PortBinding, StoreError};
use rusqlite::{params, OptionalExtension, Row};

fn binding_row(r: &Row) -> rusqlite::Result<PortBinding> {
    let segment_id: String = r.get(3)?;
    let failure: String = r.get(4)?;
    Ok(PortBinding {
        port_id: r.get(0)?,
        host: r.get(1)?,
        network_id: r.get(2)?,
        result: if failure.is_empty() {
            BindingResult::Bound { segment_id }
        } else {
            BindingResult::Failed { reason: failure }
        },
    })
}

pub(super) fn port_binding_set(tx: &SqliteTx, b: &PortBinding) -> Result<(), StoreError> {
    let (segment_id, failure) = b.result.columns();
    tx.conn
        .prepare_cached(
            "INSERT INTO port_bindings (port_id, host, network_id, segment_id, failure) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (port_id) DO UPDATE SET host = excluded.host, network_id = excluded.network_id, \
             segment_id = excluded.segment_id, failure = excluded.failure",
        )?
        .execute(params![b.port_id, b.host, b.network_id, segment_id, failure])?;
    Ok(())
}

pub(super) fn port_binding_clear(tx: &SqliteTx, port_id: &str) -> Result<(), StoreError> {
    tx.conn.prepare_cached("DELETE FROM port_bindings WHERE port_id = ?1")?.execute([port_id])?;
    Ok(())
}

pub(super) fn port_binding_get(tx: &SqliteTx, port_id: &str) -> Result<Option<PortBinding>, StoreError> {
    Ok(tx
        .conn
        .prepare_cached("SELECT port_id, host, network_id, segment_id, failure FROM port_bindings WHERE port_id = ?1")?
        .query_row([port_id], binding_row)
        .optional()?)
}

pub(super) fn port_binding_list_by_host(tx: &SqliteTx, host: &str) -> Result<Vec<PortBinding>, StoreError> {
    tx.all(
        "SELECT port_id, host, network_id, segment_id, failure FROM port_bindings WHERE host = ?1 ORDER BY port_id",
        &[&host],
        binding_row,
    )
}

pub(super) fn port_binding_list_by_network(tx: &SqliteTx, network_id: &str) -> Result<Vec<PortBinding>, StoreError> {
    tx.all(
        "SELECT port_id, host, network_id, segment_id, failure FROM port_bindings WHERE network_id = ?1 AND failure = '' ORDER BY port_id",
        &[&network_id],
        binding_row,
    )
}

pub(super) fn port_security_group_set(tx: &SqliteTx, port_id: &str, groups: &[String]) -> Result<(), StoreError> {
    tx.conn.prepare_cached("DELETE FROM port_security_groups WHERE port_id = ?1")?.execute([port_id])?;
    let mut stmt =
        tx.conn.prepare_cached("INSERT INTO port_security_groups (port_id, security_group_id) VALUES (?1, ?2)")?;
    for g in groups {
        stmt.execute([port_id, g.as_str()])?;
    }
    Ok(())
}

pub(super) fn port_security_group_count(tx: &SqliteTx, security_group_id: &str) -> Result<u64, StoreError> {
    let mut stmt = tx.conn.prepare_cached("SELECT COUNT(*) FROM port_security_groups WHERE security_group_id = ?1")?;
    Ok(stmt.query_row([security_group_id], |r| r.get::<_, i64>(0))? as u64)
}

pub(super) fn port_security_group_ports(tx: &SqliteTx, security_group_id: &str) -> Result<Vec<String>, StoreError> {
    tx.all(
        "SELECT port_id FROM port_security_groups WHERE security_group_id = ?1 ORDER BY port_id",
        &[&security_group_id],
        |r| r.get(0),
    )
}
