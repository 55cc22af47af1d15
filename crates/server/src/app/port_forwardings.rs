//! Floating IP port forwardings (`floating-ip-port-forwarding`): one external port of a
//! floating IP forwarded to a port's fixed IP and internal port. They live in the floating
//! IP's document (a handful per address) and make the floating IP use the router that
//! connects the internal port's subnet.

use super::floatingips;
use super::lookup;
use super::{App, RequestContext};
use neutrino_model::types::{FloatingIp, Port};
use neutrino_model::ApiError;
use serde_json::{json, Map, Value};
use std::sync::Arc;

const PROTOCOLS: &[&str] = &["tcp", "udp", "udplite", "sctp"];
const FIELDS: &[&str] = &[
    "external_port",
    "internal_port",
    "internal_ip_address",
    "protocol",
    "internal_port_id",
    "description",
    "project_id",
    "tenant_id",
];

fn bad(msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request_for("port_forwarding", msg)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(404, "PortForwardingNotFound", format!("Port Forwarding {id} could not be found."))
}

fn int_in_range(v: &Value, name: &str) -> Result<u32, ApiError> {
    let n = neutrino_model::validate::to_int(v)?;
    if !(1..=65535).contains(&n) {
        return Err(neutrino_model::validate::invalid_attr(name, &format!("'{n}' is not in range 1 through 65535")));
    }
    Ok(n as u32)
}

/// Validates and merges a create (all required) or update body into `pf`.
fn apply(pf: &mut Map<String, Value>, body: &Value, create: bool) -> Result<(), ApiError> {
    let Some(Value::Object(b)) = body.get("port_forwarding") else {
        return Err(ApiError::bad_request("Unable to find 'port_forwarding' in request body"));
    };
    if let Some(k) = b.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{k}'")));
    }
    for key in ["external_port", "internal_port"] {
        if let Some(v) = b.get(key) {
            pf.insert(key.into(), json!(int_in_range(v, key)?));
        }
    }
    if let Some(v) = b.get("protocol") {
        let p = v.as_str().unwrap_or_default().to_lowercase();
        if !PROTOCOLS.contains(&p.as_str()) {
            return Err(neutrino_model::validate::invalid_attr(
                "protocol",
                &format!("{p} is not in ['tcp', 'udp', 'udplite', 'sctp']"),
            ));
        }
        pf.insert("protocol".into(), json!(p));
    }
    if let Some(v) = b.get("internal_ip_address") {
        let ip = neutrino_model::validate::ip_address(v)
            .map_err(|r| neutrino_model::validate::invalid_attr("internal_ip_address", &r))?;
        pf.insert("internal_ip_address".into(), json!(ip.to_string()));
    }
    if let Some(v) = b.get("internal_port_id") {
        neutrino_model::validate::uuid(v)
            .map_err(|r| neutrino_model::validate::invalid_attr("internal_port_id", &r))?;
        pf.insert("internal_port_id".into(), v.clone());
    }
    if let Some(v) = b.get("description") {
        neutrino_model::validate::string(v, Some(255))
            .map_err(|r| neutrino_model::validate::invalid_attr("description", &r))?;
        pf.insert("description".into(), v.clone());
    }
    if create {
        for key in ["external_port", "internal_port", "internal_ip_address", "protocol", "internal_port_id"] {
            if !pf.contains_key(key) {
                return Err(ApiError::bad_request(format!(
                    "Failed to parse request. Required attribute '{key}' not specified"
                )));
            }
        }
        pf.entry("description").or_insert(json!(""));
    }
    Ok(())
}

fn field<'a>(pf: &'a Map<String, Value>, k: &str) -> &'a Value {
    pf.get(k).unwrap_or(&Value::Null)
}

/// Checks the forwarding against its floating IP, the internal port and every other one.
fn check(
    tx: &mut dyn neutrino_store::Tx,
    ctx: &RequestContext,
    f: &mut FloatingIp,
    pf: &Map<String, Value>,
) -> Result<(), ApiError> {
    if let Some(port) = &f.port_id {
        return Err(bad(format!("Floating IP {} is associated with port {port}", f.id)));
    }
    let port_id = field(pf, "internal_port_id").as_str().unwrap_or_default().to_string();
    let ip = field(pf, "internal_ip_address").as_str().unwrap_or_default().to_string();
    let port = lookup::visible::<Port>(tx, ctx, &port_id)?;
    let fixed = port
        .fixed_ips
        .iter()
        .find(|i| i.ip_address == ip)
        .ok_or_else(|| bad(format!("The internal IP {ip} does not belong to port {port_id}")))?
        .clone();
    for other in floatingips::all(tx)? {
        if other.port_id.as_deref() == Some(port_id.as_str()) && other.fixed_ip_address.as_deref() == Some(ip.as_str())
        {
            return Err(ApiError::conflict(
                "PortHasBindingFloatingIP",
                format!(
                    "Cannot create port forwarding to floating IP {} ({}) with port {port_id} using fixed IP {ip}, as that port already has a binding floating IP.",
                    f.floating_ip_address, f.id
                ),
            ));
        }
        for existing in &other.port_forwardings {
            let Some(e) = existing.as_object() else { continue };
            if e.get("id") == pf.get("id") {
                continue;
            }
            let same_external = other.id == f.id
                && field(e, "external_port") == field(pf, "external_port")
                && field(e, "protocol") == field(pf, "protocol");
            let same_internal = field(e, "internal_port_id") == field(pf, "internal_port_id")
                && field(e, "internal_ip_address") == field(pf, "internal_ip_address")
                && field(e, "internal_port") == field(pf, "internal_port")
                && field(e, "protocol") == field(pf, "protocol");
            if same_external || same_internal {
                return Err(bad("A duplicate port forwarding entry with same attributes already exists"));
            }
        }
    }
    let router = floatingips::router_for(tx, &fixed.subnet_id, &f.floating_network_id)?.ok_or_else(|| {
        ApiError::new(
            404,
            "ExternalGatewayForFloatingIPNotFound",
            format!(
                "External network {} is not reachable from subnet {}.  Therefore, cannot associate Port {port_id} with a Floating IP.",
                f.floating_network_id, fixed.subnet_id
            ),
        )
    })?;
    f.router_id = Some(router);
    Ok(())
}

fn public(pf: &Value) -> Value {
    let mut v = pf.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("project_id");
        m.remove("tenant_id");
    }
    v
}

/// `GET .../port_forwardings`.
pub async fn list(app: &Arc<App>, ctx: &RequestContext, fip: String) -> Result<Value, ApiError> {
    let ctx = ctx.clone();
    let f = app.store.read(move |tx| lookup::visible::<FloatingIp>(tx, &ctx, &fip)).await?;
    Ok(json!({"port_forwardings": f.port_forwardings.iter().map(public).collect::<Vec<_>>()}))
}

/// `GET .../port_forwardings/{id}`.
pub async fn show(app: &Arc<App>, ctx: &RequestContext, fip: String, id: String) -> Result<Value, ApiError> {
    let ctx = ctx.clone();
    let f = app.store.read(move |tx| lookup::visible::<FloatingIp>(tx, &ctx, &fip)).await?;
    let pf = f.port_forwardings.iter().find(|p| p["id"] == id.as_str()).ok_or_else(|| not_found(&id))?;
    Ok(json!({"port_forwarding": public(pf)}))
}

/// `POST .../port_forwardings` and `PUT .../port_forwardings/{id}`.
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
            let mut f = lookup::visible::<FloatingIp>(tx, &ctx, &fip)?;
            super::policy::authorize(
                &ctx,
                neutrino_model::Resource::FloatingIp,
                super::policy::Action::Update,
                &f.project_id,
                None,
            )?;
            let (mut pf, index) = match &id {
                None => {
                    let mut m = Map::new();
                    m.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
                    (m, None)
                }
                Some(id) => {
                    let i =
                        f.port_forwardings.iter().position(|p| p["id"] == id.as_str()).ok_or_else(|| not_found(id))?;
                    (f.port_forwardings[i].as_object().cloned().unwrap_or_default(), Some(i))
                }
            };
            apply(&mut pf, &body, id.is_none())?;
            check(tx, &ctx, &mut f, &pf)?;
            let value = Value::Object(pf);
            match index {
                Some(i) => f.port_forwardings[i] = value.clone(),
                None => f.port_forwardings.push(value.clone()),
            }
            super::save_update(tx, &mut f, app2.clock.now())?;
            Ok(json!({"port_forwarding": public(&value)}))
        })
        .await
}

/// `DELETE .../port_forwardings/{id}`.
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, fip: String, id: String) -> Result<(), ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut f = lookup::visible::<FloatingIp>(tx, &ctx, &fip)?;
            super::policy::authorize(
                &ctx,
                neutrino_model::Resource::FloatingIp,
                super::policy::Action::Update,
                &f.project_id,
                None,
            )?;
            let before = f.port_forwardings.len();
            f.port_forwardings.retain(|p| p["id"] != id.as_str());
            if f.port_forwardings.len() == before {
                return Err(not_found(&id));
            }
            if f.port_forwardings.is_empty() && f.port_id.is_none() {
                f.router_id = None;
            }
            super::save_update(tx, &mut f, app2.clock.now())
        })
        .await
}
