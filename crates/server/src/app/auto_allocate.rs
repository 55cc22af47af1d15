//! `auto-allocated-topology` ("get me a network"): on a project's first
//! `GET /v2.0/auto-allocated-topology/{project}`, a network (`auto_allocated_network`), a
//! subnet from each default subnet pool (`auto_allocated_subnet_v4`/`_v6`) and a router
//! (`auto_allocated_router`) with its gateway on the default external network and an
//! interface on each subnet; later calls answer the same network.
//!
//! Neutron builds the topology in steps, each its own transaction, cleans up what a failed
//! step left and lets a unique key decide between racing requests. Here the whole topology,
//! and its record (`auto_allocated_topologies`, keyed by project), is one write transaction:
//! a failure anywhere keeps nothing, and the store runs write transactions one at a time, so
//! a second request sees the first one's record and answers its network. The server acts for
//! itself (no policy on the parts) but the parts count against the project's quotas.

use super::lookup;
use super::policy;
use super::{load, networks, routers, subnet_alloc, subnets, App, RequestContext};
use neutrino_model::bodies::networks::NetworkCreate;
use neutrino_model::bodies::routers::{GatewayRequest, RouterCreate};
use neutrino_model::bodies::subnets::SubnetCreate;
use neutrino_model::types::{Network, Router, Subnet, SubnetPool};
use neutrino_model::ApiError;
use neutrino_store::{AutoAllocation, Tx};
use serde_json::{json, Value};
use std::sync::Arc;

/// The `fields` value that asks only whether a topology could be built.
const DRY_RUN: &str = "dry-run";

/// Neutron's `_validate`: `None` (the client had no project to send) is the caller's
/// project; another project's topology is admin's only (403 `NotAuthorized`).
fn project_of(ctx: &RequestContext, requested: &str) -> Result<String, ApiError> {
    let project = if requested == "None" { ctx.project_id.clone() } else { requested.to_string() };
    if !ctx.is_admin && project != ctx.project_id {
        return Err(ApiError::not_authorized());
    }
    Ok(project)
}

fn answer(id: &str, project: &str) -> Value {
    json!({"auto_allocated_topology": {"id": id, "tenant_id": project, "project_id": project}})
}

/// `GET /v2.0/auto-allocated-topology/{project}`: the project's topology, built on first
/// use; with `fields=dry-run`, only whether it could be built.
pub async fn get(
    app: &Arc<App>,
    ctx: &RequestContext,
    project: String,
    fields: Vec<String>,
) -> Result<Value, ApiError> {
    let project = project_of(ctx, &project)?;
    policy::authorize_rule(ctx, "get_auto_allocated_topology", &project)?;
    if fields.iter().any(|f| f == DRY_RUN) {
        let ctx = ctx.clone();
        return app
            .store
            .read(move |tx| {
                check_requirements(tx, &ctx)?;
                Ok(answer("dry-run=pass", &project))
            })
            .await;
    }
    if !fields.is_empty() {
        return Err(ApiError::bad_request_for("auto_allocate", "Unrecognized field"));
    }
    let (app2, ctx) = (app.clone(), ctx.clone());
    app.store
        .write(move |tx| {
            let network_id = ensure(tx, &app2, &ctx, &project)?;
            Ok(answer(&network_id, &project))
        })
        .await
}

/// `DELETE /v2.0/auto-allocated-topology/{project}`: tears the project's topology down.
/// Neutron's API first loads the topology for its policy check, which builds one when there
/// is none; so a project without one gets that build's errors (no default external
/// network, say), and otherwise a 204. Both happen here in one transaction, so nothing of a
/// topology built only to be deleted is ever seen.
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, project: String) -> Result<(), ApiError> {
    let project = project_of(ctx, &project)?;
    policy::authorize_rule(ctx, "get_auto_allocated_topology", &project)?;
    let (app2, ctx) = (app.clone(), ctx.clone());
    app.store
        .write(move |tx| {
            ensure(tx, &app2, &ctx, &project)?;
            policy::authorize_rule(&ctx, "delete_auto_allocated_topology", &project)?;
            match tx.auto_allocation_get(&project)? {
                Some(topology) => tear_down(tx, &app2, &topology),
                None => Ok(()),
            }
        })
        .await
}

/// The deployment's default external network (`AutoAllocationFailure` without one).
fn default_external_network(tx: &mut dyn Tx) -> Result<String, ApiError> {
    tx.default_external_network_get()?
        .ok_or_else(|| ApiError::auto_allocation_failure("No default router:external network"))
}

/// The default subnet pools the caller sees, IPv4 first (none: `None`).
fn default_pools(tx: &mut dyn Tx, ctx: &RequestContext) -> Result<Option<Vec<SubnetPool>>, ApiError> {
    let mut pools = Vec::new();
    for version in [4, 6] {
        pools.extend(subnet_alloc::default_pool(tx, ctx, version)?);
    }
    Ok((!pools.is_empty()).then_some(pools))
}

/// Neutron's `_check_requirements`: a default external network and a default pool.
fn check_requirements(tx: &mut dyn Tx, ctx: &RequestContext) -> Result<(), ApiError> {
    default_external_network(tx)?;
    match default_pools(tx, ctx)? {
        Some(_) => Ok(()),
        None => Err(ApiError::auto_allocation_failure("No default subnetpools defined")),
    }
}

/// The project's topology network, built now when it has none.
fn ensure(tx: &mut dyn Tx, app: &App, ctx: &RequestContext, project: &str) -> Result<String, ApiError> {
    if let Some(topology) = tx.auto_allocation_get(project)? {
        return Ok(topology.network_id);
    }
    let external = default_external_network(tx)?;
    let now = app.clock.now();
    // Neutron's `_provision_tenant_private_network`: a bad request, something missing or an
    // exhausted pool is the deployment's failure; anything else is the error itself.
    let subnets = private_network(tx, app, ctx, project, &now).map_err(|e| {
        if e.status == 400 || e.status == 404 || e.kind == "SubnetAllocationError" {
            ApiError::auto_allocation_failure("Unable to provide tenant private network")
        } else {
            e
        }
    })?;
    let network_id = subnets.first().map(|s| s.network_id.clone()).ok_or_else(ApiError::internal)?;
    // `_provision_external_connectivity`: a bad request is the deployment's failure.
    let router = uplink(tx, app, ctx, project, &external, &subnets, &now).map_err(|e| {
        if e.status == 400 {
            ApiError::auto_allocation_failure("Unable to provide external connectivity")
        } else {
            e
        }
    })?;
    let topology = AutoAllocation { project_id: project.into(), network_id: network_id.clone(), router_id: router };
    tx.auto_allocation_insert(&topology)?;
    Ok(network_id)
}

/// The project's network and a subnet from each default pool.
fn private_network(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    project: &str,
    now: &str,
) -> Result<Vec<Subnet>, ApiError> {
    let pools = default_pools(tx, ctx)?.ok_or_else(|| ApiError::http_not_found("No default pools available"))?;
    let network = NetworkCreate {
        project_id: project.into(),
        name: "auto_allocated_network".into(),
        description: String::new(),
        admin_state_up: true,
        shared: false,
        router_external: false,
        port_security_enabled: true,
        mtu: None,
        network_type: None,
        physical_network: None,
        segmentation_id: None,
        tags: vec![],
        is_default: false,
        availability_zone_hints: vec![],
        dns_domain: String::new(),
    };
    let network_id = networks::create_one(tx, app, &network, now)?.id;
    let mut out = Vec::with_capacity(pools.len());
    for pool in pools {
        let subnet = SubnetCreate {
            project_id: project.into(),
            name: format!("auto_allocated_subnet_v{}", pool.ip_version),
            description: String::new(),
            tags: vec![],
            network_id: network_id.clone(),
            ip_version: pool.ip_version,
            subnetpool_id: Some(pool.id),
            prefixlen: None,
            use_default_subnetpool: false,
            cidr: None,
            gateway_ip: None,
            allocation_pools: None,
            dns_nameservers: None,
            host_routes: None,
            enable_dhcp: true,
            ipv6_ra_mode: None,
            ipv6_address_mode: None,
            service_types: None,
        };
        let net = lookup::visible::<Network>(tx, ctx, &network_id)?;
        out.push(subnets::insert(tx, app, ctx, net, &subnet, now)?);
    }
    Ok(out)
}

/// The router: gateway on the default external network, an interface on each subnet.
fn uplink(
    tx: &mut dyn Tx,
    app: &App,
    ctx: &RequestContext,
    project: &str,
    external: &str,
    subnets: &[Subnet],
    now: &str,
) -> Result<String, ApiError> {
    let router = RouterCreate {
        project_id: project.into(),
        name: "auto_allocated_router".into(),
        description: String::new(),
        tags: vec![],
        admin_state_up: true,
        external_gateway_info: Some(GatewayRequest {
            network_id: external.into(),
            enable_snat: None,
            external_fixed_ips: None,
        }),
        availability_zone_hints: vec![],
        flavor_id: None,
    };
    let mut r = routers::insert(tx, app, ctx, &router, now)?;
    for s in subnets {
        routers::attach_subnet(tx, app, ctx, &r, s, now)?;
        super::save_update(tx, &mut r, now.into())?;
    }
    Ok(r.id)
}

/// Neutron's `_cleanup`: the router's interfaces on the network's subnets, the router, the
/// network (with its subnets); parts already gone are skipped. Anything else in the way
/// (a floating IP through the router, a port on the network) refuses the whole delete.
fn tear_down(tx: &mut dyn Tx, app: &App, topology: &AutoAllocation) -> Result<(), ApiError> {
    tx.auto_allocation_delete(&topology.project_id)?;
    let network: Option<Network> = load(tx, neutrino_model::Resource::Network, &topology.network_id)?;
    if let Some(mut r) = load::<Router>(tx, neutrino_model::Resource::Router, &topology.router_id)? {
        for subnet_id in network.iter().flat_map(|n| n.subnets.iter()) {
            routers::detach_subnet(tx, &mut r, subnet_id, app.clock.now())?;
        }
        routers::delete_in_tx(tx, &r)?;
    }
    match network {
        Some(n) => networks::delete_in_tx(tx, &n),
        None => Ok(()),
    }
}
