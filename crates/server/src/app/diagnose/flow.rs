//! The other end of a `to` diagnosis and the way there: a port (by id, or an address a port
//! holds), a floating IP (through its router), or an outside address (through the router
//! gateway of the source's subnet); then the security groups judged for the flow on both
//! ends.

use super::judge::{self, Direction, Flow, Rules};
use super::plan::Planner;
use super::verdict::known;
use crate::app::firewall::host_security;
use crate::app::host_deps::Deps;
use crate::app::load;
use ipnet::IpNet;
use neutrino_agent_api::diagnose::FloatingIpAsk;
use neutrino_model::types::{FloatingIp, Port, Router, SecurityGroup, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{IndexFilter, Tx};
use std::net::IpAddr;

/// The other end.
pub enum Target {
    Port(Box<Port>),
    Floating(Box<FloatingIp>),
    External(IpAddr),
}

/// What `to` names: a port id, or an address (a port's, a floating IP's, or outside).
pub fn resolve(tx: &mut dyn Tx, to: &str) -> Result<Target, ApiError> {
    let Ok(addr) = to.parse::<IpAddr>() else {
        return match load::<Port>(tx, Resource::Port, to)? {
            Some(p) => Ok(Target::Port(Box::new(p))),
            None => Err(ApiError::invalid_input(format!("'to' {to:?} is neither a port nor an IP address"))),
        };
    };
    for d in tx.doc_list(Resource::Subnet, &IndexFilter::default())? {
        let s: Subnet = crate::app::decode(Resource::Subnet, "", &d)?;
        if !s.cidr.parse::<IpNet>().is_ok_and(|n| n.contains(&addr)) {
            continue;
        }
        let held = tx.ip_allocation_list_by_subnet(&s.id)?.into_iter().find(|a| a.ip_address.parse() == Ok(addr));
        if let Some(port) = held.and_then(|a| Some(a.port_id).filter(|id| !id.is_empty())) {
            if let Some(p) = load::<Port>(tx, Resource::Port, &port)? {
                if p.device_owner != "network:floatingip" {
                    return Ok(Target::Port(Box::new(p)));
                }
            }
        }
    }
    for d in tx.doc_list(Resource::FloatingIp, &IndexFilter::default())? {
        let f: FloatingIp = crate::app::decode(Resource::FloatingIp, "", &d)?;
        if f.floating_ip_address.parse() == Ok(addr) {
            return Ok(Target::Floating(Box::new(f)));
        }
    }
    Ok(Target::External(addr))
}

/// The floating IPs of a port.
pub fn floating_ips_of(tx: &mut dyn Tx, port_id: &str) -> Result<Vec<FloatingIp>, ApiError> {
    let mut out = Vec::new();
    for d in tx.doc_list(Resource::FloatingIp, &IndexFilter::default())? {
        let f: FloatingIp = crate::app::decode(Resource::FloatingIp, "", &d)?;
        if f.port_id.as_deref() == Some(port_id) {
            out.push(f);
        }
    }
    Ok(out)
}

/// A port's address of `peer`'s family (its first), if any.
pub fn address_of(port: &Port, like: Option<IpAddr>) -> Option<IpAddr> {
    let addrs = port.fixed_ips.iter().filter_map(|f| f.ip_address.parse::<IpAddr>().ok());
    let mut addrs: Vec<IpAddr> = addrs.collect();
    if let Some(like) = like {
        addrs.retain(|a| a.is_ipv4() == like.is_ipv4());
    }
    addrs.first().copied()
}

fn subnets_of(port: &Port) -> Vec<String> {
    port.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect()
}

impl Planner<'_> {
    /// The `route` hop towards `target` from `src`, and the router it goes through (with a
    /// floating IP to translate).
    pub fn route(&mut self, src: &Port, target: &Target) -> Result<Option<(String, Option<FloatingIpAsk>)>, ApiError> {
        let object = format!("port {}", src.id);
        match target {
            Target::Port(dst) if dst.network_id == src.network_id => Ok(None),
            Target::Port(dst) => {
                let mine = self.routers_on(&src.network_id, &subnets_of(src))?;
                let theirs = self.routers_on(&dst.network_id, &subnets_of(dst))?;
                let shared = mine.iter().find_map(|(r, s)| theirs.iter().find(|(t, _)| t == r).map(|(_, d)| (r, s, d)));
                match shared {
                    Some((router, from, to)) => {
                        let evidence = format!("router {router} has interfaces on subnets {from} and {to}");
                        self.known(known("route", None, object, true, evidence));
                        Ok(Some((router.clone(), None)))
                    }
                    None => {
                        let evidence = format!(
                            "no router has interfaces on both a subnet of port {} and one of port {}",
                            src.id, dst.id
                        );
                        self.known(known("route", None, object, false, evidence));
                        Ok(None)
                    }
                }
            }
            Target::Floating(fip) => {
                let fixed = fip.fixed_ip_address.as_deref().and_then(|a| a.parse().ok());
                match (&fip.router_id, fixed, fip.floating_ip_address.parse()) {
                    (Some(router), Some(fixed_ip_address), Ok(floating_ip_address)) => {
                        let evidence = format!(
                            "floating IP {floating_ip_address} translates to {fixed_ip_address} on router {router}"
                        );
                        self.known(known("route", None, object, true, evidence));
                        Ok(Some((router.clone(), Some(FloatingIpAsk { floating_ip_address, fixed_ip_address }))))
                    }
                    _ => {
                        let evidence = format!("floating IP {} is not associated with a port", fip.floating_ip_address);
                        self.known(known("route", None, object, false, evidence));
                        Ok(None)
                    }
                }
            }
            Target::External(addr) => {
                for (router, subnet) in self.routers_on(&src.network_id, &subnets_of(src))? {
                    let r = load::<Router>(self.tx, Resource::Router, &router)?;
                    if let Some(gw) = r.and_then(|r| r.external_gateway_info) {
                        let evidence = format!(
                            "{addr} is outside: via router {router} (interface on subnet {subnet}, gateway on network {})",
                            gw.network_id
                        );
                        self.known(known("route", None, object, true, evidence));
                        return Ok(Some((router, None)));
                    }
                }
                let evidence =
                    format!("{addr} is outside and no router with a gateway serves port {}'s subnets", src.id);
                self.known(known("route", None, object, false, evidence));
                Ok(None)
            }
        }
    }

    /// The `security_group` hop of `port` for `flow` with `peer` at the other end.
    pub fn security_group(
        &mut self,
        port: &Port,
        direction: Direction,
        flow: Flow,
        peer: IpAddr,
    ) -> Result<(), ApiError> {
        let host = port.binding_host_id.as_str();
        let security = host_security(self.tx, host, std::slice::from_ref(port), &mut Deps::default())?;
        let Some(ps) = security.ports.first() else { return Ok(()) };
        let mut rules = Rules {
            groups: security.groups,
            members: security.members,
            address_groups: security.address_groups,
            ..Rules::default()
        };
        for gid in &ps.security_group_ids {
            if let Some(g) = load::<SecurityGroup>(self.tx, Resource::SecurityGroup, gid)? {
                rules.names.insert(g.id, g.name);
            }
        }
        let verdict = judge::judge(ps, &rules, direction, flow, peer);
        let evidence = judge::evidence(&verdict, ps, &rules, direction, flow, peer);
        let way = match direction {
            Direction::Egress => "egress",
            Direction::Ingress => "ingress",
        };
        let on = Some(host).filter(|h| !h.is_empty());
        self.known(known("security_group", on, format!("port {} {way}", port.id), verdict.admits(), evidence));
        Ok(())
    }
}

impl Planner<'_> {
    /// `src`'s address as a packet to `target` arrives: its own on a route inside the cloud;
    /// through a floating IP, its own floating IP, else its router's gateway address (SNAT).
    pub fn seen_source(&mut self, src: &Port, target: &Target, like: IpAddr) -> Result<Option<IpAddr>, ApiError> {
        let own = address_of(src, Some(like));
        if !matches!(target, Target::Floating(_)) {
            return Ok(own);
        }
        if let Some(f) = floating_ips_of(self.tx, &src.id)?.first() {
            return Ok(f.floating_ip_address.parse().ok());
        }
        for (router, _) in self.routers_on(&src.network_id, &subnets_of(src))? {
            let gw = load::<Router>(self.tx, Resource::Router, &router)?.and_then(|r| r.external_gateway_info);
            let ip =
                gw.and_then(|g| g.external_fixed_ips.into_iter().find_map(|f| f.ip_address.parse::<IpAddr>().ok()));
            if let Some(ip) = ip.filter(|ip| ip.is_ipv4() == like.is_ipv4()) {
                return Ok(Some(ip));
            }
        }
        Ok(own)
    }
}
