//! Quotas (`quotas`, `quota_details`): per-project limits with Neutron's defaults, enforced
//! inside the create transaction. Writes are serialised by the store, so the count and the
//! insert see the same state and racing creates can never overshoot a limit.

use super::{App, RequestContext};
use neutrino_model::validate::invalid_attr;
use neutrino_model::{ApiError, Resource};
use neutrino_store::identity::QuotaLimit;
use neutrino_store::{IndexFilter, Tx};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Neutron's default limits (`neutron/conf/quota.py`); -1 is unlimited.
pub const DEFAULTS: &[(&str, i64)] = &[
    ("network", 100),
    ("subnet", 100),
    ("port", 500),
    ("router", 10),
    ("floatingip", 50),
    ("security_group", 10),
    ("security_group_rule", 100),
    ("rbac_policy", 10),
    ("subnetpool", -1),
];

fn quota_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Network => "network",
        Resource::Subnet => "subnet",
        Resource::Port => "port",
        Resource::SecurityGroup => "security_group",
        Resource::SecurityGroupRule => "security_group_rule",
        Resource::Router => "router",
        Resource::FloatingIp => "floatingip",
        Resource::SubnetPool => "subnetpool",
        // Neutron has no address scope quota: never checked, never listed.
        Resource::AddressScope => "address_scope",
        // Nor flavor quotas: admins make them.
        Resource::Flavor => "flavor",
        Resource::ServiceProfile => "service_profile",
        // Nor a quota of templates (admin-only).
        Resource::DefaultSecurityGroupRule => "default_security_group_rule",
        // Nor an address group quota.
        Resource::AddressGroup => "address_group",
    }
}

/// The effective limits of a project.
pub fn limits(tx: &mut dyn Tx, project_id: &str) -> Result<BTreeMap<String, i64>, ApiError> {
    let mut out: BTreeMap<String, i64> = DEFAULTS.iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
    for q in tx.quota_list(Some(project_id))? {
        out.insert(q.resource, q.hard_limit);
    }
    Ok(out)
}

/// Refuses one more `resource` for `project_id` when it would exceed the limit. Called in
/// the create transaction before the insert.
pub fn check(tx: &mut dyn Tx, resource: Resource, project_id: &str) -> Result<(), ApiError> {
    check_n(tx, resource, project_id, 1)
}

/// Refuses `delta` more `resource` for `project_id` when usage plus `delta` would exceed
/// the limit (Neutron's `quota_limit_check`).
pub fn check_n(tx: &mut dyn Tx, resource: Resource, project_id: &str, delta: u64) -> Result<(), ApiError> {
    // Ports no project owns (router gateways, floating IP addresses) count against the
    // router's or floating IP's own quota, as in Neutron, not against an empty project.
    if project_id.is_empty() {
        return Ok(());
    }
    let name = quota_name(resource);
    let limit = tx.quota_list(Some(project_id))?.into_iter().find(|q| q.resource == name).map(|q| q.hard_limit);
    let limit = limit.unwrap_or_else(|| DEFAULTS.iter().find(|(k, _)| *k == name).map_or(-1, |(_, v)| *v));
    if limit < 0 {
        return Ok(());
    }
    if usage(tx, name, project_id)? + delta > limit as u64 {
        return Err(ApiError::over_quota(name));
    }
    Ok(())
}

/// How many of the quota resource `name` the project holds, as Neutron counts them: every
/// row the project owns (its default security group and that group's rules included).
fn usage(tx: &mut dyn Tx, name: &str, project_id: &str) -> Result<u64, ApiError> {
    let resource = match name {
        "network" => Resource::Network,
        "subnet" => Resource::Subnet,
        "port" => Resource::Port,
        "security_group" => Resource::SecurityGroup,
        "security_group_rule" => Resource::SecurityGroupRule,
        "router" => Resource::Router,
        "floatingip" => Resource::FloatingIp,
        "subnetpool" => Resource::SubnetPool,
        "rbac_policy" => {
            return Ok(tx.rbac_policy_list(None)?.iter().filter(|p| p.project_id == project_id).count() as u64)
        }
        _ => return Ok(0),
    };
    Ok(tx.doc_count(resource, &IndexFilter { project_ids: Some(vec![project_id.into()]), ..Default::default() })?)
}

fn may_read(ctx: &RequestContext, project_id: &str) -> Result<(), ApiError> {
    if ctx.is_admin || ctx.project_id == project_id {
        Ok(())
    } else {
        Err(ApiError::policy_not_authorized("rule:get_quota"))
    }
}

fn admin_only(ctx: &RequestContext, action: &str) -> Result<(), ApiError> {
    if ctx.is_admin {
        Ok(())
    } else {
        Err(ApiError::policy_not_authorized(format_args!("rule:{action}_quota")))
    }
}

fn to_json(limits: &BTreeMap<String, i64>) -> Value {
    Value::Object(limits.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// `GET /v2.0/quotas/{project}`.
pub async fn show(app: &Arc<App>, ctx: &RequestContext, project_id: String) -> Result<Value, ApiError> {
    may_read(ctx, &project_id)?;
    let l = app.store.read(move |tx| limits(tx, &project_id)).await?;
    Ok(json!({"quota": to_json(&l)}))
}

/// `GET /v2.0/quotas/{project}/default`.
pub fn defaults(ctx: &RequestContext, project_id: &str) -> Result<Value, ApiError> {
    may_read(ctx, project_id)?;
    let l: BTreeMap<String, i64> = DEFAULTS.iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
    Ok(json!({"quota": to_json(&l)}))
}

/// `GET /v2.0/quotas/{project}/details`: limit, used and reserved per resource.
pub async fn details(app: &Arc<App>, ctx: &RequestContext, project_id: String) -> Result<Value, ApiError> {
    may_read(ctx, &project_id)?;
    let out = app
        .store
        .read(move |tx| -> Result<Value, ApiError> {
            let l = limits(tx, &project_id)?;
            let mut m = Map::new();
            for (name, limit) in l {
                let used = usage(tx, &name, &project_id)?;
                m.insert(name, json!({"limit": limit, "used": used, "reserved": 0}));
            }
            Ok(json!({"quota": Value::Object(m)}))
        })
        .await?;
    Ok(out)
}

/// `GET /v2.0/quotas`: projects with non-default limits (admin).
pub async fn list(app: &Arc<App>, ctx: &RequestContext) -> Result<Value, ApiError> {
    admin_only(ctx, "get")?;
    let all = app.store.read(|tx| -> Result<_, ApiError> { Ok(tx.quota_list(None)?) }).await?;
    let mut projects: BTreeMap<String, ()> = BTreeMap::new();
    for q in &all {
        projects.insert(q.project_id.clone(), ());
    }
    let mut out = Vec::new();
    for p in projects.into_keys() {
        let mut l: BTreeMap<String, i64> = DEFAULTS.iter().map(|(k, v)| ((*k).to_string(), *v)).collect();
        for q in all.iter().filter(|q| q.project_id == p) {
            l.insert(q.resource.clone(), q.hard_limit);
        }
        let mut v = to_json(&l);
        v["project_id"] = json!(p);
        v["tenant_id"] = json!(p);
        out.push(v);
    }
    Ok(json!({"quotas": out}))
}

/// The largest limit (`DB_INTEGER_MAX_VALUE`).
const MAX_LIMIT: i64 = 2_147_483_647;

/// `PUT /v2.0/quotas/{project}` with `{"quota": {resource: limit}}` (admin). Unless
/// `force` is `true`, a limit below what the project already uses is refused
/// (`quota-check-limit-default`); `check_limit` is accepted and ignored, as Neutron does
/// since the check became the default.
pub async fn update(app: &Arc<App>, ctx: &RequestContext, project_id: String, body: &Value) -> Result<Value, ApiError> {
    admin_only(ctx, "update")?;
    let Some(Value::Object(q)) = body.get("quota") else {
        return Err(ApiError::bad_request("Unable to find 'quota' in request body"));
    };
    let force = q.get("force") == Some(&Value::Bool(true));
    let q: Vec<(&String, &Value)> = q.iter().filter(|(k, _)| !matches!(k.as_str(), "force" | "check_limit")).collect();
    let unknown: Vec<&str> =
        q.iter().filter(|(k, _)| !DEFAULTS.iter().any(|(d, _)| d == k)).map(|(k, _)| k.as_str()).collect();
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{}'", unknown.join(", "))));
    }
    let mut changes = Vec::new();
    for (k, v) in q {
        let n = neutrino_model::validate::to_int(v)?;
        if n < -1 {
            return Err(invalid_attr(k, &format!("'{n}' is too small - must be at least '-1'")));
        }
        if n > MAX_LIMIT {
            return Err(invalid_attr(k, &format!("'{n}' is too large - must be no larger than '{MAX_LIMIT}'")));
        }
        changes.push(QuotaLimit { project_id: project_id.clone(), resource: k.clone(), hard_limit: n });
    }
    let l = app
        .store
        .write(move |tx| {
            if !force {
                for c in changes.iter().filter(|c| c.hard_limit >= 0) {
                    let used = usage(tx, &c.resource, &c.project_id)?;
                    if used > c.hard_limit as u64 {
                        return Err(ApiError::bad_request(format!(
                            "Quota limit {} for {} must be greater than or equal to already used {used}",
                            c.hard_limit, c.resource
                        )));
                    }
                }
            }
            for c in &changes {
                tx.quota_set(c)?;
            }
            limits(tx, &project_id)
        })
        .await?;
    Ok(json!({"quota": to_json(&l)}))
}

/// `DELETE /v2.0/quotas/{project}`: back to the defaults (admin).
pub async fn reset(app: &Arc<App>, ctx: &RequestContext, project_id: String) -> Result<(), ApiError> {
    admin_only(ctx, "delete")?;
    app.store.write(move |tx| -> Result<(), ApiError> { Ok(tx.quota_delete_project(&project_id)?) }).await
}
