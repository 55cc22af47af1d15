//! Preflight checks of a compute host: `neutrino agent --check`, and the same checks at
//! every agent start, which refuses to join on a fatal one.
//!
//! The checks are the causes of "I added a compute node and it does not work" that public
//! bug reports and neutron-sanity-check name: the agent's host name differs from Nova's,
//! `local_ip` is on no interface, the underlay MTU leaves no room for VXLAN's header, a
//! physnet interface is missing, br_netfilter is off (security groups then silently filter
//! nothing bridged), a tool is missing, dnsmasq cannot read its files, the server refuses
//! the credentials, the clock is off, UDP 4789 is blocked between hosts. Each prints
//! OK/WARN/FAIL with the fix in one line.
//!
//! A FAIL is *fatal* (the agent refuses to start) when it is about this host and the agent
//! cannot work around it. Two kinds of FAIL are not fatal: an unreachable server (the agent
//! retries, as it always did, so a host rebooting before the controller still comes up) and
//! an unreachable peer (the fault may be the peer's, and refusing would take this host's
//! working ports down for another host's firewall). `downgrade_checks` turns named fatal
//! checks into warnings: the checks read the host by rules (the tenant MTU assumed, the
//! hostname Nova uses) that a deployment may know to be wrong, and an operator must be able
//! to start anyway without a new build.
//!
//! Everything read goes through [`System`] (files, interfaces, commands, the clock),
//! [`ServerView`] (the authenticated API) and [`Prober`] (UDP), each with a fake in tests.

pub mod fake;
pub mod local;
pub mod probe;
pub mod remote;
pub mod start;
pub mod system;

pub use remote::{Prober, ServerView};
pub use system::{RealSystem, System};

use crate::runner::AgentSettings;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so `{:<4}` aligns the report's columns.
        f.pad(match self {
            Status::Ok => "OK",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        })
    }
}

/// One result: what was checked, the verdict, and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's name (`local_ip`, `underlay_mtu`, ...; the key of `downgrade_checks`).
    pub check: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Whether this FAIL keeps the agent from joining.
    pub fatal: bool,
}

impl Finding {
    pub fn ok(check: &str, detail: impl Into<String>) -> Self {
        Finding { check: check.into(), status: Status::Ok, detail: detail.into(), fix: None, fatal: false }
    }

    pub fn warn(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding {
            check: check.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
            fatal: false,
        }
    }

    /// A fatal FAIL.
    pub fn fail(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding { check: check.into(), status: Status::Fail, detail: detail.into(), fix: Some(fix.into()), fatal: true }
    }

    /// A FAIL the agent still starts with.
    pub fn fail_not_fatal(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding { fatal: false, ..Finding::fail(check, detail, fix) }
    }

    /// What the server is told of a WARN or FAIL (nothing of an OK), with every heartbeat.
    pub fn condition(&self) -> Option<neutrino_agent_api::AgentCondition> {
        let fix = self.fix.as_deref().map(|f| format!(" (fix: {f})")).unwrap_or_default();
        (self.status != Status::Ok).then(|| neutrino_agent_api::AgentCondition {
            subsystem: "check".into(),
            object: neutrino_agent_api::ConditionObject { kind: "check".into(), id: Some(self.check.clone()) },
            reason: format!("{}: {}{fix}", self.status, self.detail),
        })
    }

    /// `STATUS check: detail (fix: ...)`, one line.
    pub fn line(&self) -> String {
        let fix = self.fix.as_deref().map(|f| format!(" — fix: {f}")).unwrap_or_default();
        format!("{:<4} {:<15} {}{fix}", self.status, self.check, self.detail)
    }
}

/// The checks' own settings (`[agent]` keys `tenant_mtu`, `probe_port`, `clock_tolerance`,
/// `downgrade_checks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSettings {
    /// The largest tenant MTU the underlay must carry, when the server has no networks yet.
    pub tenant_mtu: Option<u32>,
    /// The UDP port every agent answers probes on (0: no responder, no peer probes).
    pub probe_port: u16,
    /// Largest clock difference to the server that is OK.
    pub clock_tolerance: Duration,
    /// Checks whose FAIL is only a warning at start.
    pub downgrade: BTreeSet<String>,
}

/// Every check's name (what `downgrade_checks` may name).
pub const CHECK_NAMES: [&str; 15] = [
    "hostname",
    "interfaces",
    "local_ip",
    "physnet",
    "br_netfilter",
    "nft",
    "dnsmasq",
    "conntrack",
    "radvd",
    "dhcp_state_dir",
    "server",
    "clock",
    "underlay_mtu",
    "vxlan_peer",
    "vxlan_peers",
];

/// The default probe port: next to VXLAN's 4789, as easy to open in the same rule.
pub const DEFAULT_PROBE_PORT: u16 = 4790;

impl Default for CheckSettings {
    fn default() -> Self {
        CheckSettings {
            tenant_mtu: None,
            probe_port: DEFAULT_PROBE_PORT,
            clock_tolerance: Duration::from_secs(60),
            downgrade: BTreeSet::new(),
        }
    }
}

/// What the checks compare the host with, from the agent's settings.
#[derive(Debug, Clone)]
pub struct CheckInput {
    pub settings: AgentSettings,
    pub checks: CheckSettings,
}

impl CheckInput {
    pub(crate) fn bridge_sysctl_dir(&self) -> Option<PathBuf> {
        self.settings.firewall.as_ref().map(|f| f.bridge_sysctl_dir.clone())
    }
}

/// Runs every check: the local ones, then those asking the server and the peers. With
/// `repair`, settings the agent would set itself anyway (the bridge sysctls) are set first.
pub async fn run_all(
    input: &CheckInput,
    sys: &dyn System,
    server: &dyn ServerView,
    prober: &dyn Prober,
    repair: bool,
) -> Vec<Finding> {
    let mut out = local::run(input, sys, repair);
    out.extend(remote::run(input, sys, server, prober).await);
    downgrade(&mut out, &input.checks.downgrade);
    out
}

/// FAILs of downgraded checks become warnings that say so.
fn downgrade(findings: &mut [Finding], names: &BTreeSet<String>) {
    for f in findings.iter_mut().filter(|f| f.status == Status::Fail && names.contains(&f.check)) {
        f.status = Status::Warn;
        f.fatal = false;
        f.detail.push_str(" (downgraded by downgrade_checks)");
    }
}

/// The findings that keep the agent from joining.
pub fn fatal(findings: &[Finding]) -> Vec<&Finding> {
    findings.iter().filter(|f| f.status == Status::Fail && f.fatal).collect()
}

/// The text report: one line a finding, then a summary.
pub fn render_text(findings: &[Finding]) -> String {
    let mut out: String = findings.iter().map(|f| f.line() + "\n").collect();
    let count = |s| findings.iter().filter(|f| f.status == s).count();
    out.push_str(&format!(
        "{} OK, {} WARN, {} FAIL ({} fatal)\n",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail),
        fatal(findings).len()
    ));
    out
}

#[cfg(test)]
mod tests;
