//! A port's INACTIVE bindings (`binding-extended`), one row per (port, host), stored as on
//! SQLite: JSON objects in text columns, a missing segment as `''`.

use super::{Param, PgTx};
use crate::tx::json_object;
use crate::{InactiveBinding, InactiveRole, StoreError};
use postgres::Row;
use serde_json::{Map, Value};

const COLUMNS: &str =
    "port_id, host, network_id, segment_id, vif_type, vnic_type, profile, vif_details, wire_ahead, wired";

fn row(r: &Row) -> InactiveBinding {
    let segment_id: String = r.get(3);
    InactiveBinding {
        port_id: r.get(0),
        host: r.get(1),
        network_id: r.get(2),
        segment_id: (!segment_id.is_empty()).then_some(segment_id),
        vif_type: r.get(4),
        vnic_type: r.get(5),
        profile: json_object(r.get(6)),
        vif_details: json_object(r.get(7)),
        role: if r.get::<_, bool>(8) { InactiveRole::Target } else { InactiveRole::Left },
        wired: r.get(9),
    }
}

pub(super) fn insert(tx: &mut PgTx, b: &InactiveBinding) -> Result<(), StoreError> {
    let json = |m: &Map<String, Value>| Value::Object(m.clone()).to_string();
    let (segment_id, profile, vif_details) =
        (b.segment_id.as_deref().unwrap_or(""), json(&b.profile), json(&b.vif_details));
    let target = b.role == InactiveRole::Target;
    let params: [Param; 10] = [
        &b.port_id,
        &b.host,
        &b.network_id,
        &segment_id,
        &b.vif_type,
        &b.vnic_type,
        &profile,
        &vif_details,
        &target,
        &b.wired,
    ];
    let sql =
        format!("INSERT INTO port_inactive_bindings ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    tx.exec_guarded(&sql, &params)?;
    Ok(())
}

pub(super) fn get(tx: &mut PgTx, port_id: &str, host: &str) -> Result<Option<InactiveBinding>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM port_inactive_bindings WHERE port_id = ?1 AND host = ?2");
    Ok(tx.one(&sql, &[&port_id, &host])?.as_ref().map(row))
}

pub(super) fn list_by_port(tx: &mut PgTx, port_id: &str) -> Result<Vec<InactiveBinding>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM port_inactive_bindings WHERE port_id = ?1 ORDER BY host");
    Ok(tx.all(&sql, &[&port_id])?.iter().map(row).collect())
}

pub(super) fn list_by_host(tx: &mut PgTx, host: &str) -> Result<Vec<InactiveBinding>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM port_inactive_bindings WHERE host = ?1 ORDER BY port_id");
    Ok(tx.all(&sql, &[&host])?.iter().map(row).collect())
}

pub(super) fn set_wired(tx: &mut PgTx, port_id: &str, host: &str, wired: bool) -> Result<bool, StoreError> {
    let sql = "UPDATE port_inactive_bindings SET wired = ?3 WHERE port_id = ?1 AND host = ?2";
    Ok(tx.exec(sql, &[&port_id, &host, &wired])? > 0)
}

pub(super) fn delete(tx: &mut PgTx, port_id: &str, host: &str) -> Result<bool, StoreError> {
    Ok(tx.exec("DELETE FROM port_inactive_bindings WHERE port_id = ?1 AND host = ?2", &[&port_id, &host])? > 0)
}
