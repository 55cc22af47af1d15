//! The change feed agents and the schedulers watch.

use super::SqliteTx;
use crate::StoreError;
use neutrino_model::Resource;
use rusqlite::params;

/// What a change the store names itself is about: the `resource` column of `changes`,
/// which the server's schedulers match against (`"port"`, `"router"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChangeKind {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Router,
    FloatingIp,
}

impl ChangeKind {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Network => "network",
            ChangeKind::Subnet => "subnet",
            ChangeKind::Port => "port",
            ChangeKind::SecurityGroup => "security_group",
            ChangeKind::SecurityGroupRule => "security_group_rule",
            ChangeKind::Router => "router",
            ChangeKind::FloatingIp => "floatingip",
        }
    }
}

impl From<Resource> for ChangeKind {
    fn from(resource: Resource) -> Self {
        match resource {
            Resource::Network => ChangeKind::Network,
            Resource::Subnet => ChangeKind::Subnet,
            Resource::Port => ChangeKind::Port,
            Resource::SecurityGroup => ChangeKind::SecurityGroup,
            Resource::SecurityGroupRule => ChangeKind::SecurityGroupRule,
            Resource::Router => ChangeKind::Router,
            Resource::FloatingIp => ChangeKind::FloatingIp,
        }
    }
}

/// Appends one change and remembers its sequence for the commit's notification.
fn append(tx: &mut SqliteTx, kind: &str, id: &str, op: &str, project_id: &str) -> Result<u64, StoreError> {
    tx.conn
        .prepare_cached("INSERT INTO changes (resource, resource_id, op, project_id) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![kind, id, op, project_id])?;
    tx.last_change = tx.conn.last_insert_rowid() as u64;
    Ok(tx.last_change)
}

pub(super) fn record(
    tx: &mut SqliteTx,
    resource: Resource,
    id: &str,
    op: &str,
    project_id: &str,
) -> Result<u64, StoreError> {
    append(tx, ChangeKind::from(resource).as_str(), id, op, project_id)
}

/// A change of something that is not an API resource; the caller names its kind.
pub(super) fn record_kind(tx: &mut SqliteTx, kind: &str, id: &str, op: &str) -> Result<u64, StoreError> {
    append(tx, kind, id, op, "")
}

pub(super) fn latest(tx: &SqliteTx) -> Result<u64, StoreError> {
    let mut stmt = tx.conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM changes")?;
    Ok(stmt.query_row([], |r| r.get::<_, i64>(0))? as u64)
}

pub(super) fn compact(tx: &SqliteTx, keep: u64) -> Result<u64, StoreError> {
    let dropped = tx
        .conn
        .prepare_cached("DELETE FROM changes WHERE seq <= (SELECT COALESCE(MAX(seq), 0) FROM changes) - ?1")?
        .execute([keep as i64])?;
    Ok(dropped as u64)
}

pub(super) fn list_since(tx: &SqliteTx, seq: u64, limit: u64) -> Result<Vec<(u64, String, String)>, StoreError> {
    tx.all(
        "SELECT seq, resource, resource_id FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        &[&(seq as i64), &(limit as i64)],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's schedulers match these strings; they are the feed's wire names.
    #[test]
    fn each_resource_has_its_feed_name() {
        let names: Vec<&str> = [
            Resource::Network,
            Resource::Subnet,
            Resource::Port,
            Resource::SecurityGroup,
            Resource::SecurityGroupRule,
            Resource::Router,
            Resource::FloatingIp,
        ]
        .into_iter()
        .map(|r| ChangeKind::from(r).as_str())
        .collect();
        assert_eq!(
            names,
            ["network", "subnet", "port", "security_group", "security_group_rule", "router", "floatingip"]
        );
    }
}
