//! What the agent tells the server it cannot do right now: the last pass's issues and the
//! start-time checks' warnings and failures, as the heartbeat's conditions (shown in
//! `openstack network agent show` as `configurations.neutrino_conditions`).

use crate::report::{Issue, Object, SubsystemKind};
use neutrino_agent_api::{AgentCondition, ConditionObject, AGENT_TYPE_DHCP, AGENT_TYPE_L3};
use std::sync::Mutex;

/// The last pass's issues, replaced by each pass (so a healed problem goes away).
#[derive(Default)]
pub(super) struct LastIssues(Mutex<Vec<Issue>>);

impl LastIssues {
    pub fn replace(&self, issues: Vec<Issue>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = issues;
    }

    /// The issues for the agent of `agent_type` on this host: DHCP and metadata issues go
    /// to its DHCP agent and router issues to its L3 agent when it runs them, the rest to
    /// its L2 agent (which `start` conditions go to too).
    pub fn conditions(&self, agent_type: &str, dhcp: bool, l3: bool, start: &[AgentCondition]) -> Vec<AgentCondition> {
        // The L2 agent (linuxbridge or Open vSwitch) owns what the DHCP and L3 agents do not.
        let l2 = neutrino_agent_api::Mechanism::of_agent_type(agent_type).is_some();
        let owned = |kind: SubsystemKind| match kind {
            SubsystemKind::Dhcp | SubsystemKind::Metadata if dhcp => agent_type == AGENT_TYPE_DHCP,
            SubsystemKind::L3 if l3 => agent_type == AGENT_TYPE_L3,
            _ => l2,
        };
        let issues = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<AgentCondition> = issues.iter().filter(|i| owned(i.subsystem)).map(condition).collect();
        if l2 {
            out.extend_from_slice(start);
        }
        out
    }
}

fn condition(issue: &Issue) -> AgentCondition {
    let subsystem = serde_json::to_value(issue.subsystem).ok().and_then(|v| v.as_str().map(str::to_string));
    let (kind, id) = match &issue.object {
        Object::Host => ("host", None),
        Object::Network(id) => ("network", Some(id)),
        Object::Port(id) => ("port", Some(id)),
        Object::Router(id) => ("router", Some(id)),
        Object::FloatingIp(id) => ("floating_ip", Some(id)),
        Object::SecurityGroup(id) => ("security_group", Some(id)),
        Object::Device(name) => ("device", Some(name)),
    };
    AgentCondition {
        subsystem: subsystem.unwrap_or_default(),
        object: ConditionObject { kind: kind.into(), id: id.cloned() },
        reason: issue.reason.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neutrino_agent_api::AGENT_TYPE_LINUXBRIDGE;

    fn issue(subsystem: SubsystemKind, object: Object) -> Issue {
        Issue { subsystem, object, reason: "why".into() }
    }

    #[test]
    fn issues_go_to_the_agent_that_runs_their_subsystem() {
        let last = LastIssues::default();
        last.replace(vec![
            issue(SubsystemKind::L3, Object::Router("r1".into())),
            issue(SubsystemKind::Dhcp, Object::Network("n1".into())),
            issue(SubsystemKind::L2, Object::Device("vxlan-1".into())),
        ]);
        let start = [AgentCondition {
            subsystem: "check".into(),
            object: ConditionObject { kind: "check".into(), id: Some("mtu".into()) },
            reason: "WARN".into(),
        }];
        let l2 = last.conditions(AGENT_TYPE_LINUXBRIDGE, true, true, &start);
        let kinds: Vec<(&str, &str)> = l2.iter().map(|c| (c.subsystem.as_str(), c.object.kind.as_str())).collect();
        assert_eq!(kinds, [("l2", "device"), ("check", "check")]);
        let l3 = last.conditions(AGENT_TYPE_L3, true, true, &start);
        assert_eq!(l3[0].object, ConditionObject { kind: "router".into(), id: Some("r1".into()) });
        assert_eq!(l3.len(), 1);
        // Without an L3 agent on the host, its issues show on the L2 agent.
        assert_eq!(last.conditions(AGENT_TYPE_LINUXBRIDGE, true, false, &[]).len(), 2);
        last.replace(vec![]);
        assert!(last.conditions(AGENT_TYPE_LINUXBRIDGE, true, true, &[]).is_empty());
    }
}
