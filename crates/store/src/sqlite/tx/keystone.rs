//! Identity beyond users and projects: role assignments on domains and the system,
//! application credentials, and the service catalog.

use super::identity::role_row;
use super::SqliteTx;
use crate::identity::{AppCredential, AssignmentTarget, Endpoint, Role, RoleAssignment, Service};
use crate::StoreError;
use rusqlite::{params, Row};

/// The (target_type, target_id) columns of a domain or system assignment; `None` for a
/// project (those live in `role_assignments`).
fn scoped_key(target: &AssignmentTarget) -> Option<(&'static str, &str)> {
    match target {
        AssignmentTarget::Project(_) => None,
        AssignmentTarget::Domain(d) => Some(("domain", d)),
        AssignmentTarget::System => Some(("system", "all")),
    }
}

pub(super) fn scoped_assignment_roles(
    tx: &SqliteTx,
    target: &AssignmentTarget,
    user_id: &str,
) -> Result<Vec<Role>, StoreError> {
    let Some((kind, id)) = scoped_key(target) else {
        return Ok(vec![]);
    };
    tx.all(
        "SELECT r.id, r.name FROM scoped_role_assignments a JOIN roles r ON r.id = a.role_id \
         WHERE a.target_type = ?1 AND a.target_id = ?2 AND a.user_id = ?3 ORDER BY r.name",
        &[&kind, &id, &user_id],
        role_row,
    )
}

pub(super) fn scoped_assignment_insert(tx: &SqliteTx, a: &RoleAssignment) -> Result<(), StoreError> {
    let Some((kind, id)) = scoped_key(&a.target) else {
        return Ok(());
    };
    tx.conn
        .prepare_cached(
            "INSERT INTO scoped_role_assignments (target_type, target_id, user_id, role_id) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT DO NOTHING",
        )?
        .execute([kind, id, &a.user_id, &a.role_id])?;
    Ok(())
}

pub(super) fn scoped_assignment_delete(tx: &SqliteTx, a: &RoleAssignment) -> Result<bool, StoreError> {
    let Some((kind, id)) = scoped_key(&a.target) else {
        return Ok(false);
    };
    Ok(tx
        .conn
        .prepare_cached(
            "DELETE FROM scoped_role_assignments WHERE target_type = ?1 AND target_id = ?2 AND user_id = ?3 \
             AND role_id = ?4",
        )?
        .execute([kind, id, &a.user_id, &a.role_id])?
        > 0)
}

fn assignment_row(r: &Row) -> rusqlite::Result<RoleAssignment> {
    let kind: String = r.get(0)?;
    let target_id: String = r.get(1)?;
    let target = match kind.as_str() {
        "project" => AssignmentTarget::Project(target_id),
        "domain" => AssignmentTarget::Domain(target_id),
        _ => AssignmentTarget::System,
    };
    Ok(RoleAssignment { target, user_id: r.get(2)?, role_id: r.get(3)? })
}

pub(super) fn assignment_list(
    tx: &SqliteTx,
    user_id: Option<&str>,
    role_id: Option<&str>,
) -> Result<Vec<RoleAssignment>, StoreError> {
    tx.all(
        "SELECT * FROM (SELECT 'project' AS kind, project_id AS target, user_id, role_id FROM role_assignments \
         UNION ALL SELECT target_type, target_id, user_id, role_id FROM scoped_role_assignments) \
         WHERE (?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR role_id = ?2) ORDER BY kind, target, user_id, role_id",
        &[&user_id, &role_id],
        assignment_row,
    )
}

const APP_CRED_COLS: &str = "id, user_id, project_id, name, description, secret_hash, expires_at, unrestricted";

fn app_cred_row(r: &Row) -> rusqlite::Result<AppCredential> {
    Ok(AppCredential {
        id: r.get(0)?,
        user_id: r.get(1)?,
        project_id: r.get(2)?,
        name: r.get(3)?,
        description: r.get(4)?,
        secret_hash: r.get(5)?,
        expires_at: r.get(6)?,
        unrestricted: r.get(7)?,
        roles: vec![],
    })
}

fn with_roles(tx: &SqliteTx, mut creds: Vec<AppCredential>) -> Result<Vec<AppCredential>, StoreError> {
    for c in &mut creds {
        c.roles = tx.all(
            "SELECT r.id, r.name FROM application_credential_roles a JOIN roles r ON r.id = a.role_id \
             WHERE a.application_credential_id = ?1 ORDER BY r.name",
            &[&c.id],
            role_row,
        )?;
    }
    Ok(creds)
}

pub(super) fn app_cred_list(
    tx: &SqliteTx,
    user_id: &str,
    name: Option<&str>,
) -> Result<Vec<AppCredential>, StoreError> {
    let creds = tx.all(
        &format!(
            "SELECT {APP_CRED_COLS} FROM application_credentials WHERE user_id = ?1 AND (?2 IS NULL OR name = ?2) \
             ORDER BY name"
        ),
        &[&user_id, &name],
        app_cred_row,
    )?;
    with_roles(tx, creds)
}

pub(super) fn app_cred_get(tx: &SqliteTx, id: &str) -> Result<Option<AppCredential>, StoreError> {
    let cred =
        tx.one(&format!("SELECT {APP_CRED_COLS} FROM application_credentials WHERE id = ?1"), &[&id], app_cred_row)?;
    Ok(with_roles(tx, cred.into_iter().collect())?.pop())
}

pub(super) fn app_cred_insert(tx: &SqliteTx, c: &AppCredential) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(&format!(
            "INSERT INTO application_credentials ({APP_CRED_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ))?
        .execute(params![
            c.id,
            c.user_id,
            c.project_id,
            c.name,
            c.description,
            c.secret_hash,
            c.expires_at,
            c.unrestricted
        ])?;
    let mut roles = tx.conn.prepare_cached(
        "INSERT INTO application_credential_roles (application_credential_id, role_id) VALUES (?1, ?2) \
         ON CONFLICT DO NOTHING",
    )?;
    for role in &c.roles {
        roles.execute([&c.id, &role.id])?;
    }
    Ok(())
}

pub(super) fn app_cred_delete(tx: &SqliteTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.conn.prepare_cached("DELETE FROM application_credentials WHERE id = ?1")?.execute([id])? > 0)
}

pub(super) fn app_cred_count(tx: &SqliteTx, user_id: &str) -> Result<u64, StoreError> {
    let n: i64 = tx
        .conn
        .prepare_cached("SELECT COUNT(*) FROM application_credentials WHERE user_id = ?1")?
        .query_row([user_id], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

pub(super) fn app_cred_ids_on_project(
    tx: &SqliteTx,
    user_id: &str,
    project_id: &str,
) -> Result<Vec<String>, StoreError> {
    tx.all(
        "SELECT id FROM application_credentials WHERE user_id = ?1 AND project_id = ?2 ORDER BY id",
        &[&user_id, &project_id],
        |r| r.get(0),
    )
}

const SERVICE_COLS: &str = "id, type, name, description, enabled";

fn service_row(r: &Row) -> rusqlite::Result<Service> {
    Ok(Service { id: r.get(0)?, kind: r.get(1)?, name: r.get(2)?, description: r.get(3)?, enabled: r.get(4)? })
}

pub(super) fn service_list(tx: &SqliteTx, kind: Option<&str>) -> Result<Vec<Service>, StoreError> {
    tx.all(
        &format!("SELECT {SERVICE_COLS} FROM services WHERE ?1 IS NULL OR type = ?1 ORDER BY id"),
        &[&kind],
        service_row,
    )
}

pub(super) fn service_get(tx: &SqliteTx, id: &str) -> Result<Option<Service>, StoreError> {
    tx.one(&format!("SELECT {SERVICE_COLS} FROM services WHERE id = ?1"), &[&id], service_row)
}

pub(super) fn service_insert(tx: &SqliteTx, s: &Service) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(&format!("INSERT INTO services ({SERVICE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5)"))?
        .execute(params![s.id, s.kind, s.name, s.description, s.enabled])?;
    Ok(())
}

pub(super) fn service_update(tx: &SqliteTx, s: &Service) -> Result<bool, StoreError> {
    Ok(tx
        .conn
        .prepare_cached("UPDATE services SET type = ?2, name = ?3, description = ?4, enabled = ?5 WHERE id = ?1")?
        .execute(params![s.id, s.kind, s.name, s.description, s.enabled])?
        > 0)
}

pub(super) fn service_delete(tx: &SqliteTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.conn.prepare_cached("DELETE FROM services WHERE id = ?1")?.execute([id])? > 0)
}

const ENDPOINT_COLS: &str = "id, service_id, interface, region_id, url, enabled";

fn endpoint_row(r: &Row) -> rusqlite::Result<Endpoint> {
    Ok(Endpoint {
        id: r.get(0)?,
        service_id: r.get(1)?,
        interface: r.get(2)?,
        region_id: r.get(3)?,
        url: r.get(4)?,
        enabled: r.get(5)?,
    })
}

pub(super) fn endpoint_list(tx: &SqliteTx) -> Result<Vec<Endpoint>, StoreError> {
    tx.all(&format!("SELECT {ENDPOINT_COLS} FROM endpoints ORDER BY service_id, id"), &[], endpoint_row)
}

pub(super) fn endpoint_get(tx: &SqliteTx, id: &str) -> Result<Option<Endpoint>, StoreError> {
    tx.one(&format!("SELECT {ENDPOINT_COLS} FROM endpoints WHERE id = ?1"), &[&id], endpoint_row)
}

pub(super) fn endpoint_insert(tx: &SqliteTx, e: &Endpoint) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(&format!("INSERT INTO endpoints ({ENDPOINT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"))?
        .execute(params![e.id, e.service_id, e.interface, e.region_id, e.url, e.enabled])?;
    Ok(())
}

pub(super) fn endpoint_update(tx: &SqliteTx, e: &Endpoint) -> Result<bool, StoreError> {
    Ok(tx
        .conn
        .prepare_cached(
            "UPDATE endpoints SET service_id = ?2, interface = ?3, region_id = ?4, url = ?5, enabled = ?6 WHERE id = ?1",
        )?
        .execute(params![e.id, e.service_id, e.interface, e.region_id, e.url, e.enabled])?
        > 0)
}

pub(super) fn endpoint_delete(tx: &SqliteTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.conn.prepare_cached("DELETE FROM endpoints WHERE id = ?1")?.execute([id])? > 0)
}

pub(super) fn catalog_mark_seeded(tx: &SqliteTx) -> Result<bool, StoreError> {
    let seeded: i64 = tx.conn.prepare_cached("SELECT COUNT(*) FROM catalog_seeded")?.query_row([], |r| r.get(0))?;
    if seeded > 0 {
        return Ok(false);
    }
    tx.conn.prepare_cached("INSERT INTO catalog_seeded (seeded) VALUES (1)")?.execute([])?;
    Ok(true)
}
