//! `auto-allocated-topology`: each project's topology (one row per project, so two racing
//! allocations cannot both be recorded) and the single default external network.

use super::SqliteTx;
use crate::{AutoAllocation, StoreError};

pub(super) fn get(tx: &SqliteTx, project_id: &str) -> Result<Option<AutoAllocation>, StoreError> {
    tx.one(
        "SELECT project_id, network_id, router_id FROM auto_allocated_topologies WHERE project_id = ?1",
        &[&project_id],
        |r| Ok(AutoAllocation { project_id: r.get(0)?, network_id: r.get(1)?, router_id: r.get(2)? }),
    )
}

pub(super) fn insert(tx: &SqliteTx, a: &AutoAllocation) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO auto_allocated_topologies (project_id, network_id, router_id) VALUES (?1, ?2, ?3)",
        )?
        .execute([&a.project_id, &a.network_id, &a.router_id])?;
    Ok(())
}

pub(super) fn delete(tx: &SqliteTx, project_id: &str) -> Result<bool, StoreError> {
    Ok(tx.conn.prepare_cached("DELETE FROM auto_allocated_topologies WHERE project_id = ?1")?.execute([project_id])?
        > 0)
}

pub(super) fn delete_by_network(tx: &SqliteTx, network_id: &str) -> Result<(), StoreError> {
    tx.conn.prepare_cached("DELETE FROM auto_allocated_topologies WHERE network_id = ?1")?.execute([network_id])?;
    Ok(())
}

pub(super) fn default_external_network_get(tx: &SqliteTx) -> Result<Option<String>, StoreError> {
    tx.one("SELECT network_id FROM default_external_network WHERE slot = 1", &[], |r| r.get(0))
}

pub(super) fn default_external_network_set(tx: &SqliteTx, network_id: Option<&str>) -> Result<(), StoreError> {
    match network_id {
        Some(id) => tx
            .conn
            .prepare_cached(
                "INSERT INTO default_external_network (slot, network_id) VALUES (1, ?1) \
                 ON CONFLICT (slot) DO UPDATE SET network_id = excluded.network_id",
            )?
            .execute([id])?,
        None => tx.conn.prepare_cached("DELETE FROM default_external_network")?.execute([])?,
    };
    Ok(())
}
