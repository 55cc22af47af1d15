//! Subnet pools (`subnet_allocation`, `default-subnetpools`, `subnetpool-prefix-ops`), as
//! Neutron's `db_base_plugin_v2` and `SubnetPoolReader` keep them: prefixes stored merged,
//! prefix-length bounds defaulted and checked, at most one default pool per IP version, a
//! pool's prefixes only ever grow by an update, and a pool with subnets kept.
//!
//! Reading pools for a subnet and carving subnets out of them is [`super::subnet_alloc`]'s.

use super::lookup;
use super::policy::{self, Action};
use super::{check_revision, encode, App, RequestContext, Stored};
use super::{sharing, subnet_alloc};
use ipnet::IpNet;
use neutrino_ipam::prefixes;
use neutrino_model::bodies::subnetpools::{SubnetPoolCreate, SubnetPoolUpdate};
use neutrino_model::bodies::{Body, Update};
use neutrino_model::types::{AddressScope, Network, Subnet, SubnetPool};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, Tx};
use serde_json::Value;
use std::sync::Arc;

pub(crate) fn doc(p: &SubnetPool) -> Result<Doc, ApiError> {
    Ok(Doc {
        id: p.id.clone(),
        project_id: p.project_id.clone(),
        name: p.name.clone(),
        body: encode(p)?,
        ..Doc::default()
    })
}

/// A pool's prefixes and bounds once read as `SubnetPoolReader` reads them.
#[derive(Debug, PartialEq)]
struct Reader {
    ip_version: u8,
    /// Merged, in address order.
    prefixes: Vec<IpNet>,
    min: u8,
    max: u8,
    default: u8,
}

/// The prefix lengths a pool is asked for; `None` takes the default.
#[derive(Debug, Clone, Copy, Default)]
struct Bounds {
    min: Option<u64>,
    max: Option<u64>,
    default: Option<u64>,
}

fn parse_prefixes(given: &[String]) -> Result<Vec<IpNet>, ApiError> {
    given
        .iter()
        .map(|p| p.parse::<IpNet>().map_err(|_| ApiError::bad_request(format!("invalid IPNetwork {p}"))))
        .collect()
}

/// `SubnetPoolReader`: one IP version, merged prefixes, then the bounds (min defaults to 8
/// or 64, max to the address length, default to min) checked against each other.
fn read(given: &[String], b: Bounds) -> Result<Reader, ApiError> {
    let nets = parse_prefixes(given)?;
    let Some(first) = nets.first() else { return Err(ApiError::empty_subnet_pool_prefix_list()) };
    let v6 = matches!(first, IpNet::V6(_));
    if nets.iter().any(|n| matches!(n, IpNet::V6(_)) != v6) {
        return Err(ApiError::prefix_version_mismatch());
    }
    let (bits, default_min) = if v6 { (128, 64) } else { (32, 8) };
    let min = b.min.filter(|m| *m != 0).unwrap_or(default_min);
    let max = b.max.unwrap_or(bits);
    let default = b.default.unwrap_or(min);
    if min > max {
        return Err(ApiError::illegal_subnet_pool_prefix_bounds("min_prefixlen", min, "max_prefixlen", max));
    }
    if max > bits {
        return Err(ApiError::illegal_subnet_pool_prefix_bounds("max_prefixlen", max, "ip_version_max", bits));
    }
    if default < min {
        return Err(ApiError::illegal_subnet_pool_prefix_bounds("default_prefixlen", default, "min_prefixlen", min));
    }
    if default > max {
        return Err(ApiError::illegal_subnet_pool_prefix_bounds("default_prefixlen", default, "max_prefixlen", max));
    }
    // Every bound is now at most `bits` (128).
    let len = |v: u64| u8::try_from(v).unwrap_or(u8::MAX);
    Ok(Reader {
        ip_version: if v6 { 6 } else { 4 },
        prefixes: prefixes::merge(&nets),
        min: len(min),
        max: len(max),
        default: len(default),
    })
}

fn texts(nets: &[IpNet]) -> Vec<String> {
    nets.iter().map(IpNet::to_string).collect()
}

fn check_no_default(tx: &mut dyn Tx, ctx: &RequestContext, version: u8) -> Result<(), ApiError> {
    if subnet_alloc::default_pool(tx, ctx, version)?.is_some() {
        return Err(ApiError::invalid_input(
            "A default subnetpool for this IP family has already been set. Only one default may exist per IP family",
        ));
    }
    Ok(())
}

/// `_validate_address_scope_id`: the scope is one the caller sees (404), of the pool's IP
/// version, and no other pool of it (that the caller sees) shares an address with this one.
fn check_address_scope(
    tx: &mut dyn Tx,
    ctx: &RequestContext,
    scope_id: Option<&str>,
    pool_id: &str,
    r: &Reader,
) -> Result<(), ApiError> {
    let Some(scope_id) = scope_id else { return Ok(()) };
    let scope = lookup::visible::<AddressScope>(tx, ctx, scope_id)?;
    if scope.ip_version != r.ip_version {
        return Err(ApiError::illegal_subnet_pool_ip_version_association(pool_id, scope_id, scope.ip_version));
    }
    for other in subnet_alloc::visible_pools(tx, ctx)? {
        if other.id == pool_id || other.address_scope_id.as_deref() != Some(scope_id) {
            continue;
        }
        if prefixes::intersects(&parse_prefixes(&other.prefixes)?, &r.prefixes) {
            return Err(ApiError::address_scope_prefix_conflict());
        }
    }
    Ok(())
}

/// Creates subnet pools (bulk is atomic).
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Body<SubnetPoolCreate>>,
) -> Result<Vec<SubnetPool>, ApiError> {
    super::bulk_create(app, ctx, items, create_one).await
}

fn create_one(
    tx: &mut dyn Tx,
    _app: &App,
    ctx: &RequestContext,
    body: &Body<SubnetPoolCreate>,
    now: &str,
) -> Result<SubnetPool, ApiError> {
    let a = &body.fields;
    policy::authorize(ctx, Resource::SubnetPool, Action::Create, &a.project_id, Some(&body.attrs))?;
    super::quotas::check(tx, Resource::SubnetPool, &a.project_id)?;
    let bounds = Bounds { min: a.min_prefixlen, max: a.max_prefixlen, default: a.default_prefixlen };
    let r = read(&a.prefixes, bounds)?;
    if a.is_default {
        check_no_default(tx, ctx, r.ip_version)?;
    }
    let id = uuid::Uuid::new_v4().to_string();
    check_address_scope(tx, ctx, a.address_scope_id.as_deref(), &id, &r)?;
    let pool = SubnetPool {
        id,
        name: a.name.clone(),
        tenant_id: a.project_id.clone(),
        project_id: a.project_id.clone(),
        default_prefixlen: r.default,
        min_prefixlen: r.min,
        max_prefixlen: r.max,
        is_default: a.is_default,
        shared: a.shared,
        prefixes: texts(&r.prefixes),
        ip_version: r.ip_version,
        default_quota: a.default_quota,
        address_scope_id: a.address_scope_id.clone(),
        description: a.description.clone(),
        tags: super::sorted_tags(a.tags.clone()),
        created_at: now.into(),
        updated_at: now.into(),
        revision_number: 0,
    };
    tx.doc_insert(Resource::SubnetPool, &doc(&pool)?)?;
    if pool.shared {
        sharing::ensure_wildcard_of(tx, sharing::SUBNETPOOL, &pool.id, &pool.project_id, sharing::SHARED)?;
    }
    tx.change_record(Resource::SubnetPool, &pool.id, ChangeOp::Create, &pool.project_id)?;
    Ok(pool)
}

/// `_update_subnetpool_dict`: new prefixes must cover the old ones, and are merged.
fn grown_prefixes(old: &[String], new: &[String]) -> Result<Vec<String>, ApiError> {
    let (old, new) = (parse_prefixes(old)?, parse_prefixes(new)?);
    if !prefixes::is_subset(&old, &new) {
        return Err(ApiError::illegal_subnet_pool_prefix_update(
            "Existing prefixes must be a subset of the new prefixes",
        ));
    }
    Ok(texts(&prefixes::merge(&new)))
}

/// `update_subnetpool`'s checks and changes, on a pool the caller sees.
fn apply_update(
    tx: &mut dyn Tx,
    ctx: &RequestContext,
    p: &mut SubnetPool,
    a: SubnetPoolUpdate,
) -> Result<(), ApiError> {
    let new_prefixes = match &a.prefixes {
        Some(given) => grown_prefixes(&p.prefixes, given)?,
        None => p.prefixes.clone(),
    };
    let bounds = Bounds {
        min: Some(a.min_prefixlen.unwrap_or(u64::from(p.min_prefixlen))),
        max: Some(a.max_prefixlen.unwrap_or(u64::from(p.max_prefixlen))),
        default: Some(a.default_prefixlen.unwrap_or(u64::from(p.default_prefixlen))),
    };
    let r = read(&new_prefixes, bounds)?;
    let is_default = a.is_default.unwrap_or(p.is_default);
    if is_default && !p.is_default {
        check_no_default(tx, ctx, r.ip_version)?;
    }
    if let Some(scope_id) = p.address_scope_id.clone() {
        check_update_allowed(tx, ctx, &p.id, &scope_id)?;
    }
    let scope = a.address_scope_id.unwrap_or_else(|| p.address_scope_id.clone());
    check_address_scope(tx, ctx, scope.as_deref(), &p.id, &r)?;
    p.prefixes = texts(&r.prefixes);
    (p.min_prefixlen, p.max_prefixlen, p.default_prefixlen) = (r.min, r.max, r.default);
    p.is_default = is_default;
    p.address_scope_id = scope;
    if let Some(q) = a.default_quota {
        p.default_quota = Some(q);
    }
    if let Some(v) = a.name {
        p.name = v;
    }
    if let Some(v) = a.description {
        p.description = v;
    }
    Ok(())
}

/// `_check_subnetpool_update_allowed`: a pool in a scope the caller does not own (a shared
/// one) is the scope owner's to change.
fn check_update_allowed(tx: &mut dyn Tx, ctx: &RequestContext, pool_id: &str, scope_id: &str) -> Result<(), ApiError> {
    let scope = lookup::visible::<AddressScope>(tx, ctx, scope_id)?;
    if ctx.is_admin || scope.project_id == ctx.project_id {
        return Ok(());
    }
    Err(ApiError::illegal_subnet_pool_update(format!(
        "subnetpool {pool_id} cannot be updated when associated with shared address scope {scope_id}"
    )))
}

/// A pool that changes scope takes its subnets' networks along, when every subnet of its IP
/// version there is the pool's (`_check_subnetpool_address_scope_network_affinity`).
fn rescope_networks(tx: &mut dyn Tx, p: &SubnetPool) -> Result<(), ApiError> {
    let mut done: Vec<String> = Vec::new();
    for s in subnet_alloc::pool_subnets(tx, &p.id)? {
        if done.contains(&s.network_id) {
            continue;
        }
        let mut net: Network = super::load_required(tx, Resource::Network, &s.network_id)?;
        for other in &net.subnets {
            let o: Subnet = super::load_required(tx, Resource::Subnet, other)?;
            if o.ip_version == p.ip_version && o.subnetpool_id.as_deref() != Some(p.id.as_str()) {
                return Err(ApiError::network_address_scope_affinity_error());
            }
        }
        if p.ip_version == 6 {
            net.ipv6_address_scope = p.address_scope_id.clone();
        } else {
            net.ipv4_address_scope = p.address_scope_id.clone();
        }
        tx.doc_update(Resource::Network, &net.to_doc()?)?;
        done.push(s.network_id);
    }
    Ok(())
}

/// The update answer: Neutron returns its working dict, whose prefix lengths are integers
/// (only a read shows them as strings).
pub fn updated_view(p: &SubnetPool) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(p).map_err(|_| ApiError::internal())?;
    for (key, len) in [
        ("default_prefixlen", p.default_prefixlen),
        ("min_prefixlen", p.min_prefixlen),
        ("max_prefixlen", p.max_prefixlen),
    ] {
        v[key] = Value::from(len);
    }
    Ok(v)
}

/// Updates one subnet pool.
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    change: Update<SubnetPoolUpdate>,
) -> Result<SubnetPool, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut p = lookup::visible::<SubnetPool>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::SubnetPool, Action::Update, &p.project_id, Some(&change.body.attrs))?;
            check_revision(change.if_match, p.revision_number)?;
            let old_scope = p.address_scope_id.clone();
            apply_update(tx, &ctx, &mut p, change.body.fields)?;
            if p.address_scope_id != old_scope {
                rescope_networks(tx, &p)?;
            }
            super::save_update(tx, &mut p, app2.clock.now())?;
            Ok(p)
        })
        .await
}

/// The body of `add_prefixes` / `remove_prefixes`: `{"prefixes": [...]}`, not empty.
pub fn prefix_ops_body(body: &Value) -> Result<Vec<String>, ApiError> {
    let invalid = || ApiError::bad_request("Request body contains invalid data");
    let list = body.get("prefixes").and_then(Value::as_array).filter(|l| !l.is_empty()).ok_or_else(invalid)?;
    list.iter().map(|p| p.as_str().map(str::to_string).ok_or_else(invalid)).collect()
}

/// `PUT /v2.0/subnetpools/{id}/add_prefixes` and `remove_prefixes`: the pool's prefixes
/// after the change, as `{"prefixes": [...]}`.
pub async fn edit_prefixes(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    given: Vec<String>,
    add: bool,
) -> Result<Value, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut p = lookup::visible::<SubnetPool>(tx, &ctx, &id)?;
            policy::authorize_rule(&ctx, if add { "add_prefixes" } else { "remove_prefixes" }, &p.project_id)?;
            let changed =
                if add { add_prefixes(tx, &ctx, &mut p, &given)? } else { remove_prefixes(tx, &mut p, &given)? };
            // Removing a small block from a large one splits it, so the stored list is counted
            // after the change too: repeated edits cannot grow it without bound.
            let cap = app2.config.max_prefixes_per_subnetpool;
            if p.prefixes.len() > cap {
                return Err(ApiError::invalid_input(format!("The number of prefixes exceeds the maximum {cap}")));
            }
            if changed {
                super::save_update(tx, &mut p, app2.clock.now())?;
            }
            Ok(serde_json::json!({ "prefixes": p.prefixes }))
        })
        .await
}

/// `add_prefixes`: an update whose prefixes are the old ones plus the given ones.
fn add_prefixes(tx: &mut dyn Tx, ctx: &RequestContext, p: &mut SubnetPool, given: &[String]) -> Result<bool, ApiError> {
    let mut all = p.prefixes.clone();
    all.extend(given.iter().cloned());
    let change = SubnetPoolUpdate { prefixes: Some(all), ..SubnetPoolUpdate::default() };
    apply_update(tx, ctx, p, change)?;
    Ok(true)
}

/// `remove_prefixes`: nothing to do when none of the given addresses is in the pool; refused
/// when a subnet holds any of them.
fn remove_prefixes(tx: &mut dyn Tx, p: &mut SubnetPool, given: &[String]) -> Result<bool, ApiError> {
    let (all, removed) = (parse_prefixes(&p.prefixes)?, parse_prefixes(given)?);
    if !prefixes::intersects(&all, &removed) {
        return Ok(false);
    }
    let allocated = subnet_alloc::allocated_prefixes(tx, &p.id)?;
    if prefixes::intersects(&allocated, &removed) {
        return Err(ApiError::illegal_subnet_pool_prefix_update(
            "One or more the prefixes to be removed is in use by a subnet",
        ));
    }
    p.prefixes = texts(&prefixes::difference(&all, &removed));
    Ok(true)
}

/// Deletes a subnet pool no subnet was allocated from.
pub async fn delete(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    if_match: Option<super::IfMatch>,
) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let p = lookup::visible::<SubnetPool>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::SubnetPool, Action::Delete, &p.project_id, None)?;
            check_revision(if_match, p.revision_number)?;
            if !subnet_alloc::pool_subnets(tx, &id)?.is_empty() {
                return Err(ApiError::subnet_pool_delete_error("Subnet pool has existing allocations"));
            }
            tx.doc_delete(Resource::SubnetPool, &id)?;
            tx.rbac_policy_delete_by_object(&id)?;
            tx.change_record(Resource::SubnetPool, &id, ChangeOp::Delete, &p.project_id)?;
            Ok(())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(min: Option<u64>, max: Option<u64>, default: Option<u64>) -> Bounds {
        Bounds { min, max, default }
    }

    #[test]
    fn the_reader_defaults_and_merges_as_neutron_does() {
        let r = read(&["10.11.12.0/24".into(), "10.11.13.0/24".into()], bounds(Some(29), None, None)).unwrap();
        assert_eq!((r.ip_version, r.min, r.max, r.default), (4, 29, 32, 29));
        assert_eq!(texts(&r.prefixes), ["10.11.12.0/23"]);
        let r = read(&["2001:db8::/48".into()], Bounds::default()).unwrap();
        assert_eq!((r.ip_version, r.min, r.max, r.default), (6, 64, 128, 64));
        let r = read(&["10.0.0.0/8".into()], bounds(None, None, Some(24))).unwrap();
        assert_eq!((r.min, r.default), (8, 24));
    }

    #[test]
    fn the_reader_refuses_what_neutron_refuses() {
        let err = |p: &[&str], b| read(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>(), b).unwrap_err().message;
        assert_eq!(err(&[], Bounds::default()), "Empty subnet pool prefix list.");
        assert_eq!(
            err(&["10.0.0.0/8", "2001:db8::/32"], Bounds::default()),
            "Cannot mix IPv4 and IPv6 prefixes in a subnet pool."
        );
        assert_eq!(
            err(&["10.0.0.0/8"], bounds(Some(30), Some(28), None)),
            "Illegal prefix bounds: min_prefixlen=30, max_prefixlen=28."
        );
        assert_eq!(
            err(&["10.0.0.0/8"], bounds(None, Some(33), None)),
            "Illegal prefix bounds: max_prefixlen=33, ip_version_max=32."
        );
        assert_eq!(
            err(&["10.0.0.0/8"], bounds(Some(24), None, Some(16))),
            "Illegal prefix bounds: default_prefixlen=16, min_prefixlen=24."
        );
    }

    #[test]
    fn prefixes_may_grow_but_never_shrink() {
        let old = vec!["10.11.12.0/24".to_string()];
        assert_eq!(grown_prefixes(&old, &["10.11.0.0/16".into()]).unwrap(), ["10.11.0.0/16"]);
        assert_eq!(
            grown_prefixes(&old, &["10.11.12.0/24".into(), "10.11.15.0/24".into()]).unwrap(),
            ["10.11.12.0/24", "10.11.15.0/24"]
        );
        let err = grown_prefixes(&old, &["10.11.12.0/26".into()]).unwrap_err();
        assert_eq!(err.message, "Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes.");
    }
}
