//! `GET /metrics` on its own listener, scraped after some requests and parsed by the
//! reference Prometheus text parser (python's `prometheus_client.parser`, Debian's
//! python3-prometheus-client): the counters moved on the right route labels, histograms are
//! cumulative with `+Inf == _count`, and the API port serves no metrics.

use super::common::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The reference parser's families as JSON; `Ok(None)` when it is not installed (outside CI).
fn parse_exposition(text: &str) -> Result<Option<Vec<Value>>, String> {
    let parsed = neutrino_metrics::testing::parse_exposition_json(text)?;
    Ok(parsed.map(|json| serde_json::from_str(&json).expect("parser output")))
}

/// Sample values keyed by `name{sorted labels}`.
fn samples(families: &[Value]) -> BTreeMap<String, f64> {
    let mut map = BTreeMap::new();
    for f in families {
        for s in f["samples"].as_array().expect("samples") {
            let labels: BTreeMap<String, String> = serde_json::from_value(s["labels"].clone()).expect("labels");
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            map.insert(
                format!("{}{{{}}}", s["name"].as_str().expect("name"), labels.join(",")),
                s["value"].as_f64().expect("value"),
            );
        }
    }
    map
}

async fn metrics_server() -> (TestServer, String) {
    let s = TestServer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/metrics", listener.local_addr().expect("addr"));
    tokio::spawn(neutrino_server::serve_metrics(s.app.clone().expect("app"), listener, std::future::pending()));
    (s, url)
}

#[test]
fn the_parser_refuses_malformed_text() {
    let Ok(Some(_)) = parse_exposition("# TYPE a counter\na_total 1\n") else { return };
    assert!(parse_exposition("a_total{route=\"/x} 1\n").is_err(), "an unterminated label must not parse");
    assert!(parse_exposition("a_total one\n").is_err(), "a non-number value must not parse");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let (s, url) = metrics_server().await;
    let (st, b) = s.post("/v2.0/networks", json!({"network": {"name": "n1"}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let (st, _) = s.get("/v2.0/networks/00000000-0000-0000-0000-00000000abcd").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s.get("/v2.0/networks/00000000-0000-0000-0000-00000000abce").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s.get("/no/such/path/4242").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let report = json!({"host": "compute-1", "agent_type": "Linux bridge agent", "binary": "neutrino-agent", "start_flag": true,
                        "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": "198.18.1.1", "devices": 0}});
    let (st, b) = s.post("/agent/v1/agents/report", report).await;
    assert!(st.is_success(), "{b}");
    // An open watch shows as a watcher while it waits.
    let watch_url = format!("{}/agent/v1/hosts/compute-1/state?known=nothing-known&wait=5", s.url);
    let (st, state) = s.get("/agent/v1/hosts/compute-1/state").await;
    assert_eq!(st, StatusCode::OK);
    let fp = state["fingerprint"].as_str().expect("fingerprint").to_string();
    let http = s.http.clone();
    let watch =
        tokio::spawn(async move { http.get(watch_url.replace("nothing-known", &fp)).send().await.map(|r| r.status()) });
    let mut watching = 0.0;
    for _ in 0..100 {
        let text = s.http.get(&url).send().await.expect("scrape").text().await.expect("body");
        let Some(families) = parse_exposition(&text).expect("valid exposition") else { return };
        watching = samples(&families)["neutrino_agent_watches{}"];
        if watching == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(watching, 1.0, "the open watch is counted");
    let res = s.http.get(&url).send().await.expect("scrape");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let text = res.text().await.expect("body");
    let families = parse_exposition(&text).expect("valid exposition").expect("parser present");
    let m = samples(&families);
    let get = |k: &str| *m.get(k).unwrap_or_else(|| panic!("no sample {k} in:\n{text}"));
    assert_eq!(get("neutrino_http_requests_total{method=POST,route=/v2.0/{collection},status=201}"), 1.0);
    assert_eq!(get("neutrino_http_requests_total{method=GET,route=/v2.0/{collection}/{id},status=404}"), 2.0);
    assert_eq!(get("neutrino_http_requests_total{method=GET,route=unmatched,status=404}"), 1.0);
    assert!(!text.contains("abcd") && !text.contains("/no/such"), "raw paths never become labels:\n{text}");
    // The histogram of the {id} route: cumulative buckets, +Inf equal to _count, equal to the requests.
    let buckets: Vec<(f64, f64)> = families
        .iter()
        .find(|f| f["name"] == "neutrino_http_request_duration_seconds")
        .expect("latency family")["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter(|s| {
            s["name"] == "neutrino_http_request_duration_seconds_bucket"
                && s["labels"]["route"] == "/v2.0/{collection}/{id}"
        })
        .map(|s| {
            let le = s["labels"]["le"].as_str().expect("le");
            (if le == "+Inf" { f64::INFINITY } else { le.parse().expect("le") }, s["value"].as_f64().expect("value"))
        })
        .collect();
    assert!(buckets.len() > 2, "{buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "cumulative: {buckets:?}");
    assert_eq!(buckets.last().expect("+Inf"), &(f64::INFINITY, 2.0));
    assert_eq!(get("neutrino_http_request_duration_seconds_count{method=GET,route=/v2.0/{collection}/{id}}"), 2.0);
    assert_eq!(get("neutrino_agents{state=alive}"), 1.0);
    assert_eq!(get("neutrino_agents{state=dead}"), 0.0);
    assert_eq!(get("neutrino_store_write_queue_depth{}"), 0.0);
    assert!(get("neutrino_store_commit_duration_seconds_count{}") >= 2.0, "the network and the agent report committed");
    // One build: the state read, then the watch starts from the host cache's copy of it.
    assert!(get("neutrino_host_state_builds_total{}") >= 1.0);
    assert!(get("neutrino_change_feed_sequence{}") >= 1.0);
    assert_eq!(get("neutrino_change_feed_lag{}"), 0.0);
    assert_eq!(get("neutrino_nova_events_total{outcome=queued}"), 0.0, "no [nova]: nothing queued");
    watch.abort();
}

#[tokio::test]
async fn the_api_port_serves_no_metrics() {
    let (s, _) = metrics_server().await;
    let (st, _) = s.get("/metrics").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
