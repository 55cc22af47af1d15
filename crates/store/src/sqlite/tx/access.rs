//! Access records beside identity: token revocations, quota overrides and RBAC policies.

use super::SqliteTx;
use crate::identity::{QuotaLimit, RbacPolicy, RevocationRecord, SigningKey};
use crate::StoreError;
use rusqlite::{params, Row};

const RBAC_COLS: &str = "id, project_id, object_type, object_id, action, target_project";

fn rbac_row(r: &Row) -> rusqlite::Result<RbacPolicy> {
    Ok(RbacPolicy {
        id: r.get(0)?,
        project_id: r.get(1)?,
        object_type: r.get(2)?,
        object_id: r.get(3)?,
        action: r.get(4)?,
        target_project: r.get(5)?,
    })
}

pub(super) fn revoked_token_insert(tx: &SqliteTx, audit_id: &str, expires_at: i64) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached("INSERT INTO revoked_tokens (audit_id, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
        .execute(params![audit_id, expires_at])?;
    Ok(())
}

pub(super) fn revoked_token_list(tx: &SqliteTx, now: i64) -> Result<Vec<String>, StoreError> {
    tx.all("SELECT audit_id FROM revoked_tokens WHERE expires_at > ?1", &[&now], |r| r.get(0))
}

pub(super) fn revoked_token_list_expiring(tx: &SqliteTx, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
    tx.all("SELECT audit_id, expires_at FROM revoked_tokens WHERE expires_at > ?1", &[&now], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

pub(super) fn revocation_event_insert(tx: &SqliteTx, e: &RevocationRecord) -> Result<i64, StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO revocation_events (user_id, project_id, role_id, application_credential_id, issued_before, \
             revoked_at, prune_after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?
        .execute(params![
            e.user_id,
            e.project_id,
            e.role_id,
            e.app_cred_id,
            e.issued_before_us,
            e.revoked_at_us,
            e.prune_after
        ])?;
    Ok(tx.conn.last_insert_rowid())
}

pub(super) fn revocation_event_list(
    tx: &SqliteTx,
    after_id: i64,
    now: i64,
) -> Result<Vec<RevocationRecord>, StoreError> {
    tx.all(
        "SELECT id, user_id, project_id, role_id, issued_before, revoked_at, prune_after, application_credential_id \
         FROM revocation_events \
         WHERE id > ?1 AND prune_after > ?2 ORDER BY id",
        &[&after_id, &now],
        |r| {
            Ok(RevocationRecord {
                id: r.get(0)?,
                user_id: r.get(1)?,
                project_id: r.get(2)?,
                role_id: r.get(3)?,
                issued_before_us: r.get(4)?,
                revoked_at_us: r.get(5)?,
                prune_after: r.get(6)?,
                app_cred_id: r.get(7)?,
            })
        },
    )
}

pub(super) fn revocation_prune(tx: &SqliteTx, now: i64) -> Result<u64, StoreError> {
    let events = tx.conn.prepare_cached("DELETE FROM revocation_events WHERE prune_after <= ?1")?.execute([now])?;
    let tokens = tx.conn.prepare_cached("DELETE FROM revoked_tokens WHERE expires_at <= ?1")?.execute([now])?;
    Ok((events + tokens) as u64)
}

pub(super) fn quota_list(tx: &SqliteTx, project_id: Option<&str>) -> Result<Vec<QuotaLimit>, StoreError> {
    let f: fn(&Row) -> rusqlite::Result<QuotaLimit> =
        |r| Ok(QuotaLimit { project_id: r.get(0)?, resource: r.get(1)?, hard_limit: r.get(2)? });
    match project_id {
        Some(p) => tx.all(
            "SELECT project_id, resource, hard_limit FROM quotas WHERE project_id = ?1 ORDER BY resource",
            &[&p],
            f,
        ),
        None => tx.all("SELECT project_id, resource, hard_limit FROM quotas ORDER BY project_id, resource", &[], f),
    }
}

pub(super) fn quota_set(tx: &SqliteTx, q: &QuotaLimit) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO quotas (project_id, resource, hard_limit) VALUES (?1, ?2, ?3) \
             ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
        )?
        .execute(params![q.project_id, q.resource, q.hard_limit])?;
    Ok(())
}

pub(super) fn quota_delete_project(tx: &SqliteTx, project_id: &str) -> Result<(), StoreError> {
    tx.conn.prepare_cached("DELETE FROM quotas WHERE project_id = ?1")?.execute([project_id])?;
    Ok(())
}

pub(super) fn rbac_policy_insert(tx: &SqliteTx, p: &RbacPolicy) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, target_project) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![p.id, p.project_id, p.object_type, p.object_id, p.action, p.target_project])?;
    Ok(())
}

pub(super) fn rbac_policy_get(tx: &SqliteTx, id: &str) -> Result<Option<RbacPolicy>, StoreError> {
    tx.one(&format!("SELECT {RBAC_COLS} FROM rbac_policies WHERE id = ?1"), &[&id], rbac_row)
}

pub(super) fn rbac_policy_list(tx: &SqliteTx, object_id: Option<&str>) -> Result<Vec<RbacPolicy>, StoreError> {
    match object_id {
        Some(o) => {
            tx.all(&format!("SELECT {RBAC_COLS} FROM rbac_policies WHERE object_id = ?1 ORDER BY id"), &[&o], rbac_row)
        }
        None => tx.all(&format!("SELECT {RBAC_COLS} FROM rbac_policies ORDER BY id"), &[], rbac_row),
    }
}

pub(super) fn rbac_objects_for(
    tx: &SqliteTx,
    object_type: &str,
    action: &str,
    project: &str,
) -> Result<Vec<String>, StoreError> {
    tx.all(
        "SELECT DISTINCT object_id FROM rbac_policies WHERE object_type = ?1 AND action = ?2 \
         AND (target_project = ?3 OR target_project = '*')",
        &[&object_type, &action, &project],
        |r| r.get(0),
    )
}

pub(super) fn rbac_policy_update_target(tx: &SqliteTx, id: &str, target_project: &str) -> Result<bool, StoreError> {
    Ok(tx
        .conn
        .prepare_cached("UPDATE rbac_policies SET target_project = ?2 WHERE id = ?1")?
        .execute([id, target_project])?
        > 0)
}

pub(super) fn rbac_policy_delete(tx: &SqliteTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.conn.prepare_cached("DELETE FROM rbac_policies WHERE id = ?1")?.execute([id])? > 0)
}

pub(super) fn rbac_policy_delete_by_object(tx: &SqliteTx, object_id: &str) -> Result<(), StoreError> {
    tx.conn.prepare_cached("DELETE FROM rbac_policies WHERE object_id = ?1")?.execute([object_id])?;
    Ok(())
}

pub(super) fn signing_key_list(tx: &SqliteTx) -> Result<Vec<SigningKey>, StoreError> {
    tx.all("SELECT id, key, staged FROM signing_keys ORDER BY id", &[], |r| {
        Ok(SigningKey { id: r.get(0)?, key: r.get(1)?, staged: r.get(2)? })
    })
}

pub(super) fn signing_key_replace(tx: &SqliteTx, keys: &[SigningKey]) -> Result<(), StoreError> {
    tx.conn.prepare_cached("DELETE FROM signing_keys")?.execute([])?;
    let mut insert = tx.conn.prepare_cached("INSERT INTO signing_keys (id, key, staged) VALUES (?1, ?2, ?3)")?;
    for k in keys {
        insert.execute(params![k.id, k.key, k.staged])?;
    }
    Ok(())
}
