//! `GET /v2.0/diagnose/ports/{id}` (`neutrino diagnose`): walks a port's path in the order
//! its packets take it and names the first hop that is wrong, with the evidence.
//!
//! The walk is planned in one read of the store ([`plan`], [`flow`]): the hops the server
//! judges itself (the binding, each agent's liveness, the security groups for the flow
//! ([`judge`]), the route to the other end) and one question per host on the path whose
//! agent is alive, holding every ask for that host. The questions go to all hosts at once
//! ([`super::questions`]); the walk waits for their answers up to
//! `diagnose_answer_timeout_ms`, then deletes them and turns the answers into hops
//! ([`verdict`]): a host that did not answer leaves its hops `unknown`. At most
//! `diagnose_max_concurrent` diagnoses wait at once per server.

mod flow;
mod judge;
mod plan;
mod verdict;

use super::lookup;
use super::policy;
use super::questions;
use super::{load_required, App, RequestContext};
use flow::Target;
use judge::{Direction, Flow};
use neutrino_agent_api::diagnose::{FloatingIpAsk, HostAnswer, HostQuestion};
use neutrino_model::diagnose::{Diagnosis, FlowProtocol};
use neutrino_model::types::{Network, Port};
use neutrino_model::{ApiError, Resource};
use neutrino_store::Tx;
use plan::{Plan, Planner};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

/// What the request asks about the path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The other end: a port id or an IP address.
    pub to: Option<String>,
    pub protocol: Option<FlowProtocol>,
    pub port: Option<u16>,
}

impl Query {
    /// From the query string's pairs: `to`, `protocol` (`icmp`, `tcp`, `udp`), `port`.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let mut q = Query::default();
        for (k, v) in pairs {
            match k.as_str() {
                "to" if !v.is_empty() => q.to = Some(v),
                "protocol" => {
                    q.protocol = Some(match v.as_str() {
                        "icmp" => FlowProtocol::Icmp,
                        "tcp" => FlowProtocol::Tcp,
                        "udp" => FlowProtocol::Udp,
                        _ => return Err(ApiError::invalid_input(format!("protocol {v:?} is not icmp, tcp or udp"))),
                    })
                }
                "port" => {
                    let port = v.parse::<u16>().ok().filter(|p| *p > 0);
                    q.port =
                        Some(port.ok_or_else(|| ApiError::invalid_input(format!("port {v:?} is not 1 to 65535")))?);
                }
                _ => return Err(ApiError::invalid_input(format!("unknown query parameter {k:?}"))),
            }
        }
        if q.to.is_none() && (q.protocol.is_some() || q.port.is_some()) {
            return Err(ApiError::invalid_input("protocol and port need 'to'"));
        }
        if q.port.is_some() && q.protocol.is_none_or(|p| p == FlowProtocol::Icmp) {
            return Err(ApiError::invalid_input("port needs protocol tcp or udp"));
        }
        if q.to.is_some() && q.protocol.is_none() {
            q.protocol = Some(FlowProtocol::Icmp);
        }
        Ok(q)
    }
}

/// Diagnoses `port_id`'s path (admin only: 404 for a port the caller cannot see, 403 for
/// one it can).
pub async fn diagnose(
    app: &Arc<App>,
    ctx: &RequestContext,
    port_id: String,
    query: Query,
) -> Result<Diagnosis, ApiError> {
    let (ctx, app2, q, id) = (ctx.clone(), app.clone(), query.clone(), port_id.clone());
    let plan = app
        .store
        .read(move |tx| -> Result<Plan, ApiError> {
            let port = lookup::visible::<Port>(tx, &ctx, &id)?;
            policy::authorize_rule(&ctx, "diagnose_port", &port.project_id)?;
            walk(tx, &app2, port, &q)
        })
        .await?;
    let _permit = app.diagnoses.try_acquire().map_err(|_| ApiError::diagnoses_busy())?;
    let timeout = app.config.diagnose_answer_timeout_ms;
    let questions: Vec<(String, HostQuestion)> = plan
        .asks
        .into_iter()
        .map(|(host, asks)| (host, HostQuestion { id: uuid::Uuid::new_v4().to_string(), asks }))
        .collect();
    let ids: Vec<String> = questions.iter().map(|(_, q)| q.id.clone()).collect();
    let mut by_host: BTreeMap<String, HostAnswer> = BTreeMap::new();
    if !questions.is_empty() {
        let hosts: BTreeMap<String, String> = questions.iter().map(|(h, q)| (q.id.clone(), h.clone())).collect();
        questions::ask(app, questions).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(timeout);
        let answers = questions::wait_answers(app, &ids, deadline).await;
        if let Err(e) = questions::forget(app, ids).await {
            tracing::warn!(error = %e.message, "cannot delete a diagnosis's questions (they expire)");
        }
        for (id, answer) in answers? {
            if hosts.get(&id) == Some(&answer.host) {
                by_host.insert(answer.host.clone(), answer);
            }
        }
    }
    let hops = verdict::hops(plan.steps, &by_host, timeout);
    let head = Diagnosis {
        port_id,
        to: query.to,
        protocol: query.protocol,
        port: query.port,
        healthy: false,
        first_wrong_hop: None,
        summary: String::new(),
        hops: vec![],
    };
    Ok(verdict::conclude(head, hops))
}

/// The plan of `port`'s path, in packet order: the port's own hops, the security groups
/// and the route to the other end with that end's hops, then DHCP and the port's routers.
fn walk(tx: &mut dyn Tx, app: &App, port: Port, q: &Query) -> Result<Plan, ApiError> {
    let network: Network = load_required(tx, Resource::Network, &port.network_id)?;
    let mut p = Planner::new(tx, app);
    let target = match &q.to {
        Some(to) => Some(flow::resolve(p.tx, to)?),
        None => None,
    };
    let peer: Option<Port> = match &target {
        Some(Target::Port(d)) => Some((**d).clone()),
        Some(Target::Floating(f)) => match &f.port_id {
            Some(id) => crate::app::load::<Port>(p.tx, Resource::Port, id)?,
            None => None,
        },
        _ => None,
    };
    let same_net = peer.as_ref().filter(|d| d.network_id == port.network_id);
    let bound = p.port_side(&port)?;
    if let Some(b) = &bound {
        p.device(&port, b);
    }
    let flow = Flow { protocol: q.protocol.unwrap_or(FlowProtocol::Icmp), port: q.port };
    let destination = match &target {
        Some(Target::Port(d)) => flow::address_of(d, flow::address_of(&port, None)),
        Some(Target::Floating(f)) => f.floating_ip_address.parse().ok(),
        Some(Target::External(a)) => Some(*a),
        None => None,
    };
    if let Some(dst) = destination {
        p.security_group(&port, Direction::Egress, flow, dst)?;
    }
    if let Some(b) = &bound {
        p.network(&port.network_id, b, &same_net.into_iter().collect::<Vec<_>>())?;
    }
    let mut routers: BTreeSet<(String, Option<String>)> = BTreeSet::new();
    if let Some(target) = &target {
        if let Some((router, fip)) = p.route(&port, target)? {
            routed(&mut p, &mut routers, &router, fip)?;
        }
        if let Some(dst) = &peer {
            // Arriving: the network on the target's host, its filter, then its device.
            let dst_bound = p.port_side(dst)?;
            if let Some(b) = &dst_bound {
                let first: Vec<&Port> = if dst.network_id == port.network_id { vec![&port] } else { vec![] };
                p.network(&dst.network_id, b, &first)?;
            }
            let seen = match destination {
                Some(like) => p.seen_source(&port, target, like)?,
                None => None,
            };
            if let Some(src) = seen {
                p.security_group(dst, Direction::Ingress, flow, src)?;
            }
            if let Some(b) = &dst_bound {
                p.device(dst, b);
            }
        }
    }
    p.dhcp(&port, &network)?;
    let subnets: Vec<String> = port.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect();
    let mut fips: Vec<(String, FloatingIpAsk)> = Vec::new();
    for f in flow::floating_ips_of(p.tx, &port.id)? {
        let fixed = f.fixed_ip_address.as_deref().and_then(|a| a.parse().ok());
        if let (Some(router), Some(fixed_ip_address), Ok(floating_ip_address)) =
            (f.router_id, fixed, f.floating_ip_address.parse())
        {
            fips.push((router, FloatingIpAsk { floating_ip_address, fixed_ip_address }));
        }
    }
    // A subnet's router that also translates one of the port's floating IPs is walked once,
    // with that floating IP.
    for (router, _) in p.routers_on(&port.network_id, &subnets)? {
        let fip = fips.iter().find(|(r, _)| *r == router).map(|(_, f)| f.clone());
        routed(&mut p, &mut routers, &router, fip)?;
    }
    for (router, fip) in fips {
        routed(&mut p, &mut routers, &router, Some(fip))?;
    }
    Ok(p.plan)
}

/// A router's hops, once per router and floating IP.
fn routed(
    p: &mut Planner,
    done: &mut BTreeSet<(String, Option<String>)>,
    router: &str,
    fip: Option<FloatingIpAsk>,
) -> Result<(), ApiError> {
    // A router already walked for a floating IP needs no second, plainer, walk.
    if fip.is_none() && done.iter().any(|(r, _)| r == router) {
        return Ok(());
    }
    if done.insert((router.to_string(), fip.as_ref().map(|f| f.floating_ip_address.to_string()))) {
        p.router(router, fip)?;
    }
    Ok(())
}
