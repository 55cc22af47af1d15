//! The path's hops from the plan and the agents' answers, and the verdict on it: no I/O.

use neutrino_agent_api::diagnose::{Check, HostAnswer};
use neutrino_model::diagnose::{Diagnosis, Hop, HopStatus};
use std::collections::BTreeMap;

/// One place on the path, in packet order: judged by the server, or asked of a host.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Known(Hop),
    /// What `host` finds for its question's ask number `ask` (about `object`); `first` is
    /// the check such an ask starts with, named when the host did not answer.
    Asked {
        host: String,
        ask: usize,
        object: String,
        first: Check,
    },
}

/// A server-side hop.
pub fn known(
    check: &str,
    host: Option<&str>,
    object: impl Into<String>,
    ok: bool,
    evidence: impl Into<String>,
) -> Step {
    Step::Known(Hop {
        check: check.into(),
        host: host.map(str::to_string),
        object: object.into(),
        status: if ok { HopStatus::Ok } else { HopStatus::Wrong },
        evidence: evidence.into(),
    })
}

/// A check's wire name (`tap_up`, `fdb`, ...).
pub fn check_name(check: Check) -> String {
    serde_json::to_value(check).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// The hops: each asked step becomes its host's findings for that ask (in the order a
/// packet meets their checks), or one `unknown` hop when the host did not answer.
pub fn hops(steps: Vec<Step>, answers: &BTreeMap<String, HostAnswer>, timeout_ms: u64) -> Vec<Hop> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            Step::Known(hop) => out.push(hop),
            Step::Asked { host, ask, object, first } => {
                let unknown = |evidence: String| Hop {
                    check: check_name(first),
                    host: Some(host.clone()),
                    object: object.clone(),
                    status: HopStatus::Unknown,
                    evidence,
                };
                let Some(answer) = answers.get(&host) else {
                    out.push(unknown(format!("the agent on host {host} did not answer in {timeout_ms} ms")));
                    continue;
                };
                let mut findings: Vec<_> = answer.findings.iter().filter(|f| f.ask == ask).collect();
                findings.sort_by_key(|f| f.check);
                if findings.is_empty() {
                    out.push(unknown(format!("the agent on host {host} reported nothing for {object}")));
                }
                out.extend(findings.into_iter().map(|f| Hop {
                    check: check_name(f.check),
                    host: Some(host.clone()),
                    object: object.clone(),
                    status: if f.ok { HopStatus::Ok } else { HopStatus::Wrong },
                    evidence: f.evidence.clone(),
                }));
            }
        }
    }
    out
}

/// The first `wrong` hop, else the first `unknown` one.
pub fn first_wrong(hops: &[Hop]) -> Option<usize> {
    hops.iter()
        .position(|h| h.status == HopStatus::Wrong)
        .or_else(|| hops.iter().position(|h| h.status == HopStatus::Unknown))
}

/// The one-line summary of a path.
pub fn summary(hops: &[Hop], first: Option<usize>) -> String {
    match first.and_then(|i| hops.get(i).map(|h| (i, h))) {
        None => format!("healthy: all {} hops ok", hops.len()),
        Some((i, h)) => {
            let status = if h.status == HopStatus::Wrong { "wrong" } else { "unknown" };
            let on = h.host.as_deref().map(|host| format!(" on host {host}")).unwrap_or_default();
            format!("{status} at hop {} ({}{on}, {}): {}", i + 1, h.check, h.object, h.evidence)
        }
    }
}

/// Fills a diagnosis's verdict from its hops.
pub fn conclude(mut d: Diagnosis, hops: Vec<Hop>) -> Diagnosis {
    let first = first_wrong(&hops);
    d.healthy = hops.iter().all(|h| h.status == HopStatus::Ok);
    d.first_wrong_hop = first;
    d.summary = summary(&hops, first);
    d.hops = hops;
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use neutrino_agent_api::diagnose::Finding;

    fn asked(host: &str, ask: usize, first: Check) -> Step {
        Step::Asked { host: host.into(), ask, object: format!("ask {ask}"), first }
    }

    fn finding(ask: usize, check: Check, ok: bool) -> Finding {
        Finding { ask, check, ok, evidence: format!("{check:?} {ok}") }
    }

    fn statuses(hops: &[Hop]) -> Vec<(String, HopStatus)> {
        hops.iter().map(|h| (h.check.clone(), h.status)).collect()
    }

    #[test]
    fn answers_become_hops_in_packet_order_and_silence_is_unknown() {
        let steps = vec![
            known("binding", None, "port p", true, "bound"),
            asked("h1", 0, Check::Tap),
            asked("h2", 0, Check::DhcpNamespace),
            asked("h1", 1, Check::Bridge),
        ];
        let answer = HostAnswer {
            question_id: "q".into(),
            host: "h1".into(),
            // Out of order, and one for an ask the plan did not make.
            findings: vec![
                finding(0, Check::TapBridge, true),
                finding(0, Check::Tap, true),
                finding(1, Check::Fdb, false),
                finding(1, Check::Bridge, true),
                finding(7, Check::Tap, false),
            ],
        };
        let answers = BTreeMap::from([("h1".to_string(), answer)]);
        let hops = hops(steps, &answers, 3000);
        assert_eq!(
            statuses(&hops),
            [
                ("binding".into(), HopStatus::Ok),
                ("tap".into(), HopStatus::Ok),
                ("tap_bridge".into(), HopStatus::Ok),
                ("dhcp_namespace".into(), HopStatus::Unknown),
                ("bridge".into(), HopStatus::Ok),
                ("fdb".into(), HopStatus::Wrong),
            ]
        );
        assert_eq!(hops[3].evidence, "the agent on host h2 did not answer in 3000 ms");
        assert_eq!(hops[5].host.as_deref(), Some("h1"));
    }

    #[test]
    fn the_first_wrong_hop_wins_over_an_earlier_unknown_one() {
        let hop = |check: &str, status| Hop {
            check: check.into(),
            host: Some("h".into()),
            object: "o".into(),
            status,
            evidence: format!("{check} evidence"),
        };
        let path = vec![hop("agent", HopStatus::Ok), hop("tap", HopStatus::Unknown), hop("fdb", HopStatus::Wrong)];
        assert_eq!(first_wrong(&path), Some(2));
        assert_eq!(summary(&path, Some(2)), "wrong at hop 3 (fdb on host h, o): fdb evidence");
        let unknown = vec![hop("agent", HopStatus::Ok), hop("tap", HopStatus::Unknown)];
        assert_eq!(first_wrong(&unknown), Some(1));
        let fine = vec![hop("agent", HopStatus::Ok)];
        assert_eq!(first_wrong(&fine), None);
        assert_eq!(summary(&fine, None), "healthy: all 1 hops ok");
        let d = Diagnosis {
            port_id: "p".into(),
            to: None,
            protocol: None,
            port: None,
            healthy: false,
            first_wrong_hop: None,
            summary: String::new(),
            hops: vec![],
        };
        let judged = conclude(d.clone(), unknown);
        assert!(!judged.healthy, "an unknown hop is not healthy");
        assert_eq!(judged.first_wrong_hop, Some(1));
        assert!(conclude(d, fine).healthy);
    }

    #[test]
    fn an_answer_without_findings_for_an_ask_is_unknown() {
        let answers = BTreeMap::from([(
            "h1".to_string(),
            HostAnswer { question_id: "q".into(), host: "h1".into(), findings: vec![] },
        )]);
        let hops = hops(vec![asked("h1", 0, Check::RouterNamespace)], &answers, 3000);
        assert_eq!(statuses(&hops), [("router_namespace".into(), HopStatus::Unknown)]);
        assert!(hops[0].evidence.contains("reported nothing"));
    }
}
