//! Identity: domains, projects, users, roles and role assignments.

use super::SqliteTx;
use crate::identity::{Domain, Project, Role, User};
use crate::StoreError;
use rusqlite::{params, Row};

const DOMAIN_COLS: &str = "id, name, description, enabled";
pub(super) const PROJECT_COLS: &str = "id, domain_id, name, description, enabled";
const USER_COLS: &str = "id, domain_id, name, password_hash, enabled, default_project_id, email, description";

fn domain_row(r: &Row) -> rusqlite::Result<Domain> {
    Ok(Domain { id: r.get(0)?, name: r.get(1)?, description: r.get(2)?, enabled: r.get(3)? })
}

pub(super) fn project_row(r: &Row) -> rusqlite::Result<Project> {
    Ok(Project { id: r.get(0)?, domain_id: r.get(1)?, name: r.get(2)?, description: r.get(3)?, enabled: r.get(4)? })
}

fn user_row(r: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        domain_id: r.get(1)?,
        name: r.get(2)?,
        password_hash: r.get(3)?,
        enabled: r.get(4)?,
        default_project_id: r.get(5)?,
        email: r.get(6)?,
        description: r.get(7)?,
    })
}

pub(super) fn role_row(r: &Row) -> rusqlite::Result<Role> {
    Ok(Role { id: r.get(0)?, name: r.get(1)? })
}

pub(super) fn domain_get(tx: &SqliteTx, id: &str) -> Result<Option<Domain>, StoreError> {
    tx.one(&format!("SELECT {DOMAIN_COLS} FROM domains WHERE id = ?1"), &[&id], domain_row)
}

pub(super) fn domain_get_by_name(tx: &SqliteTx, name: &str) -> Result<Option<Domain>, StoreError> {
    tx.one(&format!("SELECT {DOMAIN_COLS} FROM domains WHERE name = ?1"), &[&name], domain_row)
}

pub(super) fn domain_list(tx: &SqliteTx) -> Result<Vec<Domain>, StoreError> {
    tx.all(&format!("SELECT {DOMAIN_COLS} FROM domains ORDER BY name"), &[], domain_row)
}

pub(super) fn domain_insert(tx: &SqliteTx, d: &Domain) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached("INSERT INTO domains (id, name, description, enabled) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![d.id, d.name, d.description, d.enabled])?;
    Ok(())
}

pub(super) fn project_get(tx: &SqliteTx, id: &str) -> Result<Option<Project>, StoreError> {
    tx.one(&format!("SELECT {PROJECT_COLS} FROM projects WHERE id = ?1"), &[&id], project_row)
}

pub(super) fn project_get_by_name(tx: &SqliteTx, domain_id: &str, name: &str) -> Result<Option<Project>, StoreError> {
    tx.one(
        &format!("SELECT {PROJECT_COLS} FROM projects WHERE domain_id = ?1 AND name = ?2"),
        &[&domain_id, &name],
        project_row,
    )
}

pub(super) fn project_list(tx: &SqliteTx, name: Option<&str>) -> Result<Vec<Project>, StoreError> {
    match name {
        Some(n) => {
            tx.all(&format!("SELECT {PROJECT_COLS} FROM projects WHERE name = ?1 ORDER BY id"), &[&n], project_row)
        }
        None => tx.all(&format!("SELECT {PROJECT_COLS} FROM projects ORDER BY id"), &[], project_row),
    }
}

pub(super) fn project_insert(tx: &SqliteTx, p: &Project) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached("INSERT INTO projects (id, domain_id, name, description, enabled) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![p.id, p.domain_id, p.name, p.description, p.enabled])?;
    Ok(())
}

pub(super) fn project_delete(tx: &SqliteTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.conn.prepare_cached("DELETE FROM projects WHERE id = ?1")?.execute([id])? > 0)
}

pub(super) fn project_update(tx: &SqliteTx, p: &Project) -> Result<bool, StoreError> {
    Ok(tx
        .conn
        .prepare_cached("UPDATE projects SET name = ?2, description = ?3, enabled = ?4 WHERE id = ?1")?
        .execute(params![p.id, p.name, p.description, p.enabled])?
        > 0)
}

pub(super) fn user_get(tx: &SqliteTx, id: &str) -> Result<Option<User>, StoreError> {
    tx.one(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"), &[&id], user_row)
}

pub(super) fn user_get_by_name(tx: &SqliteTx, domain_id: &str, name: &str) -> Result<Option<User>, StoreError> {
    tx.one(&format!("SELECT {USER_COLS} FROM users WHERE domain_id = ?1 AND name = ?2"), &[&domain_id, &name], user_row)
}

pub(super) fn user_list(tx: &SqliteTx, name: Option<&str>) -> Result<Vec<User>, StoreError> {
    match name {
        Some(n) => tx.all(&format!("SELECT {USER_COLS} FROM users WHERE name = ?1 ORDER BY id"), &[&n], user_row),
        None => tx.all(&format!("SELECT {USER_COLS} FROM users ORDER BY id"), &[], user_row),
    }
}

pub(super) fn user_insert(tx: &SqliteTx, u: &User) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO users (id, domain_id, name, password_hash, enabled, default_project_id, email, description) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            u.id,
            u.domain_id,
            u.name,
            u.password_hash,
            u.enabled,
            u.default_project_id,
            u.email,
            u.description
        ])?;
    Ok(())
}

pub(super) fn user_delete(tx: &SqliteTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.conn.prepare_cached("DELETE FROM users WHERE id = ?1")?.execute([id])? > 0)
}

pub(super) fn user_update(tx: &SqliteTx, u: &User) -> Result<bool, StoreError> {
    Ok(tx
        .conn
        .prepare_cached(
            "UPDATE users SET name = ?2, password_hash = ?3, enabled = ?4, default_project_id = ?5, email = ?6, \
             description = ?7 WHERE id = ?1",
        )?
        .execute(params![u.id, u.name, u.password_hash, u.enabled, u.default_project_id, u.email, u.description])?
        > 0)
}

pub(super) fn role_get(tx: &SqliteTx, id: &str) -> Result<Option<Role>, StoreError> {
    tx.one("SELECT id, name FROM roles WHERE id = ?1", &[&id], role_row)
}

pub(super) fn role_get_by_name(tx: &SqliteTx, name: &str) -> Result<Option<Role>, StoreError> {
    tx.one("SELECT id, name FROM roles WHERE name = ?1", &[&name], role_row)
}

pub(super) fn role_list(tx: &SqliteTx, name: Option<&str>) -> Result<Vec<Role>, StoreError> {
    match name {
        Some(n) => tx.all("SELECT id, name FROM roles WHERE name = ?1 ORDER BY name", &[&n], role_row),
        None => tx.all("SELECT id, name FROM roles ORDER BY name", &[], role_row),
    }
}

pub(super) fn role_insert(tx: &SqliteTx, r: &Role) -> Result<(), StoreError> {
    tx.conn.prepare_cached("INSERT INTO roles (id, name) VALUES (?1, ?2)")?.execute(params![r.id, r.name])?;
    Ok(())
}

pub(super) fn role_assignment_insert(
    tx: &SqliteTx,
    project_id: &str,
    user_id: &str,
    role_id: &str,
) -> Result<(), StoreError> {
    tx.conn
        .prepare_cached(
            "INSERT INTO role_assignments (project_id, user_id, role_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?
        .execute([project_id, user_id, role_id])?;
    Ok(())
}

pub(super) fn role_assignment_delete(
    tx: &SqliteTx,
    project_id: &str,
    user_id: &str,
    role_id: &str,
) -> Result<bool, StoreError> {
    Ok(tx
        .conn
        .prepare_cached("DELETE FROM role_assignments WHERE project_id = ?1 AND user_id = ?2 AND role_id = ?3")?
        .execute([project_id, user_id, role_id])?
        > 0)
}

pub(super) fn role_assignment_roles(tx: &SqliteTx, project_id: &str, user_id: &str) -> Result<Vec<Role>, StoreError> {
    tx.all(
        "SELECT r.id, r.name FROM role_assignments a JOIN roles r ON r.id = a.role_id \
         WHERE a.project_id = ?1 AND a.user_id = ?2 ORDER BY r.name",
        &[&project_id, &user_id],
        role_row,
    )
}
