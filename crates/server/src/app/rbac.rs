//! RBAC policies (`rbac-policies`): sharing a network with every project (`*`) or with one,
//! and making it external to them. A network's `shared` flag is its `*` `access_as_shared`
//! policy; its `router:external` flag is whether any `access_as_external` policy exists (as
//! Neutron converts a network on the first and back on the last). Both are kept in step
//! here in both directions, so the flags and the policy list can never disagree. Subnet
//! pools and address scopes are shared the same way ([`super::rbac_pools`]).

use super::lookup;
use super::{load_required, App, RequestContext};
use neutrino_model::bodies::rbac::{RbacPolicyCreate, RbacPolicyUpdate};
use neutrino_model::types::Network;
use neutrino_model::{ApiError, Resource};
use neutrino_store::identity::RbacPolicy;
use neutrino_store::{StoreError, Tx};
use serde_json::{json, Value};
use std::sync::Arc;

use super::rbac_pools;
use super::sharing::{self, EXTERNAL, NETWORK, SHARED};

fn to_json(p: &RbacPolicy) -> Value {
    json!({"id": p.id, "object_type": p.object_type, "object_id": p.object_id, "action": p.action,
        "target_tenant": p.target_project, "target_project": p.target_project,
        "project_id": p.project_id, "tenant_id": p.project_id})
}

fn may_manage(ctx: &RequestContext, p: &RbacPolicy) -> bool {
    ctx.is_admin || p.project_id == ctx.project_id
}

fn check_target(ctx: &RequestContext, target: &str) -> Result<(), ApiError> {
    if target != "*" && !neutrino_model::validate::is_uuid_like(target) {
        return Err(ApiError::invalid_input(format!(
            "'{target}' is not a valid target project ID; expected a UUID or '*'"
        )));
    }
    if target == "*" && !ctx.is_admin {
        return Err(ApiError::policy_not_authorized(
            "rule:create_rbac_policy and rule:create_rbac_policy:target_tenant",
        ));
    }
    Ok(())
}

/// Sets the network's `shared` flag, which a `*` `access_as_shared` policy stands for.
fn set_shared(tx: &mut dyn Tx, app: &App, net: &mut Network, value: bool) -> Result<(), ApiError> {
    if net.shared != value {
        net.shared = value;
        super::save_update(tx, net, app.clock.now())?;
    }
    Ok(())
}

/// Neutron's `external_net_db`: any `access_as_external` policy makes the network external
/// (without adding a `*` one), and it stops being external with the last of them.
fn follow_external(tx: &mut dyn Tx, app: &App, net: &mut Network) -> Result<(), ApiError> {
    let any = tx.rbac_policy_list(Some(&net.id))?.iter().any(|p| p.action == EXTERNAL);
    if any == net.router_external {
        return Ok(());
    }
    if any {
        sharing::set_router_external(tx, net, true)?;
    } else {
        sharing::remove_external(tx, net)?;
    }
    super::save_update(tx, net, app.clock.now())
}

/// `POST /v2.0/rbac-policies`.
pub async fn create(app: &Arc<App>, ctx: &RequestContext, body: RbacPolicyCreate) -> Result<Value, ApiError> {
    let RbacPolicyCreate { object_type, object_id, action, target_project: target, project_id } = body;
    check_target(ctx, &target)?;
    let owner = project_id.unwrap_or_else(|| ctx.project_id.clone());
    if owner != ctx.project_id && !ctx.is_admin {
        return Err(ApiError::bad_request(
            "Specifying 'project_id' other than the authenticated project in request is not allowed for the current user.",
        ));
    }
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut net = None;
            if object_type == NETWORK {
                let n = lookup::visible::<Network>(tx, &ctx, &object_id)?;
                if !ctx.is_admin && n.project_id != ctx.project_id {
                    return Err(ApiError::policy_not_authorized("rule:create_rbac_policy"));
                }
                net = Some(n);
            } else {
                rbac_pools::check_create(tx, &ctx, &object_type, &object_id, &target)?;
            }
            let used = tx.rbac_policy_list(None)?.iter().filter(|p| p.project_id == owner).count() as i64;
            let limit = super::quotas::limits(tx, &owner)?.get("rbac_policy").copied().unwrap_or(-1);
            if limit >= 0 && used >= limit {
                return Err(ApiError::over_quota("rbac_policy"));
            }
            let p = RbacPolicy {
                id: uuid::Uuid::new_v4().to_string(),
                project_id: owner,
                object_type,
                object_id,
                action: action.clone(),
                target_project: target.clone(),
            };
            match tx.rbac_policy_insert(&p) {
                Ok(()) => {}
                Err(StoreError::UniqueViolation { .. }) => {
                    return Err(ApiError::duplicate_rbac_policy());
                }
                Err(e) => return Err(e.into()),
            }
            match net.as_mut() {
                Some(net) if action == SHARED && target == "*" => set_shared(tx, &app2, net, true)?,
                Some(net) if action == EXTERNAL => follow_external(tx, &app2, net)?,
                Some(_) => {}
                None if target == "*" => {
                    rbac_pools::set_shared(tx, &p.object_type, &p.object_id, true, app2.clock.now())?
                }
                None => {}
            }
            Ok(json!({"rbac_policy": to_json(&p)}))
        })
        .await
}

/// `GET /v2.0/rbac-policies` (admin: all; others: their own).
pub async fn list(app: &Arc<App>, ctx: &RequestContext, filters: Vec<(String, String)>) -> Result<Value, ApiError> {
    let ctx = ctx.clone();
    app.store
        .read(move |tx| {
            let all = tx.rbac_policy_list(None)?;
            let items: Vec<Value> = all
                .iter()
                .filter(|p| may_manage(&ctx, p))
                .map(to_json)
                .filter(|v| filters.iter().all(|(k, val)| v.get(k).and_then(Value::as_str).is_none_or(|x| x == val)))
                .collect();
            Ok(json!({"rbac_policies": items}))
        })
        .await
}

/// `GET /v2.0/rbac-policies/{id}`.
pub async fn show(app: &Arc<App>, ctx: &RequestContext, id: String) -> Result<Value, ApiError> {
    let ctx = ctx.clone();
    app.store
        .read(move |tx| {
            let p = tx
                .rbac_policy_get(&id)?
                .filter(|p| may_manage(&ctx, p))
                .ok_or_else(|| ApiError::rbac_policy_not_found(&id))?;
            Ok(json!({"rbac_policy": to_json(&p)}))
        })
        .await
}

/// A subnet pool or address scope policy's new target (`validate_rbac_policy_update`: the
/// old target is released unless the new one is `*`).
fn update_pool_policy(tx: &mut dyn Tx, app: &App, mut p: RbacPolicy, target: String) -> Result<Value, ApiError> {
    if p.target_project != target && target != "*" {
        rbac_pools::check_release(tx, &p.object_type, &p.object_id, &p.target_project, &p.id)?;
    }
    let was_wildcard = p.target_project == "*";
    tx.rbac_policy_update_target(&p.id, &target)?;
    p.target_project = target;
    if was_wildcard != (p.target_project == "*") {
        rbac_pools::set_shared(tx, &p.object_type, &p.object_id, !was_wildcard, app.clock.now())?;
    }
    Ok(json!({"rbac_policy": to_json(&p)}))
}

/// `PUT /v2.0/rbac-policies/{id}`: only the target may change.
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    body: RbacPolicyUpdate,
) -> Result<Value, ApiError> {
    let target = body.target_project;
    check_target(ctx, &target)?;
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut p = tx
                .rbac_policy_get(&id)?
                .filter(|p| may_manage(&ctx, p))
                .ok_or_else(|| ApiError::rbac_policy_not_found(&id))?;
            if p.object_type != NETWORK {
                return update_pool_policy(tx, &app2, p, target);
            }
            let mut net: Network = load_required(tx, Resource::Network, &p.object_id)?;
            if p.action == SHARED && sharing::sharing_in_use(tx, &net, &p.target_project.clone(), &p.id)? {
                return Err(ApiError::rbac_policy_in_use(&p.object_id, &p.target_project));
            }
            sharing::check_external_access_kept(tx, &p, Some(&target))?;
            let was_wildcard = p.target_project == "*";
            tx.rbac_policy_update_target(&id, &target)?;
            p.target_project = target.clone();
            if p.action == SHARED && was_wildcard != (target == "*") {
                set_shared(tx, &app2, &mut net, target == "*")?;
            }
            Ok(json!({"rbac_policy": to_json(&p)}))
        })
        .await
}

/// `DELETE /v2.0/rbac-policies/{id}`: refused while the target's ports (or, for
/// `access_as_external`, routers) depend on it.
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, id: String) -> Result<(), ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let p = tx
                .rbac_policy_get(&id)?
                .filter(|p| may_manage(&ctx, p))
                .ok_or_else(|| ApiError::rbac_policy_not_found(&id))?;
            if p.object_type != NETWORK {
                rbac_pools::check_release(tx, &p.object_type, &p.object_id, &p.target_project, &p.id)?;
                tx.rbac_policy_delete(&id)?;
                if p.target_project == "*" {
                    rbac_pools::set_shared(tx, &p.object_type, &p.object_id, false, app2.clock.now())?;
                }
                return Ok(());
            }
            let mut net: Network = load_required(tx, Resource::Network, &p.object_id)?;
            if p.action == SHARED && sharing::sharing_in_use(tx, &net, &p.target_project, &p.id)? {
                return Err(ApiError::rbac_policy_in_use(&p.object_id, &p.target_project));
            }
            sharing::check_external_access_kept(tx, &p, None)?;
            tx.rbac_policy_delete(&id)?;
            if p.action == SHARED && p.target_project == "*" {
                set_shared(tx, &app2, &mut net, false)?;
            } else if p.action == EXTERNAL {
                follow_external(tx, &app2, &mut net)?;
            }
            Ok(())
        })
        .await
}
