//! `binding-extended`: a port's bindings as a sub-resource (`/v2.0/ports/{id}/bindings`),
//! which Nova's live migration drives: bind the port on the target host (INACTIVE), move
//! the instance, `activate` the target binding (the old one turns INACTIVE), delete the old.
//!
//! A port has one ACTIVE binding, its own `binding:*` attributes (and its `port_bindings`
//! row), and at most one INACTIVE binding on each other host (`port_inactive_bindings`).
//! An inactive binding is decided by the same mechanism as the active one
//! ([`binding::choose_segment`]); a host that cannot bind the port answers
//! `PortBindingError` and nothing is kept, so a binding that failed can never be activated.
//! The target host's agent wires the port ahead of activation (see
//! [`super::host_state`]); the binding an activation leaves on the old host is not wired.
//!
//! Errors come in Neutron's order: the port and its kind, the binding, then the policy
//! (`get_port_binding` first: a caller who may not read the binding is told it does not
//! exist). Every change revises the port, as ML2's `PortBinding` revises its port.

use super::policy;
use super::ports::load_for_update;
use super::{binding, nova_events, save_update, App, RequestContext};
use neutrino_model::bodies::port_bindings::PortBindingCreate;
use neutrino_model::types::{binding_status, status, Port, PortBindingDoc};
use neutrino_model::ApiError;
use neutrino_store::{BindingResult, InactiveBinding, InactiveRole, PortBinding, Tx};
use std::sync::Arc;

/// Which bindings a list answers (`?host=`, `?vif_type=`, `?vnic_type=`, `?status=`; each
/// given value matches).
#[derive(Debug, Clone, Default)]
pub struct BindingFilter {
    pub host: Vec<String>,
    pub vif_type: Vec<String>,
    pub vnic_type: Vec<String>,
    pub status: Vec<String>,
}

impl BindingFilter {
    fn keeps(&self, b: &PortBindingDoc) -> bool {
        let ok = |wanted: &[String], v: &str| wanted.is_empty() || wanted.iter().any(|w| w == v);
        ok(&self.host, &b.host)
            && ok(&self.vif_type, &b.vif_type)
            && ok(&self.vnic_type, &b.vnic_type)
            && ok(&self.status, &b.status)
    }
}

/// Only ports of servers and shares have several bindings (ML2's
/// `_validate_port_supports_multiple_bindings`).
fn check_multi_bindable(port: &Port) -> Result<(), ApiError> {
    if port.device_owner.starts_with("compute:") || port.device_owner.starts_with("manila:") {
        Ok(())
    } else {
        Err(ApiError::port_not_multi_bindable(&port.id))
    }
}

/// The port a binding call names, checked: visible to the caller (the service role sees
/// every port, as for port updates), and a port that may have several bindings.
fn load_port(tx: &mut dyn Tx, ctx: &RequestContext, id: &str) -> Result<Port, ApiError> {
    let port = load_for_update(tx, ctx, id)?;
    check_multi_bindable(&port)?;
    Ok(port)
}

/// Neutron's controller fetches the binding with `get_port_binding` before it checks a
/// member operation: a caller who may not read it is told it does not exist (404), one who
/// may read it but not do `rule` gets 403.
fn authorize_member(ctx: &RequestContext, rule: &str, port: &Port) -> Result<(), ApiError> {
    if policy::authorize_rule(ctx, "get_port_binding", &port.project_id).is_err() {
        return Err(ApiError::http_not_found("The resource could not be found."));
    }
    policy::authorize_rule(ctx, rule, &port.project_id)
}

/// The port's ACTIVE binding: its own `binding:*` attributes.
fn active_doc(port: &Port) -> PortBindingDoc {
    PortBindingDoc {
        host: port.binding_host_id.clone(),
        vif_type: port.binding_vif_type.clone(),
        vnic_type: port.binding_vnic_type.clone(),
        status: binding_status::ACTIVE.into(),
        profile: port.binding_profile.clone(),
        vif_details: port.binding_vif_details.clone(),
    }
}

fn inactive_doc(b: &InactiveBinding) -> PortBindingDoc {
    PortBindingDoc {
        host: b.host.clone(),
        vif_type: b.vif_type.clone(),
        vnic_type: b.vnic_type.clone(),
        status: binding_status::INACTIVE.into(),
        profile: b.profile.clone(),
        vif_details: b.vif_details.clone(),
    }
}

/// The port's binding on `host`, or `PortBindingNotFound`.
fn binding_on(tx: &mut dyn Tx, port: &Port, host: &str) -> Result<PortBindingDoc, ApiError> {
    if port.binding_host_id == host {
        return Ok(active_doc(port));
    }
    match tx.port_inactive_binding_get(&port.id, host)? {
        Some(b) => Ok(inactive_doc(&b)),
        None => Err(ApiError::port_binding_not_found(&port.id, host)),
    }
}

/// `GET /v2.0/ports/{id}/bindings`: every binding of the port, by host; those the caller
/// may not read are left out (so a member sees none), as Neutron filters a list.
pub async fn list(
    app: &Arc<App>,
    ctx: &RequestContext,
    port_id: String,
    filter: BindingFilter,
) -> Result<Vec<PortBindingDoc>, ApiError> {
    let ctx = ctx.clone();
    app.store
        .read(move |tx| {
            let port = load_port(tx, &ctx, &port_id)?;
            if policy::authorize_rule(&ctx, "get_port_binding", &port.project_id).is_err() {
                return Ok(vec![]);
            }
            let mut all = vec![active_doc(&port)];
            all.extend(tx.port_inactive_binding_list(&port.id)?.iter().map(inactive_doc));
            all.sort_by(|a, b| a.host.cmp(&b.host));
            Ok(all.into_iter().filter(|b| filter.keeps(b)).collect())
        })
        .await
}

/// `GET /v2.0/ports/{id}/bindings/{host}`.
pub async fn show(
    app: &Arc<App>,
    ctx: &RequestContext,
    port_id: String,
    host: String,
) -> Result<PortBindingDoc, ApiError> {
    let ctx = ctx.clone();
    app.store
        .read(move |tx| {
            let port = load_port(tx, &ctx, &port_id)?;
            let doc = binding_on(tx, &port, &host)?;
            if policy::authorize_rule(&ctx, "get_port_binding", &port.project_id).is_err() {
                return Err(ApiError::http_not_found("The resource could not be found."));
            }
            Ok(doc)
        })
        .await
}

/// `POST /v2.0/ports/{id}/bindings`: binds the port on another host, INACTIVE (its active
/// binding stays). The policy is checked on the request first, as Neutron's `_create` does.
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    port_id: String,
    body: PortBindingCreate,
) -> Result<PortBindingDoc, ApiError> {
    policy::authorize_rule(ctx, "create_port_binding", &ctx.project_id)?;
    let (app2, ctx) = (app.clone(), ctx.clone());
    nova_events::write(app, move |tx, _events| {
        let mut port = load_port(tx, &ctx, &port_id)?;
        if port.binding_host_id == body.host || tx.port_inactive_binding_get(&port.id, &body.host)?.is_some() {
            return Err(ApiError::port_binding_already_exists(&port.id, &body.host));
        }
        let chosen = match binding::choose_segment(tx, &app2, &port.network_id, &body.host)? {
            Ok(chosen) => chosen,
            Err(reason) => {
                tracing::warn!(port = %port.id, host = %body.host, %reason, "inactive binding failed");
                return Err(ApiError::port_binding_error(&port.id, &body.host));
            }
        };
        let b = InactiveBinding {
            port_id: port.id.clone(),
            host: body.host,
            network_id: port.network_id.clone(),
            segment_id: Some(chosen.segment_id),
            vif_type: chosen.vif_type.into(),
            vnic_type: body.vnic_type,
            profile: body.profile,
            vif_details: chosen.vif_details,
            role: InactiveRole::Target,
            wired: false,
        };
        tx.port_inactive_binding_insert(&b)?;
        tracing::info!(port = %port.id, host = %b.host, "inactive binding created");
        save_update(tx, &mut port, app2.clock.now())?;
        Ok(inactive_doc(&b))
    })
    .await
}

/// `DELETE /v2.0/ports/{id}/bindings/{host}`. Deleting the ACTIVE binding unbinds the port
/// (as `binding:host_id: ""` does): Neutron deletes its row and leaves a port it cannot show.
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, port_id: String, host: String) -> Result<(), ApiError> {
    let (app2, ctx) = (app.clone(), ctx.clone());
    nova_events::write(app, move |tx, events| {
        let mut port = load_port(tx, &ctx, &port_id)?;
        binding_on(tx, &port, &host)?;
        authorize_member(&ctx, "delete_port_binding", &port)?;
        let before = port.status.clone();
        if port.binding_host_id == host {
            port.binding_host_id.clear();
            let outcome = binding::decide(tx, &app2, &mut port, &host)?;
            binding::record(tx, &port.id, outcome)?;
        } else {
            tx.port_inactive_binding_delete(&port.id, &host)?;
        }
        tracing::info!(port = %port.id, %host, "binding deleted");
        save_update(tx, &mut port, app2.clock.now())?;
        nova_events::status_changed(&app2, Some(&before), &port, events);
        Ok(())
    })
    .await
}

/// `PUT /v2.0/ports/{id}/bindings/{host}/activate`: the binding on `host` becomes the
/// port's, and the port's old binding stays INACTIVE on its host (Nova deletes it). The port
/// turns DOWN until the new host's agent reports it wired, as ML2's `activate` does.
pub async fn activate(
    app: &Arc<App>,
    ctx: &RequestContext,
    port_id: String,
    host: String,
) -> Result<PortBindingDoc, ApiError> {
    let (app2, ctx) = (app.clone(), ctx.clone());
    nova_events::write(app, move |tx, events| {
        let mut port = load_port(tx, &ctx, &port_id)?;
        binding_on(tx, &port, &host)?;
        authorize_member(&ctx, "activate", &port)?;
        let Some(target) = tx.port_inactive_binding_get(&port.id, &host)? else {
            return Err(ApiError::port_binding_already_active(&port.id, &host));
        };
        let left = InactiveBinding {
            port_id: port.id.clone(),
            host: port.binding_host_id.clone(),
            network_id: port.network_id.clone(),
            segment_id: match tx.port_binding_get(&port.id)? {
                Some(PortBinding { result: BindingResult::Bound { segment_id }, .. }) => Some(segment_id),
                _ => None,
            },
            vif_type: port.binding_vif_type.clone(),
            vnic_type: port.binding_vnic_type.clone(),
            profile: port.binding_profile.clone(),
            vif_details: port.binding_vif_details.clone(),
            role: InactiveRole::Left,
            wired: false,
        };
        tx.port_inactive_binding_delete(&port.id, &host)?;
        tx.port_inactive_binding_insert(&left)?;
        port.binding_host_id.clone_from(&target.host);
        port.binding_vif_type.clone_from(&target.vif_type);
        port.binding_vnic_type.clone_from(&target.vnic_type);
        port.binding_profile.clone_from(&target.profile);
        port.binding_vif_details.clone_from(&target.vif_details);
        match &target.segment_id {
            Some(segment_id) => tx.port_binding_set(&PortBinding {
                port_id: port.id.clone(),
                host: target.host.clone(),
                network_id: port.network_id.clone(),
                result: BindingResult::Bound { segment_id: segment_id.clone() },
            })?,
            None => tx.port_binding_clear(&port.id)?,
        }
        let before = std::mem::replace(&mut port.status, status::DOWN.into());
        tracing::info!(port = %port.id, from = %left.host, to = %host, "binding activated");
        save_update(tx, &mut port, app2.clock.now())?;
        nova_events::status_changed(&app2, Some(&before), &port, events);
        Ok(active_doc(&port))
    })
    .await
}
