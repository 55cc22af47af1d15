//! Smaller records beside the documents: port forwardings, flavors' service profiles and
//! routers' flavors, auto-allocated topologies and the default external network.

use super::PgTx;
use crate::{AutoAllocation, StoreError};

fn count(tx: &mut PgTx, sql: &str, id: &str) -> Result<u64, StoreError> {
    Ok(tx.one(sql, &[&id])?.map_or(0, |r| r.get::<_, i64>(0)) as u64)
}

pub(super) fn port_forwarding_list(tx: &mut PgTx, floatingip_id: &str) -> Result<Vec<String>, StoreError> {
    let rows = tx.all("SELECT body FROM port_forwardings WHERE floatingip_id = ?1 ORDER BY id", &[&floatingip_id])?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(super) fn port_forwarding_put(tx: &mut PgTx, id: &str, floatingip_id: &str, body: &str) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO port_forwardings (id, floatingip_id, body) VALUES (?1, ?2, ?3) \
         ON CONFLICT (id) DO UPDATE SET body = excluded.body",
        &[&id, &floatingip_id, &body],
    )?;
    Ok(())
}

pub(super) fn port_forwarding_delete(tx: &mut PgTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exec("DELETE FROM port_forwardings WHERE id = ?1", &[&id])? > 0)
}

pub(super) fn flavor_profile_add(tx: &mut PgTx, flavor_id: &str, profile_id: &str) -> Result<(), StoreError> {
    tx.exec_guarded(
        "INSERT INTO flavor_service_profiles (flavor_id, service_profile_id) VALUES (?1, ?2)",
        &[&flavor_id, &profile_id],
    )?;
    Ok(())
}

pub(super) fn flavor_profile_remove(tx: &mut PgTx, flavor_id: &str, profile_id: &str) -> Result<bool, StoreError> {
    let sql = "DELETE FROM flavor_service_profiles WHERE flavor_id = ?1 AND service_profile_id = ?2";
    Ok(tx.exec(sql, &[&flavor_id, &profile_id])? > 0)
}

/// In the order they were associated (`position` grows with each insert).
pub(super) fn flavor_profile_list(tx: &mut PgTx, flavor_id: &str) -> Result<Vec<String>, StoreError> {
    let rows = tx.all(
        "SELECT service_profile_id FROM flavor_service_profiles WHERE flavor_id = ?1 ORDER BY position",
        &[&flavor_id],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(super) fn flavor_profile_count_by_profile(tx: &mut PgTx, profile_id: &str) -> Result<u64, StoreError> {
    count(tx, "SELECT COUNT(*) FROM flavor_service_profiles WHERE service_profile_id = ?1", profile_id)
}

pub(super) fn router_flavor_set(tx: &mut PgTx, router_id: &str, flavor_id: &str) -> Result<(), StoreError> {
    tx.exec_guarded("INSERT INTO router_flavors (router_id, flavor_id) VALUES (?1, ?2)", &[&router_id, &flavor_id])?;
    Ok(())
}

pub(super) fn router_flavor_count(tx: &mut PgTx, flavor_id: &str) -> Result<u64, StoreError> {
    count(tx, "SELECT COUNT(*) FROM router_flavors WHERE flavor_id = ?1", flavor_id)
}

pub(super) fn auto_allocation_get(tx: &mut PgTx, project_id: &str) -> Result<Option<AutoAllocation>, StoreError> {
    let row = tx.one(
        "SELECT project_id, network_id, router_id FROM auto_allocated_topologies WHERE project_id = ?1",
        &[&project_id],
    )?;
    Ok(row.map(|r| AutoAllocation { project_id: r.get(0), network_id: r.get(1), router_id: r.get(2) }))
}

pub(super) fn auto_allocation_insert(tx: &mut PgTx, a: &AutoAllocation) -> Result<(), StoreError> {
    tx.exec_guarded(
        "INSERT INTO auto_allocated_topologies (project_id, network_id, router_id) VALUES (?1, ?2, ?3)",
        &[&a.project_id, &a.network_id, &a.router_id],
    )?;
    Ok(())
}

pub(super) fn auto_allocation_delete(tx: &mut PgTx, project_id: &str) -> Result<bool, StoreError> {
    Ok(tx.exec("DELETE FROM auto_allocated_topologies WHERE project_id = ?1", &[&project_id])? > 0)
}

pub(super) fn auto_allocation_delete_by_network(tx: &mut PgTx, network_id: &str) -> Result<(), StoreError> {
    tx.exec("DELETE FROM auto_allocated_topologies WHERE network_id = ?1", &[&network_id])?;
    Ok(())
}

pub(super) fn default_external_network_get(tx: &mut PgTx) -> Result<Option<String>, StoreError> {
    Ok(tx.one("SELECT network_id FROM default_external_network WHERE slot = 1", &[])?.map(|r| r.get(0)))
}

pub(super) fn default_external_network_set(tx: &mut PgTx, network_id: Option<&str>) -> Result<(), StoreError> {
    match network_id {
        Some(id) => tx.exec(
            "INSERT INTO default_external_network (slot, network_id) VALUES (1, ?1) \
             ON CONFLICT (slot) DO UPDATE SET network_id = excluded.network_id",
            &[&id],
        )?,
        None => tx.exec("DELETE FROM default_external_network", &[])?,
    };
    Ok(())
}
