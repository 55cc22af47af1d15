//! A port's INACTIVE bindings (`binding-extended`), one row per (port, host). The profile
//! and VIF details are JSON objects in text columns; a missing segment is `''`.

use super::SqliteTx;
use crate::{InactiveBinding, InactiveRole, StoreError};
use rusqlite::{params, OptionalExtension, Row};
use serde_json::{Map, Value};

const COLUMNS: &str =
    "port_id, host, network_id, segment_id, vif_type, vnic_type, profile, vif_details, wire_ahead, wired";

fn row(r: &Row) -> rusqlite::Result<InactiveBinding> {
    let segment_id: String = r.get(3)?;
    Ok(InactiveBinding {
        port_id: r.get(0)?,
        host: r.get(1)?,
        network_id: r.get(2)?,
        segment_id: (!segment_id.is_empty()).then_some(segment_id),
        vif_type: r.get(4)?,
        vnic_type: r.get(5)?,
        profile: crate::tx::json_object(&r.get::<_, String>(6)?),
        vif_details: crate::tx::json_object(&r.get::<_, String>(7)?),
        role: if r.get::<_, bool>(8)? { InactiveRole::Target } else { InactiveRole::Left },
        wired: r.get(9)?,
    })
}

pub(super) fn insert(tx: &SqliteTx, b: &InactiveBinding) -> Result<(), StoreError> {
    let json = |m: &Map<String, Value>| Value::Object(m.clone()).to_string();
    tx.conn
        .prepare_cached(&format!(
            "INSERT INTO port_inactive_bindings ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ))?
        .execute(params![
            b.port_id,
            b.host,
            b.network_id,
            b.segment_id.as_deref().unwrap_or(""),
            b.vif_type,
            b.vnic_type,
            json(&b.profile),
            json(&b.vif_details),
            b.role == InactiveRole::Target,
            b.wired,
        ])?;
    Ok(())
}

pub(super) fn get(tx: &SqliteTx, port_id: &str, host: &str) -> Result<Option<InactiveBinding>, StoreError> {
    Ok(tx
        .conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM port_inactive_bindings WHERE port_id = ?1 AND host = ?2"))?
        .query_row([port_id, host], row)
        .optional()?)
}

pub(super) fn list_by_port(tx: &SqliteTx, port_id: &str) -> Result<Vec<InactiveBinding>, StoreError> {
    tx.all(&format!("SELECT {COLUMNS} FROM port_inactive_bindings WHERE port_id = ?1 ORDER BY host"), &[&port_id], row)
}

pub(super) fn list_by_host(tx: &SqliteTx, host: &str) -> Result<Vec<InactiveBinding>, StoreError> {
    tx.all(&format!("SELECT {COLUMNS} FROM port_inactive_bindings WHERE host = ?1 ORDER BY port_id"), &[&host], row)
}

pub(super) fn set_wired(tx: &SqliteTx, port_id: &str, host: &str, wired: bool) -> Result<bool, StoreError> {
    let n = tx
        .conn
        .prepare_cached("UPDATE port_inactive_bindings SET wired = ?3 WHERE port_id = ?1 AND host = ?2")?
        .execute(params![port_id, host, wired])?;
    Ok(n > 0)
}

pub(super) fn delete(tx: &SqliteTx, port_id: &str, host: &str) -> Result<bool, StoreError> {
    let n = tx
        .conn
        .prepare_cached("DELETE FROM port_inactive_bindings WHERE port_id = ?1 AND host = ?2")?
        .execute([port_id, host])?;
    Ok(n > 0)
}
