//! Port forwardings' records: rows of their own, keyed by id and found by floating IP.

use super::SqliteTx;
use crate::StoreError;

pub(super) fn port_forwarding_list(tx: &SqliteTx, floatingip_id: &str) -> Result<Vec<String>, StoreError> {
    tx.all("SELECT body FROM port_forwardings WHERE floatingip_id = ?1 ORDER BY id", &[&floatingip_id], |r| r.get(0))
}

pub(super) fn port_forwarding_put(tx: &SqliteTx, id: &str, floatingip_id: &str, body: &str) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO port_forwardings (id, floatingip_id, body) VALUES (?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET body = excluded.body",
        )?
        .execute([id, floatingip_id, body])?;
    Ok(())
}

pub(super) fn port_forwarding_delete(tx: &SqliteTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.conn.prepare_cached("DELETE FROM port_forwardings WHERE id = ?1")?.execute([id])? > 0)
}
