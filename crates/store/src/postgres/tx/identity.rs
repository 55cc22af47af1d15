//! Identity: domains, projects, users, roles and role assignments on projects.

use super::{Param, PgTx};
use crate::identity::{Domain, Project, Role, User};
use crate::StoreError;
use postgres::Row;

const DOMAIN_COLS: &str = "id, name, description, enabled";
const PROJECT_COLS: &str = "id, domain_id, name, description, enabled";
const USER_COLS: &str = "id, domain_id, name, password_hash, enabled, default_project_id, email, description";

fn domain_row(r: &Row) -> Domain {
    Domain { id: r.get(0), name: r.get(1), description: r.get(2), enabled: r.get(3) }
}

fn project_row(r: &Row) -> Project {
    Project { id: r.get(0), domain_id: r.get(1), name: r.get(2), description: r.get(3), enabled: r.get(4) }
}

fn user_row(r: &Row) -> User {
    User {
        id: r.get(0),
        domain_id: r.get(1),
        name: r.get(2),
        password_hash: r.get(3),
        enabled: r.get(4),
        default_project_id: r.get(5),
        email: r.get(6),
        description: r.get(7),
    }
}

pub(super) fn role_row(r: &Row) -> Role {
    Role { id: r.get(0), name: r.get(1) }
}

/// The rows of a table's `cols`, optionally only those named `name`, ordered.
fn named<T>(
    tx: &mut PgTx,
    (cols, table, order): (&str, &str, &str),
    name: Option<&str>,
    f: fn(&Row) -> T,
) -> Result<Vec<T>, StoreError> {
    let sql = format!("SELECT {cols} FROM {table} WHERE ?1::text IS NULL OR name = ?1 ORDER BY {order}");
    Ok(tx.all(&sql, &[&name])?.iter().map(f).collect())
}

pub(super) fn domain_get(tx: &mut PgTx, id: &str) -> Result<Option<Domain>, StoreError> {
    Ok(tx.one(&format!("SELECT {DOMAIN_COLS} FROM domains WHERE id = ?1"), &[&id])?.as_ref().map(domain_row))
}

pub(super) fn domain_get_by_name(tx: &mut PgTx, name: &str) -> Result<Option<Domain>, StoreError> {
    Ok(tx.one(&format!("SELECT {DOMAIN_COLS} FROM domains WHERE name = ?1"), &[&name])?.as_ref().map(domain_row))
}

pub(super) fn domain_list(tx: &mut PgTx) -> Result<Vec<Domain>, StoreError> {
    named(tx, (DOMAIN_COLS, "domains", "name"), None, domain_row)
}

pub(super) fn domain_insert(tx: &mut PgTx, d: &Domain) -> Result<(), StoreError> {
    let sql = "INSERT INTO domains (id, name, description, enabled) VALUES (?1, ?2, ?3, ?4)";
    tx.exec_guarded(sql, &[&d.id, &d.name, &d.description, &d.enabled])?;
    Ok(())
}

pub(super) fn project_get(tx: &mut PgTx, id: &str) -> Result<Option<Project>, StoreError> {
    Ok(tx.one(&format!("SELECT {PROJECT_COLS} FROM projects WHERE id = ?1"), &[&id])?.as_ref().map(project_row))
}

pub(super) fn project_get_by_name(tx: &mut PgTx, domain_id: &str, name: &str) -> Result<Option<Project>, StoreError> {
    let sql = format!("SELECT {PROJECT_COLS} FROM projects WHERE domain_id = ?1 AND name = ?2");
    Ok(tx.one(&sql, &[&domain_id, &name])?.as_ref().map(project_row))
}

pub(super) fn project_list(tx: &mut PgTx, name: Option<&str>) -> Result<Vec<Project>, StoreError> {
    named(tx, (PROJECT_COLS, "projects", "id"), name, project_row)
}

pub(super) fn project_insert(tx: &mut PgTx, p: &Project) -> Result<(), StoreError> {
    let sql = "INSERT INTO projects (id, domain_id, name, description, enabled) VALUES (?1, ?2, ?3, ?4, ?5)";
    tx.exec_guarded(sql, &[&p.id, &p.domain_id, &p.name, &p.description, &p.enabled])?;
    Ok(())
}

pub(super) fn project_delete(tx: &mut PgTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exec("DELETE FROM projects WHERE id = ?1", &[&id])? > 0)
}

pub(super) fn project_update(tx: &mut PgTx, p: &Project) -> Result<bool, StoreError> {
    let sql = "UPDATE projects SET name = ?2, description = ?3, enabled = ?4 WHERE id = ?1";
    Ok(tx.exec_guarded(sql, &[&p.id, &p.name, &p.description, &p.enabled])? > 0)
}

pub(super) fn user_get(tx: &mut PgTx, id: &str) -> Result<Option<User>, StoreError> {
    Ok(tx.one(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"), &[&id])?.as_ref().map(user_row))
}

pub(super) fn user_get_by_name(tx: &mut PgTx, domain_id: &str, name: &str) -> Result<Option<User>, StoreError> {
    let sql = format!("SELECT {USER_COLS} FROM users WHERE domain_id = ?1 AND name = ?2");
    Ok(tx.one(&sql, &[&domain_id, &name])?.as_ref().map(user_row))
}

pub(super) fn user_list(tx: &mut PgTx, name: Option<&str>) -> Result<Vec<User>, StoreError> {
    named(tx, (USER_COLS, "users", "id"), name, user_row)
}

pub(super) fn user_insert(tx: &mut PgTx, u: &User) -> Result<(), StoreError> {
    let params: [Param; 8] =
        [&u.id, &u.domain_id, &u.name, &u.password_hash, &u.enabled, &u.default_project_id, &u.email, &u.description];
    tx.exec_guarded(&format!("INSERT INTO users ({USER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"), &params)?;
    Ok(())
}

pub(super) fn user_delete(tx: &mut PgTx, id: &str) -> Result<bool, StoreError> {
    Ok(tx.exec("DELETE FROM users WHERE id = ?1", &[&id])? > 0)
}

pub(super) fn user_update(tx: &mut PgTx, u: &User) -> Result<bool, StoreError> {
    let params: [Param; 7] =
        [&u.id, &u.name, &u.password_hash, &u.enabled, &u.default_project_id, &u.email, &u.description];
    let sql = "UPDATE users SET name = ?2, password_hash = ?3, enabled = ?4, default_project_id = ?5, email = ?6, \
               description = ?7 WHERE id = ?1";
    Ok(tx.exec_guarded(sql, &params)? > 0)
}

pub(super) fn role_get(tx: &mut PgTx, id: &str) -> Result<Option<Role>, StoreError> {
    Ok(tx.one("SELECT id, name FROM roles WHERE id = ?1", &[&id])?.as_ref().map(role_row))
}

pub(super) fn role_get_by_name(tx: &mut PgTx, name: &str) -> Result<Option<Role>, StoreError> {
    Ok(tx.one("SELECT id, name FROM roles WHERE name = ?1", &[&name])?.as_ref().map(role_row))
}

pub(super) fn role_list(tx: &mut PgTx, name: Option<&str>) -> Result<Vec<Role>, StoreError> {
    named(tx, ("id, name", "roles", "name"), name, role_row)
}

pub(super) fn role_insert(tx: &mut PgTx, r: &Role) -> Result<(), StoreError> {
    tx.exec_guarded("INSERT INTO roles (id, name) VALUES (?1, ?2)", &[&r.id, &r.name])?;
    Ok(())
}

pub(super) fn role_assignment_insert(
    tx: &mut PgTx,
    project_id: &str,
    user_id: &str,
    role_id: &str,
) -> Result<(), StoreError> {
    let sql = "INSERT INTO role_assignments (project_id, user_id, role_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
    tx.exec(sql, &[&project_id, &user_id, &role_id])?;
    Ok(())
}

pub(super) fn role_assignment_delete(
    tx: &mut PgTx,
    project_id: &str,
    user_id: &str,
    role_id: &str,
) -> Result<bool, StoreError> {
    let sql = "DELETE FROM role_assignments WHERE project_id = ?1 AND user_id = ?2 AND role_id = ?3";
    Ok(tx.exec(sql, &[&project_id, &user_id, &role_id])? > 0)
}

pub(super) fn role_assignment_roles(tx: &mut PgTx, project_id: &str, user_id: &str) -> Result<Vec<Role>, StoreError> {
    let rows = tx.all(
        "SELECT r.id, r.name FROM role_assignments a JOIN roles r ON r.id = a.role_id \
         WHERE a.project_id = ?1 AND a.user_id = ?2 ORDER BY r.name",
        &[&project_id, &user_id],
    )?;
    Ok(rows.iter().map(role_row).collect())
}
