//! RBAC policies (`rbac-policies`): sharing a network with every project (`*`) or with one,
//! and making it external to them. A network's `shared` and `router:external` flags are the
//! `*` policies, kept in step here in both directions, so the flag and the policy list can
//! never disagree.

use super::lookup;
use super::{load_required, App, RequestContext};
use neutrino_model::types::Network;
use neutrino_model::{ApiError, Resource};
use neutrino_store::identity::RbacPolicy;
use neutrino_store::{StoreError, Tx};
use serde_json::{json, Value};
use std::sync::Arc;

use super::sharing::{self, EXTERNAL, NETWORK, SHARED};

/// Object types Neutron knows; only networks exist here yet.
const KNOWN_TYPES: &[&str] =
    &["network", "qos_policy", "security_group", "address_scope", "subnetpool", "address_group"];

fn to_json(p: &RbacPolicy) -> Value {
    json!({"id": p.id, "object_type": p.object_type, "object_id": p.object_id, "action": p.action,
        "target_tenant": p.target_project, "target_project": p.target_project,
        "project_id": p.project_id, "tenant_id": p.project_id})
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(404, "RbacPolicyNotFound", format!("RBAC policy of type network with ID {id} not found"))
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
        return Err(ApiError::new(
            403,
            "PolicyNotAuthorized",
            "rule:create_rbac_policy and rule:create_rbac_policy:target_tenant is disallowed by policy",
        ));
    }
    Ok(())
}

/// Sets the network flag a `*` policy stands for.
fn set_flag(tx: &mut dyn Tx, app: &App, net: &mut Network, action: &str, value: bool) -> Result<(), ApiError> {
    let changed = match action {
        SHARED if net.shared != value => {
            net.shared = value;
            true
        }
        EXTERNAL if net.router_external != value => {
            net.router_external = value;
            true
        }
        _ => false,
    };
    if changed {
        super::save_update(tx, net, app.clock.now())?;
    }
    Ok(())
}

/// `POST /v2.0/rbac-policies`.
pub async fn create(app: &Arc<App>, ctx: &RequestContext, body: &Value) -> Result<Value, ApiError> {
    let Some(Value::Object(b)) = body.get("rbac_policy") else {
        return Err(ApiError::bad_request("Unable to find 'rbac_policy' in request body"));
    };
    for key in b.keys() {
        if !matches!(
            key.as_str(),
            "object_type" | "object_id" | "action" | "target_tenant" | "target_project" | "project_id" | "tenant_id"
        ) {
            return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{key}'")));
        }
    }
    let field = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
    let required = |k: &str| {
        field(k).ok_or_else(|| {
            ApiError::bad_request(format!("Failed to parse request. Required attribute '{k}' not specified"))
        })
    };
    let object_type = required("object_type")?.trim().to_lowercase();
    if !KNOWN_TYPES.contains(&object_type.as_str()) || object_type != NETWORK {
        return Err(ApiError::invalid_input(format!("'{object_type}' is not a valid RBAC object type")));
    }
    let object_id = required("object_id")?;
    let action = required("action")?;
    if action != SHARED && action != EXTERNAL {
        return Err(ApiError::invalid_input(format!(
            "Action '{action}' for object type '{object_type}' is not supported"
        )));
    }
    let target = field("target_tenant").or_else(|| field("target_project")).ok_or_else(|| {
        ApiError::bad_request("Failed to parse request. Required attribute 'target_tenant' not specified")
    })?;
    check_target(ctx, &target)?;
    let owner = field("project_id").or_else(|| field("tenant_id")).unwrap_or_else(|| ctx.project_id.clone());
    if owner != ctx.project_id && !ctx.is_admin {
        return Err(ApiError::bad_request(
            "Specifying 'project_id' other than the authenticated project in request is not allowed for the current user.",
        ));
    }
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut net = lookup::visible::<Network>(tx, &ctx, &object_id)?;
            if !ctx.is_admin && net.project_id != ctx.project_id {
                return Err(ApiError::new(
                    403,
                    "PolicyNotAuthorized",
                    "rule:create_rbac_policy is disallowed by policy",
                ));
            }
            let used = tx.rbac_policy_list(None)?.iter().filter(|p| p.project_id == owner).count() as i64;
            let limit = super::quotas::limits(tx, &owner)?.get("rbac_policy").copied().unwrap_or(-1);
            if limit >= 0 && used >= limit {
                return Err(ApiError::conflict("OverQuota", "Quota exceeded for resources: ['rbac_policy']."));
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
                    return Err(ApiError::conflict(
                        "DuplicateRbacPolicy",
                        "An RBAC policy already exists with those values.",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
            if target == "*" {
                set_flag(tx, &app2, &mut net, &action, true)?;
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
            let p = tx.rbac_policy_get(&id)?.filter(|p| may_manage(&ctx, p)).ok_or_else(|| not_found(&id))?;
            Ok(json!({"rbac_policy": to_json(&p)}))
        })
        .await
}

/// `PUT /v2.0/rbac-policies/{id}`: only the target may change.
pub async fn update(app: &Arc<App>, ctx: &RequestContext, id: String, body: &Value) -> Result<Value, ApiError> {
    let Some(Value::Object(b)) = body.get("rbac_policy") else {
        return Err(ApiError::bad_request("Unable to find 'rbac_policy' in request body"));
    };
    if let Some(key) = b.keys().find(|k| *k != "target_tenant" && *k != "target_project") {
        return Err(ApiError::bad_request(format!("Cannot update read-only attribute {key}")));
    }
    let target = b
        .get("target_tenant")
        .or_else(|| b.get("target_project"))
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("Resource body required"))?
        .to_string();
    check_target(ctx, &target)?;
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut p = tx.rbac_policy_get(&id)?.filter(|p| may_manage(&ctx, p)).ok_or_else(|| not_found(&id))?;
            let mut net: Network = load_required(tx, Resource::Network, &p.object_id)?;
            if p.action == SHARED && sharing::sharing_in_use(tx, &net, &p.target_project.clone(), &p.id)? {
                return Err(in_use(&p));
            }
            let was_wildcard = p.target_project == "*";
            tx.rbac_policy_update_target(&id, &target)?;
            p.target_project = target.clone();
            if was_wildcard != (target == "*") {
                set_flag(tx, &app2, &mut net, &p.action, target == "*")?;
            }
            Ok(json!({"rbac_policy": to_json(&p)}))
        })
        .await
}

fn in_use(p: &RbacPolicy) -> ApiError {
    ApiError::conflict(
        "RbacPolicyInUse",
        format!(
            "RBAC policy on object {} cannot be removed because other objects depend on it.\nDetails: Project {} has ports on the network.",
            p.object_id, p.target_project
        ),
    )
}

/// `DELETE /v2.0/rbac-policies/{id}`: refused while the target's ports depend on it.
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, id: String) -> Result<(), ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let p = tx.rbac_policy_get(&id)?.filter(|p| may_manage(&ctx, p)).ok_or_else(|| not_found(&id))?;
            let mut net: Network = load_required(tx, Resource::Network, &p.object_id)?;
            if p.action == SHARED && sharing::sharing_in_use(tx, &net, &p.target_project, &p.id)? {
                return Err(in_use(&p));
            }
            tx.rbac_policy_delete(&id)?;
            if p.target_project == "*" {
                set_flag(tx, &app2, &mut net, &p.action, false)?;
            }
            Ok(())
        })
        .await
}
