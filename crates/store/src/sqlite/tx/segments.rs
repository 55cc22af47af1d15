//! Network segments: the type drivers' segmentation id allocations.
//!
//! The table keeps `''` for a type without a physical network and `0` for a type without a
//! segmentation id (no valid id is 0), because the unique key `(network_type,
//! physical_network, segmentation_id)` must see two flat segments of one physical network
//! as equal, which it would not with `NULL`s. [`Segment`]'s `None`s are mapped here, at
//! the row boundary.

use super::SqliteTx;
use crate::{Segment, StoreError};
use rusqlite::{params, Row};

/// The stored form of "no physical network".
const NO_PHYSNET: &str = "";
/// The stored form of "no segmentation id".
const NO_SEGMENTATION_ID: i64 = 0;

pub(super) fn segment_ids_in_use(
    tx: &SqliteTx,
    network_type: &str,
    physical_network: Option<&str>,
) -> Result<Vec<u32>, StoreError> {
    let mut stmt = tx.conn.prepare_cached(
        "SELECT segmentation_id FROM network_segments WHERE network_type = ?1 AND physical_network = ?2 ORDER BY segmentation_id",
    )?;
    let rows = stmt.query_map([network_type, physical_network.unwrap_or(NO_PHYSNET)], |r| r.get::<_, i64>(0))?;
    Ok(rows.map(|r| r.map(|v| v as u32)).collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn segment_insert(tx: &SqliteTx, s: &Segment) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO network_segments (id, network_id, network_type, physical_network, segmentation_id) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            s.id,
            s.network_id,
            s.network_type,
            s.physical_network.as_deref().unwrap_or(NO_PHYSNET),
            s.segmentation_id.map_or(NO_SEGMENTATION_ID, i64::from)
        ])?;
    Ok(())
}

fn segment_row(r: &Row) -> rusqlite::Result<Segment> {
    let physical_network: String = r.get(3)?;
    let segmentation_id: i64 = r.get(4)?;
    Ok(Segment {
        id: r.get(0)?,
        network_id: r.get(1)?,
        network_type: r.get(2)?,
        physical_network: (physical_network != NO_PHYSNET).then_some(physical_network),
        segmentation_id: (segmentation_id != NO_SEGMENTATION_ID).then_some(segmentation_id as u32),
    })
}

pub(super) fn segment_list_by_network(tx: &SqliteTx, network_id: &str) -> Result<Vec<Segment>, StoreError> {
    tx.all(
        "SELECT id, network_id, network_type, physical_network, segmentation_id FROM network_segments WHERE network_id = ?1 ORDER BY id",
        &[&network_id],
        segment_row,
    )
}

pub(super) fn segment_delete_by_network(tx: &SqliteTx, network_id: &str) -> Result<(), StoreError> {
    tx.conn.prepare_cached("DELETE FROM network_segments WHERE network_id = ?1")?.execute([network_id])?;
    Ok(())
}
