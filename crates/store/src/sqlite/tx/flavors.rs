//! Flavors' associations with service profiles, and the flavor each router was created
//! with (the documents themselves are in `documents.rs`).

use super::SqliteTx;
use crate::StoreError;

pub(super) fn flavor_profile_add(tx: &SqliteTx, flavor_id: &str, profile_id: &str) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached("INSERT INTO flavor_service_profiles (flavor_id, service_profile_id) VALUES (?1, ?2)")?
        .execute([flavor_id, profile_id])?;
    Ok(())
}

pub(super) fn flavor_profile_remove(tx: &SqliteTx, flavor_id: &str, profile_id: &str) -> Result<bool, StoreError> {
    let mut stmt = tx
        .conn
        .prepare_cached("DELETE FROM flavor_service_profiles WHERE flavor_id = ?1 AND service_profile_id = ?2")?;
    Ok(stmt.execute([flavor_id, profile_id])? > 0)
}

/// In the order they were associated (the rowid grows with each insert).
pub(super) fn flavor_profile_list(tx: &SqliteTx, flavor_id: &str) -> Result<Vec<String>, StoreError> {
    tx.all(
        "SELECT service_profile_id FROM flavor_service_profiles WHERE flavor_id = ?1 ORDER BY rowid",
        &[&flavor_id],
        |r| r.get(0),
    )
}

pub(super) fn flavor_profile_count_by_profile(tx: &SqliteTx, profile_id: &str) -> Result<u64, StoreError> {
    let mut stmt =
        tx.conn.prepare_cached("SELECT COUNT(*) FROM flavor_service_profiles WHERE service_profile_id = ?1")?;
    Ok(stmt.query_row([profile_id], |r| r.get::<_, i64>(0))? as u64)
}

pub(super) fn router_flavor_set(tx: &SqliteTx, router_id: &str, flavor_id: &str) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached("INSERT INTO router_flavors (router_id, flavor_id) VALUES (?1, ?2)")?
        .execute([router_id, flavor_id])?;
    Ok(())
}

pub(super) fn router_flavor_count(tx: &SqliteTx, flavor_id: &str) -> Result<u64, StoreError> {
    let mut stmt = tx.conn.prepare_cached("SELECT COUNT(*) FROM router_flavors WHERE flavor_id = ?1")?;
    Ok(stmt.query_row([flavor_id], |r| r.get::<_, i64>(0))? as u64)
}
