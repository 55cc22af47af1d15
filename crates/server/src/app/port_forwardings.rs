//! Floating IP port forwardings (`floating-ip-port-forwarding`): one external port of a
//! floating IP forwarded to a port's fixed IP and internal port. Their records are rows of
//! their own; the floating IP's document shows them as Neutron does (a handful per
//! address), and they make the floating IP use the router that connects the internal
//! port's subnet.

use super::floatingips::{
    self, forwarding_records, port_forwardings, set_forwarding_records, ForwardingView, PortForwarding,
};
use super::lookup;
use super::policy::{self, Action};
use super::{App, RequestContext};
use neutrino_model::bodies::port_forwardings::{PortForwardingCreate, PortForwardingUpdate};
use neutrino_model::types::{FloatingIp, Port};
use neutrino_model::{ApiError, Resource};
use neutrino_store::Tx;
use serde_json::{json, Value};
use std::sync::Arc;

/// Merges a validated update body into a port forwarding.
fn apply(pf: &mut PortForwardingCreate, u: PortForwardingUpdate) {
    pf.external_port = u.external_port.unwrap_or(pf.external_port);
    pf.internal_port = u.internal_port.unwrap_or(pf.internal_port);
    pf.internal_ip_address = u.internal_ip_address.unwrap_or(pf.internal_ip_address);
    if let Some(v) = u.protocol {
        pf.protocol = v;
    }
    if let Some(v) = u.internal_port_id {
        pf.internal_port_id = v;
    }
    if let Some(v) = u.description {
        pf.description = v;
    }
}

/// Whether two forwardings share their external side (same floating IP, port and
/// protocol) or their internal side.
fn clash(a: &PortForwardingCreate, same_fip: bool, b: &ForwardingView) -> bool {
    let same_external = same_fip && a.external_port == b.external_port && a.protocol == b.protocol;
    let same_internal = a.internal_port_id == b.internal_port_id
        && a.internal_ip_address == b.internal_ip_address
        && a.internal_port == b.internal_port
        && a.protocol == b.protocol;
    same_external || same_internal
}

fn bad(msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request_for("port_forwarding", msg)
}

/// Checks the forwarding against its floating IP, the internal port and every other one;
/// points the floating IP at the router that reaches the internal port.
fn check(tx: &mut dyn Tx, ctx: &RequestContext, f: &mut FloatingIp, pf: &PortForwarding) -> Result<(), ApiError> {
    let (port_id, ip) = (&pf.spec.internal_port_id, pf.spec.internal_ip_address.to_string());
    for other in floatingips::all(tx)? {
        // Any floating IP of the port, on whichever of its addresses (Neutron names that one).
        if other.port_id.as_ref() == Some(port_id) {
            return Err(ApiError::port_has_binding_floating_ip(&other.floating_ip_address, &other.id, port_id, &ip));
        }
        if port_forwardings(&other)?.iter().any(|e| e.id != pf.id && clash(&pf.spec, other.id == f.id, e)) {
            return Err(bad("A duplicate port forwarding entry with same attributes already exists"));
        }
    }
    // Neutron's plugin checks in this order: collisions, the port's own floating IP, the
    // floating IP's association, then the internal address and the router.
    if f.port_id.is_some() {
        return Err(ApiError::floating_ip_port_already_associated(
            &f.floating_ip_address,
            &f.id,
            port_id,
            &ip,
            &f.floating_network_id,
        ));
    }
    let port = lookup::visible::<Port>(tx, ctx, port_id)?;
    let fixed = port
        .fixed_ips
        .iter()
        .find(|i| i.ip_address == ip)
        .ok_or_else(|| bad(format!("The internal IP {ip} does not belong to port {port_id}")))?
        .clone();
    let router = floatingips::router_for(tx, &fixed.subnet_id, &f.floating_network_id)?.ok_or_else(|| {
        ApiError::external_gateway_for_floating_ip_not_found(&f.floating_network_id, &fixed.subnet_id, port_id)
    })?;
    f.router_id = Some(router);
    Ok(())
}

/// `GET .../port_forwardings`.
pub async fn list(app: &Arc<App>, ctx: &RequestContext, fip: String) -> Result<Value, ApiError> {
    let ctx = ctx.clone();
    let all = app
        .store
        .read(move |tx| {
            let f = lookup::visible::<FloatingIp>(tx, &ctx, &fip)?;
            forwarding_records(tx, &f)
        })
        .await?;
    let all = all.iter().map(PortForwarding::to_value).collect::<Result<Vec<_>, _>>()?;
    Ok(json!({"port_forwardings": all}))
}

/// `GET .../port_forwardings/{id}`.
pub async fn show(app: &Arc<App>, ctx: &RequestContext, fip: String, id: String) -> Result<Value, ApiError> {
    let ctx = ctx.clone();
    let all = app
        .store
        .read(move |tx| {
            let f = lookup::visible::<FloatingIp>(tx, &ctx, &fip)?;
            forwarding_records(tx, &f)
        })
        .await?;
    let pf = all.into_iter().find(|p| p.id == id).ok_or_else(|| ApiError::port_forwarding_not_found(&id))?;
    Ok(json!({"port_forwarding": pf.to_value()?}))
}

/// Loads the floating IP a port forwarding request is about: changing its forwardings is
/// updating it, for the policy.
fn load_for_change(tx: &mut dyn Tx, ctx: &RequestContext, fip: &str) -> Result<FloatingIp, ApiError> {
    let f = lookup::visible::<FloatingIp>(tx, ctx, fip)?;
    policy::authorize(ctx, Resource::FloatingIp, Action::Update, &f.project_id, None)?;
    Ok(f)
}

/// `POST .../port_forwardings` (`id` is `None`) and `PUT .../port_forwardings/{id}`.
pub async fn save(
    app: &Arc<App>,
    ctx: &RequestContext,
    fip: String,
    id: Option<String>,
    body: Value,
) -> Result<Value, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut f = load_for_change(tx, &ctx, &fip)?;
            let mut all = forwarding_records(tx, &f)?;
            let (pf, index) = match &id {
                None => (
                    PortForwarding { id: uuid::Uuid::new_v4().to_string(), spec: PortForwardingCreate::parse(&body)? },
                    None,
                ),
                Some(id) => {
                    let i =
                        all.iter().position(|p| &p.id == id).ok_or_else(|| ApiError::port_forwarding_not_found(id))?;
                    let mut pf = all[i].clone();
                    apply(&mut pf.spec, PortForwardingUpdate::parse(&body)?);
                    (pf, Some(i))
                }
            };
            check(tx, &ctx, &mut f, &pf)?;
            match index {
                Some(i) => all[i] = pf.clone(),
                None => all.push(pf.clone()),
            }
            set_forwarding_records(tx, &mut f, &all)?;
            super::save_update(tx, &mut f, app2.clock.now())?;
            Ok(json!({"port_forwarding": pf.to_value()?}))
        })
        .await
}

/// `DELETE .../port_forwardings/{id}`.
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, fip: String, id: String) -> Result<(), ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut f = load_for_change(tx, &ctx, &fip)?;
            let mut all = forwarding_records(tx, &f)?;
            let before = all.len();
            all.retain(|p| p.id != id);
            if all.len() == before {
                return Err(ApiError::port_forwarding_not_found(&id));
            }
            if all.is_empty() && f.port_id.is_none() {
                f.router_id = None;
            }
            set_forwarding_records(tx, &mut f, &all)?;
            super::save_update(tx, &mut f, app2.clock.now())
        })
        .await
}
