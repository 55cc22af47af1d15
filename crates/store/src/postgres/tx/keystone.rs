//! Identity beyond users and projects: role assignments on domains and the system,
//! application credentials, and the service catalog.

use super::identity::role_row;
use super::{Param, PgTx};
use crate::identity::{AppCredential, AssignmentTarget, Endpoint, Role, RoleAssignment, Service};
use crate::StoreError;
use postgres::Row;

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
    tx: &mut PgTx,
    target: &AssignmentTarget,
    user_id: &str,
) -> Result<Vec<Role>, StoreError> {
    let Some((kind, id)) = scoped_key(target) else {
        return Ok(vec![]);
    };
    let rows = tx.all(
        "SELECT r.id, r.name FROM scoped_role_assignments a JOIN roles r ON r.id = a.role_id \
         WHERE a.target_type = ?1 AND a.target_id = ?2 AND a.user_id = ?3 ORDER BY r.name",
        &[&kind, &id, &user_id],
    )?;
    Ok(rows.iter().map(role_row).collect())
}

pub(super) fn scoped_assignment_insert(tx: &mut PgTx, a: &RoleAssignment) -> Result<(), StoreError> {
    let Some((kind, id)) = scoped_key(&a.target) else {
        return Ok(());
    };
    tx.exec(
        "INSERT INTO scoped_role_assignments (target_type, target_id, user_id, role_id) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT DO NOTHING",
        &[&kind, &id, &a.user_id, &a.role_id],
    )?;
    Ok(())
}

pub(super) fn scoped_assignment_delete(tx: &mut PgTx, a: &RoleAssignment) -> Result<bool, StoreError> {
    let Some((kind, id)) = scoped_key(&a.target) else {
        return Ok(false);
    };
    let sql = "DELETE FROM scoped_role_assignments WHERE target_type = ?1 AND target_id = ?2 AND user_id = ?3 \
               AND role_id = ?4";
    Ok(tx.exec(sql, &[&kind, &id, &a.user_id, &a.role_id])? > 0)
}

pub(super) fn assignment_list(
    tx: &mut PgTx,
    user_id: Option<&str>,
    role_id: Option<&str>,
) -> Result<Vec<RoleAssignment>, StoreError> {
    // The literal is given the columns' collation, so the union orders bytewise as SQLite does.
    let rows = tx.all(
        "SELECT * FROM (SELECT 'project' COLLATE \"C\" AS kind, project_id AS target, user_id, role_id \
         FROM role_assignments UNION ALL SELECT target_type, target_id, user_id, role_id FROM scoped_role_assignments) \
         AS a WHERE (?1::text IS NULL OR user_id = ?1) AND (?2::text IS NULL OR role_id = ?2) \
         ORDER BY kind, target, user_id, role_id",
        &[&user_id, &role_id],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let (kind, target_id): (String, String) = (r.get(0), r.get(1));
            let target = match kind.as_str() {
                "project" => AssignmentTarget::Project(target_id),
                "domain" => AssignmentTarget::Domain(target_id),
                _ => AssignmentTarget::System,
            };
            RoleAssignment { target, user_id: r.get(2), role_id: r.get(3) }
        })
        .collect())
}

const APP_CRED_COLS: &str = "id, user_id, project_id, name, description, secret_hash, expires_at, unrestricted";

fn app_cred_row(r: &Row) -> AppCredential {
    AppCredential {
        id: r.get(0),
        user_id: r.get(1),
        project_id: r.get(2),
        name: r.get(3),
        description: r.get(4),
        secret_hash: r.get(5),
        expires_at: r.get(6),
        unrestricted: r.get(7),
        roles: vec![],
    }
}

fn with_roles(tx: &mut PgTx, rows: Vec<Row>) -> Result<Vec<AppCredential>, StoreError> {
    let mut creds: Vec<AppCredential> = rows.iter().map(app_cred_row).collect();
    for c in &mut creds {
        let roles = tx.all(
            "SELECT r.id, r.name FROM application_credential_roles a JOIN roles r ON r.id = a.role_id \
             WHERE a.application_credential_id = ?1 ORDER BY r.name",
            &[&c.id],
        )?;
        c.roles = roles.iter().map(role_row).collect();
    }
    Ok(creds)
}

pub(super) fn app_cred_list(
    tx: &mut PgTx,
    user_id: &str,
    name: Option<&str>,
) -> Result<Vec<AppCredential>, StoreError> {
    let sql = format!(
        "SELECT {APP_CRED_COLS} FROM application_credentials WHERE user_id = ?1 AND (?2::text IS NULL OR name = ?2) \
         ORDER BY name"
    );
    let rows = tx.all(&sql, &[&user_id, &name])?;
    with_roles(tx, rows)
}

pub(super) fn app_cred_get(tx: &mut PgTx, id: &str) -> Result<Option<AppCredential>, StoreError> {
    let row = tx.one(&format!("SELECT {APP_CRED_COLS} FROM application_credentials WHERE id = ?1"), &[&id])?;
    Ok(with_roles(tx, row.into_iter().collect())?.pop())
}

pub(super) fn app_cred_insert(tx: &mut PgTx, c: &AppCredential) -> Result<(), StoreError> {
    let params: [Param; 8] =
        [&c.id, &c.user_id, &c.project_id, &c.name, &c.description, &c.secret_hash, &c.expires_at, &c.unrestricted];
    let sql = format!("INSERT INTO application_credentials ({APP_CRED_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    tx.exec_guarded(&sql, &params)?;
    for role in &c.roles {
        tx.exec(
            "INSERT INTO application_credential_roles (application_credential_id, role_id) VALUES (?1, ?2) \
             ON CONFLICT DO NOTHING",
            &[&c.id, &role.id],
        )?;
    }
    Ok(())
}

pub(super) fn app_cred_delete(tx: &mut PgTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exec("DELETE FROM application_credentials WHERE id = ?1", &[&id])? > 0)
}

pub(super) fn app_cred_count(tx: &mut PgTx, user_id: &str) -> Result<u64, StoreError> {
    let row = tx.one("SELECT COUNT(*) FROM application_credentials WHERE user_id = ?1", &[&user_id])?;
    Ok(row.map_or(0, |r| r.get::<_, i64>(0)).max(0) as u64)
}

pub(super) fn app_cred_ids_on_project(
    tx: &mut PgTx,
    user_id: &str,
    project_id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = tx.all(
        "SELECT id FROM application_credentials WHERE user_id = ?1 AND project_id = ?2 ORDER BY id",
        &[&user_id, &project_id],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

const SERVICE_COLS: &str = "id, type, name, description, enabled";

fn service_row(r: &Row) -> Service {
    Service { id: r.get(0), kind: r.get(1), name: r.get(2), description: r.get(3), enabled: r.get(4) }
}

pub(super) fn service_list(tx: &mut PgTx, kind: Option<&str>) -> Result<Vec<Service>, StoreError> {
    let sql = format!("SELECT {SERVICE_COLS} FROM services WHERE ?1::text IS NULL OR type = ?1 ORDER BY id");
    Ok(tx.all(&sql, &[&kind])?.iter().map(service_row).collect())
}

pub(super) fn service_get(tx: &mut PgTx, id: &str) -> Result<Option<Service>, StoreError> {
    Ok(tx.one(&format!("SELECT {SERVICE_COLS} FROM services WHERE id = ?1"), &[&id])?.as_ref().map(service_row))
}

pub(super) fn service_insert(tx: &mut PgTx, s: &Service) -> Result<(), StoreError> {
    let sql = format!("INSERT INTO services ({SERVICE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5)");
    tx.exec_guarded(&sql, &[&s.id, &s.kind, &s.name, &s.description, &s.enabled])?;
    Ok(())
}

pub(super) fn service_update(tx: &mut PgTx, s: &Service) -> Result<bool, StoreError> {
    let sql = "UPDATE services SET type = ?2, name = ?3, description = ?4, enabled = ?5 WHERE id = ?1";
    Ok(tx.exec(sql, &[&s.id, &s.kind, &s.name, &s.description, &s.enabled])? > 0)
}

pub(super) fn service_delete(tx: &mut PgTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exec("DELETE FROM services WHERE id = ?1", &[&id])? > 0)
}

const ENDPOINT_COLS: &str = "id, service_id, interface, region_id, url, enabled";

fn endpoint_row(r: &Row) -> Endpoint {
    Endpoint {
        id: r.get(0),
        service_id: r.get(1),
        interface: r.get(2),
        region_id: r.get(3),
        url: r.get(4),
        enabled: r.get(5),
    }
}

pub(super) fn endpoint_list(tx: &mut PgTx) -> Result<Vec<Endpoint>, StoreError> {
    let sql = format!("SELECT {ENDPOINT_COLS} FROM endpoints ORDER BY service_id, id");
    Ok(tx.all(&sql, &[])?.iter().map(endpoint_row).collect())
}

pub(super) fn endpoint_get(tx: &mut PgTx, id: &str) -> Result<Option<Endpoint>, StoreError> {
    Ok(tx.one(&format!("SELECT {ENDPOINT_COLS} FROM endpoints WHERE id = ?1"), &[&id])?.as_ref().map(endpoint_row))
}

pub(super) fn endpoint_insert(tx: &mut PgTx, e: &Endpoint) -> Result<(), StoreError> {
    let params: [Param; 6] = [&e.id, &e.service_id, &e.interface, &e.region_id, &e.url, &e.enabled];
    tx.exec_guarded(&format!("INSERT INTO endpoints ({ENDPOINT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"), &params)?;
    Ok(())
}

pub(super) fn endpoint_update(tx: &mut PgTx, e: &Endpoint) -> Result<bool, StoreError> {
    let params: [Param; 6] = [&e.id, &e.service_id, &e.interface, &e.region_id, &e.url, &e.enabled];
    let sql =
        "UPDATE endpoints SET service_id = ?2, interface = ?3, region_id = ?4, url = ?5, enabled = ?6 WHERE id = ?1";
    Ok(tx.exec(sql, &params)? > 0)
}

pub(super) fn endpoint_delete(tx: &mut PgTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exec("DELETE FROM endpoints WHERE id = ?1", &[&id])? > 0)
}

/// Exact across servers: write transactions hold the write lock, so two servers starting
/// together cannot both see the catalog unseeded.
pub(super) fn catalog_mark_seeded(tx: &mut PgTx) -> Result<bool, StoreError> {
    let seeded = tx.one("SELECT COUNT(*) FROM catalog_seeded", &[])?.map_or(0, |r| r.get::<_, i64>(0));
    if seeded > 0 {
        return Ok(false);
    }
    tx.exec("INSERT INTO catalog_seeded (seeded) VALUES (TRUE)", &[])?;
    Ok(true)
}
