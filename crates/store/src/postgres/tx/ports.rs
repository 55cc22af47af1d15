//! Port bindings and ports' security groups. A binding's result is stored as on SQLite:
//! `segment_id` or `failure`, the other `''`.

use super::PgTx;
use crate::{BindingResult, PortBinding, StoreError};
use postgres::Row;

fn binding_row(r: &Row) -> PortBinding {
    let segment_id: String = r.get(3);
    let failure: String = r.get(4);
    PortBinding {
        port_id: r.get(0),
        host: r.get(1),
        network_id: r.get(2),
        result: if failure.is_empty() {
            BindingResult::Bound { segment_id }
        } else {
            BindingResult::Failed { reason: failure }
        },
    }
}

pub(super) fn port_binding_set(tx: &mut PgTx, b: &PortBinding) -> Result<(), StoreError> {
    let (segment_id, failure) = b.result.columns();
    tx.exec(
        "INSERT INTO port_bindings (port_id, host, network_id, segment_id, failure) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (port_id) DO UPDATE SET host = excluded.host, network_id = excluded.network_id, \
         segment_id = excluded.segment_id, failure = excluded.failure",
        &[&b.port_id, &b.host, &b.network_id, &segment_id, &failure],
    )?;
    Ok(())
}

pub(super) fn port_binding_clear(tx: &mut PgTx, port_id: &str) -> Result<(), StoreError> {
    tx.exec("DELETE FROM port_bindings WHERE port_id = ?1", &[&port_id])?;
    Ok(())
}

pub(super) fn port_binding_get(tx: &mut PgTx, port_id: &str) -> Result<Option<PortBinding>, StoreError> {
    let row = tx.one(
        "SELECT port_id, host, network_id, segment_id, failure FROM port_bindings WHERE port_id = ?1",
        &[&port_id],
    )?;
    Ok(row.as_ref().map(binding_row))
}

pub(super) fn port_binding_list_by_host(tx: &mut PgTx, host: &str) -> Result<Vec<PortBinding>, StoreError> {
    let rows = tx.all(
        "SELECT port_id, host, network_id, segment_id, failure FROM port_bindings WHERE host = ?1 ORDER BY port_id",
        &[&host],
    )?;
    Ok(rows.iter().map(binding_row).collect())
}

pub(super) fn port_binding_list_by_network(tx: &mut PgTx, network_id: &str) -> Result<Vec<PortBinding>, StoreError> {
    let rows = tx.all(
        "SELECT port_id, host, network_id, segment_id, failure FROM port_bindings WHERE network_id = ?1 AND failure = '' ORDER BY port_id",
        &[&network_id],
    )?;
    Ok(rows.iter().map(binding_row).collect())
}

pub(super) fn port_security_group_set(tx: &mut PgTx, port_id: &str, groups: &[String]) -> Result<(), StoreError> {
    tx.exec("DELETE FROM port_security_groups WHERE port_id = ?1", &[&port_id])?;
    for g in groups {
        tx.exec("INSERT INTO port_security_groups (port_id, security_group_id) VALUES (?1, ?2)", &[&port_id, g])?;
    }
    Ok(())
}

pub(super) fn port_security_group_count(tx: &mut PgTx, security_group_id: &str) -> Result<u64, StoreError> {
    let row =
        tx.one("SELECT COUNT(*) FROM port_security_groups WHERE security_group_id = ?1", &[&security_group_id])?;
    Ok(row.map_or(0, |r| r.get::<_, i64>(0)) as u64)
}

pub(super) fn port_security_group_ports(tx: &mut PgTx, security_group_id: &str) -> Result<Vec<String>, StoreError> {
    let rows = tx.all(
        "SELECT port_id FROM port_security_groups WHERE security_group_id = ?1 ORDER BY port_id",
        &[&security_group_id],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
