//! The one place that says where each resource's document lives: its table and the indexed
//! columns beside the JSON body. Every document statement (insert, update, the filtered
//! select) is built from this table, so a new resource or column is one entry here. The
//! SQL is written once with `?N` placeholders, which SQLite takes as they are and the
//! PostgreSQL backend rewrites to `$N` ([`crate::postgres`]); every bound value is text.

use crate::{Doc, IndexFilter, Visibility};
use neutrino_model::Resource;
use std::sync::OnceLock;

/// The index filter's values for one column.
type FilterValues = fn(&IndexFilter) -> &Option<Vec<String>>;

/// An indexed column of a document table, besides `id`, `project_id` and `body`, which
/// every document table has.
pub(crate) struct Column {
    pub(crate) name: &'static str,
    /// The [`Doc`] field stored in it; `None` binds SQL `NULL`, which the column's
    /// `NOT NULL` refuses (a document that lacks a column its table needs).
    pub(crate) value: fn(&Doc) -> Option<&str>,
    /// Whether an update rewrites it (a rule's group and signature never change).
    pub(crate) updated: bool,
    /// The index filter field that narrows a list by it, if any.
    pub(crate) filter: Option<FilterValues>,
}

/// How RBAC policies widen who sees a table's rows: a row is visible to the projects a
/// policy on the object its `column` names grants.
pub(crate) struct SharedBy {
    pub(crate) column: &'static str,
    /// The policies' `object_type` (`network`, `security_group`).
    pub(crate) object_type: &'static str,
}

/// One resource's table.
pub(crate) struct DocTable {
    pub(crate) name: &'static str,
    /// In the order the index filter applies them.
    pub(crate) columns: &'static [Column],
    /// For the resources RBAC makes visible: networks and subnets (by their network),
    /// security groups.
    pub(crate) shared_by: Option<SharedBy>,
    /// The statements, built once from the entry.
    statements: OnceLock<Statements>,
}

/// The statements of a table whose SQL does not depend on a filter.
pub(crate) struct Statements {
    pub(crate) get: String,
    pub(crate) delete: String,
    /// Binds `id, project_id, <columns>, body` as `?1..`.
    pub(crate) insert: String,
    /// Binds `id, project_id, <updated columns>, body` as `?1..`.
    pub(crate) update: String,
}

impl DocTable {
    const fn new(name: &'static str, columns: &'static [Column], shared_by: Option<SharedBy>) -> Self {
        Self { name, columns, shared_by, statements: OnceLock::new() }
    }

    pub(crate) fn statements(&self) -> &Statements {
        self.statements.get_or_init(|| {
            let mut names = vec!["id", "project_id"];
            names.extend(self.columns.iter().map(|c| c.name));
            names.push("body");
            let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
            let mut set: Vec<&str> = vec!["project_id"];
            set.extend(self.columns.iter().filter(|c| c.updated).map(|c| c.name));
            set.push("body");
            let assignments: Vec<String> = set.iter().enumerate().map(|(i, c)| format!("{c} = ?{}", i + 2)).collect();
            Statements {
                get: format!("SELECT body FROM {} WHERE id = ?1", self.name),
                delete: format!("DELETE FROM {} WHERE id = ?1", self.name),
                insert: format!("INSERT INTO {} ({}) VALUES ({})", self.name, names.join(", "), marks.join(", ")),
                update: format!("UPDATE {} SET {} WHERE id = ?1", self.name, assignments.join(", ")),
            }
        })
    }

    /// The values an insert binds, in the order of [`Statements::insert`].
    pub(crate) fn insert_values<'d>(&self, d: &'d Doc) -> Vec<Option<&'d str>> {
        let mut values = vec![Some(d.id.as_str()), Some(d.project_id.as_str())];
        values.extend(self.columns.iter().map(|c| (c.value)(d)));
        values.push(Some(d.body.as_str()));
        values
    }

    /// The values an update binds, in the order of [`Statements::update`].
    pub(crate) fn update_values<'d>(&self, d: &'d Doc) -> Vec<Option<&'d str>> {
        let mut values = vec![Some(d.id.as_str()), Some(d.project_id.as_str())];
        values.extend(self.columns.iter().filter(|c| c.updated).map(|c| (c.value)(d)));
        values.push(Some(d.body.as_str()));
        values
    }
}

const NAME: Column = Column { name: "name", value: |d| Some(&d.name), updated: true, filter: Some(|f| &f.names) };
const NETWORK_ID: Column =
    Column { name: "network_id", value: |d| d.network_id.as_deref(), updated: true, filter: Some(|f| &f.network_ids) };

/// Rows a network's RBAC policies make visible, by the column naming the network.
const fn by_network(column: &'static str) -> Option<SharedBy> {
    Some(SharedBy { column, object_type: "network" })
}

static NETWORKS: DocTable = DocTable::new("networks", &[NAME], by_network("id"));
/// A subnet's pool is `NULL` when it has none (the one nullable column).
static SUBNETS: DocTable = DocTable::new(
    "subnets",
    &[
        NAME,
        NETWORK_ID,
        Column {
            name: "subnetpool_id",
            value: |d| d.subnetpool_id.as_deref(),
            updated: true,
            filter: Some(|f| &f.subnetpool_ids),
        },
    ],
    by_network("network_id"),
);
static PORTS: DocTable = DocTable::new(
    "ports",
    &[
        NAME,
        NETWORK_ID,
        Column { name: "device_id", value: |d| d.device_id.as_deref(), updated: true, filter: Some(|f| &f.device_ids) },
        Column {
            name: "device_owner",
            value: |d| d.device_owner.as_deref(),
            updated: true,
            filter: Some(|f| &f.device_owners),
        },
        Column {
            name: "mac_address",
            value: |d| d.mac_address.as_deref(),
            updated: true,
            filter: Some(|f| &f.mac_addresses),
        },
    ],
    None,
);
static SECURITY_GROUPS: DocTable =
    DocTable::new("security_groups", &[NAME], Some(SharedBy { column: "id", object_type: "security_group" }));
/// A rule's `Doc::name` is its signature; rules are not filtered by name.
static SECURITY_GROUP_RULES: DocTable = DocTable::new(
    "security_group_rules",
    &[
        Column {
            name: "security_group_id",
            value: |d| d.security_group_id.as_deref(),
            updated: false,
            filter: Some(|f| &f.security_group_ids),
        },
        Column { name: "signature", value: |d| Some(&d.name), updated: false, filter: None },
        // Nullable: most rules name no address group.
        Column {
            name: "remote_address_group_id",
            value: |d| d.remote_address_group_id.as_deref(),
            updated: false,
            filter: Some(|f| &f.remote_address_group_ids),
        },
    ],
    None,
);
static ROUTERS: DocTable = DocTable::new("routers", &[NAME], None);
static FLOATINGIPS: DocTable = DocTable::new("floatingips", &[NAME], None);
static SUBNETPOOLS: DocTable = DocTable::new("subnetpools", &[NAME], None);
static ADDRESS_SCOPES: DocTable = DocTable::new("address_scopes", &[NAME], None);
static FLAVORS: DocTable = DocTable::new("flavors", &[NAME], None);
/// Service profiles have no name.
static SERVICE_PROFILES: DocTable = DocTable::new("service_profiles", &[], None);
/// Templates have no project and no indexed column.
static DEFAULT_SECURITY_GROUP_RULES: DocTable = DocTable::new("default_security_group_rules", &[], None);
static ADDRESS_GROUPS: DocTable = DocTable::new("address_groups", &[NAME], None);

/// The table of a resource.
pub(crate) fn doc_table(resource: Resource) -> &'static DocTable {
    match resource {
        Resource::Network => &NETWORKS,
        Resource::Subnet => &SUBNETS,
        Resource::Port => &PORTS,
        Resource::SecurityGroup => &SECURITY_GROUPS,
        Resource::SecurityGroupRule => &SECURITY_GROUP_RULES,
        Resource::Router => &ROUTERS,
        Resource::FloatingIp => &FLOATINGIPS,
        Resource::SubnetPool => &SUBNETPOOLS,
        Resource::AddressScope => &ADDRESS_SCOPES,
        Resource::Flavor => &FLAVORS,
        Resource::ServiceProfile => &SERVICE_PROFILES,
        Resource::DefaultSecurityGroupRule => &DEFAULT_SECURITY_GROUP_RULES,
        Resource::AddressGroup => &ADDRESS_GROUPS,
    }
}

/// Builds `WHERE col IN (?, ...) AND ...` for the set fields of an index filter: `id` and
/// `project_id`, then the table's filterable columns, then the caller's visibility.
pub(crate) fn where_clause(resource: Resource, filter: &IndexFilter) -> (String, Vec<String>) {
    let mut conds: Vec<String> = Vec::new();
    let mut args: Vec<String> = Vec::new();
    let mut add = |col: &str, values: &Option<Vec<String>>| {
        if let Some(values) = values {
            if values.is_empty() {
                conds.push("0 = 1".into());
                return;
            }
            let marks: Vec<String> = values
                .iter()
                .map(|v| {
                    args.push(v.clone());
                    format!("?{}", args.len())
                })
                .collect();
            conds.push(format!("{col} IN ({})", marks.join(", ")));
        }
    };
    add("id", &filter.ids);
    add("project_id", &filter.project_ids);
    for column in doc_table(resource).columns {
        if let Some(values) = column.filter {
            add(column.name, values(filter));
        }
    }
    if let Some(seen) = &filter.visible_to {
        conds.push(visibility_condition(resource, seen, &mut args));
    }
    let clause = if conds.is_empty() { String::new() } else { format!(" WHERE {}", conds.join(" AND ")) };
    (clause, args)
}

/// `project_id = ? [OR <column> IN (objects an RBAC policy grants the project)]`.
fn visibility_condition(resource: Resource, seen: &Visibility, args: &mut Vec<String>) -> String {
    args.push(seen.project_id.clone());
    let project = args.len();
    let own = format!("project_id = ?{project}");
    let Some(shared) = doc_table(resource).shared_by.as_ref().filter(|_| !seen.rbac_actions.is_empty()) else {
        return own;
    };
    let actions: Vec<String> = seen
        .rbac_actions
        .iter()
        .map(|a| {
            args.push(a.clone());
            format!("?{}", args.len())
        })
        .collect();
    format!(
        "({own} OR {} IN (SELECT object_id FROM rbac_policies WHERE object_type = '{}' \
         AND action IN ({}) AND target_project IN (?{project}, '*')))",
        shared.column,
        shared.object_type,
        actions.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_statements_bind_the_columns_each_table_has() {
        let ports = doc_table(Resource::Port).statements();
        assert_eq!(
            ports.insert,
            "INSERT INTO ports (id, project_id, name, network_id, device_id, device_owner, mac_address, body) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        );
        assert_eq!(
            ports.update,
            "UPDATE ports SET project_id = ?2, name = ?3, network_id = ?4, device_id = ?5, device_owner = ?6, \
             mac_address = ?7, body = ?8 WHERE id = ?1"
        );
        let rules = doc_table(Resource::SecurityGroupRule).statements();
        assert_eq!(
            rules.insert,
            "INSERT INTO security_group_rules (id, project_id, security_group_id, signature, \
             remote_address_group_id, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        );
        assert_eq!(rules.update, "UPDATE security_group_rules SET project_id = ?2, body = ?3 WHERE id = ?1");
        assert_eq!(doc_table(Resource::FloatingIp).statements().get, "SELECT body FROM floatingips WHERE id = ?1");
    }

    #[test]
    fn the_values_follow_the_statements() {
        let rule = Doc {
            id: "r".into(),
            project_id: "p".into(),
            name: "sig".into(),
            security_group_id: Some("g".into()),
            body: "{}".into(),
            ..Default::default()
        };
        let table = doc_table(Resource::SecurityGroupRule);
        let some = |values: &[&'static str]| values.iter().map(|v| Some(*v)).collect::<Vec<_>>();
        let mut values = some(&["r", "p", "g", "sig", "{}"]);
        values.insert(4, None);
        assert_eq!(table.insert_values(&rule), values);
        assert_eq!(table.update_values(&rule), some(&["r", "p", "{}"]));
        // A column the table has but the document leaves out binds NULL (refused by NOT NULL).
        let no_group = Doc { security_group_id: None, ..rule };
        assert_eq!(table.insert_values(&no_group)[2], None);
    }
}
