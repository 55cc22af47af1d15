//! Routers (`router`, `ext-gw-mode`, `extraroute`, `extraroute-atomic`): gateways on
//! external networks and interfaces on subnets are ports the router owns
//! (`network:router_gateway`, `network:router_interface`), created and removed in the same
//! transaction as the router change that needs them.

use super::lookup;
use super::policy::{self, Action};
use super::{check_revision, decode, encode, load_required, port_alloc, subnets, App, RequestContext};
use ipnet::IpNet;
use neutrino_model::bodies::ports::FixedIpRequest;
use neutrino_model::bodies::routers::{GatewayRequest, RouterCreate, RouterUpdate};
use neutrino_model::bodies::{Body, Update};
use neutrino_model::types::{FixedIp, GatewayInfo, HostRoute, Network, Port, Router, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, IndexFilter, Tx};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::Arc;

const INTERFACE: &str = "network:router_interface";
const GATEWAY: &str = "network:router_gateway";

pub(crate) fn doc(r: &Router) -> Result<Doc, ApiError> {
    Ok(Doc {
        id: r.id.clone(),
        project_id: r.project_id.clone(),
        name: r.name.clone(),
        body: encode(r)?,
        ..Doc::default()
    })
}

fn bad(msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request_for("router", msg)
}

/// The router's ports with the given owner.
fn router_ports(tx: &mut dyn Tx, router_id: &str, owner: &str) -> Result<Vec<Port>, ApiError> {
    let filter = IndexFilter {
        device_ids: Some(vec![router_id.into()]),
        device_owners: Some(vec![owner.into()]),
        ..Default::default()
    };
    tx.doc_list(Resource::Port, &filter)?.iter().map(|b| decode(Resource::Port, router_id, b)).collect()
}

/// Replaces the gateway: removes the old gateway port, creates the new one.
fn set_gateway(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    r: &mut Router,
    info: Option<&GatewayRequest>,
    now: &str,
) -> Result<(), ApiError> {
    let keeps_network =
        info.map(|i| i.network_id.as_str()) == r.external_gateway_info.as_ref().map(|g| g.network_id.as_str());
    if let Some(g) = &r.external_gateway_info {
        if !keeps_network && super::floatingips::using_router(tx, &r.id, None)? {
            return Err(ApiError::router_external_gateway_in_use_by_floating_ip(&r.id, &g.network_id));
        }
    }
    for p in router_ports(tx, &r.id, GATEWAY)? {
        port_alloc::delete_in_tx(tx, &p)?;
    }
    r.external_gateway_info = None;
    let Some(info) = info else { return Ok(()) };
    let network_id = info.network_id.clone();
    let fixed_ips = info.external_fixed_ips.clone();
    let net: Network = lookup::visible::<Network>(tx, ctx, &network_id)?;
    if !net.router_external {
        return Err(bad(format!("Network {network_id} is not an external network")));
    }
    let port = port_alloc::create_service_port(
        tx,
        app,
        port_alloc::ServicePort {
            project: "",
            network_id: &network_id,
            device_owner: GATEWAY,
            device_id: &r.id,
            fixed_ips,
            host: None,
        },
        now,
    )?;
    if port.fixed_ips.is_empty() {
        // Neutron's `_create_router_gw_port` only logs this: an external network without
        // subnets still takes a gateway (the L3 agent then has nothing to SNAT to).
        tracing::debug!(%network_id, router = %r.id, "no IPs available for the external network");
    }
    r.external_gateway_info = Some(GatewayInfo {
        network_id,
        enable_snat: info.enable_snat.unwrap_or(true),
        external_fixed_ips: port.fixed_ips,
    });
    Ok(())
}

/// Neutron: choosing gateway addresses or SNAT mode is admin-only.
fn check_gateway_policy(ctx: &RequestContext, info: Option<&GatewayRequest>) -> Result<(), ApiError> {
    let Some(info) = info.filter(|_| !ctx.is_admin) else { return Ok(()) };
    let given =
        [("external_fixed_ips", info.external_fixed_ips.is_some()), ("enable_snat", info.enable_snat.is_some())];
    match given.into_iter().find(|(_, given)| *given) {
        Some((key, _)) => Err(ApiError::policy_not_authorized(format_args!(
            "((rule:create_router and rule:create_router:external_gateway_info:{key}))"
        ))),
        None => Ok(()),
    }
}

/// Creates routers (bulk is atomic).
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Body<RouterCreate>>,
) -> Result<Vec<Router>, ApiError> {
    super::bulk_create(app, ctx, items, create_one).await
}

fn create_one(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    body: &Body<RouterCreate>,
    now: &str,
) -> Result<Router, ApiError> {
    let a = &body.fields;
    policy::authorize(ctx, Resource::Router, Action::Create, &a.project_id, Some(&body.attrs))?;
    check_gateway_policy(ctx, a.external_gateway_info.as_ref())?;
    insert(tx, app, ctx, a, now)
}

/// One router with its gateway, from the quota on (the caller checked the policy, or the
/// server acts for itself).
pub(crate) fn insert(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    a: &RouterCreate,
    now: &str,
) -> Result<Router, ApiError> {
    let project = a.project_id.clone();
    super::quotas::check(tx, Resource::Router, &project)?;
    // l3-flavors: the flavor must give one of our L3 providers (there is one, and every
    // router runs on it, so nothing else depends on which).
    let flavor_id = a.flavor_id.as_ref().map(|f| f.clone().unwrap_or_else(|| "None".into()));
    if let Some(flavor) = &flavor_id {
        super::flavors::l3_provider(tx, flavor)?;
    }
    super::zones::check_hints(tx, super::zones::ZoneResource::Router, &a.availability_zone_hints)?;
    let mut r = Router {
        id: uuid::Uuid::new_v4().to_string(),
        name: a.name.clone(),
        tenant_id: project.clone(),
        project_id: project.clone(),
        admin_state_up: a.admin_state_up,
        status: "ACTIVE".into(),
        external_gateway_info: None,
        routes: vec![],
        flavor_id: flavor_id.clone(),
        availability_zone_hints: a.availability_zone_hints.clone(),
        availability_zones: vec![],
        description: a.description.clone(),
        tags: super::sorted_tags(a.tags.clone()),
        created_at: now.to_string(),
        updated_at: now.to_string(),
        revision_number: 0,
    };
    tx.doc_insert(Resource::Router, &doc(&r)?)?;
    if let Some(flavor) = &flavor_id {
        tx.router_flavor_set(&r.id, flavor)?;
    }
    if let Some(info) = &a.external_gateway_info {
        set_gateway(tx, app, ctx, &mut r, Some(info), now)?;
        tx.doc_update(Resource::Router, &doc(&r)?)?;
    }
    tx.change_record(Resource::Router, &r.id, ChangeOp::Create, &project)?;
    Ok(r)
}

/// The subnets behind a router's interfaces.
fn interface_subnets(tx: &mut dyn Tx, router_id: &str) -> Result<Vec<Subnet>, ApiError> {
    let mut out = Vec::new();
    for p in router_ports(tx, router_id, INTERFACE)? {
        for f in &p.fixed_ips {
            out.push(load_required(tx, Resource::Subnet, &f.subnet_id)?);
        }
    }
    Ok(out)
}

/// Every nexthop must be reachable through one of the router's interfaces.
fn check_routes(tx: &mut dyn Tx, router_id: &str, routes: &[HostRoute]) -> Result<(), ApiError> {
    let subnets = interface_subnets(tx, router_id)?;
    check_nexthops(&subnets, routes)
}

/// Every nexthop is an address on one of `subnets` (the router's), and not their gateway
/// (the router's own address).
fn check_nexthops(subnets: &[Subnet], routes: &[HostRoute]) -> Result<(), ApiError> {
    let invalid = |reason: &str| ApiError::invalid_routes(&serde_json::to_string(routes).unwrap_or_default(), reason);
    for route in routes {
        let hop: IpAddr = route.nexthop.parse().map_err(|_| invalid("the nexthop is not a valid IP address"))?;
        let connected = subnets.iter().any(|s| s.cidr.parse::<IpNet>().is_ok_and(|c| c.contains(&hop)));
        if !connected {
            return Err(invalid("the nexthop is not connected with router"));
        }
        if subnets.iter().any(|s| s.gateway_ip.as_deref() == Some(route.nexthop.as_str())) {
            return Err(invalid("the nexthop is used by router"));
        }
    }
    Ok(())
}

fn parse_routes(v: &Value) -> Result<Vec<HostRoute>, ApiError> {
    let checked =
        neutrino_model::validate::host_routes(v).map_err(|r| neutrino_model::validate::invalid_attr("routes", &r))?;
    serde_json::from_value(checked).map_err(|_| ApiError::bad_request("Invalid input for routes."))
}

/// Updates name, state, gateway or routes.
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    change: Update<RouterUpdate>,
) -> Result<Router, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let now = app2.clock.now();
            let mut r = lookup::visible::<Router>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Router, Action::Update, &r.project_id, Some(&change.body.attrs))?;
            check_revision(change.if_match, r.revision_number)?;
            let a = change.body.fields;
            if let Some(v) = a.name {
                r.name = v;
            }
            if let Some(v) = a.description {
                r.description = v;
            }
            if let Some(v) = a.admin_state_up {
                r.admin_state_up = v;
            }
            if let Some(info) = a.external_gateway_info {
                check_gateway_policy(&ctx, info.as_ref())?;
                set_gateway(tx, &app2, &ctx, &mut r, info.as_ref(), &now)?;
            }
            if let Some(routes) = a.routes {
                check_routes(tx, &r.id, &routes)?;
                r.routes = routes;
            }
            super::save_update(tx, &mut r, now)?;
            Ok(r)
        })
        .await
}

/// `add_extraroutes` / `remove_extraroutes`: edits the route list atomically.
pub async fn edit_routes(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    body: &Value,
    add: bool,
) -> Result<Router, ApiError> {
    let routes = body
        .get("router")
        .and_then(|r| r.get("routes"))
        .ok_or_else(|| ApiError::bad_request("Unable to find 'router' in request body"))?;
    let routes = parse_routes(routes)?;
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut r = lookup::visible::<Router>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Router, Action::Update, &r.project_id, None)?;
            if add {
                check_routes(tx, &r.id, &routes)?;
                for route in routes {
                    if !r.routes.contains(&route) {
                        r.routes.push(route);
                    }
                }
                // Neutron checks the router's whole new list against `max_routes`.
                let max = app2.config.max_routes;
                if r.routes.len() > max {
                    return Err(ApiError::routes_exhausted(&r.id, max));
                }
            } else {
                r.routes.retain(|x| !routes.contains(x));
            }
            super::save_update(tx, &mut r, app2.clock.now())?;
            Ok(r)
        })
        .await
}

/// Deletes a router: refused while it has interfaces; its gateway port goes with it.
pub async fn delete(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    if_match: Option<super::IfMatch>,
) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let r = lookup::visible::<Router>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Router, Action::Delete, &r.project_id, None)?;
            check_revision(if_match, r.revision_number)?;
            delete_in_tx(tx, &r)
        })
        .await
}

/// Deletes a router and its gateway port (no policy: the caller checked it); 409
/// `RouterInUse` while it has interfaces.
pub(crate) fn delete_in_tx(tx: &mut dyn Tx, r: &Router) -> Result<(), ApiError> {
    let id = r.id.clone();
    let interfaces = router_ports(tx, &id, INTERFACE)?;
    if !interfaces.is_empty() {
        // Neutron's `_ensure_router_not_in_use` names the attached ports.
        let ids: Vec<&str> = interfaces.iter().map(|p| p.id.as_str()).collect();
        return Err(ApiError::router_in_use(&id, &format!("has ports still attached: {}", ids.join(", "))));
    }
    for p in router_ports(tx, &id, GATEWAY)? {
        port_alloc::delete_in_tx(tx, &p)?;
    }
    tx.doc_delete(Resource::Router, &id)?;
    tx.change_record(Resource::Router, &id, ChangeOp::Delete, &r.project_id)?;
    Ok(())
}

/// The body both interface actions answer with.
fn interface_body(r: &Router, port: &Port, subnet_id: &str) -> Value {
    json!({"id": r.id, "subnet_id": subnet_id, "subnet_ids": port.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect::<Vec<_>>(),
        "port_id": port.id, "network_id": port.network_id, "project_id": r.project_id, "tenant_id": r.project_id, "tags": port.tags})
}

fn interface_request(body: &Value) -> Result<(Option<String>, Option<String>), ApiError> {
    let Value::Object(b) = body else { return Err(ApiError::bad_request("Body contains invalid data")) };
    let subnet = b.get("subnet_id").and_then(Value::as_str).map(str::to_string);
    let port = b.get("port_id").and_then(Value::as_str).map(str::to_string);
    for v in [&subnet, &port].into_iter().flatten() {
        neutrino_model::validate::uuid(&Value::String(v.clone()))
            .map_err(|r| ApiError::bad_request(format!("Invalid input. {r}")))?;
    }
    Ok((subnet, port))
}

/// Refuses a subnet already attached to the router, or overlapping one that is.
fn check_attachable(tx: &mut dyn Tx, router_id: &str, new: &Subnet) -> Result<(), ApiError> {
    check_attachable_beside(&interface_subnets(tx, router_id)?, new)
}

/// [`check_attachable`] against the subnets the router is already on.
fn check_attachable_beside(attached: &[Subnet], new: &Subnet) -> Result<(), ApiError> {
    let new_cidr = subnets::cidr_of(new)?;
    for s in attached {
        if s.id == new.id {
            return Err(bad(format!("Router already has a port on subnet {}", new.id)));
        }
        let c = subnets::cidr_of(s)?;
        if c.contains(&new_cidr.network()) || new_cidr.contains(&c.network()) {
            return Err(bad(format!(
                "Cidr {} of subnet {} overlaps with cidr {} of subnet {}",
                new.cidr, new.id, s.cidr, s.id
            )));
        }
    }
    Ok(())
}

/// Neutron's `_validate_port_in_range_or_admin`: a port attached to a router may hold an
/// address outside the allocation pools of a subnet only if the caller's project owns that
/// subnet (or the caller is admin).
fn check_port_in_pool_or_admin(ctx: &RequestContext, port: &Port, s: &Subnet, f: &FixedIp) -> Result<(), ApiError> {
    if ctx.is_admin || s.project_id == ctx.project_id {
        return Ok(());
    }
    let in_pool = f.ip_address.parse::<IpAddr>().is_ok_and(|ip| s.allocation_pools.iter().any(|p| p.contains(ip)));
    if in_pool {
        return Ok(());
    }
    Err(bad(format!(
        "Cannot add interface to router because specified port {} has an IP address out of the allocation pool of subnet {}, which is not owned by the project making the request",
        port.id, s.id
    )))
}

/// Gives the router an interface on the subnet, at the subnet's gateway address (the router
/// is revised by the caller). Neutron's `_add_interface_by_subnet`: another project's
/// subnet only when its network is RBAC-shared with the caller's project by name (a
/// network shared with everyone is not enough, LP#1757482).
pub(crate) fn attach_subnet(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    r: &Router,
    s: &Subnet,
    now: &str,
) -> Result<Port, ApiError> {
    let Some(gw) = s.gateway_ip.clone() else {
        return Err(bad("Subnet for router interface must have a gateway IP"));
    };
    if !ctx.is_admin
        && s.project_id != ctx.project_id
        && !super::sharing::shared_by_policy_with(tx, &s.network_id, &ctx.project_id)?
    {
        return Err(bad(format!(
            "Cannot add interface to router because subnet {} is not owned by project making the request",
            s.id
        )));
    }
    check_attachable(tx, &r.id, s)?;
    let gw = gw.parse().map_err(|_| ApiError::internal())?;
    let ips = vec![FixedIpRequest { subnet_id: Some(s.id.clone()), ip_address: Some(gw) }];
    let port = port_alloc::ServicePort {
        project: &r.project_id,
        network_id: &s.network_id,
        device_owner: INTERFACE,
        device_id: &r.id,
        fixed_ips: Some(ips),
        host: None,
    };
    port_alloc::create_service_port(tx, app, port, now)
}

/// `PUT /routers/{id}/add_router_interface`.
pub async fn add_interface(app: &Arc<App>, ctx: &RequestContext, id: String, body: &Value) -> Result<Value, ApiError> {
    let (subnet_id, port_id) = interface_request(body)?;
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let now = app2.clock.now();
            let mut r = lookup::visible::<Router>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Router, Action::Update, &r.project_id, None)?;
            // A new router port revises the router (Neutron's `RouterPort.revises_on_change`).
            let revised =
                |tx: &mut dyn Tx, r: &mut Router, body: Value| super::save_update(tx, r, now.clone()).map(|()| body);
            match (subnet_id, port_id) {
                (Some(_), Some(_)) => Err(bad("Cannot specify both subnet-id and port-id")),
                (None, None) => Err(bad("Either subnet_id or port_id must be specified")),
                (Some(sid), None) => {
                    let s = lookup::visible::<Subnet>(tx, &ctx, &sid)?;
                    let port = attach_subnet(tx, &app2, &ctx, &r, &s, &now)?;
                    let body = interface_body(&r, &port, &sid);
                    revised(tx, &mut r, body)
                }
                (None, Some(pid)) => {
                    let mut port = lookup::visible::<Port>(tx, &ctx, &pid)?;
                    if !port.device_owner.is_empty() || !port.device_id.is_empty() {
                        return Err(ApiError::port_already_attached(&pid, &port.network_id, &port.device_id));
                    }
                    if port.fixed_ips.is_empty() {
                        return Err(bad("Router port must have at least one fixed IP"));
                    }
                    for f in port.fixed_ips.clone() {
                        let s: Subnet = load_required(tx, Resource::Subnet, &f.subnet_id)?;
                        check_attachable(tx, &r.id, &s)?;
                        check_port_in_pool_or_admin(&ctx, &port, &s, &f)?;
                    }
                    port.device_owner = INTERFACE.into();
                    port.device_id = r.id.clone();
                    port.security_groups.clear();
                    tx.port_security_group_set(&port.id, &[])?;
                    super::save_update(tx, &mut port, now.clone())?;
                    let first = port.fixed_ips.first().map(|f| f.subnet_id.clone()).unwrap_or_default();
                    let body = interface_body(&r, &port, &first);
                    revised(tx, &mut r, body)
                }
            }
        })
        .await
}

/// `PUT /routers/{id}/remove_router_interface`.
pub async fn remove_interface(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    body: &Value,
) -> Result<Value, ApiError> {
    let (subnet_id, port_id) = interface_request(body)?;
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let now = app2.clock.now();
            let mut r = lookup::visible::<Router>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::Router, Action::Update, &r.project_id, None)?;
            let interfaces = router_ports(tx, &r.id, INTERFACE)?;
            let (port, sid) = match (&subnet_id, &port_id) {
                (_, Some(pid)) => {
                    let port = interfaces
                        .into_iter()
                        .find(|p| p.id == *pid)
                        .ok_or_else(|| ApiError::router_interface_not_found(&r.id, pid))?;
                    let sid = subnet_id
                        .clone()
                        .or_else(|| port.fixed_ips.first().map(|f| f.subnet_id.clone()))
                        .unwrap_or_default();
                    (port, sid)
                }
                (Some(sid), None) => {
                    let port = interfaces
                        .into_iter()
                        .find(|p| p.fixed_ips.iter().any(|f| f.subnet_id == *sid))
                        .ok_or_else(|| ApiError::router_interface_not_found_for_subnet(&r.id, sid))?;
                    (port, sid.clone())
                }
                (None, None) => return Err(bad("Either subnet_id or port_id must be specified")),
            };
            let body = interface_body(&r, &port, &sid);
            detach(tx, &mut r, port, &sid, port_id.is_some(), now)?;
            Ok(body)
        })
        .await
}

/// Removes the router's interface on a subnet, if it has one (no policy: the caller
/// checked it), with the checks of `remove_router_interface`.
pub(crate) fn detach_subnet(tx: &mut dyn Tx, r: &mut Router, subnet_id: &str, now: String) -> Result<(), ApiError> {
    let port =
        router_ports(tx, &r.id, INTERFACE)?.into_iter().find(|p| p.fixed_ips.iter().any(|f| f.subnet_id == subnet_id));
    match port {
        Some(port) => detach(tx, r, port, subnet_id, false, now),
        None => Ok(()),
    }
}

/// Takes the subnet off the router's interface port: refused while floating IPs or routes
/// go through it; the whole port goes when asked (`whole`, removal by port) or when the
/// subnet is its only one.
fn detach(
    tx: &mut dyn Tx,
    r: &mut Router,
    mut port: Port,
    sid: &str,
    whole: bool,
    now: String,
) -> Result<(), ApiError> {
    if super::floatingips::using_router(tx, &r.id, Some(sid))? {
        return Err(ApiError::router_interface_in_use_by_floating_ip(&r.id, sid));
    }
    // Routes through this interface keep it.
    let remaining: Vec<Subnet> = interface_subnets(tx, &r.id)?.into_iter().filter(|s| s.id != sid).collect();
    for route in &r.routes {
        let hop: Option<IpAddr> = route.nexthop.parse().ok();
        let still =
            remaining.iter().any(|s| hop.is_some_and(|h| s.cidr.parse::<IpNet>().is_ok_and(|c| c.contains(&h))));
        if !still {
            return Err(ApiError::router_interface_in_use_by_route(&r.id, sid));
        }
    }
    if whole || port.fixed_ips.len() <= 1 {
        port_alloc::delete_in_tx(tx, &port)?;
        // The router port went: that revises the router (only the port, when one of
        // its several subnets leaves it, as in Neutron).
        super::save_update(tx, r, now)
    } else {
        let dropped: Vec<FixedIp> = port.fixed_ips.iter().filter(|f| f.subnet_id == sid).cloned().collect();
        for f in &dropped {
            tx.ip_allocation_delete(&f.subnet_id, &f.ip_address)?;
        }
        port.fixed_ips.retain(|f| f.subnet_id != sid);
        port.forget_released_names();
        super::save_update(tx, &mut port, now)
    }
}

#[cfg(test)]
mod tests;
