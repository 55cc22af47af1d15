//! The conditions an agent reports (what it cannot do right now), kept on its agent row and
//! shown as `configurations.neutrino_conditions`.
//!
//! Each report replaces the last one's, so a healed problem disappears with the next report;
//! `since` keeps the first time the same (subsystem, object, reason) was seen, so an operator
//! tells a fresh problem from an old one. The server bounds what it keeps (their number and
//! each string's length): the agent is trusted with its host, not with the server's table.

use neutrino_agent_api::{AgentCondition, ConditionObject};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The key of an agent's document (and of its `configurations` in the API) they live under.
pub(crate) const KEY: &str = "neutrino_conditions";

/// A condition as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredCondition {
    pub subsystem: String,
    pub object: ConditionObject,
    pub reason: String,
    /// Neutron's timestamp format (`YYYY-MM-DD HH:MM:SS`, UTC).
    pub since: String,
}

/// Caps on what one report may leave on the row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub max_conditions: usize,
    pub max_length: usize,
}

/// `s` cut to at most `max` characters.
fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn bounded(c: &AgentCondition, max: usize) -> AgentCondition {
    AgentCondition {
        subsystem: cut(&c.subsystem, max),
        object: ConditionObject { kind: cut(&c.object.kind, max), id: c.object.id.as_deref().map(|i| cut(i, max)) },
        reason: cut(&c.reason, max),
    }
}

/// The conditions to keep from a report: bounded, without duplicates, in the reported
/// order; each keeps the `since` of the same condition in `previous`, or gets `now`.
pub(crate) fn merge(
    previous: &[StoredCondition],
    reported: &[AgentCondition],
    bounds: Bounds,
    now: &str,
) -> Vec<StoredCondition> {
    let known: BTreeMap<(&str, &ConditionObject, &str), &str> =
        previous.iter().map(|p| ((p.subsystem.as_str(), &p.object, p.reason.as_str()), p.since.as_str())).collect();
    let mut out: Vec<StoredCondition> = Vec::new();
    for c in reported {
        if out.len() >= bounds.max_conditions {
            break;
        }
        let c = bounded(c, bounds.max_length);
        if out.iter().any(|o| o.subsystem == c.subsystem && o.object == c.object && o.reason == c.reason) {
            continue;
        }
        let key = (c.subsystem.as_str(), &c.object, c.reason.as_str());
        let since = known.get(&key).map_or_else(|| now.to_string(), |s| s.to_string());
        out.push(StoredCondition { subsystem: c.subsystem, object: c.object, reason: c.reason, since });
    }
    out
}

/// The conditions stored in an agent's document (none if absent or unreadable).
pub(crate) fn stored(body: &serde_json::Map<String, serde_json::Value>) -> Vec<StoredCondition> {
    body.get(KEY).and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(subsystem: &str, id: &str, reason: &str) -> AgentCondition {
        AgentCondition {
            subsystem: subsystem.into(),
            object: ConditionObject { kind: "router".into(), id: Some(id.into()) },
            reason: reason.into(),
        }
    }

    const WIDE: Bounds = Bounds { max_conditions: 50, max_length: 512 };

    #[test]
    fn since_is_kept_for_the_same_condition_and_new_for_others() {
        let first = merge(&[], &[cond("l3", "r1", "no gateway")], WIDE, "2026-01-01 00:00:00");
        assert_eq!(first[0].since, "2026-01-01 00:00:00");
        let reported = [cond("l3", "r1", "no gateway"), cond("l3", "r2", "no gateway"), cond("l3", "r1", "other")];
        let second = merge(&first, &reported, WIDE, "2026-01-01 00:05:00");
        let since: Vec<&str> = second.iter().map(|c| c.since.as_str()).collect();
        assert_eq!(since, ["2026-01-01 00:00:00", "2026-01-01 00:05:00", "2026-01-01 00:05:00"]);
        // Healed: gone with the next report, and new again if it comes back.
        assert!(merge(&second, &[], WIDE, "2026-01-01 00:06:00").is_empty());
        let back = merge(&[], &[cond("l3", "r1", "no gateway")], WIDE, "2026-01-01 00:07:00");
        assert_eq!(back[0].since, "2026-01-01 00:07:00");
    }

    #[test]
    fn reports_are_bounded_in_number_and_length() {
        let long = "é".repeat(10_000);
        let many: Vec<AgentCondition> = (0..1000).map(|i| cond(&long, &format!("r{i}{long}"), &long)).collect();
        let kept = merge(&[], &many, Bounds { max_conditions: 3, max_length: 20 }, "t");
        assert_eq!(kept.len(), 3);
        for c in &kept {
            assert_eq!(c.reason.chars().count(), 20);
            assert_eq!(c.subsystem.chars().count(), 20);
            assert!(c.object.id.as_ref().unwrap().chars().count() <= 20);
        }
        // Duplicates (after cutting) count once.
        let same = vec![cond("l3", "r1", "x"); 10];
        assert_eq!(merge(&[], &same, WIDE, "t").len(), 1);
        assert!(merge(&[], &same, Bounds { max_conditions: 0, max_length: 10 }, "t").is_empty());
    }

    #[test]
    fn stored_conditions_read_back_with_the_shown_shape() {
        let kept = merge(&[], &[cond("l3", "r1", "no gateway")], WIDE, "2026-01-01 00:00:00");
        let json = serde_json::to_value(&kept).unwrap();
        assert_eq!(
            json,
            serde_json::json!([{"subsystem": "l3", "object": {"type": "router", "id": "r1"},
                                "reason": "no gateway", "since": "2026-01-01 00:00:00"}])
        );
        let mut body = serde_json::Map::new();
        body.insert(KEY.into(), json);
        assert_eq!(stored(&body), kept);
    }
}
