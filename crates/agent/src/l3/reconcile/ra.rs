//! The radvd steps of [`L3Reconciler`]: converge one router's radvd, and stop those of
//! routers that should run none.

use std::collections::BTreeSet;

use neutrino_agent_api::RouterState;

use crate::dhcp::{chain, valid_id};
use crate::report::{Object, Report};

use super::super::namespace_name;
use super::super::plan::RouterPlan;
use super::super::radvd::{self, RadvdPaths};
use super::super::system::{L3Error, L3System};
use super::L3Reconciler;

impl<S: L3System> L3Reconciler<S> {
    /// The radvd configuration `router` needs; `None` when it should run no radvd (disabled,
    /// or no IPv6 interface).
    pub(super) fn radvd_config(&self, router: &RouterState) -> Option<String> {
        if !router.admin_state_up || !valid_id(&router.id) {
            return None;
        }
        radvd::render(&self.ra, &router.interfaces)
    }

    /// Writes the configuration when it differs, then: start radvd when none runs, restart
    /// it when it runs with another command line or outside the namespace, SIGHUP it when
    /// the configuration changed or a port was recreated under it, else leave it alone.
    pub(super) async fn converge_radvd(
        &self,
        plan: &RouterPlan,
        config: &str,
        replugged: bool,
        report: &mut Report,
    ) -> Result<(), L3Error> {
        let ns = &plan.namespace;
        let paths = RadvdPaths::new(&self.ra.state_dir, &plan.router_id);
        let changed = self.sys.read_config(&paths.conf).await?.as_deref() != Some(config);
        if changed {
            self.sys.write_config(&paths.conf, config).await?;
            report.change_logged(format!("write {}", paths.conf.display()));
        }
        let argv = radvd::argv(&self.ra, &paths);
        let why_restart = match self.sys.radvd(&paths.pid, ns).await? {
            None => None,
            Some(d) if d.argv != argv => Some((d.pid, "its command line changed")),
            Some(d) if !d.in_namespace => Some((d.pid, "it runs outside of its namespace")),
            Some(d) => {
                if changed || replugged {
                    self.sys.reload_radvd(d.pid).await?;
                    let why = if changed { "its configuration changed" } else { "a port was recreated" };
                    report.change_logged(format!("reload radvd in {ns} (SIGHUP pid {}): {why}", d.pid));
                }
                return Ok(());
            }
        };
        if let Some((pid, why)) = why_restart {
            self.sys.stop_radvd(pid).await?;
            report.change_logged(format!("stop radvd in {ns} (pid {pid}): {why}"));
        }
        let pid = self.sys.start_radvd(ns, &argv, &paths.pid).await?;
        let pid = pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
        report.change_logged(format!("start radvd in {ns} (pid {pid})"));
        Ok(())
    }

    /// Stops the radvd of every router with files in the state directory but not in `keep`,
    /// and removes those files.
    pub(super) async fn sweep_radvd(&self, keep: &BTreeSet<String>, report: &mut Report) {
        let ids = match self.sys.state_dirs(&self.ra.state_dir).await {
            Ok(ids) => ids,
            Err(e) => return report.issue_logged(Object::Host, format!("l3 radvd: {}", chain(&e))),
        };
        for id in ids.iter().filter(|id| !keep.contains(*id)) {
            if let Err(e) = self.stop_router_radvd(id, report).await {
                report.issue_logged(Object::Router(id.clone()), format!("router {id}: {}", chain(&e)));
            }
        }
    }

    async fn stop_router_radvd(&self, router_id: &str, report: &mut Report) -> Result<(), L3Error> {
        let paths = RadvdPaths::new(&self.ra.state_dir, router_id);
        if let Some(d) = self.sys.radvd(&paths.pid, &namespace_name(router_id)).await? {
            self.sys.stop_radvd(d.pid).await?;
            report.change_logged(format!("stop radvd of router {router_id} (pid {})", d.pid));
        }
        self.sys.remove_dir(&paths.dir).await?;
        report.change_logged(format!("remove {}", paths.dir.display()));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
