//! Quotas: Neutron's limit check on update (`force`), its value range, and how security
//! groups and their rules are counted.

use crate::common::{assert_error, assert_error_message, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A request as admin of `project` (noauth mode).
async fn as_project(
    s: &TestServer,
    project: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    s.call_with(method, path, body, &[("X-Project-Id", project)]).await
}

async fn set_quota(s: &TestServer, project: &str, quota: Value) -> (StatusCode, Value) {
    s.put(&format!("/v2.0/quotas/{project}"), json!({"quota": quota})).await
}

async fn new_group(s: &TestServer, project: &str, name: &str) -> (StatusCode, Value) {
    as_project(s, project, Method::POST, "/v2.0/security-groups", Some(json!({"security_group": {"name": name}}))).await
}

#[tokio::test]
async fn a_limit_below_usage_needs_force() {
    let s = TestServer::start().await;
    let (st, b) = as_project(&s, "p1", Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "n"}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_error_message(
        &set_quota(&s, "p1", json!({"network": 0})).await,
        400,
        "HTTPBadRequest",
        "Quota limit 0 for network must be greater than or equal to already used 1",
    );
    assert_error(&set_quota(&s, "p1", json!({"network": 0, "force": "yes"})).await, 400, "HTTPBadRequest");
    let (st, b) = set_quota(&s, "p1", json!({"network": 0, "security_group": 0, "force": true})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!((b["quota"]["network"].clone(), b["quota"]["security_group"].clone()), (json!(0), json!(0)));
    // -1 (unlimited) and a limit at or above usage need no force; `check_limit` is accepted.
    let (st, b) = set_quota(&s, "p1", json!({"network": -1, "check_limit": true})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = set_quota(&s, "p1", json!({"network": 1})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (_, ext) = s.get("/v2.0/extensions").await;
    let aliases: Vec<&str> = ext["extensions"].as_array().unwrap().iter().filter_map(|e| e["alias"].as_str()).collect();
    assert!(aliases.contains(&"quota-check-limit") && aliases.contains(&"quota-check-limit-default"));
}

#[tokio::test]
async fn limits_are_neutrons_range() {
    let s = TestServer::start().await;
    for v in [-1, 0, 10, 2_147_483_647_i64] {
        let (st, b) = set_quota(&s, "p2", json!({"security_group": v, "force": true})).await;
        assert_eq!((st, b["quota"]["security_group"].clone()), (StatusCode::OK, json!(v)), "{b}");
    }
    assert_error_message(
        &set_quota(&s, "p2", json!({"security_group": 2_147_483_648_i64, "force": true})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for security_group. Reason: '2147483648' is too large - must be no larger than '2147483647'.",
    );
    assert_error_message(
        &set_quota(&s, "p2", json!({"security_group": -2, "force": true})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for security_group. Reason: '-2' is too small - must be at least '-1'.",
    );
    assert_error_message(
        &set_quota(&s, "p2", json!({"security_group": "value", "force": true})).await,
        400,
        "InvalidInput",
        "Invalid input for operation: 'value' is not an integer.",
    );
}

/// The groups are counted before Neutron's plugin makes the project's default group; once
/// it exists, it counts.
#[tokio::test]
async fn security_groups_count_the_default_group() {
    let s = TestServer::start().await;
    let (st, b) = set_quota(&s, "fresh", json!({"security_group": 1})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = new_group(&s, "fresh", "first").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_error(&new_group(&s, "fresh", "second").await, 409, "OverQuota");

    let (st, b) = s.get("/v2.0/security-groups?project_id=p3").await;
    assert_eq!((st, b["security_groups"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{b}");
    let (st, b) = set_quota(&s, "p3", json!({"security_group": 2})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(new_group(&s, "p3", "one").await.0, StatusCode::CREATED);
    assert_error_message(
        &new_group(&s, "p3", "two").await,
        409,
        "OverQuota",
        "Quota exceeded for resources: ['security_group'].",
    );
    let (_, d) = s.get("/v2.0/quotas/p3/details").await;
    assert_eq!(d["quota"]["security_group"], json!({"limit": 2, "used": 2, "reserved": 0}));
    assert_eq!(d["quota"]["security_group_rule"]["used"], 6, "the default group's 4 rules and the new one's 2");
}

/// A new group's two rules must fit the rule quota (the default group's four too).
#[tokio::test]
async fn a_new_groups_rules_need_rule_quota() {
    let s = TestServer::start().await;
    let (st, b) = set_quota(&s, "p4", json!({"security_group_rule": 0})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let over_rules = "Quota exceeded for resources: ['security_group_rule'].";
    assert_error_message(&new_group(&s, "p4", "g").await, 409, "OverQuota", over_rules);
    set_quota(&s, "p4", json!({"security_group_rule": 5})).await;
    assert_error_message(&new_group(&s, "p4", "g").await, 409, "OverQuota", over_rules);
    set_quota(&s, "p4", json!({"security_group_rule": 6})).await;
    let (st, b) = new_group(&s, "p4", "g").await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let sg = b["security_group"]["id"].as_str().unwrap();
    let rule = json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp"}});
    let got = as_project(&s, "p4", Method::POST, "/v2.0/security-group-rules", Some(rule)).await;
    assert_error_message(&got, 409, "OverQuota", over_rules);
}
