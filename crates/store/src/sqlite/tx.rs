//! [`Tx`] over one SQLite connection.

use crate::{Doc, IndexFilter, IpAllocation, Segment, StoreError, Tx};
use neutrino_model::Resource;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};

/// A transaction in progress on `conn` (the caller began it).
pub(crate) struct SqliteTx<'c> {
    conn: &'c Connection,
}

impl<'c> SqliteTx<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self { conn }
    }
}

fn table(resource: Resource) -> &'static str {
    match resource {
        Resource::Network => "networks",
        Resource::Subnet => "subnets",
        Resource::Port => "ports",
    }
}

fn resource_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Network => "network",
        Resource::Subnet => "subnet",
        Resource::Port => "port",
    }
}

/// Builds `WHERE col IN (?, ...) AND ...` for the set fields of an index filter.
fn where_clause(resource: Resource, filter: &IndexFilter) -> (String, Vec<SqlValue>) {
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
    add("name", &filter.names);
    if resource != Resource::Network {
        add("network_id", &filter.network_ids);
    }
    if resource == Resource::Port {
        add("device_id", &filter.device_ids);
        add("device_owner", &filter.device_owners);
        add("mac_address", &filter.mac_addresses);
    }
    let clause = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
    (clause, args)
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
        Ok(self.conn.last_insert_rowid() as u64)
    }

    fn change_latest(&mut self) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM changes")?;
        Ok(stmt.query_row([], |r| r.get::<_, i64>(0))? as u64)
    }
}
