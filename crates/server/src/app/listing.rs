//! Reads: list and show for every resource, straight from the stored wire documents.
//!
//! A list whose conditions the indexes answer completely (ids, names, projects, networks,
//! devices) is assembled from the stored JSON without decoding it; anything else decodes the
//! narrowed candidates and filters, sorts and pages them in memory.

use super::lookup;
use super::{policy, App, RequestContext};
use neutrino_model::query::{Filter, ListQuery};
use neutrino_model::resources::def;
use neutrino_model::types::{
    AddressGroup, AddressScope, DefaultSecurityGroupRule, FloatingIp, Network, Port, PortDetails, Router,
    SecurityGroup, SecurityGroupRule, Subnet, SubnetPool,
};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{IndexFilter, Tx, Visibility};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Index columns each resource has, by attribute name.
fn indexed(resource: Resource, attr: &str) -> bool {
    match attr {
        "id" | "name" | "project_id" | "tenant_id" => true,
        "network_id" => matches!(resource, Resource::Subnet | Resource::Port),
        "device_id" | "device_owner" | "mac_address" => resource == Resource::Port,
        "security_group_id" => resource == Resource::SecurityGroupRule,
        _ => false,
    }
}

/// Splits the query into what the store's indexes can answer and whether anything remains.
fn index_filter(resource: Resource, q: &ListQuery) -> (IndexFilter, bool) {
    let mut f = IndexFilter::default();
    let mut rest = false;
    for filter in &q.filters {
        let Filter::Eq { attr, values } = filter else {
            rest = true;
            continue;
        };
        let strings: Option<Vec<String>> = values.iter().map(|v| v.as_str().map(str::to_string)).collect();
        let Some(strings) = strings.filter(|_| indexed(resource, attr)) else {
            rest = true;
            continue;
        };
        let slot = match attr.as_str() {
            "id" => &mut f.ids,
            "name" => &mut f.names,
            "project_id" | "tenant_id" => &mut f.project_ids,
            "network_id" => &mut f.network_ids,
            "device_id" => &mut f.device_ids,
            "device_owner" => &mut f.device_owners,
            "security_group_id" => &mut f.security_group_ids,
            _ => &mut f.mac_addresses,
        };
        *slot = Some(match slot.take() {
            // Two filters on the same column (project_id and tenant_id): both must hold.
            Some(existing) => existing.into_iter().filter(|v| strings.contains(v)).collect(),
            None => strings,
        });
    }
    (f, rest)
}

/// Whether a listed object is visible: its project's, or a network others may use (shared,
/// external, or named by an RBAC policy), or a subnet of such a network, or a pool, scope or
/// security group shared with all or with the caller, or a default rule template. The store already
/// applied this rule in SQL ([`Visibility`]); it is checked again on what was decoded.
fn visible_item(
    ctx: &RequestContext,
    resource: Resource,
    item: &Map<String, Value>,
    usable_networks: &[String],
) -> bool {
    let own = item.get("project_id").and_then(Value::as_str) == Some(ctx.project_id.as_str());
    let in_usable =
        |key: &str| item.get(key).and_then(Value::as_str).is_some_and(|n| usable_networks.iter().any(|s| s == n));
    ctx.is_admin
        || own
        || match resource {
            Resource::Network => in_usable("id"),
            Resource::Subnet => in_usable("network_id"),
            Resource::SubnetPool | Resource::AddressScope | Resource::SecurityGroup => {
                item.get("shared") == Some(&Value::Bool(true)) || in_usable("id")
            }
            // Gated as a whole by their `get_*` rules before listing.
            Resource::Flavor | Resource::ServiceProfile => true,
            // Templates belong to no project; who may read them is the policy's.
            Resource::DefaultSecurityGroupRule => super::default_sg_rules::may_read(ctx),
            // Shared only by policies (`*` ones included in `usable_networks`).
            Resource::AddressGroup => in_usable("id"),
            Resource::Port | Resource::SecurityGroupRule | Resource::Router | Resource::FloatingIp => false,
        }
}

/// A subnet's `shared`, which only a filter reads (it is never shown): whether its network
/// is shared with the caller, by `*` or by name (neutron-lib's `apply_filters` on the
/// subnet's `rbac_entries`).
fn insert_subnet_shared(item: &mut Map<String, Value>, shared_to_caller: &[String]) {
    let network = item.get("network_id").and_then(Value::as_str).unwrap_or_default();
    let shared = shared_to_caller.iter().any(|n| n == network);
    item.insert("shared".into(), Value::Bool(shared));
}

/// The list body of documents an admin sees as stored: they are concatenated, not decoded.
fn concat_documents(plural: &str, bodies: &[String]) -> String {
    let total: usize = bodies.iter().map(String::len).sum();
    let mut out = String::with_capacity(total + bodies.len() + 32);
    out.push_str("{\"");
    out.push_str(plural);
    out.push_str("\": [");
    for (i, b) in bodies.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(b);
    }
    out.push_str("]}");
    out
}

/// Security groups are shown with their rules, which live in their own rows.
async fn join_rules(app: &Arc<App>, items: &mut [Map<String, Value>]) -> Result<(), ApiError> {
    let ids: Vec<String> =
        items.iter().filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_string)).collect();
    let mut rules = app.store.read(move |tx| super::security_groups::rules_of(tx, &ids)).await?;
    for item in items.iter_mut() {
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        let group_rules = rules.remove(&id).unwrap_or_default();
        item.insert(
            "security_group_rules".into(),
            serde_json::to_value(group_rules).map_err(|_| ApiError::internal())?,
        );
    }
    Ok(())
}

/// The rule of `visible_item` as the store evaluates it, so a member's list reads only the
/// rows it may see, however many other projects have. Shared pools, scopes and address
/// groups are decided on the decoded documents (there are few); templates have no project.
fn member_visibility(ctx: &RequestContext, resource: Resource) -> Option<Visibility> {
    let unowned = matches!(
        resource,
        Resource::SubnetPool
            | Resource::AddressScope
            | Resource::AddressGroup
            | Resource::DefaultSecurityGroupRule
            | Resource::Flavor
            | Resource::ServiceProfile
    );
    if ctx.is_admin || unowned {
        return None;
    }
    let rbac_actions = match resource {
        Resource::Network | Resource::Subnet => vec![super::sharing::SHARED.into(), super::sharing::EXTERNAL.into()],
        Resource::SecurityGroup => vec![super::sharing::SHARED.into()],
        _ => Vec::new(),
    };
    Some(Visibility { project_id: ctx.project_id.clone(), rbac_actions })
}

/// Narrows a port list to the ports using any of `groups` (`port-security-groups-filtering`),
/// read from the groups' index rather than from every port.
fn narrow_to_group_ports(tx: &mut dyn Tx, filter: &mut IndexFilter, groups: &[String]) -> Result<(), ApiError> {
    let mut ids: Vec<String> = Vec::new();
    for g in groups {
        ids.extend(tx.port_security_group_ports(g)?);
    }
    filter.ids = Some(match filter.ids.take() {
        Some(named) => named.into_iter().filter(|i| ids.contains(i)).collect(),
        None => ids,
    });
    Ok(())
}

/// `GET /v2.0/<collection>`: the whole JSON response body.
pub async fn list(
    app: &Arc<App>,
    ctx: &RequestContext,
    resource: Resource,
    mut q: ListQuery,
    self_url: String,
) -> Result<String, ApiError> {
    let d = def(resource);
    let ownerless = matches!(resource, Resource::Flavor | Resource::ServiceProfile);
    if ownerless && !super::flavors::readable(ctx, resource) {
        return Ok(concat_documents(d.plural, &[]));
    }
    if resource == Resource::Network {
        // Neutron validates a network `is_default` filter but applies none: the flag lives
        // in its external-network table, which `get_networks` does not filter on.
        q.filters.retain(|f| !matches!(f, Filter::Eq { attr, .. } if attr == "is_default"));
    }
    let (mut filter, rest) = index_filter(resource, &q);
    let marker = q.marker.clone();
    let want_shared = matches!(resource, Resource::Network | Resource::Subnet) && !ctx.is_admin;
    filter.visible_to = member_visibility(ctx, resource);
    // `port-security-groups-filtering`: the ports using any of the groups, by the index.
    let by_groups: Option<Vec<String>> = match resource {
        Resource::Port => {
            q.eq_values("security_groups").map(|v| v.iter().filter_map(Value::as_str).map(str::to_string).collect())
        }
        _ => None,
    };
    let project = ctx.project_id.clone();
    // Pools, scopes and groups a policy shares with the caller by name (`rbac-subnetpool`,
    // `rbac-security-groups`).
    let rbac_type = match resource {
        Resource::SubnetPool if !ctx.is_admin => Some(super::sharing::SUBNETPOOL),
        Resource::AddressScope if !ctx.is_admin => Some(super::sharing::ADDRESS_SCOPE),
        Resource::SecurityGroup if !ctx.is_admin => Some(super::sharing::SECURITY_GROUP),
        Resource::AddressGroup if !ctx.is_admin => Some(super::sharing::ADDRESS_GROUP),
        _ => None,
    };
    let filters_subnet_sharing = resource == Resource::Subnet && q.eq_values("shared").is_some();
    let (bodies, marker_body, (shared_networks, shared_to_caller)) = app
        .store
        .read(move |tx| -> Result<_, ApiError> {
            if let Some(groups) = &by_groups {
                narrow_to_group_ports(tx, &mut filter, groups)?;
            }
            let bodies = tx.doc_list(resource, &filter)?;
            let marker_body = match &marker {
                Some(m) => Some(tx.doc_get(resource, m)?.ok_or_else(|| ApiError::not_found(resource, m))?),
                None => None,
            };
            // Networks usable by the caller: the `*` policies are the shared/external flags,
            // so the RBAC table alone answers it.
            let shared = match rbac_type {
                _ if want_shared => super::sharing::networks_shared_with(tx, &project)?,
                Some(t) => tx.rbac_objects_for(t, super::sharing::SHARED, &project)?,
                None => Vec::new(),
            };
            let shared_to_caller = if filters_subnet_sharing {
                tx.rbac_objects_for(super::sharing::NETWORK, super::sharing::SHARED, &project)?
            } else {
                Vec::new()
            };
            Ok((bodies, marker_body, (shared, shared_to_caller)))
        })
        .await?;
    // Security groups are shown with their rules, which live in their own rows; floating IPs
    // with their port's details as the port is now.
    let joins_rules = resource == Resource::SecurityGroup;
    let joins_ports = resource == Resource::FloatingIp;
    let fast = ctx.is_admin
        && !rest
        && !joins_rules
        && !joins_ports
        && q.fields.is_empty()
        && q.sorts.is_empty()
        && q.limit.is_none();
    if fast {
        return Ok(concat_documents(d.plural, &bodies));
    }
    let mut items = Vec::with_capacity(bodies.len());
    for b in &bodies {
        let mut item: Map<String, Value> = super::decode(resource, "?", b)?;
        if filters_subnet_sharing {
            insert_subnet_shared(&mut item, &shared_to_caller);
        }
        // An address group's `shared` is hidden.
        if rbac_type.is_some()
            && resource != Resource::AddressGroup
            && item.get("id").and_then(Value::as_str).is_some_and(|i| shared_networks.iter().any(|s| s == i))
        {
            // A pool, scope or group shared with the caller by name shows `shared` to it
            // (Neutron's per-project `shared` of an RBAC object).
            item.insert("shared".into(), Value::Bool(true));
        }
        if visible_item(ctx, resource, &item, &shared_networks) && q.matches(&item) {
            if filters_subnet_sharing {
                item.remove("shared");
            }
            policy::strip_hidden(ctx, resource, &mut item);
            items.push(item);
        }
    }
    if joins_rules && !items.is_empty() {
        join_rules(app, &mut items).await?;
    }
    if joins_ports && !items.is_empty() {
        join_port_details(app, &mut items).await?;
    }
    let marker_item: Option<Map<String, Value>> =
        marker_body.map(|b| super::decode(resource, "marker", &b)).transpose()?;
    let page = q.paginate(items, marker_item.as_ref());
    let links = q.links(&self_url, &page);
    let page: Vec<Value> = page
        .into_iter()
        .map(|i| {
            let tenant = i.get("tenant_id").cloned();
            Value::Object(with_tenant(resource, !q.fields.is_empty(), q.select_fields(i), tenant))
        })
        .collect();
    let mut body = Map::new();
    body.insert(d.plural.into(), Value::Array(page));
    if let Some(links) = links {
        body.insert(format!("{}_links", d.plural), Value::Array(links));
    }
    serde_json::to_string(&body).map_err(|_| ApiError::internal())
}

/// Neutron shows an address group's `tenant_id` whatever `fields` asks for (its object's
/// dict gains `tenant_id` after the fields were picked); other resources show only `fields`.
fn with_tenant(
    resource: Resource,
    picked: bool,
    mut item: Map<String, Value>,
    tenant: Option<Value>,
) -> Map<String, Value> {
    if let (Resource::AddressGroup, true, Some(t)) = (resource, picked, tenant) {
        item.insert("tenant_id".into(), t);
    }
    item
}

/// Floating IPs are shown with the details of their ports (`fip-port-details`).
async fn join_port_details(app: &Arc<App>, items: &mut [Map<String, Value>]) -> Result<(), ApiError> {
    let port_ids: Vec<Option<String>> =
        items.iter().map(|i| i.get("port_id").and_then(Value::as_str).map(str::to_string)).collect();
    let details = app
        .store
        .read(move |tx| port_ids.iter().map(|p| port_details(tx, p.as_deref())).collect::<Result<Vec<_>, _>>())
        .await?;
    for (item, d) in items.iter_mut().zip(details) {
        item.insert("port_details".into(), serde_json::to_value(d).map_err(|_| ApiError::internal())?);
    }
    Ok(())
}

/// The details of the port a floating IP is associated with, if any.
pub(crate) fn port_details(tx: &mut dyn Tx, port_id: Option<&str>) -> Result<Option<PortDetails>, ApiError> {
    let Some(port_id) = port_id else { return Ok(None) };
    let port: Option<Port> = super::load(tx, Resource::Port, port_id)?;
    Ok(port.as_ref().map(PortDetails::from))
}

/// `GET /v2.0/<collection>/<id>`: the whole JSON response body.
pub async fn show(
    app: &Arc<App>,
    ctx: &RequestContext,
    resource: Resource,
    id: String,
    fields: Vec<String>,
) -> Result<String, ApiError> {
    let d = def(resource);
    let joins = matches!(resource, Resource::SecurityGroup | Resource::FloatingIp);
    if resource == Resource::DefaultSecurityGroupRule && !super::default_sg_rules::may_read(ctx) {
        return Err(ApiError::http_not_found("The resource could not be found."));
    }
    if ctx.is_admin && fields.is_empty() && !joins {
        let id2 = id.clone();
        let body = app
            .store
            .read(move |tx| -> Result<_, ApiError> { Ok(tx.doc_get(resource, &id2)?) })
            .await?
            .ok_or_else(|| ApiError::not_found(resource, &id))?;
        return Ok(format!("{{\"{}\": {}}}", d.singular, body));
    }
    let ctx2 = ctx.clone();
    let value = app
        .store
        .read(move |tx| -> Result<Value, ApiError> {
            let v = match resource {
                Resource::Network => serde_json::to_value(lookup::visible::<Network>(tx, &ctx2, &id)?),
                Resource::Subnet => serde_json::to_value(lookup::visible::<Subnet>(tx, &ctx2, &id)?),
                Resource::Port => serde_json::to_value(lookup::visible::<Port>(tx, &ctx2, &id)?),
                Resource::SecurityGroup => {
                    let mut g = lookup::visible::<SecurityGroup>(tx, &ctx2, &id)?;
                    g.shared = g.shared || super::sharing::object_shared_with(tx, &id, &ctx2.project_id)?;
                    serde_json::to_value(super::security_groups::with_rules(tx, g)?)
                }
                Resource::Router => serde_json::to_value(lookup::visible::<Router>(tx, &ctx2, &id)?),
                Resource::FloatingIp => {
                    let f = lookup::visible::<FloatingIp>(tx, &ctx2, &id)?;
                    let port_details = port_details(tx, f.port_id.as_deref())?;
                    serde_json::to_value(FloatingIp { port_details, ..f })
                }
                Resource::SubnetPool => {
                    let mut p = lookup::visible::<SubnetPool>(tx, &ctx2, &id)?;
                    p.shared = p.shared || super::sharing::object_shared_with(tx, &id, &ctx2.project_id)?;
                    serde_json::to_value(p)
                }
                Resource::AddressScope => {
                    let mut a = lookup::visible::<AddressScope>(tx, &ctx2, &id)?;
                    a.shared = a.shared || super::sharing::object_shared_with(tx, &id, &ctx2.project_id)?;
                    serde_json::to_value(a)
                }
                Resource::Flavor | Resource::ServiceProfile => {
                    serde_json::from_str(&super::flavors::show(tx, &ctx2, resource, &id)?)
                }
                Resource::DefaultSecurityGroupRule => {
                    serde_json::to_value(super::load_required::<DefaultSecurityGroupRule>(
                        tx,
                        Resource::DefaultSecurityGroupRule,
                        &id,
                    )?)
                }
                Resource::AddressGroup => serde_json::to_value(lookup::visible::<AddressGroup>(tx, &ctx2, &id)?),
                Resource::SecurityGroupRule => {
                    let rule: SecurityGroupRule = super::load_required(tx, Resource::SecurityGroupRule, &id)?;
                    // The group's owner reads its rules (`ADMIN_OR_SG_OWNER_READER`), not the
                    // projects it is shared with.
                    lookup::visible::<SecurityGroup>(tx, &ctx2, &rule.security_group_id)
                        .ok()
                        .filter(|g| policy::can_see(&ctx2, &g.project_id, false))
                        .ok_or_else(|| ApiError::not_found(Resource::SecurityGroupRule, &id))?;
                    serde_json::to_value(rule)
                }
            };
            v.map_err(|_| ApiError::internal())
        })
        .await?;
    let Value::Object(mut item) = value else { return Err(ApiError::internal()) };
    policy::strip_hidden(ctx, resource, &mut item);
    if !fields.is_empty() {
        let tenant = item.get("tenant_id").cloned();
        item.retain(|k, _| fields.iter().any(|f| f == k));
        item = with_tenant(resource, true, item, tenant);
    }
    let mut out = Map::new();
    out.insert(d.singular.into(), Value::Object(item));
    serde_json::to_string(&out).map_err(|_| ApiError::internal())
}
