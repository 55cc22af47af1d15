//! Default security group rules (`security-groups-default-rules`), as neutron-tempest-plugin's
//! `DefaultSecurityGroupRuleTest` exercises them, and how new groups follow them.

use crate::common::{assert_error, assert_error_message, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PATH: &str = "/v2.0/default-security-group-rules";

fn template(extra: Value) -> Value {
    let mut t = json!({"direction": "ingress", "used_in_default_sg": false, "used_in_non_default_sg": true});
    t.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!({"default_security_group_rule": t})
}

async fn create(s: &TestServer, extra: Value) -> Value {
    let (st, b) = s.post(PATH, template(extra)).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    b["default_security_group_rule"].clone()
}

async fn list(s: &TestServer, query: &str) -> Vec<Value> {
    let (st, b) = s.get(&format!("{PATH}{query}")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b["default_security_group_rules"].as_array().unwrap().clone()
}

/// The rules of a group with only the attributes a template gives them, sorted.
fn shapes(rules: &Value) -> Vec<String> {
    let mut out: Vec<String> = rules
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {} {} {}",
                r["direction"],
                r["ethertype"],
                r["protocol"],
                r["port_range_min"],
                r["port_range_max"],
                r["remote_ip_prefix"],
                r["remote_group_id"]
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_extensions_are_advertised() {
    let s = TestServer::start().await;
    for alias in [
        "security-groups-default-rules",
        "security-groups-rules-belongs-to-default-sg",
        "security-groups-shared-filtering",
        "rbac-security-groups",
        "port-security-groups-filtering",
    ] {
        let (st, e) = s.get(&format!("/v2.0/extensions/{alias}")).await;
        assert_eq!(st, StatusCode::OK, "{alias}: {e}");
    }
}

/// Neutron's legacy set is there from the start, shown without a project, and filterable.
#[tokio::test]
async fn the_legacy_templates_are_seeded() {
    let s = TestServer::start().await;
    let all = list(&s, "").await;
    assert_eq!(all.len(), 4);
    let egress = all.iter().find(|t| t["direction"] == "egress" && t["ethertype"] == "IPv4").unwrap();
    let mut expected = json!({"ethertype": "IPv4", "direction": "egress", "protocol": null, "port_range_min": null,
        "port_range_max": null, "remote_ip_prefix": null, "remote_address_group_id": null, "remote_group_id": null,
        "description": "Legacy default SG rule for egress traffic", "used_in_default_sg": true,
        "used_in_non_default_sg": true});
    expected["id"] = egress["id"].clone();
    assert_eq!(egress, &expected);
    let ingress = all.iter().filter(|t| t["direction"] == "ingress").collect::<Vec<_>>();
    assert_eq!(ingress.len(), 2);
    assert!(ingress.iter().all(|t| t["remote_group_id"] == "PARENT"
        && t["used_in_default_sg"] == true
        && t["used_in_non_default_sg"] == false
        && t["description"] == "Legacy default SG rule for ingress traffic"));
    assert_eq!(list(&s, "?used_in_default_sg=True").await.len(), 4);
    assert_eq!(list(&s, "?used_in_non_default_sg=true").await.len(), 2);
    assert_eq!(list(&s, "?used_in_non_default_sg=false&fields=id").await.len(), 2);
    let (st, b) = s.get(&format!("{PATH}?used_in_default_sg=maybe")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
}

#[tokio::test]
async fn a_template_is_created_shown_and_deleted() {
    let s = TestServer::start().await;
    let t = create(
        &s,
        json!({"ethertype": "IPv4", "protocol": "tcp", "port_range_min": 4242, "port_range_max": 4242,
               "description": "Allow tcp connections over IPv4 on port 4242"}),
    )
    .await;
    let id = t["id"].as_str().unwrap().to_string();
    let expected = json!({"id": id, "ethertype": "IPv4", "direction": "ingress", "protocol": "tcp",
        "port_range_min": 4242, "port_range_max": 4242, "remote_ip_prefix": null, "remote_address_group_id": null,
        "remote_group_id": null, "description": "Allow tcp connections over IPv4 on port 4242",
        "used_in_default_sg": false, "used_in_non_default_sg": true});
    assert_eq!(t, expected);
    let (st, got) = s.get(&format!("{PATH}/{id}")).await;
    assert_eq!((st, &got["default_security_group_rule"]), (StatusCode::OK, &expected));
    let (st, got) = s.get(&format!("{PATH}/{id}?fields=protocol")).await;
    assert_eq!((st, &got["default_security_group_rule"]), (StatusCode::OK, &json!({"protocol": "tcp"})));
    assert_eq!(s.delete(&format!("{PATH}/{id}")).await.0, StatusCode::NO_CONTENT);
    let message = format!("Default Security Group rule {id} does not exist");
    assert_error_message(&s.get(&format!("{PATH}/{id}")).await, 404, "DefaultSecurityGroupRuleNotFound", &message);
    assert_error_message(&s.delete(&format!("{PATH}/{id}")).await, 404, "DefaultSecurityGroupRuleNotFound", &message);
}

/// Neutron compares a new template with those used for non-default groups (whatever the
/// new one's flags); a template for `default` groups is also compared with the others there.
#[tokio::test]
async fn duplicates_are_refused_as_neutron() {
    let s = TestServer::start().await;
    let tcp = json!({"protocol": "tcp", "port_range_min": 2222, "port_range_max": 2222});
    let mut both = tcp.clone();
    both["used_in_default_sg"] = json!(true);
    let first = create(&s, both).await;
    let message = format!("Default Security group rule already exists. Rule id is {}.", first["id"].as_str().unwrap());
    for flags in [json!([true, false]), json!([false, true]), json!([false, false])] {
        let mut again = tcp.clone();
        again["used_in_default_sg"] = flags[0].clone();
        again["used_in_non_default_sg"] = flags[1].clone();
        // The same protocol by number is the same rule.
        again["protocol"] = json!("6");
        assert_error_message(&s.post(PATH, template(again)).await, 409, "DefaultSecurityGroupRuleExists", &message);
    }
    // The same rule for default groups only and for other groups only are two templates.
    let udp = json!({"protocol": "udp", "port_range_min": 53, "port_range_max": 53});
    let mut for_default = udp.clone();
    for_default["used_in_default_sg"] = json!(true);
    for_default["used_in_non_default_sg"] = json!(false);
    create(&s, for_default.clone()).await;
    create(&s, udp).await;
    // ... but never twice for default groups (Neutron would then make the rule twice).
    assert_error(&s.post(PATH, template(for_default)).await, 409, "DefaultSecurityGroupRuleExists");
    let legacy = json!({"remote_group_id": "PARENT", "used_in_default_sg": true, "used_in_non_default_sg": false});
    assert_error(&s.post(PATH, template(legacy)).await, 409, "DefaultSecurityGroupRuleExists");
    let egress = json!({"direction": "egress", "used_in_non_default_sg": false});
    assert_error(&s.post(PATH, template(egress)).await, 409, "DefaultSecurityGroupRuleExists");
}

#[tokio::test]
async fn templates_are_checked_as_rules_are() {
    let s = TestServer::start().await;
    let (st, b) = s.post(PATH, json!({"default_security_group_rule": {"direction": "ingress"}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(
        b["NeutronError"]["message"],
        "Failed to parse request. Required attribute 'used_in_default_sg' not specified"
    );
    let bulk = json!({"default_security_group_rules": [template(json!({}))["default_security_group_rule"]]});
    assert_error_message(&s.post(PATH, bulk).await, 400, "HTTPBadRequest", "Bulk operation not supported");
    assert_error_message(
        &s.post(PATH, template(json!({"remote_address_group_id": "foo"}))).await,
        400,
        "HTTPBadRequest",
        "Invalid input for remote_address_group_id. Reason: 'foo' is not a valid UUID.",
    );
    assert_error(&s.post(PATH, template(json!({"remote_group_id": "foo"}))).await, 400, "HTTPBadRequest");
    assert_error(
        &s.post(PATH, template(json!({"remote_group_id": "PARENT", "remote_ip_prefix": "10.0.0.0/8"}))).await,
        400,
        "SecurityGroupMultipleRemoteEntites",
    );
    assert_error(
        &s.post(PATH, template(json!({"port_range_min": 22}))).await,
        400,
        "SecurityGroupProtocolRequiredWithPorts",
    );
    assert_error(
        &s.post(PATH, template(json!({"ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}))).await,
        400,
        "SecurityGroupRuleParameterConflict",
    );
    let t = create(&s, json!({"ethertype": "IPv6", "protocol": "icmp"})).await;
    assert_eq!(t["protocol"], "ipv6-icmp");
    let t = create(&s, json!({"protocol": "tcp", "port_range_min": 1, "port_range_max": 65535})).await;
    assert_eq!((&t["port_range_min"], &t["port_range_max"]), (&Value::Null, &Value::Null));
    let ag = "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f";
    let t = create(&s, json!({"remote_address_group_id": ag})).await;
    assert_eq!(t["remote_address_group_id"], ag);
    let id = t["id"].as_str().unwrap();
    assert_error_message(
        &s.put(&format!("{PATH}/{id}"), json!({"default_security_group_rule": {"description": "x"}})).await,
        400,
        "HTTPBadRequest",
        "Cannot update read-only attribute description",
    );
}

/// A project's `default` group and every other new group are made from their templates,
/// `PARENT` standing for the group itself, and the rule quota counts what they make.
#[tokio::test]
async fn new_groups_follow_the_templates() {
    let s = TestServer::start().await;
    let ssh = create(
        &s,
        json!({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
        "remote_group_id": "PARENT", "description": "ssh from the group"}),
    )
    .await;
    let egress6 = list(&s, "").await.into_iter().find(|t| t["direction"] == "egress" && t["ethertype"] == "IPv6");
    let egress6 = egress6.unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(s.delete(&format!("{PATH}/{egress6}")).await.0, StatusCode::NO_CONTENT);

    let h = [("X-Project-Id", "p1")];
    let (st, b) =
        s.call_with(Method::POST, "/v2.0/security-groups", Some(json!({"security_group": {"name": "web"}})), &h).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let web = &b["security_group"];
    let id = web["id"].as_str().unwrap();
    let rules = &web["security_group_rules"];
    assert_eq!(
        shapes(rules),
        vec![
            "\"egress\" \"IPv4\" null null null null null".to_string(),
            format!("\"ingress\" \"IPv4\" \"tcp\" 22 22 null \"{id}\""),
        ]
    );
    let made = rules.as_array().unwrap().iter().find(|r| r["protocol"] == "tcp").unwrap();
    assert_eq!(made["belongs_to_default_sg"], false);
    assert_ne!(made["id"], ssh["id"]);

    let (_, l) = s.call_with(Method::GET, "/v2.0/security-groups?name=default", None, &h).await;
    let default = &l["security_groups"][0];
    let did = default["id"].as_str().unwrap();
    assert_eq!(
        shapes(&default["security_group_rules"]),
        vec![
            "\"egress\" \"IPv4\" null null null null null".to_string(),
            format!("\"ingress\" \"IPv4\" null null null null \"{did}\""),
            format!("\"ingress\" \"IPv6\" null null null null \"{did}\""),
        ]
    );
    // The rule quota counts what the templates make: 3 + 2.
    let (_, d) = s.get("/v2.0/quotas/p1/details").await;
    assert_eq!(d["quota"]["security_group_rule"]["used"], 5, "{d}");
    // A rule's membership of a default group is a filter.
    let (_, r) = s.call_with(Method::GET, "/v2.0/security-group-rules?belongs_to_default_sg=true", None, &h).await;
    assert_eq!(r["security_group_rules"].as_array().unwrap().len(), 3, "{r}");
    let (_, r) = s.call_with(Method::GET, "/v2.0/security-group-rules?belongs_to_default_sg=False", None, &h).await;
    assert_eq!(r["security_group_rules"].as_array().unwrap().len(), 2, "{r}");
}

/// The templates are read by anyone with a role in a project, written by admins only.
#[tokio::test]
async fn only_admins_write_templates() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (member, _) = s.member(&admin, "dp1", "dpuser1", "member").await;
    let (reader, _) = s.member(&admin, "dp2", "dpuser2", "reader").await;
    let as_user = |token: &str| [("X-Auth-Token", token.to_string())];
    for token in [&member, &reader] {
        let h = as_user(token);
        let h = [(h[0].0, h[0].1.as_str())];
        let (st, l) = s.call_with(Method::GET, PATH, None, &h).await;
        assert_eq!(st, StatusCode::OK, "{l}");
        let all = l["default_security_group_rules"].as_array().unwrap();
        assert_eq!(all.len(), 4);
        let id = all[0]["id"].as_str().unwrap();
        assert_eq!(s.call_with(Method::GET, &format!("{PATH}/{id}"), None, &h).await.0, StatusCode::OK);
        assert_error_message(
            &s.call_with(Method::POST, PATH, Some(template(json!({"protocol": "tcp"}))), &h).await,
            403,
            "PolicyNotAuthorized",
            "rule:create_default_security_group_rule is disallowed by policy",
        );
        assert_error_message(
            &s.call_with(Method::DELETE, &format!("{PATH}/{id}"), None, &h).await,
            403,
            "PolicyNotAuthorized",
            "rule:delete_default_security_group_rule is disallowed by policy",
        );
    }
    let h = [("X-Auth-Token", admin.as_str())];
    let (st, b) = s.call_with(Method::POST, PATH, Some(template(json!({"protocol": "tcp"}))), &h).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
}
