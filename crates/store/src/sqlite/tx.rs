//! [`Tx`] over one SQLite connection.

use crate::identity::{Domain, Project, QuotaLimit, RbacPolicy, RevocationRecord, Role, User};
use crate::{AgentRow, Assignment, Doc, IndexFilter, IpAllocation, PortBinding, Segment, StoreError, Tx, Visibility};
use neutrino_model::Resource;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension, Row};

/// A transaction in progress on `conn` (the caller began it).
pub(crate) struct SqliteTx<'c> {
    conn: &'c Connection,
    /// The highest change sequence this transaction recorded, for the commit's notification.
    pub(crate) last_change: u64,
}

impl<'c> SqliteTx<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self { conn, last_change: 0 }
    }
}

const AGENT_COLS: &str = "id, agent_type, host, heartbeat_at, body";

fn agent_row(r: &Row) -> rusqlite::Result<AgentRow> {
    Ok(AgentRow { id: r.get(0)?, agent_type: r.get(1)?, host: r.get(2)?, heartbeat_at: r.get(3)?, body: r.get(4)? })
}

fn binding_row(r: &Row) -> rusqlite::Result<PortBinding> {
    Ok(PortBinding {
        port_id: r.get(0)?,
        host: r.get(1)?,
        network_id: r.get(2)?,
        segment_id: r.get(3)?,
        failure: r.get(4)?,
    })
}

fn table(resource: Resource) -> &'static str {
    match resource {
        Resource::Network => "networks",
        Resource::Subnet => "subnets",
        Resource::Port => "ports",
        Resource::SecurityGroup => "security_groups",
        Resource::SecurityGroupRule => "security_group_rules",
        Resource::Router => "routers",
        Resource::FloatingIp => "floatingips",
    }
}

fn resource_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Network => "network",
        Resource::Subnet => "subnet",
        Resource::Port => "port",
        Resource::SecurityGroup => "security_group",
        Resource::SecurityGroupRule => "security_group_rule",
        Resource::Router => "router",
        Resource::FloatingIp => "floatingip",
    }
}

/// The column naming a row's network, for the resources RBAC-shared networks make visible.
fn network_column(resource: Resource) -> Option<&'static str> {
    match resource {
        Resource::Network => Some("id"),
        Resource::Subnet => Some("network_id"),
        _ => None,
    }
}

/// `project_id = ? [OR <network column> IN (networks an RBAC policy grants the project)]`.
fn visibility_condition(resource: Resource, seen: &Visibility, args: &mut Vec<SqlValue>) -> String {
    args.push(SqlValue::Text(seen.project_id.clone()));
    let project = args.len();
    let own = format!("project_id = ?{project}");
    let Some(column) = network_column(resource).filter(|_| !seen.network_actions.is_empty()) else {
        return own;
    };
    let actions: Vec<String> = seen
        .network_actions
        .iter()
        .map(|a| {
            args.push(SqlValue::Text(a.clone()));
            format!("?{}", args.len())
        })
        .collect();
    format!(
        "({own} OR {column} IN (SELECT object_id FROM rbac_policies WHERE object_type = 'network' \
         AND action IN ({}) AND target_project IN (?{project}, '*')))",
        actions.join(", ")
    )
}

/// Builds `WHERE col IN (?, ...) AND ...` for the set fields of an index filter.
pub(super) fn where_clause(resource: Resource, filter: &IndexFilter) -> (String, Vec<SqlValue>) {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    let mut add = |col: &str, values: &Option<Vec<String>>| {
        if let Some(values) = values {
            if values.is_empty() {
                conds.push("0 = 1".into());
                return;
            }
            let marks: Vec<String> = values
                .iter()
                .map(|v| {
                    args.push(SqlValue::Text(v.clone()));
                    format!("?{}", args.len())
                })
                .collect();
            conds.push(format!("{col} IN ({})", marks.join(", ")));
        }
    };
    add("id", &filter.ids);
    add("project_id", &filter.project_ids);
    if resource != Resource::SecurityGroupRule {
        add("name", &filter.names);
    }
    if matches!(resource, Resource::Subnet | Resource::Port) {
        add("network_id", &filter.network_ids);
    }
    if resource == Resource::SecurityGroupRule {
        add("security_group_id", &filter.security_group_ids);
    }
    if resource == Resource::Port {
        add("device_id", &filter.device_ids);
        add("device_owner", &filter.device_owners);
        add("mac_address", &filter.mac_addresses);
    }
    if let Some(seen) = &filter.visible_to {
        conds.push(visibility_condition(resource, seen, &mut args));
    }
    let clause = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
    (clause, args)
}

fn domain_row(r: &Row) -> rusqlite::Result<Domain> {
    Ok(Domain { id: r.get(0)?, name: r.get(1)?, description: r.get(2)?, enabled: r.get(3)? })
}

fn project_row(r: &Row) -> rusqlite::Result<Project> {
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
    })
}

fn role_row(r: &Row) -> rusqlite::Result<Role> {
    Ok(Role { id: r.get(0)?, name: r.get(1)? })
}

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

const RBAC_COLS: &str = "id, project_id, object_type, object_id, action, target_project";
const DOMAIN_COLS: &str = "id, name, description, enabled";
const PROJECT_COLS: &str = "id, domain_id, name, description, enabled";
const USER_COLS: &str = "id, domain_id, name, password_hash, enabled, default_project_id";

impl SqliteTx<'_> {
    fn one<T>(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
        f: fn(&Row) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        Ok(self.conn.prepare_cached(sql)?.query_row(args, f).optional()?)
    }

    fn all<T>(
        &self,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
        f: fn(&Row) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(args, f)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

impl Tx for SqliteTx<'_> {
    fn doc_get(&mut self, resource: Resource, id: &str) -> Result<Option<String>, StoreError> {
        let sql = format!("SELECT body FROM {} WHERE id = ?1", table(resource));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt.query_row([id], |r| r.get(0)).optional()?)
    }

    fn doc_list(&mut self, resource: Resource, filter: &IndexFilter) -> Result<Vec<String>, StoreError> {
        let (clause, args) = where_clause(resource, filter);
        let sql = format!("SELECT body FROM {}{} ORDER BY id", table(resource), clause);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn doc_count(&mut self, resource: Resource, filter: &IndexFilter) -> Result<u64, StoreError> {
        let (clause, args) = where_clause(resource, filter);
        let sql = format!("SELECT COUNT(*) FROM {}{}", table(resource), clause);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt.query_row(rusqlite::params_from_iter(args), |r| r.get::<_, i64>(0))? as u64)
    }

    fn doc_insert(&mut self, resource: Resource, d: &Doc) -> Result<(), StoreError> {
        match resource {
            Resource::Network => self
                .conn
                .prepare_cached("INSERT INTO networks (id, project_id, name, body) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![d.id, d.project_id, d.name, d.body])?,
            Resource::Subnet => self
                .conn
                .prepare_cached(
                    "INSERT INTO subnets (id, network_id, project_id, name, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![d.id, d.network_id, d.project_id, d.name, d.body])?,
            Resource::Port => self
                .conn
                .prepare_cached(
                    "INSERT INTO ports (id, network_id, project_id, name, device_id, device_owner, mac_address, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    d.id,
                    d.network_id,
                    d.project_id,
                    d.name,
                    d.device_id,
                    d.device_owner,
                    d.mac_address,
                    d.body
                ])?,
            Resource::SecurityGroup => self
                .conn
                .prepare_cached("INSERT INTO security_groups (id, project_id, name, body) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![d.id, d.project_id, d.name, d.body])?,
            Resource::Router => self
                .conn
                .prepare_cached("INSERT INTO routers (id, project_id, name, body) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![d.id, d.project_id, d.name, d.body])?,
            Resource::FloatingIp => self
                .conn
                .prepare_cached("INSERT INTO floatingips (id, project_id, name, body) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![d.id, d.project_id, d.name, d.body])?,
            Resource::SecurityGroupRule => self
                .conn
                .prepare_cached(
                    "INSERT INTO security_group_rules (id, security_group_id, project_id, signature, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![d.id, d.security_group_id, d.project_id, d.name, d.body])?,
        };
        Ok(())
    }

    fn doc_update(&mut self, resource: Resource, d: &Doc) -> Result<bool, StoreError> {
        let n = match resource {
            Resource::Network => self
                .conn
                .prepare_cached("UPDATE networks SET project_id = ?2, name = ?3, body = ?4 WHERE id = ?1")?
                .execute(params![d.id, d.project_id, d.name, d.body])?,
            Resource::Subnet => self
                .conn
                .prepare_cached(
                    "UPDATE subnets SET network_id = ?2, project_id = ?3, name = ?4, body = ?5 WHERE id = ?1",
                )?
                .execute(params![d.id, d.network_id, d.project_id, d.name, d.body])?,
            Resource::Port => self
                .conn
                .prepare_cached(
                    "UPDATE ports SET network_id = ?2, project_id = ?3, name = ?4, device_id = ?5, device_owner = ?6, \
                 mac_address = ?7, body = ?8 WHERE id = ?1",
                )?
                .execute(params![
                    d.id,
                    d.network_id,
                    d.project_id,
                    d.name,
                    d.device_id,
                    d.device_owner,
                    d.mac_address,
                    d.body
                ])?,
            Resource::SecurityGroup => self
                .conn
                .prepare_cached("UPDATE security_groups SET project_id = ?2, name = ?3, body = ?4 WHERE id = ?1")?
                .execute(params![d.id, d.project_id, d.name, d.body])?,
            Resource::Router => self
                .conn
                .prepare_cached("UPDATE routers SET project_id = ?2, name = ?3, body = ?4 WHERE id = ?1")?
                .execute(params![d.id, d.project_id, d.name, d.body])?,
            Resource::FloatingIp => self
                .conn
                .prepare_cached("UPDATE floatingips SET project_id = ?2, name = ?3, body = ?4 WHERE id = ?1")?
                .execute(params![d.id, d.project_id, d.name, d.body])?,
            Resource::SecurityGroupRule => self
                .conn
                .prepare_cached("UPDATE security_group_rules SET project_id = ?2, body = ?3 WHERE id = ?1")?
                .execute(params![d.id, d.project_id, d.body])?,
        };
        Ok(n > 0)
    }

    fn doc_delete(&mut self, resource: Resource, id: &str) -> Result<bool, StoreError> {
        let sql = format!("DELETE FROM {} WHERE id = ?1", table(resource));
        Ok(self.conn.prepare_cached(&sql)?.execute([id])? > 0)
    }

    fn ip_allocation_list_by_subnet(&mut self, subnet_id: &str) -> Result<Vec<IpAllocation>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT subnet_id, ip_address, port_id, network_id FROM ip_allocations WHERE subnet_id = ?1",
        )?;
        let rows = stmt.query_map([subnet_id], |r| {
            Ok(IpAllocation { subnet_id: r.get(0)?, ip_address: r.get(1)?, port_id: r.get(2)?, network_id: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn ip_allocation_insert(&mut self, a: &IpAllocation) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO ip_allocations (subnet_id, ip_address, port_id, network_id) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![a.subnet_id, a.ip_address, a.port_id, a.network_id])?;
        Ok(())
    }

    fn ip_allocation_delete_by_port(&mut self, port_id: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM ip_allocations WHERE port_id = ?1")?.execute([port_id])?;
        Ok(())
    }

    fn ip_allocation_delete(&mut self, subnet_id: &str, ip_address: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM ip_allocations WHERE subnet_id = ?1 AND ip_address = ?2")?
            .execute([subnet_id, ip_address])?;
        Ok(())
    }

    fn ip_allocation_count_by_subnet(&mut self, subnet_id: &str, except_owners: &[&str]) -> Result<u64, StoreError> {
        let mut args: Vec<SqlValue> = vec![SqlValue::Text(subnet_id.into())];
        let mut sql = String::from(
            "SELECT COUNT(*) FROM ip_allocations a JOIN ports p ON p.id = a.port_id WHERE a.subnet_id = ?1",
        );
        if !except_owners.is_empty() {
            let marks: Vec<String> = except_owners
                .iter()
                .map(|o| {
                    args.push(SqlValue::Text((*o).into()));
                    format!("?{}", args.len())
                })
                .collect();
            sql.push_str(&format!(" AND p.device_owner NOT IN ({})", marks.join(", ")));
        }
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt.query_row(rusqlite::params_from_iter(args), |r| r.get::<_, i64>(0))? as u64)
    }

    fn segment_ids_in_use(&mut self, network_type: &str, physical_network: &str) -> Result<Vec<u32>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT segmentation_id FROM network_segments WHERE network_type = ?1 AND physical_network = ?2 ORDER BY segmentation_id",
        )?;
        let rows = stmt.query_map([network_type, physical_network], |r| r.get::<_, i64>(0))?;
        Ok(rows.map(|r| r.map(|v| v as u32)).collect::<Result<Vec<_>, _>>()?)
    }

    fn segment_insert(&mut self, s: &Segment) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO network_segments (id, network_id, network_type, physical_network, segmentation_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![s.id, s.network_id, s.network_type, s.physical_network, i64::from(s.segmentation_id)])?;
        Ok(())
    }

    fn segment_list_by_network(&mut self, network_id: &str) -> Result<Vec<Segment>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
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

    fn segment_delete_by_network(&mut self, network_id: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM network_segments WHERE network_id = ?1")?.execute([network_id])?;
        Ok(())
    }

    fn change_record(&mut self, resource: Resource, id: &str, op: &str, project_id: &str) -> Result<u64, StoreError> {
        self.conn
            .prepare_cached("INSERT INTO changes (resource, resource_id, op, project_id) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![resource_name(resource), id, op, project_id])?;
        self.last_change = self.conn.last_insert_rowid() as u64;
        Ok(self.last_change)
    }

    fn change_compact(&mut self, keep: u64) -> Result<u64, StoreError> {
        let dropped = self
            .conn
            .prepare_cached("DELETE FROM changes WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM changes) - ?1")?
            .execute([keep as i64])?;
        Ok(dropped as u64)
    }

    fn change_record_kind(&mut self, kind: &str, id: &str, op: &str) -> Result<u64, StoreError> {
        self.conn
            .prepare_cached("INSERT INTO changes (resource, resource_id, op, project_id) VALUES (?1, ?2, ?3, '')")?
            .execute(params![kind, id, op])?;
        self.last_change = self.conn.last_insert_rowid() as u64;
        Ok(self.last_change)
    }

    fn agent_get(&mut self, id: &str) -> Result<Option<AgentRow>, StoreError> {
        self.one(&format!("SELECT {AGENT_COLS} FROM agents WHERE id = ?1"), &[&id], agent_row)
    }

    fn agent_find(&mut self, agent_type: &str, host: &str) -> Result<Option<AgentRow>, StoreError> {
        self.one(
            &format!("SELECT {AGENT_COLS} FROM agents WHERE agent_type = ?1 AND host = ?2"),
            &[&agent_type, &host],
            agent_row,
        )
    }

    fn agent_list(&mut self) -> Result<Vec<AgentRow>, StoreError> {
        self.all(&format!("SELECT {AGENT_COLS} FROM agents ORDER BY id"), &[], agent_row)
    }

    fn agent_upsert(&mut self, a: &AgentRow) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO agents (id, agent_type, host, heartbeat_at, body) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (id) DO UPDATE SET agent_type = excluded.agent_type, host = excluded.host, \
                 heartbeat_at = excluded.heartbeat_at, body = excluded.body",
            )?
            .execute(params![a.id, a.agent_type, a.host, a.heartbeat_at, a.body])?;
        Ok(())
    }

    fn agent_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.conn.prepare_cached("DELETE FROM agents WHERE id = ?1")?.execute([id])? > 0)
    }

    fn assignment_list(&mut self, kind: Assignment) -> Result<Vec<(String, String)>, StoreError> {
        let (table, col) = kind.table();
        self.all(&format!("SELECT {col}, agent_id FROM {table} ORDER BY {col}, agent_id"), &[], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
    }

    fn assignment_add(&mut self, kind: Assignment, resource_id: &str, agent_id: &str) -> Result<bool, StoreError> {
        let (table, col) = kind.table();
        let sql = format!("INSERT INTO {table} ({col}, agent_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING");
        Ok(self.conn.prepare_cached(&sql)?.execute([resource_id, agent_id])? > 0)
    }

    fn assignment_remove(&mut self, kind: Assignment, resource_id: &str, agent_id: &str) -> Result<bool, StoreError> {
        let (table, col) = kind.table();
        let sql = format!("DELETE FROM {table} WHERE {col} = ?1 AND agent_id = ?2");
        Ok(self.conn.prepare_cached(&sql)?.execute([resource_id, agent_id])? > 0)
    }

    fn port_security_group_ports(&mut self, security_group_id: &str) -> Result<Vec<String>, StoreError> {
        self.all(
            "SELECT port_id FROM port_security_groups WHERE security_group_id = ?1 ORDER BY port_id",
            &[&security_group_id],
            |r| r.get(0),
        )
    }

    fn change_list_since(&mut self, seq: u64, limit: u64) -> Result<Vec<(u64, String, String)>, StoreError> {
        self.all(
            "SELECT seq, resource, resource_id FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            &[&(seq as i64), &(limit as i64)],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)),
        )
    }

    fn port_binding_set(&mut self, b: &PortBinding) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO port_bindings (port_id, host, network_id, segment_id, failure) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (port_id) DO UPDATE SET host = excluded.host, network_id = excluded.network_id, \
                 segment_id = excluded.segment_id, failure = excluded.failure",
            )?
            .execute(params![b.port_id, b.host, b.network_id, b.segment_id, b.failure])?;
        Ok(())
    }

    fn port_binding_clear(&mut self, port_id: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM port_bindings WHERE port_id = ?1")?.execute([port_id])?;
        Ok(())
    }

    fn port_binding_list_by_host(&mut self, host: &str) -> Result<Vec<PortBinding>, StoreError> {
        self.all(
            "SELECT port_id, host, network_id, segment_id, failure FROM port_bindings WHERE host = ?1 ORDER BY port_id",
            &[&host],
            binding_row,
        )
    }

    fn port_binding_list_by_network(&mut self, network_id: &str) -> Result<Vec<PortBinding>, StoreError> {
        self.all(
            "SELECT port_id, host, network_id, segment_id, failure FROM port_bindings WHERE network_id = ?1 AND failure = '' ORDER BY port_id",
            &[&network_id],
            binding_row,
        )
    }

    fn change_latest(&mut self) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM changes")?;
        Ok(stmt.query_row([], |r| r.get::<_, i64>(0))? as u64)
    }

    fn domain_get(&mut self, id: &str) -> Result<Option<Domain>, StoreError> {
        self.one(&format!("SELECT {DOMAIN_COLS} FROM domains WHERE id = ?1"), &[&id], domain_row)
    }

    fn domain_get_by_name(&mut self, name: &str) -> Result<Option<Domain>, StoreError> {
        self.one(&format!("SELECT {DOMAIN_COLS} FROM domains WHERE name = ?1"), &[&name], domain_row)
    }

    fn domain_list(&mut self) -> Result<Vec<Domain>, StoreError> {
        self.all(&format!("SELECT {DOMAIN_COLS} FROM domains ORDER BY name"), &[], domain_row)
    }

    fn domain_insert(&mut self, d: &Domain) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO domains (id, name, description, enabled) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![d.id, d.name, d.description, d.enabled])?;
        Ok(())
    }

    fn project_get(&mut self, id: &str) -> Result<Option<Project>, StoreError> {
        self.one(&format!("SELECT {PROJECT_COLS} FROM projects WHERE id = ?1"), &[&id], project_row)
    }

    fn project_get_by_name(&mut self, domain_id: &str, name: &str) -> Result<Option<Project>, StoreError> {
        self.one(
            &format!("SELECT {PROJECT_COLS} FROM projects WHERE domain_id = ?1 AND name = ?2"),
            &[&domain_id, &name],
            project_row,
        )
    }

    fn project_list(&mut self, name: Option<&str>) -> Result<Vec<Project>, StoreError> {
        match name {
            Some(n) => self.all(
                &format!("SELECT {PROJECT_COLS} FROM projects WHERE name = ?1 ORDER BY id"),
                &[&n],
                project_row,
            ),
            None => self.all(&format!("SELECT {PROJECT_COLS} FROM projects ORDER BY id"), &[], project_row),
        }
    }

    fn project_insert(&mut self, p: &Project) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO projects (id, domain_id, name, description, enabled) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![p.id, p.domain_id, p.name, p.description, p.enabled])?;
        Ok(())
    }

    fn project_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.conn.prepare_cached("DELETE FROM projects WHERE id = ?1")?.execute([id])? > 0)
    }

    fn project_update(&mut self, p: &Project) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("UPDATE projects SET name = ?2, description = ?3, enabled = ?4 WHERE id = ?1")?
            .execute(params![p.id, p.name, p.description, p.enabled])?
            > 0)
    }

    fn user_get(&mut self, id: &str) -> Result<Option<User>, StoreError> {
        self.one(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"), &[&id], user_row)
    }

    fn user_get_by_name(&mut self, domain_id: &str, name: &str) -> Result<Option<User>, StoreError> {
        self.one(
            &format!("SELECT {USER_COLS} FROM users WHERE domain_id = ?1 AND name = ?2"),
            &[&domain_id, &name],
            user_row,
        )
    }

    fn user_list(&mut self, name: Option<&str>) -> Result<Vec<User>, StoreError> {
        match name {
            Some(n) => self.all(&format!("SELECT {USER_COLS} FROM users WHERE name = ?1 ORDER BY id"), &[&n], user_row),
            None => self.all(&format!("SELECT {USER_COLS} FROM users ORDER BY id"), &[], user_row),
        }
    }

    fn user_insert(&mut self, u: &User) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO users (id, domain_id, name, password_hash, enabled, default_project_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![u.id, u.domain_id, u.name, u.password_hash, u.enabled, u.default_project_id])?;
        Ok(())
    }

    fn user_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.conn.prepare_cached("DELETE FROM users WHERE id = ?1")?.execute([id])? > 0)
    }

    fn user_update(&mut self, u: &User) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE users SET name = ?2, password_hash = ?3, enabled = ?4, default_project_id = ?5 WHERE id = ?1",
            )?
            .execute(params![u.id, u.name, u.password_hash, u.enabled, u.default_project_id])?
            > 0)
    }

    fn role_get(&mut self, id: &str) -> Result<Option<Role>, StoreError> {
        self.one("SELECT id, name FROM roles WHERE id = ?1", &[&id], role_row)
    }

    fn role_get_by_name(&mut self, name: &str) -> Result<Option<Role>, StoreError> {
        self.one("SELECT id, name FROM roles WHERE name = ?1", &[&name], role_row)
    }

    fn role_list(&mut self, name: Option<&str>) -> Result<Vec<Role>, StoreError> {
        match name {
            Some(n) => self.all("SELECT id, name FROM roles WHERE name = ?1 ORDER BY name", &[&n], role_row),
            None => self.all("SELECT id, name FROM roles ORDER BY name", &[], role_row),
        }
    }

    fn role_insert(&mut self, r: &Role) -> Result<(), StoreError> {
        self.conn.prepare_cached("INSERT INTO roles (id, name) VALUES (?1, ?2)")?.execute(params![r.id, r.name])?;
        Ok(())
    }

    fn role_assignment_insert(&mut self, project_id: &str, user_id: &str, role_id: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO role_assignments (project_id, user_id, role_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            )?
            .execute([project_id, user_id, role_id])?;
        Ok(())
    }

    fn role_assignment_delete(&mut self, project_id: &str, user_id: &str, role_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM role_assignments WHERE project_id = ?1 AND user_id = ?2 AND role_id = ?3")?
            .execute([project_id, user_id, role_id])?
            > 0)
    }

    fn role_assignment_roles(&mut self, project_id: &str, user_id: &str) -> Result<Vec<Role>, StoreError> {
        self.all(
            "SELECT r.id, r.name FROM role_assignments a JOIN roles r ON r.id = a.role_id \
             WHERE a.project_id = ?1 AND a.user_id = ?2 ORDER BY r.name",
            &[&project_id, &user_id],
            role_row,
        )
    }

    fn revoked_token_insert(&mut self, audit_id: &str, expires_at: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO revoked_tokens (audit_id, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING")?
            .execute(params![audit_id, expires_at])?;
        Ok(())
    }

    fn revoked_token_list(&mut self, now: i64) -> Result<Vec<String>, StoreError> {
        self.all("SELECT audit_id FROM revoked_tokens WHERE expires_at > ?1", &[&now], |r| r.get(0))
    }

    fn revoked_token_list_expiring(&mut self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        self.all("SELECT audit_id, expires_at FROM revoked_tokens WHERE expires_at > ?1", &[&now], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
    }

    fn revocation_event_insert(&mut self, e: &RevocationRecord) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO revocation_events (user_id, project_id, role_id, issued_before, revoked_at, prune_after) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![e.user_id, e.project_id, e.role_id, e.issued_before_us, e.revoked_at_us, e.prune_after])?;
        Ok(self.conn.last_insert_rowid())
    }

    fn revocation_event_list(&mut self, after_id: i64, now: i64) -> Result<Vec<RevocationRecord>, StoreError> {
        self.all(
            "SELECT id, user_id, project_id, role_id, issued_before, revoked_at, prune_after FROM revocation_events \
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
                })
            },
        )
    }

    fn revocation_prune(&mut self, now: i64) -> Result<u64, StoreError> {
        let events =
            self.conn.prepare_cached("DELETE FROM revocation_events WHERE prune_after <= ?1")?.execute([now])?;
        let tokens = self.conn.prepare_cached("DELETE FROM revoked_tokens WHERE expires_at <= ?1")?.execute([now])?;
        Ok((events + tokens) as u64)
    }

    fn quota_list(&mut self, project_id: Option<&str>) -> Result<Vec<QuotaLimit>, StoreError> {
        let f: fn(&Row) -> rusqlite::Result<QuotaLimit> =
            |r| Ok(QuotaLimit { project_id: r.get(0)?, resource: r.get(1)?, hard_limit: r.get(2)? });
        match project_id {
            Some(p) => self.all(
                "SELECT project_id, resource, hard_limit FROM quotas WHERE project_id = ?1 ORDER BY resource",
                &[&p],
                f,
            ),
            None => {
                self.all("SELECT project_id, resource, hard_limit FROM quotas ORDER BY project_id, resource", &[], f)
            }
        }
    }

    fn quota_set(&mut self, q: &QuotaLimit) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO quotas (project_id, resource, hard_limit) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = excluded.hard_limit",
            )?
            .execute(params![q.project_id, q.resource, q.hard_limit])?;
        Ok(())
    }

    fn quota_delete_project(&mut self, project_id: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM quotas WHERE project_id = ?1")?.execute([project_id])?;
        Ok(())
    }

    fn rbac_policy_insert(&mut self, p: &RbacPolicy) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO rbac_policies (id, project_id, object_type, object_id, action, target_project) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![p.id, p.project_id, p.object_type, p.object_id, p.action, p.target_project])?;
        Ok(())
    }

    fn rbac_policy_get(&mut self, id: &str) -> Result<Option<RbacPolicy>, StoreError> {
        self.one(&format!("SELECT {RBAC_COLS} FROM rbac_policies WHERE id = ?1"), &[&id], rbac_row)
    }

    fn rbac_policy_list(&mut self, object_id: Option<&str>) -> Result<Vec<RbacPolicy>, StoreError> {
        match object_id {
            Some(o) => self.all(
                &format!("SELECT {RBAC_COLS} FROM rbac_policies WHERE object_id = ?1 ORDER BY id"),
                &[&o],
                rbac_row,
            ),
            None => self.all(&format!("SELECT {RBAC_COLS} FROM rbac_policies ORDER BY id"), &[], rbac_row),
        }
    }

    fn rbac_objects_for(&mut self, object_type: &str, action: &str, project: &str) -> Result<Vec<String>, StoreError> {
        self.all(
            "SELECT DISTINCT object_id FROM rbac_policies WHERE object_type = ?1 AND action = ?2 \
             AND (target_project = ?3 OR target_project = '*')",
            &[&object_type, &action, &project],
            |r| r.get(0),
        )
    }

    fn rbac_policy_update_target(&mut self, id: &str, target_project: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("UPDATE rbac_policies SET target_project = ?2 WHERE id = ?1")?
            .execute([id, target_project])?
            > 0)
    }

    fn rbac_policy_delete(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.conn.prepare_cached("DELETE FROM rbac_policies WHERE id = ?1")?.execute([id])? > 0)
    }

    fn rbac_policy_delete_by_object(&mut self, object_id: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM rbac_policies WHERE object_id = ?1")?.execute([object_id])?;
        Ok(())
    }

    fn port_security_group_set(&mut self, port_id: &str, groups: &[String]) -> Result<(), StoreError> {
        self.conn.prepare_cached("DELETE FROM port_security_groups WHERE port_id = ?1")?.execute([port_id])?;
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO port_security_groups (port_id, security_group_id) VALUES (?1, ?2)")?;
        for g in groups {
            stmt.execute([port_id, g.as_str()])?;
        }
        Ok(())
    }

    fn port_security_group_count(&mut self, security_group_id: &str) -> Result<u64, StoreError> {
        let mut stmt =
            self.conn.prepare_cached("SELECT COUNT(*) FROM port_security_groups WHERE security_group_id = ?1")?;
        Ok(stmt.query_row([security_group_id], |r| r.get::<_, i64>(0))? as u64)
    }
}
