//! What a reconcile pass did and what it could not do, typed so that the runner (and later
//! the server, as the agent's conditions) can tell *which* object an issue is about without
//! reading its sentence.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The part of the agent that found an issue, in the order a pass runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubsystemKind {
    Dhcp,
    L3,
    Metadata,
    Firewall,
    L2,
}

impl SubsystemKind {
    /// The log message an issue of this subsystem is logged under.
    pub fn cannot(self) -> &'static str {
        match self {
            SubsystemKind::Dhcp => "cannot serve DHCP",
            SubsystemKind::L3 => "cannot run a router",
            SubsystemKind::Metadata => "cannot serve metadata",
            SubsystemKind::Firewall => "cannot filter",
            SubsystemKind::L2 => "cannot wire",
        }
    }
}

/// What an issue is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Object {
    /// The host as a whole (a kernel facility, a directory, the namespace list).
    Host,
    Network(String),
    Port(String),
    Router(String),
    FloatingIp(String),
    SecurityGroup(String),
    /// A kernel device by name (a bridge, a VXLAN device, a physical interface).
    Device(String),
}

/// Something a subsystem could not converge; retried on the next pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub subsystem: SubsystemKind,
    pub object: Object,
    /// The whole sentence, as logged: it names the object in words too, so it reads alone.
    pub reason: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// What one subsystem's pass did and found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub subsystem: SubsystemKind,
    /// One line per change made, in order; empty when everything already was right.
    pub applied: Vec<String>,
    /// What could not be converged, and why.
    pub issues: Vec<Issue>,
}

impl Report {
    pub fn new(subsystem: SubsystemKind) -> Self {
        Report { subsystem, applied: Vec::new(), issues: Vec::new() }
    }

    /// Notes a change made.
    pub fn change(&mut self, line: impl Into<String>) {
        self.applied.push(line.into());
    }

    /// Notes an issue about `object`.
    pub fn issue(&mut self, object: Object, reason: impl Into<String>) {
        self.issues.push(Issue { subsystem: self.subsystem, object, reason: reason.into() });
    }

    /// [`Report::change`], logged as it happens (the DHCP and L3 subsystems log each change).
    pub(crate) fn change_logged(&mut self, line: String) {
        tracing::info!("{line}");
        self.change(line);
    }

    /// [`Report::issue`], logged as it happens.
    pub(crate) fn issue_logged(&mut self, object: Object, reason: String) {
        tracing::warn!("{reason}");
        self.issue(object, reason);
    }

    /// Whether any issue is about `object`.
    pub fn concerns(&self, object: &Object) -> bool {
        self.issues.iter().any(|i| &i.object == object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issue_serialises_with_its_typed_object() {
        let mut report = Report::new(SubsystemKind::L3);
        report.issue(Object::Router("r1".into()), "router r1: no gateway");
        let json = serde_json::to_value(&report.issues[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"subsystem": "l3", "object": {"type": "router", "id": "r1"}, "reason": "router r1: no gateway"})
        );
        assert_eq!(report.issues[0].to_string(), "router r1: no gateway");
        let host = serde_json::to_value(Object::Host).unwrap();
        assert_eq!(host, serde_json::json!({"type": "host"}));
        assert!(report.concerns(&Object::Router("r1".into())));
        assert!(!report.concerns(&Object::Router("r2".into())));
    }
}
