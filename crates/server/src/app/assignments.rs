//! The operators' view of scheduling: which agents host a network (DHCP) or a router (L3),
//! and the calls that add or remove such an assignment by hand. Both schedulers share
//! these; only the kinds' names, messages and exclusivity differ.

use super::{agents, load_required, App, RequestContext};
use neutrino_model::types::{Network, Router};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{Assignment, ChangeOp};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::sync::Arc;

/// One kind of assignment and how Neutron words its refusals.
pub struct Kind {
    pub assignment: Assignment,
    pub resource: Resource,
    /// The request body's key naming the resource (`network_id`, `router_id`).
    pub body_key: &'static str,
    pub agent_type: &'static str,
    /// At most one agent per resource (routers): adding a second is refused.
    pub exclusive: bool,
    /// The error for an agent of the wrong type or disabled (agent id).
    pub invalid_agent: fn(&str) -> ApiError,
    /// ... for an assignment that already exists (resource id, agent id).
    pub already: fn(&str, &str) -> ApiError,
    /// ... for removing an assignment that does not exist (resource id, agent id).
    pub not_hosted: fn(&str, &str) -> ApiError,
}

/// DHCP agents and networks (`dhcp_agent_scheduler`).
pub const DHCP: Kind = Kind {
    assignment: Assignment::DhcpNetwork,
    resource: Resource::Network,
    body_key: "network_id",
    agent_type: neutrino_agent_api::AGENT_TYPE_DHCP,
    exclusive: false,
    invalid_agent: ApiError::invalid_dhcp_agent,
    already: ApiError::network_hosted_by_dhcp_agent,
    not_hosted: ApiError::network_not_hosted_by_dhcp_agent,
};

/// L3 agents and routers (`l3_agent_scheduler`).
pub const L3: Kind = Kind {
    assignment: Assignment::L3Router,
    resource: Resource::Router,
    body_key: "router_id",
    agent_type: neutrino_agent_api::AGENT_TYPE_L3,
    exclusive: true,
    invalid_agent: ApiError::invalid_l3_agent,
    already: ApiError::router_hosted_by_l3_agent,
    not_hosted: ApiError::router_not_hosted_by_l3_agent,
};

fn require_admin(ctx: &RequestContext) -> Result<(), ApiError> {
    if ctx.is_admin {
        Ok(())
    } else {
        Err(ApiError::policy_not_authorized("rule:admin_only"))
    }
}

fn require_exists(tx: &mut dyn neutrino_store::Tx, resource: Resource, id: &str) -> Result<(), ApiError> {
    fn load<T: DeserializeOwned>(tx: &mut dyn neutrino_store::Tx, r: Resource, id: &str) -> Result<(), ApiError> {
        load_required::<T>(tx, r, id).map(drop)
    }
    match resource {
        Resource::Router => load::<Router>(tx, resource, id),
        _ => load::<Network>(tx, resource, id),
    }
}

/// `GET /v2.0/networks/{id}/dhcp-agents`, `GET /v2.0/routers/{id}/l3-agents`.
pub async fn agents_of(
    app: &Arc<App>,
    ctx: &RequestContext,
    kind: &'static Kind,
    resource_id: String,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    require_admin(ctx)?;
    let ids = app
        .store
        .read(move |tx| -> Result<Vec<String>, ApiError> {
            require_exists(tx, kind.resource, &resource_id)?;
            let all = tx.assignment_list(kind.assignment)?;
            Ok(all.into_iter().filter(|(r, _)| *r == resource_id).map(|(_, a)| a).collect())
        })
        .await?;
    let all = agents::list(app, ctx, vec![]).await?;
    Ok(all
        .into_iter()
        .filter(|a| a.get("id").and_then(Value::as_str).is_some_and(|id| ids.iter().any(|i| i == id)))
        .collect())
}

/// `GET /v2.0/agents/{id}/dhcp-networks`, `GET /v2.0/agents/{id}/l3-routers`.
pub async fn resources_of(
    app: &Arc<App>,
    ctx: &RequestContext,
    kind: &'static Kind,
    agent_id: String,
) -> Result<Vec<Value>, ApiError> {
    require_admin(ctx)?;
    app.store
        .read(move |tx| -> Result<Vec<Value>, ApiError> {
            tx.agent_get(&agent_id)?.ok_or_else(|| ApiError::agent_not_found(&agent_id))?;
            let mut out = Vec::new();
            for (r, _) in tx.assignment_list(kind.assignment)?.into_iter().filter(|(_, a)| *a == agent_id) {
                if let Some(body) = tx.doc_get(kind.resource, &r)? {
                    out.push(serde_json::from_str(&body).map_err(|_| ApiError::internal())?);
                }
            }
            Ok(out)
        })
        .await
}

/// `POST /v2.0/agents/{id}/dhcp-networks` / `l3-routers`: an operator's assignment.
pub async fn add(
    app: &Arc<App>,
    ctx: &RequestContext,
    kind: &'static Kind,
    agent_id: String,
    body: Value,
) -> Result<(), ApiError> {
    require_admin(ctx)?;
    let Some(resource_id) = body.get(kind.body_key).and_then(Value::as_str).map(str::to_string) else {
        return Err(ApiError::bad_request(format!("{} is required", kind.body_key)));
    };
    app.store
        .write(move |tx| {
            let agent = tx.agent_get(&agent_id)?.ok_or_else(|| ApiError::agent_not_found(&agent_id))?;
            if agent.agent_type != kind.agent_type || !agents::admin_up(&agent) {
                return Err((kind.invalid_agent)(&agent_id));
            }
            require_exists(tx, kind.resource, &resource_id)?;
            let current: Vec<String> = tx
                .assignment_list(kind.assignment)?
                .into_iter()
                .filter(|(r, _)| *r == resource_id)
                .map(|(_, a)| a)
                .collect();
            if current.contains(&agent_id) {
                return Err((kind.already)(&resource_id, &agent_id));
            }
            if let Some(other) = current.first().filter(|_| kind.exclusive) {
                return Err(ApiError::router_rescheduling_failed(&resource_id, other));
            }
            tx.assignment_add(kind.assignment, &resource_id, &agent_id)?;
            tx.change_record_agent(&agent_id, ChangeOp::Update)?;
            Ok(())
        })
        .await
}

/// `DELETE /v2.0/agents/{id}/dhcp-networks/{network}` / `l3-routers/{router}`.
pub async fn remove(
    app: &Arc<App>,
    ctx: &RequestContext,
    kind: &'static Kind,
    agent_id: String,
    resource_id: String,
) -> Result<(), ApiError> {
    require_admin(ctx)?;
    app.store
        .write(move |tx| {
            tx.agent_get(&agent_id)?.ok_or_else(|| ApiError::agent_not_found(&agent_id))?;
            if !tx.assignment_remove(kind.assignment, &resource_id, &agent_id)? {
                return Err((kind.not_hosted)(&resource_id, &agent_id));
            }
            tx.change_record_agent(&agent_id, ChangeOp::Update)?;
            Ok(())
        })
        .await
}
