use super::*;
use crate::report::{Object, Report};
use crate::subsystem::Wiring;
use serde_json::Value;
use std::collections::BTreeMap;

/// `name{labels}` -> value, from the reference parser; `None` when it is not installed.
fn parsed(text: &str) -> Option<BTreeMap<String, f64>> {
    let json = neutrino_metrics::testing::parse_exposition_json(text).expect("valid exposition")?;
    let families: Vec<Value> = serde_json::from_str(&json).unwrap();
    let mut out = BTreeMap::new();
    for s in families.iter().flat_map(|f| f["samples"].as_array().unwrap()) {
        let labels: BTreeMap<String, String> = serde_json::from_value(s["labels"].clone()).unwrap();
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.insert(format!("{}{{{}}}", s["name"].as_str().unwrap(), labels.join(",")), s["value"].as_f64().unwrap());
    }
    Some(out)
}

/// A pass as the runner would hand it over: the firewall wrote a ruleset, L2 wired one of
/// two ports, L3 found two issues.
fn fake_pass() -> Pass {
    let mut l3 = Report::new(SubsystemKind::L3);
    l3.issue(Object::Router("r1".into()), "router r1: no gateway");
    l3.issue(Object::Router("r2".into()), "router r2: no gateway");
    let port_status = [("p1".to_string(), WiredStatus::Active), ("p2".to_string(), WiredStatus::Down)].into();
    Pass {
        reports: vec![l3, Report::new(SubsystemKind::Firewall), Report::new(SubsystemKind::L2)],
        durations: vec![
            (SubsystemKind::L3, Duration::from_millis(3)),
            (SubsystemKind::Firewall, Duration::from_millis(40)),
            (SubsystemKind::L2, Duration::from_millis(7)),
        ],
        nft_apply: Some(Duration::from_millis(30)),
        wiring: Some(Wiring { port_status, held: Vec::new() }),
        ..Pass::default()
    }
}

#[test]
fn a_pass_moves_the_counters_and_the_text_parses() {
    let m = AgentMetrics::default();
    m.record_pass(&fake_pass(), Duration::from_millis(55));
    let mut healed = fake_pass();
    healed.reports[0].issues.clear();
    healed.nft_apply = None;
    m.record_pass(&healed, Duration::from_millis(12));
    let Some(s) = parsed(&m.render()) else { return };
    assert_eq!(s["neutrino_agent_passes_total{}"], 2.0);
    assert_eq!(s["neutrino_agent_failed_passes_total{}"], 0.0);
    assert_eq!(s["neutrino_agent_pass_duration_seconds_count{}"], 2.0);
    assert_eq!(s["neutrino_agent_pass_duration_seconds_bucket{le=0.025}"], 1.0);
    assert_eq!(s["neutrino_agent_subsystem_duration_seconds_count{subsystem=firewall}"], 2.0);
    assert_eq!(
        s["neutrino_agent_subsystem_duration_seconds_count{subsystem=dhcp}"], 0.0,
        "every subsystem has a series"
    );
    assert_eq!(s["neutrino_agent_nft_apply_duration_seconds_count{}"], 1.0, "only the pass that wrote counts");
    assert_eq!(s["neutrino_agent_ports{status=active}"], 1.0);
    assert_eq!(s["neutrino_agent_ports{status=down}"], 1.0);
    assert_eq!(s["neutrino_agent_issues{subsystem=l3}"], 0.0, "issues are the last pass's: healed");
    m.record_pass(&fake_pass(), Duration::from_millis(1));
    let s = parsed(&m.render()).unwrap();
    assert_eq!(s["neutrino_agent_issues{subsystem=l3}"], 2.0);
}

#[tokio::test]
async fn the_listener_serves_the_text() {
    let m = std::sync::Arc::new(AgentMetrics::default());
    m.record_pass(&fake_pass(), Duration::from_millis(5));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(serve(m, listener, limits(DEFAULT_MAX_CONNECTIONS), async move {
        let _ = stopped.await;
    }));
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert_eq!(res.headers()["content-type"], neutrino_metrics::CONTENT_TYPE);
    let text = res.text().await.unwrap();
    if let Some(s) = parsed(&text) {
        assert_eq!(s["neutrino_agent_passes_total{}"], 1.0);
    }
    let _ = stop.send(());
    served.await.unwrap();
}
