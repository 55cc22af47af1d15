//! The bridges' flow tables, through `ovs-ofctl`.
//!
//! A bridge's whole table is replaced at once: `ovs-ofctl --bundle replace-flows` compares
//! the given flows with the switch's and sends only the difference, inside one OpenFlow 1.4
//! bundle that the switch commits atomically. So a pass never leaves a window with stale
//! flows deleted and new ones not yet added, and a pass with nothing to change changes
//! nothing (counters stay). Flows name ports by name (`in_port="patch-int"`), which
//! ovs-ofctl resolves on the switch; a name the bridge does not have fails the whole bundle,
//! so the planner names only ports it has read back.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::exec::{run, OvsError};

/// One flow as `ovs-ofctl add-flow` writes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flow {
    pub table: u8,
    pub priority: u16,
    /// The match fields, comma-separated; empty matches everything.
    pub matches: String,
    pub actions: String,
}

impl Flow {
    pub fn new(table: u8, priority: u16, matches: impl Into<String>, actions: impl Into<String>) -> Self {
        Flow { table, priority, matches: matches.into(), actions: actions.into() }
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table={},priority={}", self.table, self.priority)?;
        if !self.matches.is_empty() {
            write!(f, ",{}", self.matches)?;
        }
        write!(f, " actions={}", self.actions)
    }
}

/// A bridge's OpenFlow table.
pub trait OpenFlow: Send + Sync {
    /// Makes `bridge`'s flows exactly `flows`, atomically.
    fn replace_flows(&self, bridge: &str, flows: &[Flow]) -> impl Future<Output = Result<(), OvsError>> + Send;
    /// The bridge's flows as `ovs-ofctl dump-flows --no-stats --names` prints them.
    fn dump_flows(&self, bridge: &str) -> impl Future<Output = Result<Vec<String>, OvsError>> + Send;
}

/// [`OpenFlow`] through `ovs-ofctl` on `unix:<rundir>/<bridge>.mgmt`.
#[derive(Debug, Clone)]
pub struct Ofctl {
    rundir: PathBuf,
    timeout: Duration,
}

/// The versions ovs-ofctl may negotiate: 1.3 for Neutron's flows, 1.4 for bundles.
const VERSIONS: &str = "OpenFlow13,OpenFlow14";

impl Ofctl {
    pub fn new(rundir: &Path, timeout: Duration) -> Self {
        Ofctl { rundir: rundir.to_path_buf(), timeout }
    }

    fn target(&self, bridge: &str) -> String {
        format!("unix:{}", self.rundir.join(format!("{bridge}.mgmt")).display())
    }

    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut a =
            vec!["-O".to_string(), VERSIONS.to_string(), format!("--timeout={}", self.timeout.as_secs().max(1))];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }
}

impl OpenFlow for Ofctl {
    async fn replace_flows(&self, bridge: &str, flows: &[Flow]) -> Result<(), OvsError> {
        let text: String = flows.iter().map(|f| format!("{f}\n")).collect();
        let args = self.args(&["--bundle", "replace-flows", &self.target(bridge), "-"]);
        run("ovs-ofctl", &args, Some(("OVS_RUNDIR", &self.rundir)), Some(&text), self.timeout).await.map(drop)
    }

    async fn dump_flows(&self, bridge: &str) -> Result<Vec<String>, OvsError> {
        let args = self.args(&["--no-stats", "--names", "dump-flows", &self.target(bridge)]);
        let out = run("ovs-ofctl", &args, Some(("OVS_RUNDIR", &self.rundir)), None, self.timeout).await?;
        Ok(out.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("OFPST_")).map(String::from).collect())
    }
}
