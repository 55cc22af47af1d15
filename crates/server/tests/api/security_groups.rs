use crate::common::{assert_error, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn group(s: &TestServer, name: &str) -> String {
    let (st, b) = s.post("/v2.0/security-groups", json!({"security_group": {"name": name}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    b["security_group"]["id"].as_str().unwrap().to_string()
}

fn rule(sg: &str, extra: Value) -> Value {
    let mut r = json!({"security_group_id": sg, "direction": "ingress"});
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!({"security_group_rule": r})
}

#[tokio::test]
async fn default_group_and_its_rules() {
    let s = TestServer::start().await;
    let (st, list) = s.get("/v2.0/security-groups").await;
    assert_eq!(st, StatusCode::OK);
    let groups = list["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let d = &groups[0];
    assert_eq!(d["name"], "default");
    let rules = d["security_group_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    let remote_self = rules.iter().filter(|r| r["direction"] == "ingress" && r["remote_group_id"] == d["id"]).count();
    assert_eq!(remote_self, 2);
    assert!(rules.iter().all(|r| r["belongs_to_default_sg"] == true));
    let default_id = d["id"].as_str().unwrap().to_string();
    // A second `default` is refused, as is renaming to it.
    assert_error(
        &s.post("/v2.0/security-groups", json!({"security_group": {"name": "default"}})).await,
        409,
        "SecurityGroupDefaultAlreadyExists",
    );
    let web = group(&s, "web").await;
    assert_error(
        &s.put(&format!("/v2.0/security-groups/{web}"), json!({"security_group": {"name": "default"}})).await,
        409,
        "SecurityGroupDefaultAlreadyExists",
    );
    // New groups get the two egress rules.
    let (_, w) = s.get(&format!("/v2.0/security-groups/{web}")).await;
    assert_eq!(w["security_group"]["security_group_rules"].as_array().unwrap().len(), 2);
    assert_eq!(w["security_group"]["stateful"], true);
    // Ports get the default group; a group in use cannot go.
    let net = s.network("n").await;
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net}})).await;
    assert_eq!(p["port"]["security_groups"], json!([default_id]));
    let (_, p2) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "security_groups": [web]}})).await;
    assert_eq!(p2["port"]["security_groups"], json!([web]));
    assert_error(&s.delete(&format!("/v2.0/security-groups/{web}")).await, 409, "SecurityGroupInUse");
    let missing = s
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "security_groups": ["6f9d1c4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f"]}}),
        )
        .await;
    assert_error(&missing, 404, "SecurityGroupNotFound");
    let off = s
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "port_security_enabled": false, "security_groups": [web]}}),
        )
        .await;
    assert_error(&off, 400, "PortSecurityAndIPRequiredForSecurityGroups");
    let (_, p3) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "port_security_enabled": false}})).await;
    assert_eq!(p3["port"]["security_groups"], json!([]));
    assert_eq!(
        s.delete(&format!("/v2.0/ports/{}", p2["port"]["id"].as_str().unwrap())).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.delete(&format!("/v2.0/security-groups/{web}")).await.0, StatusCode::NO_CONTENT);
    let (_, rules) = s.get(&format!("/v2.0/security-group-rules?security_group_id={web}")).await;
    assert_eq!(rules["security_group_rules"].as_array().unwrap().len(), 0, "rules go with the group");
}

#[tokio::test]
async fn rule_validation() {
    let s = TestServer::start().await;
    let sg = group(&s, "rules").await;
    let post = |extra: Value| s.post("/v2.0/security-group-rules", rule(&sg, extra));
    let (st, r) =
        post(json!({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}))
            .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["security_group_rule"]["ethertype"], "IPv4");
    assert_eq!(r["security_group_rule"]["normalized_cidr"], "0.0.0.0/0");
    let again =
        post(json!({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}))
            .await;
    assert_error(&again, 409, "SecurityGroupRuleExists");
    assert_error(
        &post(json!({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80})).await,
        400,
        "SecurityGroupInvalidPortRange",
    );
    assert_error(&post(json!({"port_range_min": 80})).await, 400, "SecurityGroupProtocolRequiredWithPorts");
    assert_error(&post(json!({"protocol": "bogus"})).await, 400, "SecurityGroupRuleInvalidProtocol");
    assert_error(&post(json!({"protocol": "icmp", "port_range_min": 300})).await, 400, "SecurityGroupInvalidIcmpValue");
    assert_error(&post(json!({"protocol": "icmp", "port_range_max": 0})).await, 400, "SecurityGroupMissingIcmpType");
    assert_error(
        &post(json!({"protocol": "icmp", "ethertype": "IPv6"})).await,
        400,
        "SecurityGroupEthertypeConflictWithProtocol",
    );
    assert_error(
        &post(json!({"protocol": "gre", "port_range_min": 1})).await,
        400,
        "SecurityGroupInvalidProtocolForPort",
    );
    assert_error(&post(json!({"remote_ip_prefix": "fd00::/64"})).await, 400, "SecurityGroupRuleParameterConflict");
    assert_error(
        &post(json!({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": sg})).await,
        400,
        "SecurityGroupMultipleRemoteEntites",
    );
    assert_error(&post(json!({"direction": "sideways"})).await, 400, "HTTPBadRequest");
    assert_error(&post(json!({"ethertype": "IPv5"})).await, 400, "HTTPBadRequest");
    assert_error(
        &post(json!({"remote_group_id": "6f9d1c4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f"})).await,
        404,
        "SecurityGroupNotFound",
    );
    let (st, r) = post(json!({"protocol": "icmp", "port_range_min": 8, "port_range_max": 0, "remote_ip_prefix": "10.1.2.3/16", "ethertype": "ipv4"})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["security_group_rule"]["remote_ip_prefix"], "10.1.2.3/16");
    assert_eq!(r["security_group_rule"]["normalized_cidr"], "10.1.0.0/16");
    let (st, r) = post(json!({"protocol": "58", "ethertype": "IPv6", "remote_group_id": sg})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    // Bulk create is atomic, and duplicates inside one request are refused.
    let bulk = json!({"security_group_rules": [
        {"security_group_id": sg, "direction": "ingress", "protocol": "udp", "port_range_min": 53, "port_range_max": 53},
        {"security_group_id": sg, "direction": "ingress", "protocol": "udp", "port_range_min": 53, "port_range_max": 53}]});
    assert_error(&s.post("/v2.0/security-group-rules", bulk).await, 409, "DuplicateSecurityGroupRuleInPost");
    let (_, g) = s.get(&format!("/v2.0/security-groups/{sg}")).await;
    assert_eq!(g["security_group"]["security_group_rules"].as_array().unwrap().len(), 5, "2 egress + 3 created");
    let id = r["security_group_rule"]["id"].as_str().unwrap();
    assert_eq!(s.delete(&format!("/v2.0/security-group-rules/{id}")).await.0, StatusCode::NO_CONTENT);
    assert_error(&s.get(&format!("/v2.0/security-group-rules/{id}")).await, 404, "SecurityGroupRuleNotFound");
}
