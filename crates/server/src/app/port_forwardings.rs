//! Floating IP port forwardings (`floating-ip-port-forwarding`): one external port of a
//! floating IP forwarded to a port's fixed IP and internal port. They live in the floating
//! IP's document (a handful per address) and make the floating IP use the router that
//! connects the internal port's subnet.

use super::floatingips;
use super::lookup;
use super::policy::{self, Action};
use super::{App, RequestContext};
use neutrino_model::bodies::port_forwardings::{PortForwardingCreate, PortForwardingUpdate};
use neutrino_model::types::{FloatingIp, Port};
use neutrino_model::{ApiError, Resource};
use neutrino_store::Tx;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

/// One port forwarding as stored in its floating IP's document and shown by the API (the
/// field order is the wire order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PortForwarding {
    pub id: String,
    pub external_port: u16,
    pub internal_port: u16,
    pub protocol: String,
    pub internal_ip_address: IpAddr,
    pub internal_port_id: String,
    pub description: String,
}

impl PortForwarding {
    fn new(c: PortForwardingCreate) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            external_port: c.external_port,
            internal_port: c.internal_port,
            protocol: c.protocol,
            internal_ip_address: c.internal_ip_address,
            internal_port_id: c.internal_port_id,
            description: c.description,
        }
    }

    fn apply(&mut self, u: PortForwardingUpdate) {
        self.external_port = u.external_port.unwrap_or(self.external_port);
        self.internal_port = u.internal_port.unwrap_or(self.internal_port);
        self.internal_ip_address = u.internal_ip_address.unwrap_or(self.internal_ip_address);
        if let Some(v) = u.protocol {
            self.protocol = v;
        }
        if let Some(v) = u.internal_port_id {
            self.internal_port_id = v;
        }
        if let Some(v) = u.description {
            self.description = v;
        }
    }

    /// Same external side (address, port, protocol) or same internal side as `other`.
    fn clashes_with(&self, own_fip: bool, other: &Self) -> bool {
        let same_external = own_fip && self.external_port == other.external_port && self.protocol == other.protocol;
        let same_internal = self.internal_port_id == other.internal_port_id
            && self.internal_ip_address == other.internal_ip_address
            && self.internal_port == other.internal_port
            && self.protocol == other.protocol;
        same_external || same_internal
    }

    fn to_value(&self) -> Result<Value, ApiError> {
        serde_json::to_value(self).map_err(|e| {
            tracing::error!(error = %e, "cannot encode a port forwarding");
            ApiError::internal()
        })
    }
}

/// The port forwardings of a floating IP, typed.
pub(crate) fn of(f: &FloatingIp) -> Result<Vec<PortForwarding>, ApiError> {
    f.port_forwardings
        .iter()
        .map(|v| {
            PortForwarding::deserialize(v).map_err(|e| {
                tracing::error!(floatingip = %f.id, error = %e, "stored port forwarding is corrupt");
                ApiError::internal()
            })
        })
        .collect()
}

fn bad(msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request_for("port_forwarding", msg)
}

/// Checks the forwarding against its floating IP, the internal port and every other one;
/// points the floating IP at the router that reaches the internal port.
fn check(tx: &mut dyn Tx, ctx: &RequestContext, f: &mut FloatingIp, pf: &PortForwarding) -> Result<(), ApiError> {
    if let Some(port) = &f.port_id {
        return Err(bad(format!("Floating IP {} is associated with port {port}", f.id)));
    }
    let (port_id, ip) = (&pf.internal_port_id, pf.internal_ip_address.to_string());
    let port = lookup::visible::<Port>(tx, ctx, port_id)?;
    let fixed = port
        .fixed_ips
        .iter()
        .find(|i| i.ip_address == ip)
        .ok_or_else(|| bad(format!("The internal IP {ip} does not belong to port {port_id}")))?
        .clone();
    for other in floatingips::all(tx)? {
        if other.port_id.as_ref() == Some(port_id) && other.fixed_ip_address.as_ref() == Some(&ip) {
            return Err(ApiError::port_has_binding_floating_ip(&f.floating_ip_address, &f.id, port_id, &ip));
        }
        if of(&other)?.iter().any(|e| e.id != pf.id && pf.clashes_with(other.id == f.id, e)) {
            return Err(bad("A duplicate port forwarding entry with same attributes already exists"));
        }
    }
    let router = floatingips::router_for(tx, &fixed.subnet_id, &f.floating_network_id)?.ok_or_else(|| {
        ApiError::external_gateway_for_floating_ip_not_found(&f.floating_network_id, &fixed.subnet_id, port_id)
    })?;
    f.router_id = Some(router);
    Ok(())
}

/// `GET .../port_forwardings`.
pub async fn list(app: &Arc<App>, ctx: &RequestContext, fip: String) -> Result<Value, ApiError> {
    let ctx = ctx.clone();
    let f = app.store.read(move |tx| lookup::visible::<FloatingIp>(tx, &ctx, &fip)).await?;
    Ok(json!({"port_forwardings": f.port_forwardings}))
}

/// `GET .../port_forwardings/{id}`.
pub async fn show(app: &Arc<App>, ctx: &RequestContext, fip: String, id: String) -> Result<Value, ApiError> {
    let ctx = ctx.clone();
    let f = app.store.read(move |tx| lookup::visible::<FloatingIp>(tx, &ctx, &fip)).await?;
    let pf = of(&f)?.into_iter().find(|p| p.id == id).ok_or_else(|| ApiError::port_forwarding_not_found(&id))?;
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
            let mut all = of(&f)?;
            let (pf, index) = match &id {
                None => (PortForwarding::new(PortForwardingCreate::parse(&body)?), None),
                Some(id) => {
                    let i =
                        all.iter().position(|p| &p.id == id).ok_or_else(|| ApiError::port_forwarding_not_found(id))?;
                    let mut pf = all[i].clone();
                    pf.apply(PortForwardingUpdate::parse(&body)?);
                    (pf, Some(i))
                }
            };
            check(tx, &ctx, &mut f, &pf)?;
            match index {
                Some(i) => all[i] = pf.clone(),
                None => all.push(pf.clone()),
            }
            f.port_forwardings = all.iter().map(PortForwarding::to_value).collect::<Result<_, _>>()?;
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
            let mut all = of(&f)?;
            let before = all.len();
            all.retain(|p| p.id != id);
            if all.len() == before {
                return Err(ApiError::port_forwarding_not_found(&id));
            }
            if all.is_empty() && f.port_id.is_none() {
                f.router_id = None;
            }
            f.port_forwardings = all.iter().map(PortForwarding::to_value).collect::<Result<_, _>>()?;
            super::save_update(tx, &mut f, app2.clock.now())
        })
        .await
}
