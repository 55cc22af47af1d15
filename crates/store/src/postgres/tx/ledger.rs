//! The address ledger and the segments: the tables whose keys make a double allocation
//! impossible. Stored forms as on SQLite (`crate::sqlite`'s `segments`): `''` for no
//! physical network, `0` for no segmentation id.

use super::{Param, PgTx};
use crate::{IpAllocation, Segment, StoreError};
use postgres::Row;

const NO_PHYSNET: &str = "";
const NO_SEGMENTATION_ID: i64 = 0;

pub(super) fn ip_allocation_list_by_subnet(tx: &mut PgTx, subnet_id: &str) -> Result<Vec<IpAllocation>, StoreError> {
    let rows = tx.all(
        "SELECT subnet_id, ip_address, port_id, network_id FROM ip_allocations WHERE subnet_id = ?1",
        &[&subnet_id],
    )?;
    Ok(rows
        .iter()
        .map(|r| IpAllocation { subnet_id: r.get(0), ip_address: r.get(1), port_id: r.get(2), network_id: r.get(3) })
        .collect())
}

pub(super) fn ip_allocation_insert(tx: &mut PgTx, a: &IpAllocation) -> Result<(), StoreError> {
    tx.exec_guarded(
        "INSERT INTO ip_allocations (subnet_id, ip_address, port_id, network_id) VALUES (?1, ?2, ?3, ?4)",
        &[&a.subnet_id, &a.ip_address, &a.port_id, &a.network_id],
    )?;
    Ok(())
}

pub(super) fn ip_allocation_delete_by_port(tx: &mut PgTx, port_id: &str) -> Result<(), StoreError> {
    tx.exec("DELETE FROM ip_allocations WHERE port_id = ?1", &[&port_id])?;
    Ok(())
}

pub(super) fn ip_allocation_delete(tx: &mut PgTx, subnet_id: &str, ip_address: &str) -> Result<(), StoreError> {
    tx.exec("DELETE FROM ip_allocations WHERE subnet_id = ?1 AND ip_address = ?2", &[&subnet_id, &ip_address])?;
    Ok(())
}

pub(super) fn ip_allocation_count_by_subnet(
    tx: &mut PgTx,
    subnet_id: &str,
    except_owners: &[&str],
) -> Result<u64, StoreError> {
    // One array parameter instead of a list of placeholders: one statement for any list.
    let row = tx.one(
        "SELECT COUNT(*) FROM ip_allocations a JOIN ports p ON p.id = a.port_id \
         WHERE a.subnet_id = ?1 AND NOT (p.device_owner = ANY(?2))",
        &[&subnet_id, &except_owners],
    )?;
    Ok(row.map_or(0, |r| r.get::<_, i64>(0)) as u64)
}

pub(super) fn segment_ids_in_use(
    tx: &mut PgTx,
    network_type: &str,
    physical_network: Option<&str>,
) -> Result<Vec<u32>, StoreError> {
    let physnet = physical_network.unwrap_or(NO_PHYSNET);
    let rows = tx.all(
        "SELECT segmentation_id FROM network_segments WHERE network_type = ?1 AND physical_network = ?2 ORDER BY segmentation_id",
        &[&network_type, &physnet],
    )?;
    Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u32).collect())
}

pub(super) fn segment_insert(tx: &mut PgTx, s: &Segment) -> Result<(), StoreError> {
    let physnet = s.physical_network.as_deref().unwrap_or(NO_PHYSNET);
    let segmentation_id = s.segmentation_id.map_or(NO_SEGMENTATION_ID, i64::from);
    let params: [Param; 5] = [&s.id, &s.network_id, &s.network_type, &physnet, &segmentation_id];
    tx.exec_guarded(
        "INSERT INTO network_segments (id, network_id, network_type, physical_network, segmentation_id) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        &params,
    )?;
    Ok(())
}

fn segment_row(r: &Row) -> Segment {
    let physical_network: String = r.get(3);
    let segmentation_id: i64 = r.get(4);
    Segment {
        id: r.get(0),
        network_id: r.get(1),
        network_type: r.get(2),
        physical_network: (physical_network != NO_PHYSNET).then_some(physical_network),
        segmentation_id: (segmentation_id != NO_SEGMENTATION_ID).then_some(segmentation_id as u32),
    }
}

pub(super) fn segment_list_by_network(tx: &mut PgTx, network_id: &str) -> Result<Vec<Segment>, StoreError> {
    let rows = tx.all(
        "SELECT id, network_id, network_type, physical_network, segmentation_id FROM network_segments WHERE network_id = ?1 ORDER BY id",
        &[&network_id],
    )?;
    Ok(rows.iter().map(segment_row).collect())
}

pub(super) fn segment_delete_by_network(tx: &mut PgTx, network_id: &str) -> Result<(), StoreError> {
    tx.exec("DELETE FROM network_segments WHERE network_id = ?1", &[&network_id])?;
    Ok(())
}
