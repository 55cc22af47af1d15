//! Access records beside identity: token revocations, quota overrides and RBAC policies.

use super::{Param, PgTx};
use crate::identity::{QuotaLimit, RbacPolicy, RevocationRecord, SigningKey};
use crate::StoreError;
use postgres::Row;

const RBAC_COLS: &str = "id, project_id, object_type, object_id, action, target_project";

fn rbac_row(r: &Row) -> RbacPolicy {
    RbacPolicy {
        id: r.get(0),
        project_id: r.get(1),
        object_type: r.get(2),
        object_id: r.get(3),
        action: r.get(4),
        target_project: r.get(5),
    }
}

pub(super) fn revoked_token_insert(tx: &mut PgTx, audit_id: &str, expires_at: i64) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO revoked_tokens (audit_id, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        &[&audit_id, &expires_at],
    )?;
    Ok(())
}

pub(super) fn revoked_token_list_expiring(tx: &mut PgTx, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
    let rows = tx.all("SELECT audit_id, expires_at FROM revoked_tokens WHERE expires_at > ?1", &[&now])?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

pub(super) fn revocation_event_insert(tx: &mut PgTx, e: &RevocationRecord) -> Result<i64, StoreError> {
    let params: [Param; 7] =
        [&e.user_id, &e.project_id, &e.role_id, &e.app_cred_id, &e.issued_before_us, &e.revoked_at_us, &e.prune_after];
    let row = tx.one(
        "INSERT INTO revocation_events (user_id, project_id, role_id, application_credential_id, issued_before, \
         revoked_at, prune_after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        &params,
    )?;
    Ok(row.map_or(0, |r| r.get(0)))
}

pub(super) fn revocation_event_list(
    tx: &mut PgTx,
    after_id: i64,
    now: i64,
) -> Result<Vec<RevocationRecord>, StoreError> {
    let rows = tx.all(
        "SELECT id, user_id, project_id, role_id, issued_before, revoked_at, prune_after, application_credential_id \
         FROM revocation_events WHERE id > ?1 AND prune_after > ?2 ORDER BY id",
        &[&after_id, &now],
    )?;
    Ok(rows
        .iter()
        .map(|r| RevocationRecord {
            id: r.get(0),
            user_id: r.get(1),
            project_id: r.get(2),
            role_id: r.get(3),
            issued_before_us: r.get(4),
            revoked_at_us: r.get(5),
            prune_after: r.get(6),
            app_cred_id: r.get(7),
        })
        .collect())
}

pub(super) fn revocation_prune(tx: &mut PgTx, now: i64) -> Result<u64, StoreError> {
    let events = tx.exec("DELETE FROM revocation_events WHERE prune_after <= ?1", &[&now])?;
    let tokens = tx.exec("DELETE FROM revoked_tokens WHERE expires_at <= ?1", &[&now])?;
    Ok(events + tokens)
}

pub(super) fn quota_list(tx: &mut PgTx, project_id: Option<&str>) -> Result<Vec<QuotaLimit>, StoreError> {
    let rows = match project_id {
        Some(p) => tx.all(
            "SELECT project_id, resource, hard_limit FROM quotas WHERE project_id = ?1 ORDER BY resource",
            &[&p],
        )?,
        None => tx.all("SELECT project_id, resource, hard_limit FROM quotas ORDER BY project_id, resource", &[])?,
    };
    Ok(rows.iter().map(|r| QuotaLimit { project_id: r.get(0), resource: r.get(1), hard_limit: r.get(2) }).collect())
}

pub(super) fn quota_set(tx: &mut PgTx, q: &QuotaLimit) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO quotas (project_id, resource, hard_limit) VALUES (?1, ?2, ?3) \
         ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
        &[&q.project_id, &q.resource, &q.hard_limit],
    )?;
    Ok(())
}

pub(super) fn quota_delete_project(tx: &mut PgTx, project_id: &str) -> Result<(), StoreError> {
    tx.exec("DELETE FROM quotas WHERE project_id = ?1", &[&project_id])?;
    Ok(())
}

pub(super) fn rbac_policy_insert(tx: &mut PgTx, p: &RbacPolicy) -> Result<(), StoreError> {
    let params: [Param; 6] = [&p.id, &p.project_id, &p.object_type, &p.object_id, &p.action, &p.target_project];
    tx.exec_guarded(
        "INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, target_project) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &params,
    )?;
    Ok(())
}

pub(super) fn rbac_policy_get(tx: &mut PgTx, id: &str) -> Result<Option<RbacPolicy>, StoreError> {
    Ok(tx.one(&format!("SELECT {RBAC_COLS} FROM rbac_policies WHERE id = ?1"), &[&id])?.as_ref().map(rbac_row))
}

pub(super) fn rbac_policy_list(tx: &mut PgTx, object_id: Option<&str>) -> Result<Vec<RbacPolicy>, StoreError> {
    let rows = match object_id {
        Some(o) => tx.all(&format!("SELECT {RBAC_COLS} FROM rbac_policies WHERE object_id = ?1 ORDER BY id"), &[&o])?,
        None => tx.all(&format!("SELECT {RBAC_COLS} FROM rbac_policies ORDER BY id"), &[])?,
    };
    Ok(rows.iter().map(rbac_row).collect())
}

pub(super) fn rbac_objects_for(
    tx: &mut PgTx,
    object_type: &str,
    action: &str,
    project: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = tx.all(
        "SELECT DISTINCT object_id FROM rbac_policies WHERE object_type = ?1 AND action = ?2 \
         AND (target_project = ?3 OR target_project = '*')",
        &[&object_type, &action, &project],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(super) fn rbac_policy_update_target(tx: &mut PgTx, id: &str, target_project: &str) -> Result<bool, StoreError> {
    Ok(tx.exec_guarded("UPDATE rbac_policies SET target_project = ?2 WHERE id = ?1", &[&id, &target_project])? > 0)
}

pub(super) fn rbac_policy_delete(tx: &mut PgTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exec("DELETE FROM rbac_policies WHERE id = ?1", &[&id])? > 0)
}

pub(super) fn rbac_policy_delete_by_object(tx: &mut PgTx, object_id: &str) -> Result<(), StoreError> {
    tx.exec("DELETE FROM rbac_policies WHERE object_id = ?1", &[&object_id])?;
    Ok(())
}

pub(super) fn signing_key_list(tx: &mut PgTx) -> Result<Vec<SigningKey>, StoreError> {
    let rows = tx.all("SELECT id, key, staged FROM signing_keys ORDER BY id", &[])?;
    Ok(rows.iter().map(|r| SigningKey { id: r.get::<_, i64>(0) as u32, key: r.get(1), staged: r.get(2) }).collect())
}

pub(super) fn signing_key_replace(tx: &mut PgTx, keys: &[SigningKey]) -> Result<(), StoreError> {
    tx.exec("DELETE FROM signing_keys", &[])?;
    for k in keys {
        tx.exec(
            "INSERT INTO signing_keys (id, key, staged) VALUES (?1, ?2, ?3)",
            &[&i64::from(k.id), &k.key, &k.staged],
        )?;
    }
    Ok(())
}
