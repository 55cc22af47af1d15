//! Address groups (`address-group`, Neutron's `address_group_db`): named sets of CIDRs that
//! security group rules name as their remote (`remote_address_group_id`). Addresses are
//! normalised (`network/len`) and kept in string order; they change only through
//! `add_addresses` / `remove_addresses`, each address added or removed a revision (Neutron
//! writes one association row per address, and each revises the group). A group a rule
//! names is kept. Others see a group through `access_as_shared` RBAC policies
//! (`rbac-address-group`, [`super::rbac_pools`]).
//!
//! Every change is recorded in the change feed, so the hosts filtering with the group's
//! addresses recompute their state (see [`super::firewall`]).

use super::lookup;
use super::policy::{self, Action};
use super::sharing;
use super::{check_revision, encode, App, RequestContext};
use neutrino_model::bodies::address_groups::{
    address_ops_items, normalize_address, AddressGroupCreate, AddressGroupUpdate,
};
use neutrino_model::bodies::{Body, Update};
use neutrino_model::limits::ListLimits;
use neutrino_model::types::AddressGroup;
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, IndexFilter, Tx};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

pub(crate) fn doc(g: &AddressGroup) -> Result<Doc, ApiError> {
    Ok(Doc {
        id: g.id.clone(),
        project_id: g.project_id.clone(),
        name: g.name.clone(),
        body: encode(g)?,
        ..Doc::default()
    })
}

/// Writes the group with `changes` more revisions (the addresses added or removed, or one
/// for an attribute update) and records the change.
fn save(tx: &mut dyn Tx, g: &mut AddressGroup, changes: u64, now: String) -> Result<(), ApiError> {
    g.revision_number += changes;
    g.updated_at = now;
    tx.doc_update(Resource::AddressGroup, &doc(g)?)?;
    tx.change_record(Resource::AddressGroup, &g.id, ChangeOp::Update, &g.project_id)?;
    Ok(())
}

/// The writes (`update_address_group`, `delete_address_group`, the member actions) fall to
/// Neutron's `default` rule. A caller the group is only shared with cannot get the object
/// the policy reads, so a refusal is a 404 to it, as Neutron answers.
fn authorize_write(ctx: &RequestContext, rule: &str, g: &AddressGroup) -> Result<(), ApiError> {
    policy::authorize_rule(ctx, rule, &g.project_id).map_err(|denied| {
        if ctx.project_id == g.project_id {
            denied
        } else {
            ApiError::not_found(Resource::AddressGroup, &g.id)
        }
    })
}

/// Creates address groups (bulk is atomic).
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Body<AddressGroupCreate>>,
) -> Result<Vec<AddressGroup>, ApiError> {
    super::bulk_create(app, ctx, items, create_one).await
}

fn create_one(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    body: &Body<AddressGroupCreate>,
    now: &str,
) -> Result<AddressGroup, ApiError> {
    let a = &body.fields;
    policy::authorize(ctx, Resource::AddressGroup, Action::Create, &a.project_id, Some(&body.attrs))?;
    let mut g = AddressGroup {
        id: uuid::Uuid::new_v4().to_string(),
        name: a.name.clone(),
        project_id: a.project_id.clone(),
        addresses: vec![],
        revision_number: 0,
        description: a.description.clone(),
        created_at: now.into(),
        updated_at: now.into(),
        tenant_id: a.project_id.clone(),
    };
    let added = match &a.addresses {
        Some(given) => add(&mut g, given, &app.config.list_limits())?,
        None => 0,
    };
    g.revision_number = added;
    tx.doc_insert(Resource::AddressGroup, &doc(&g)?)?;
    tx.change_record(Resource::AddressGroup, &g.id, ChangeOp::Create, &g.project_id)?;
    Ok(g)
}

/// Updates a group's name or description.
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    change: Update<AddressGroupUpdate>,
) -> Result<AddressGroup, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut g = lookup::visible::<AddressGroup>(tx, &ctx, &id)?;
            authorize_write(&ctx, "update_address_group", &g)?;
            check_revision(change.if_match, g.revision_number)?;
            let a = change.body.fields;
            if let Some(v) = a.name {
                g.name = v;
            }
            if let Some(v) = a.description {
                g.description = v;
            }
            save(tx, &mut g, 1, app2.clock.now())?;
            Ok(g)
        })
        .await
}

/// Deletes a group no security group rule names, with its RBAC policies.
pub async fn delete(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    if_match: Option<super::IfMatch>,
) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let g = lookup::visible::<AddressGroup>(tx, &ctx, &id)?;
            authorize_write(&ctx, "delete_address_group", &g)?;
            check_revision(if_match, g.revision_number)?;
            let users = IndexFilter { remote_address_group_ids: Some(vec![id.clone()]), ..Default::default() };
            if tx.doc_count(Resource::SecurityGroupRule, &users)? > 0 {
                return Err(ApiError::address_group_in_use(&id));
            }
            tx.doc_delete(Resource::AddressGroup, &id)?;
            tx.rbac_policy_delete_by_object(&id)?;
            tx.change_record(Resource::AddressGroup, &id, ChangeOp::Delete, &g.project_id)?;
            Ok(())
        })
        .await
}

/// The requested addresses, normalised and without duplicates; the first that is no
/// network fails the request, as Neutron's loop does.
fn requested(given: &[String]) -> Result<BTreeSet<String>, ApiError> {
    given.iter().map(|a| normalize_address(a)).collect()
}

/// Adds the given addresses (none of which may be in the group yet) within the cap;
/// returns how many were added.
fn add(g: &mut AddressGroup, given: &[String], limits: &ListLimits) -> Result<u64, ApiError> {
    let wanted = requested(given)?;
    let present: Vec<String> = wanted.iter().filter(|a| g.addresses.contains(a)).cloned().collect();
    if !present.is_empty() {
        return Err(ApiError::addresses_already_exist(&present, &g.id));
    }
    if g.addresses.len() + wanted.len() > limits.address_group_addresses {
        return Err(limits.addresses_exhausted());
    }
    let added = wanted.len() as u64;
    g.addresses.extend(wanted);
    g.addresses.sort();
    Ok(added)
}

/// Removes the given addresses (all of which must be in the group); returns how many.
fn remove(g: &mut AddressGroup, given: &[String]) -> Result<u64, ApiError> {
    let wanted = requested(given)?;
    let missing: Vec<String> = wanted.iter().filter(|a| !g.addresses.contains(a)).cloned().collect();
    if !missing.is_empty() {
        return Err(ApiError::addresses_not_found(&missing, &g.id));
    }
    g.addresses.retain(|a| !wanted.contains(a));
    Ok(wanted.len() as u64)
}

/// `PUT /v2.0/address-groups/{id}/add_addresses` and `remove_addresses`: the group after
/// the change, as Neutron's plugin returns it (with the caller's `shared`, which Neutron's
/// member actions show although the attribute is hidden elsewhere).
pub async fn edit_addresses(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    body: Value,
    adding: bool,
) -> Result<Value, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut g = lookup::visible::<AddressGroup>(tx, &ctx, &id)?;
            authorize_write(&ctx, if adding { "add_addresses" } else { "remove_addresses" }, &g)?;
            let given = address_ops_items(&body)?;
            let limits = app2.config.list_limits();
            let changed = if adding { add(&mut g, &given, &limits)? } else { remove(&mut g, &given)? };
            if changed > 0 {
                save(tx, &mut g, changed, app2.clock.now())?;
            }
            let shared = sharing::object_shared_with(tx, &g.id, &ctx.project_id)?;
            Ok(serde_json::json!({ "address_group": action_view(&g, shared)? }))
        })
        .await
}

/// The group with `shared` after `project_id`, in Neutron's key order.
fn action_view(g: &AddressGroup, shared: bool) -> Result<Value, ApiError> {
    let Value::Object(stored) = serde_json::to_value(g).map_err(|_| ApiError::internal())? else {
        return Err(ApiError::internal());
    };
    let mut out = Map::with_capacity(stored.len() + 1);
    for (k, v) in stored {
        let after_project = k == "project_id";
        out.insert(k, v);
        if after_project {
            out.insert("shared".into(), Value::Bool(shared));
        }
    }
    Ok(Value::Object(out))
}
