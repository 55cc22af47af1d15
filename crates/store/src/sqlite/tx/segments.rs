//! Network segments: the type drivers' segmentation id allocations.

use super::SqliteTx;
use crate::{Segment, StoreError};
use rusqlite::params;

pub(super) fn segment_ids_in_use(
    tx: &SqliteTx,
    network_type: &str,
    physical_network: &str,
) -> Result<Vec<u32>, StoreError> {
    let mut stmt = tx.conn.prepare_cached(
        "SELECT segmentation_id FROM network_segments WHERE network_type = ?1 AND physical_network = ?2 ORDER BY segmentation_id",
    )?;
    let rows = stmt.query_map([network_type, physical_network], |r| r.get::<_, i64>(0))?;
    Ok(rows.map(|r| r.map(|v| v as u32)).collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn segment_insert(tx: &SqliteTx, s: &Segment) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO network_segments (id, network_id, network_type, physical_network, segmentation_id) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![s.id, s.network_id, s.network_type, s.physical_network, i64::from(s.segmentation_id)])?;
    Ok(())
}

pub(super) fn segment_list_by_network(tx: &SqliteTx, network_id: &str) -> Result<Vec<Segment>, StoreError> {
    let mut stmt = tx.conn.prepare_cached(
        "SELECT id, network_id, network_type, physical_network, segmentation_id FROM network_segments WHERE network_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([network_id], |r| {
        Ok(Segment {
            id: r.get(0)?,
            network_id: r.get(1)?,
            network_type: r.get(2)?,
            physical_network: r.get(3)?,
            segmentation_id: r.get::<_, i64>(4)? as u32,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn segment_delete_by_network(tx: &SqliteTx, network_id: &str) -> Result<(), StoreError> {
    tx.conn.prepare_cached("DELETE FROM network_segments WHERE network_id = ?1")?.execute([network_id])?;
    Ok(())
}
