//! [`L3Reconciler`]: make the host run exactly the given routers.
//!
//! Per router, in order (a failed step skips the rest of that router only, reported and
//! retried on the next run): the namespace; forwarding (off for a disabled router); each
//! port's veth pair (recreated when an end is missing or is not a veth), MAC, MTU, up (down
//! for a disabled router), the host's IPv6 off on the tap, its addresses (new before stale);
//! devices of ports the router no longer has; radvd (its configuration written and radvd
//! sent SIGHUP when it changed or a port was recreated, (re)started when it does not run
//! with its command line in the namespace); routes (new before stale); the NAT table
//! (applied only when the read-back differs); the connection-tracking entries of floating IPs
//! and port forwardings that left it. Then the radvd of routers that should run none stop
//! (their files go), and the namespaces of routers no longer in the state go.

use std::collections::BTreeSet;

use neutrino_agent_api::RouterState;

use crate::dhcp::chain;
use crate::netns::converge_port;
use crate::report::{Object, Report, SubsystemKind};

use super::linux::LinuxL3;
use super::nat::NatSummary;
use super::plan::{plan_router, RouterPlan};
use super::radvd::RaConfig;
use super::system::{ConntrackFlush, L3Error, L3System};
use super::{L3Config, NAMESPACE_PREFIX};

/// The L3 reconciler of a host.
#[derive(Debug)]
pub struct L3Reconciler<S: L3System = LinuxL3> {
    sys: S,
    ra: RaConfig,
    /// Where the metadata proxy listens in each router's namespace, when it runs.
    metadata_port: Option<u16>,
}

impl L3Reconciler<LinuxL3> {
    /// The reconciler of the real host: namespaces in `cfg.netns_dir` of the calling
    /// thread's mount namespace, taps in its network namespace.
    pub fn new(cfg: L3Config) -> Self {
        L3Reconciler { sys: LinuxL3::new(&cfg), ra: cfg.ra, metadata_port: cfg.metadata_port }
    }
}

impl<S: L3System> L3Reconciler<S> {
    /// A reconciler over another [`L3System`] (the fake, in tests).
    pub fn with_system(sys: S) -> Self {
        L3Reconciler { sys, ra: RaConfig::default(), metadata_port: None }
    }

    /// A reconciler over another [`L3System`] with this radvd configuration.
    pub fn with_ra(sys: S, ra: RaConfig) -> Self {
        L3Reconciler { sys, ra, metadata_port: None }
    }

    /// Redirects metadata requests to a proxy on `port` in each router's namespace.
    pub fn with_metadata_port(mut self, port: Option<u16>) -> Self {
        self.metadata_port = port;
        self
    }

    pub fn system(&self) -> &S {
        &self.sys
    }

    /// The system, for a reconciler with another configuration over it (tests).
    pub fn into_system(self) -> S {
        self.sys
    }

    /// Converges the host to run exactly `routers` (the disabled ones plugged but inert); see
    /// the module documentation.
    pub async fn reconcile(&mut self, routers: &[RouterState]) -> Report {
        let mut report = Report::new(SubsystemKind::L3);
        let mut wanted = BTreeSet::new();
        // Routers whose radvd stays: those that should run one, and those we cannot read.
        let mut keep_radvd = BTreeSet::new();
        for router in routers {
            match plan_router(router, self.metadata_port) {
                Ok(plan) => {
                    wanted.insert(plan.namespace.clone());
                    let ra = self.radvd_config(router);
                    if ra.is_some() {
                        keep_radvd.insert(router.id.clone());
                    }
                    for why in &plan.skipped {
                        report.issue_logged(
                            Object::Router(router.id.clone()),
                            format!("router {}: skipped {why}", router.id),
                        );
                    }
                    if let Err(e) = self.converge(&plan, ra.as_deref(), &mut report).await {
                        report.issue_logged(
                            Object::Router(router.id.clone()),
                            format!("router {}: {}", router.id, chain(&e)),
                        );
                    }
                }
                Err(e) => {
                    // Keep whatever runs: a router we cannot read is not a router to delete.
                    wanted.insert(super::namespace_name(&router.id));
                    keep_radvd.insert(router.id.clone());
                    report.issue_logged(
                        Object::Router(router.id.clone()),
                        format!("router {}: {}", router.id, chain(&e)),
                    );
                }
            }
        }
        // radvd before the namespaces: one left running would keep its namespace alive.
        self.sweep_radvd(&keep_radvd, &mut report).await;
        self.remove_unwanted(&wanted, &mut report).await;
        report
    }

    async fn converge(&self, plan: &RouterPlan, ra: Option<&str>, report: &mut Report) -> Result<(), L3Error> {
        let ns = &plan.namespace;
        if self.sys.ensure_namespace(ns).await? {
            report.change_logged(format!("create namespace {ns}"));
        }
        if !self.sys.forwarding_is(ns, plan.forwarding).await? {
            self.sys.set_forwarding(ns, plan.forwarding).await?;
            let verb = if plan.forwarding { "enable" } else { "disable" };
            report.change_logged(format!("{verb} forwarding in {ns}"));
        }
        let mut replugged = false;
        for port in &plan.ports {
            let log = &mut |line| report.change_logged(line);
            replugged |= converge_port(&self.sys, ns, &port.veth, &port.addrs, log).await?;
        }
        let devs: BTreeSet<&str> = plan.ports.iter().map(|p| p.veth.dev.as_str()).collect();
        for dev in self.sys.links(ns).await? {
            let ours = dev.starts_with("qr-") || dev.starts_with("qg-");
            if ours && !devs.contains(dev.as_str()) {
                self.sys.delete_dev(ns, &dev).await?;
                report.change_logged(format!("delete {dev} in {ns}: no longer a port of the router"));
            }
        }
        if let Some(config) = ra {
            self.converge_radvd(plan, config, replugged, report).await?;
        }
        self.converge_routes(plan, report).await;
        self.converge_nat(plan, report).await
    }

    /// Routes one by one: a next hop that is not reachable (yet) fails that route only.
    async fn converge_routes(&self, plan: &RouterPlan, report: &mut Report) {
        let ns = &plan.namespace;
        let have: BTreeSet<_> = match self.sys.routes(ns).await {
            Ok(routes) => routes.into_iter().collect(),
            Err(e) => {
                return report.issue_logged(
                    Object::Router(plan.router_id.clone()),
                    format!("router {}: {}", plan.router_id, chain(&e)),
                )
            }
        };
        for route in plan.routes.difference(&have) {
            match self.sys.add_route(ns, route).await {
                Ok(()) => report.change_logged(format!("add route {route} in {ns}")),
                Err(e) => report.issue_logged(
                    Object::Router(plan.router_id.clone()),
                    format!("router {}: {}", plan.router_id, chain(&e)),
                ),
            }
        }
        for route in have.difference(&plan.routes) {
            match self.sys.del_route(ns, route).await {
                Ok(()) => report.change_logged(format!("delete route {route} in {ns}")),
                Err(e) => report.issue_logged(
                    Object::Router(plan.router_id.clone()),
                    format!("router {}: {}", plan.router_id, chain(&e)),
                ),
            }
        }
    }

    /// The NAT table, then conntrack of the translations that left it (after the table,
    /// so a deleted entry cannot be recreated by the old rule).
    async fn converge_nat(&self, plan: &RouterPlan, report: &mut Report) -> Result<(), L3Error> {
        let ns = &plan.namespace;
        let current = self.sys.nat(ns).await?;
        let wanted = plan.nat.summary();
        if current.as_ref() == Some(&wanted) {
            return Ok(());
        }
        self.sys.apply_nat(ns, &plan.nat).await?;
        report.change_logged(format!("apply nat table of {ns} ({} rules)", wanted.rules.len()));
        for what in gone(current.as_ref(), &wanted) {
            match self.sys.flush_conntrack(ns, &what).await {
                Ok(()) => report.change_logged(format!("delete conntrack entries of {what} in {ns}")),
                Err(e) => report.issue_logged(
                    Object::Router(plan.router_id.clone()),
                    format!("router {}: {}", plan.router_id, chain(&e)),
                ),
            }
        }
        Ok(())
    }

    /// Deletes the `qrouter-` namespaces not in `wanted`.
    async fn remove_unwanted(&self, wanted: &BTreeSet<String>, report: &mut Report) {
        let names = match self.sys.namespaces().await {
            Ok(names) => names,
            Err(e) => return report.issue_logged(Object::Host, format!("l3: {}", chain(&e))),
        };
        for ns in names.iter().filter(|n| n.starts_with(NAMESPACE_PREFIX) && !wanted.contains(*n)) {
            match self.sys.delete_namespace(ns).await {
                Ok(()) => report.change_logged(format!("delete namespace {ns}")),
                Err(e) => {
                    let router = Object::Router(ns.strip_prefix(NAMESPACE_PREFIX).unwrap_or(ns).to_owned());
                    report.issue_logged(router, format!("l3 teardown of {ns}: {}", chain(&e)))
                }
            }
        }
    }
}

/// Floating IPs and port forwardings the old table translated and the new one does not.
fn gone(old: Option<&NatSummary>, new: &NatSummary) -> Vec<ConntrackFlush> {
    let Some(old) = old else { return Vec::new() };
    let (new_fips, new_pfs) = (new.fips(), new.pfs());
    let mut out: Vec<ConntrackFlush> =
        old.fips().difference(&new_fips).map(|f| ConntrackFlush::FloatingIp(f.floating)).collect();
    out.extend(old.pfs().difference(&new_pfs).map(|p| ConntrackFlush::PortForwarding {
        floating: p.floating,
        protocol: p.protocol,
        external_port: p.external_port,
    }));
    out.sort();
    out.dedup();
    out
}

mod ra;
#[cfg(test)]
mod tests;
