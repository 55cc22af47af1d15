//! The address ledger: which port holds which address of a subnet.

use super::SqliteTx;
use crate::{IpAllocation, StoreError};
use rusqlite::params;
use rusqlite::types::Value as SqlValue;

pub(super) fn ip_allocation_list_by_subnet(tx: &SqliteTx, subnet_id: &str) -> Result<Vec<IpAllocation>, StoreError> {
    let mut stmt = tx
        .conn
        .prepare_cached("SELECT subnet_id, ip_address, port_id, network_id FROM ip_allocations WHERE subnet_id = ?1")?;
    let rows = stmt.query_map([subnet_id], |r| {
        Ok(IpAllocation { subnet_id: r.get(0)?, ip_address: r.get(1)?, port_id: r.get(2)?, network_id: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn ip_allocation_insert(tx: &SqliteTx, a: &IpAllocation) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO ip_allocations (subnet_id, ip_address, port_id, network_id) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![a.subnet_id, a.ip_address, a.port_id, a.network_id])?;
    Ok(())
}

pub(super) fn ip_allocation_delete_by_port(tx: &SqliteTx, port_id: &str) -> Result<(), StoreError> {
    tx.conn.prepare_cached("DELETE FROM ip_allocations WHERE port_id = ?1")?.execute([port_id])?;
    Ok(())
}

pub(super) fn ip_allocation_delete(tx: &SqliteTx, subnet_id: &str, ip_address: &str) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached("DELETE FROM ip_allocations WHERE subnet_id = ?1 AND ip_address = ?2")?
        .execute([subnet_id, ip_address])?;
    Ok(())
}

pub(super) fn ip_allocation_count_by_subnet(
    tx: &SqliteTx,
    subnet_id: &str,
    except_owners: &[&str],
) -> Result<u64, StoreError> {
    let mut args: Vec<SqlValue> = vec![SqlValue::Text(subnet_id.into())];
    let mut sql =
        String::from("SELECT COUNT(*) FROM ip_allocations a JOIN ports p ON p.id = a.port_id WHERE a.subnet_id = ?1");
    if !except_owners.is_empty() {
        let marks: Vec<String> = except_owners
            .iter()
            .map(|o| {
                args.push(SqlValue::Text((*o).into()));
                format!("?{}", args.len())
            })
            .collect();
        sql.push_str(&format!(" AND p.device_owner NOT IN ({})", marks.join(", ")));
    }
    let mut stmt = tx.conn.prepare_cached(&sql)?;
    Ok(stmt.query_row(rusqlite::params_from_iter(args), |r| r.get::<_, i64>(0))? as u64)
}
