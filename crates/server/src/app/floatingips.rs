//! Floating IPs (`router`): an address on an external network held by a
//! `network:floatingip` port, associated with a port's fixed IP when a router connects that
//! port's subnet to the external network.

use super::lookup;
use super::policy::{self, Action};
use super::{check_revision, decode, encode, nova_events, port_alloc, App, RequestContext};
use neutrino_model::bodies::floatingips::{FloatingIpCreate, FloatingIpUpdate};
use neutrino_model::bodies::port_forwardings::PortForwardingCreate;
use neutrino_model::bodies::ports::FixedIpRequest;
use neutrino_model::bodies::{Body, Update};
use neutrino_model::types::{FloatingIp, Network, Port, Router};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, IndexFilter, Tx};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;
use std::sync::Arc;

const FIP_OWNER: &str = "network:floatingip";

/// One port forwarding as the port forwarding API stores and shows it: its id, then its
/// attributes. Records live in rows of their own; the floating IP's document holds their
/// [`ForwardingView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PortForwarding {
    pub id: String,
    #[serde(flatten)]
    pub spec: PortForwardingCreate,
}

impl PortForwarding {
    /// The stored (and shown) form.
    pub(crate) fn to_value(&self) -> Result<Value, ApiError> {
        serde_json::to_value(self).map_err(|e| {
            tracing::error!(error = %e, "cannot encode a port forwarding");
            ApiError::internal()
        })
    }
}

/// A port forwarding as a floating IP shows it: the fields and order of Neutron's
/// `_extend_floatingip_dict` (with `floating-ip-port-forwarding-detail`'s id and internal
/// port id), no description. Everything the L3 agent needs is here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ForwardingView {
    pub id: String,
    pub protocol: String,
    pub internal_ip_address: IpAddr,
    pub internal_port_id: String,
    pub internal_port: u16,
    pub external_port: u16,
}

impl From<&PortForwarding> for ForwardingView {
    fn from(pf: &PortForwarding) -> Self {
        let s = &pf.spec;
        Self {
            id: pf.id.clone(),
            protocol: s.protocol.clone(),
            internal_ip_address: s.internal_ip_address,
            internal_port_id: s.internal_port_id.clone(),
            internal_port: s.internal_port,
            external_port: s.external_port,
        }
    }
}

/// The port forwardings of a floating IP as its document holds them, typed.
pub(crate) fn port_forwardings(f: &FloatingIp) -> Result<Vec<ForwardingView>, ApiError> {
    f.port_forwardings
        .iter()
        .map(|v| {
            ForwardingView::deserialize(v).map_err(|e| {
                tracing::error!(floatingip = %f.id, error = %e, "stored port forwarding is corrupt");
                ApiError::internal()
            })
        })
        .collect()
}

/// The port forwarding records of a floating IP. A floating IP written before the records
/// had rows of their own keeps them whole in its document; those are read from there.
pub(crate) fn forwarding_records(tx: &mut dyn Tx, f: &FloatingIp) -> Result<Vec<PortForwarding>, ApiError> {
    let rows = tx.port_forwarding_list(&f.id)?;
    let corrupt = |e: serde_json::Error| {
        tracing::error!(floatingip = %f.id, error = %e, "stored port forwarding is corrupt");
        ApiError::internal()
    };
    if rows.is_empty() {
        return f.port_forwardings.iter().map(|v| PortForwarding::deserialize(v).map_err(corrupt)).collect();
    }
    rows.iter().map(|b| serde_json::from_str(b).map_err(corrupt)).collect()
}

/// Makes `records` the floating IP's port forwardings: their rows, and their views in its
/// document (saved by the caller).
pub(crate) fn set_forwarding_records(
    tx: &mut dyn Tx,
    f: &mut FloatingIp,
    records: &[PortForwarding],
) -> Result<(), ApiError> {
    for old in forwarding_records(tx, f)? {
        if !records.iter().any(|r| r.id == old.id) {
            tx.port_forwarding_delete(&old.id)?;
        }
    }
    let mut views = Vec::with_capacity(records.len());
    for r in records {
        tx.port_forwarding_put(&r.id, &f.id, &r.to_value()?.to_string())?;
        views.push(serde_json::to_value(ForwardingView::from(r)).map_err(|_| ApiError::internal())?);
    }
    f.port_forwardings = views;
    Ok(())
}

pub(crate) fn doc(f: &FloatingIp) -> Result<Doc, ApiError> {
    Ok(Doc { id: f.id.clone(), project_id: f.project_id.clone(), body: encode(f)?, ..Doc::default() })
}

/// The floating IP as it is shown: with its port's details as the port is now
/// (`fip-port-details`).
pub(crate) fn with_port_details(tx: &mut dyn Tx, mut f: FloatingIp) -> Result<FloatingIp, ApiError> {
    f.port_details = super::listing::port_details(tx, f.port_id.as_deref())?;
    Ok(f)
}

fn bad(msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request_for("floatingip", msg)
}

/// Every floating IP (scanned: deployments hold thousands, not millions).
pub(crate) fn all(tx: &mut dyn Tx) -> Result<Vec<FloatingIp>, ApiError> {
    tx.doc_list(Resource::FloatingIp, &IndexFilter::default())?
        .iter()
        .map(|b| decode(Resource::FloatingIp, "?", b))
        .collect()
}

/// The router that connects `subnet_id` to `external_network`, if any.
pub(crate) fn router_for(tx: &mut dyn Tx, subnet_id: &str, external_network: &str) -> Result<Option<String>, ApiError> {
    let filter = IndexFilter { device_owners: Some(vec!["network:router_interface".into()]), ..Default::default() };
    for body in tx.doc_list(Resource::Port, &filter)? {
        let p: Port = decode(Resource::Port, "?", &body)?;
        if !p.fixed_ips.iter().any(|f| f.subnet_id == subnet_id) {
            continue;
        }
        let r: Option<Router> = super::load(tx, Resource::Router, &p.device_id)?;
        if r.is_some_and(|r| r.external_gateway_info.is_some_and(|g| g.network_id == external_network)) {
            return Ok(Some(p.device_id));
        }
    }
    Ok(None)
}

/// Points the floating IP at a port's fixed IP (checks reachability and uniqueness).
fn associate(
    tx: &mut dyn Tx,
    ctx: &RequestContext,
    f: &mut FloatingIp,
    port_id: &str,
    fixed: Option<String>,
) -> Result<(), ApiError> {
    if !f.port_forwardings.is_empty() {
        return Err(ApiError::fip_in_use_by_port_forwarding(&f.id));
    }
    let port = lookup::visible::<Port>(tx, ctx, port_id)?;
    let v4: Vec<&neutrino_model::types::FixedIp> =
        port.fixed_ips.iter().filter(|i| i.ip_address.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4())).collect();
    let chosen = match fixed {
        Some(ip) => port
            .fixed_ips
            .iter()
            .find(|i| i.ip_address == ip)
            .ok_or_else(|| bad(format!("Port {port_id} does not have fixed ip {ip}")))?,
        None => match v4.as_slice() {
            [one] => *one,
            [] => return Err(bad(format!("Port {port_id} does not have any IPv4 address, so a floating IP cannot be assigned to it"))),
            _ => {
                return Err(bad(format!(
                    "Port {port_id} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP"
                )))
            }
        },
    }
    .clone();
    if let Some(other) = all(tx)?.into_iter().find(|o| {
        o.id != f.id
            && o.port_id.as_deref() == Some(port_id)
            && o.fixed_ip_address.as_deref() == Some(chosen.ip_address.as_str())
    }) {
        return Err(ApiError::floating_ip_port_already_associated(
            &f.floating_ip_address,
            &f.id,
            port_id,
            &chosen.ip_address,
            &other.floating_network_id,
        ));
    }
    let router = router_for(tx, &chosen.subnet_id, &f.floating_network_id)?.ok_or_else(|| {
        ApiError::external_gateway_for_floating_ip_not_found(&f.floating_network_id, &chosen.subnet_id, port_id)
    })?;
    f.port_id = Some(port_id.into());
    f.fixed_ip_address = Some(chosen.ip_address);
    f.router_id = Some(router);
    Ok(())
}

/// A floating IP without a port is DOWN, as in Neutron; an associated one turns ACTIVE when
/// the L3 agent running its router reports its NAT in place. One with port forwardings
/// keeps the router they go through.
fn dissociate(f: &mut FloatingIp) {
    f.port_id = None;
    f.fixed_ip_address = None;
    if f.port_forwardings.is_empty() {
        f.router_id = None;
    }
    f.status = "DOWN".into();
}

/// Neutron's `_check_and_get_fip_assoc`: a fixed IP means nothing without a port.
fn check_fixed_ip_has_port(port_id: Option<&str>, fixed_ip: Option<&str>) -> Result<(), ApiError> {
    if fixed_ip.is_some_and(|ip| !ip.is_empty()) && port_id.is_none_or(str::is_empty) {
        return Err(bad("fixed_ip_address cannot be specified without a port_id"));
    }
    Ok(())
}

/// Allocates floating IPs (bulk is atomic).
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Body<FloatingIpCreate>>,
) -> Result<Vec<FloatingIp>, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    nova_events::write(app, move |tx, events| {
        // Neutron's `_create`: the policy for every item, then the quota, then the plugin.
        for b in &items {
            policy::authorize(&ctx, Resource::FloatingIp, Action::Create, &b.fields.project_id, Some(&b.attrs))?;
        }
        let now = app2.clock.now();
        let created =
            items.iter().map(|b| create_one(tx, &app2, &ctx, &b.fields, &now)).collect::<Result<Vec<_>, _>>()?;
        for f in &created {
            nova_events::floating_ip_moved(tx, &app2, None, f.port_id.as_deref(), events)?;
        }
        Ok(created)
    })
    .await
}

fn create_one(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    body: &FloatingIpCreate,
    now: &str,
) -> Result<FloatingIp, ApiError> {
    super::quotas::check(tx, Resource::FloatingIp, &body.project_id)?;
    check_fixed_ip_has_port(body.port_id.as_deref(), body.fixed_ip_address.as_deref())?;
    let network_id = &body.floating_network_id;
    let net: Network = lookup::visible::<Network>(tx, ctx, network_id)?;
    if !net.router_external {
        return Err(bad(format!("Network {network_id} is not a valid external network")));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let address = allocate_address(tx, app, body, &id, now)?;
    let mut f = FloatingIp {
        id,
        tenant_id: body.project_id.clone(),
        project_id: body.project_id.clone(),
        floating_network_id: network_id.clone(),
        floating_ip_address: address,
        router_id: None,
        port_id: None,
        fixed_ip_address: None,
        status: "DOWN".into(),
        port_forwardings: vec![],
        port_details: None,
        dns_name: String::new(),
        dns_domain: String::new(),
        description: body.description.clone(),
        tags: super::sorted_tags(body.tags.clone()),
        created_at: now.to_string(),
        updated_at: now.to_string(),
        revision_number: 0,
    };
    if let Some(port_id) = &body.port_id {
        associate(tx, ctx, &mut f, port_id, body.fixed_ip_address.clone())?;
    }
    tx.doc_insert(Resource::FloatingIp, &doc(&f)?)?;
    tx.change_record(Resource::FloatingIp, &f.id, ChangeOp::Create, &body.project_id)?;
    with_port_details(tx, f)
}

/// Takes the address (the one asked for, or one of the subnet asked for, or any) with a
/// `network:floatingip` port no project owns; its IPv4 address if it has one.
fn allocate_address(
    tx: &mut dyn Tx,
    app: &App,
    body: &FloatingIpCreate,
    fip_id: &str,
    now: &str,
) -> Result<String, ApiError> {
    let wanted = FixedIpRequest { subnet_id: body.subnet_id.clone(), ip_address: body.floating_ip_address };
    let fixed_ips = (wanted != FixedIpRequest::default()).then(|| vec![wanted]);
    let spec = port_alloc::ServicePort {
        project: "",
        network_id: &body.floating_network_id,
        device_owner: FIP_OWNER,
        device_id: fip_id,
        fixed_ips,
        host: None,
    };
    let port = port_alloc::create_service_port(tx, app, spec, now)?;
    port.fixed_ips
        .iter()
        .find(|i| i.ip_address.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4()))
        .or(port.fixed_ips.first())
        .map(|i| i.ip_address.clone())
        .ok_or_else(|| ApiError::ip_address_generation_failure(&body.floating_network_id))
}

/// Associates (`port_id`), dissociates (`port_id: null`, or an empty body: a floating IP
/// once had nothing but its association to update, and Neutron keeps that meaning) or
/// edits the description.
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    change: Update<FloatingIpUpdate>,
) -> Result<FloatingIp, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    nova_events::write(app, move |tx, events| {
        let mut f = lookup::visible::<FloatingIp>(tx, &ctx, &id)?;
        let port_before = f.port_id.clone();
        policy::authorize(&ctx, Resource::FloatingIp, Action::Update, &f.project_id, Some(&change.body.attrs))?;
        check_revision(change.if_match, f.revision_number)?;
        let u = &change.body.fields;
        check_fixed_ip_has_port(u.port_id.clone().flatten().as_deref(), u.fixed_ip_address.as_deref())?;
        let blank = change.body.attrs.is_empty();
        match &u.port_id {
            Some(None) => dissociate(&mut f),
            None if blank && f.port_id.is_some() => dissociate(&mut f),
            Some(Some(p)) => {
                associate(tx, &ctx, &mut f, p, u.fixed_ip_address.clone())?;
                // (Re)associated: DOWN until the agent has the new NAT in place.
                f.status = "DOWN".into();
            }
            None => {}
        }
        if let Some(v) = &u.description {
            f.description.clone_from(v);
        }
        super::save_update(tx, &mut f, app2.clock.now())?;
        nova_events::floating_ip_moved(tx, &app2, port_before.as_deref(), f.port_id.as_deref(), events)?;
        with_port_details(tx, f)
    })
    .await
}

/// Releases a floating IP and its address; not while port forwardings use it (Neutron's
/// port forwarding plugin refuses the deletion of its port).
pub async fn delete(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    if_match: Option<super::IfMatch>,
) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    let app2 = app.clone();
    nova_events::write(app, move |tx, events| {
        let f = lookup::visible::<FloatingIp>(tx, &ctx, &id)?;
        policy::authorize(&ctx, Resource::FloatingIp, Action::Delete, &f.project_id, None)?;
        check_revision(if_match, f.revision_number)?;
        if !f.port_forwardings.is_empty() {
            return Err(ApiError::fip_in_use_by_port_forwarding(&f.id));
        }
        let filter = IndexFilter {
            device_ids: Some(vec![id.clone()]),
            device_owners: Some(vec![FIP_OWNER.into()]),
            ..Default::default()
        };
        for body in tx.doc_list(Resource::Port, &filter)? {
            let p: Port = decode(Resource::Port, &id, &body)?;
            port_alloc::delete_in_tx(tx, &p)?;
        }
        tx.doc_delete(Resource::FloatingIp, &id)?;
        tx.change_record(Resource::FloatingIp, &id, ChangeOp::Delete, &f.project_id)?;
        nova_events::floating_ip_moved(tx, &app2, f.port_id.as_deref(), None, events)?;
        Ok(())
    })
    .await
}

/// Floating IPs that go through `router_id` (optionally only for ports on `subnet_id`).
pub(crate) fn using_router(tx: &mut dyn Tx, router_id: &str, subnet_id: Option<&str>) -> Result<bool, ApiError> {
    for f in all(tx)? {
        if f.router_id.as_deref() != Some(router_id) {
            continue;
        }
        let Some(subnet_id) = subnet_id else { return Ok(true) };
        if let Some(port_id) = &f.port_id {
            let p: Option<Port> = super::load(tx, Resource::Port, port_id)?;
            if p.is_some_and(|p| {
                p.fixed_ips
                    .iter()
                    .any(|i| i.subnet_id == subnet_id && Some(&i.ip_address) == f.fixed_ip_address.as_ref())
            }) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Dissociates the floating IPs of a port being deleted (Neutron does the same).
pub(crate) fn release_port(tx: &mut dyn Tx, port_id: &str, now: &str) -> Result<(), ApiError> {
    for mut f in all(tx)? {
        if f.port_id.as_deref() == Some(port_id) {
            dissociate(&mut f);
            super::save_update(tx, &mut f, now.into())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_port_forwarding_keeps_its_wire_order() {
        let body = serde_json::json!({"port_forwarding": {
            "protocol": "tcp", "internal_port_id": "6f6a4e8c-5b52-4d8e-9b3e-6f0b2d2f1a11",
            "internal_ip_address": "10.0.0.5", "internal_port": 22, "external_port": 2222,
        }});
        let pf = PortForwarding { id: "i".into(), spec: PortForwardingCreate::parse(&body).unwrap() };
        let text = pf.to_value().unwrap().to_string();
        assert_eq!(
            text,
            r#"{"id":"i","external_port":2222,"internal_port":22,"protocol":"tcp","internal_ip_address":"10.0.0.5","internal_port_id":"6f6a4e8c-5b52-4d8e-9b3e-6f0b2d2f1a11","description":""}"#
        );
        let view = serde_json::to_value(ForwardingView::from(&pf)).unwrap();
        assert_eq!(
            view.to_string(),
            r#"{"id":"i","protocol":"tcp","internal_ip_address":"10.0.0.5","internal_port_id":"6f6a4e8c-5b52-4d8e-9b3e-6f0b2d2f1a11","internal_port":22,"external_port":2222}"#,
            "Neutron's order in a floating IP, no description"
        );
        let stored = FloatingIp { port_forwardings: vec![view], ..fip() };
        assert_eq!(port_forwardings(&stored).unwrap(), [ForwardingView::from(&pf)]);
    }

    fn fip() -> FloatingIp {
        serde_json::from_value(serde_json::json!({
            "id": "f", "tenant_id": "p", "project_id": "p", "floating_network_id": "n",
            "floating_ip_address": "203.0.113.7", "router_id": null, "port_id": null,
            "fixed_ip_address": null, "status": "DOWN", "port_forwardings": [], "description": "",
            "tags": [], "created_at": "", "updated_at": "", "revision_number": 0,
        }))
        .unwrap()
    }
}
