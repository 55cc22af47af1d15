//! Security groups shared by RBAC (`rbac-security-groups`, `security-groups-shared-filtering`)
//! as neutron-tempest-plugin's `RbacSharedSecurityGroupTest` exercises them, ports filtered by
//! their groups (`port-security-groups-filtering`), and the filtering a host is told for a
//! port in another project's group.

use crate::common::{assert_error, assert_error_message, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn as_user(s: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.call_with(method, path, body, &[("X-Auth-Token", token)]).await
}

async fn create(s: &TestServer, token: &str, path: &str, key: &str, body: Value) -> Value {
    let (st, v) = as_user(s, token, Method::POST, path, Some(json!({ key: body }))).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v[key].clone()
}

fn policy(object_id: &str, target: &str) -> Value {
    json!({"rbac_policy": {"object_type": "security_group", "object_id": object_id,
        "action": "access_as_shared", "target_tenant": target}})
}

async fn share(s: &TestServer, token: &str, object_id: &str, target: &str) -> String {
    let (st, p) = as_user(s, token, Method::POST, "/v2.0/rbac-policies", Some(policy(object_id, target))).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    assert_eq!(p["rbac_policy"]["object_type"], "security_group");
    p["rbac_policy"]["id"].as_str().unwrap().to_string()
}

fn ids(list: &Value, key: &str) -> Vec<String> {
    list[key].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_shared_group_is_seen_and_used_by_its_target_until_its_ports_hold_it() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, demo_project) = s.member(&admin, "rs1", "rsuser1", "member").await;
    let (other, other_project) = s.member(&admin, "rs2", "rsuser2", "member").await;
    let sg = create(&s, &admin, "/v2.0/security-groups", "security_group", json!({"name": "shared-sg"})).await;
    let sg_id = sg["id"].as_str().unwrap().to_string();
    let sg_path = format!("/v2.0/security-groups/{sg_id}");
    assert_error(&as_user(&s, &demo, Method::GET, &sg_path, None).await, 404, "SecurityGroupNotFound");
    let net = create(&s, &demo, "/v2.0/networks", "network", json!({"name": "n"})).await;
    let port_body = json!({"network_id": net["id"], "security_groups": [sg_id]});
    let refused = as_user(&s, &demo, Method::POST, "/v2.0/ports", Some(json!({"port": port_body.clone()}))).await;
    assert_error(&refused, 404, "SecurityGroupNotFound");

    let id = share(&s, &admin, &sg_id, &demo_project).await;
    // The target sees it, shared to it, with its rules; the others do not.
    let (st, got) = as_user(&s, &demo, Method::GET, &sg_path, None).await;
    assert_eq!((st, &got["security_group"]["shared"]), (StatusCode::OK, &json!(true)), "{got}");
    assert_eq!(got["security_group"]["security_group_rules"].as_array().unwrap().len(), 2);
    let (_, got) = as_user(&s, &admin, Method::GET, &sg_path, None).await;
    assert_eq!(got["security_group"]["shared"], false, "{got}");
    let (_, list) = as_user(&s, &demo, Method::GET, "/v2.0/security-groups?shared=true", None).await;
    assert_eq!(ids(&list, "security_groups"), vec![sg_id.clone()]);
    let (_, list) = as_user(&s, &demo, Method::GET, "/v2.0/security-groups?shared=false", None).await;
    assert!(!ids(&list, "security_groups").contains(&sg_id), "{list}");
    assert_error(&as_user(&s, &other, Method::GET, &sg_path, None).await, 404, "SecurityGroupNotFound");
    let (_, list) = as_user(&s, &other, Method::GET, "/v2.0/security-groups", None).await;
    assert!(!ids(&list, "security_groups").contains(&sg_id), "{list}");
    // Its rules stay the owner's: not listed, shown, added or deleted by the target.
    let rule_id = got["security_group"]["security_group_rules"][0]["id"].as_str().unwrap().to_string();
    let rule_path = format!("/v2.0/security-group-rules/{rule_id}");
    assert_error(&as_user(&s, &demo, Method::GET, &rule_path, None).await, 404, "SecurityGroupRuleNotFound");
    assert_error(&as_user(&s, &demo, Method::DELETE, &rule_path, None).await, 404, "SecurityGroupRuleNotFound");
    let (_, rules) = as_user(&s, &demo, Method::GET, "/v2.0/security-group-rules", None).await;
    assert!(!ids(&rules, "security_group_rules").contains(&rule_id));
    let rule = json!({"security_group_rule": {"security_group_id": sg_id, "direction": "ingress", "protocol": "tcp"}});
    assert_error(
        &as_user(&s, &demo, Method::POST, "/v2.0/security-group-rules", Some(rule)).await,
        403,
        "PolicyNotAuthorized",
    );
    // The target may not share it further, nor see the policy.
    assert_error_message(
        &as_user(&s, &demo, Method::POST, "/v2.0/rbac-policies", Some(policy(&sg_id, &other_project))).await,
        400,
        "InvalidInput",
        "Invalid input for operation: Only admins can manipulate policies on objects they do not own.",
    );
    let (_, mine) = as_user(&s, &demo, Method::GET, "/v2.0/rbac-policies", None).await;
    assert_eq!(mine["rbac_policies"], json!([]));

    // The target's port uses it; the policy then cannot go, nor move to another project.
    let port = create(&s, &demo, "/v2.0/ports", "port", port_body).await;
    assert_eq!(port["security_groups"], json!([sg_id]));
    let (_, by_group) = as_user(&s, &demo, Method::GET, &format!("/v2.0/ports?security_groups={sg_id}"), None).await;
    assert_eq!(ids(&by_group, "ports"), vec![port["id"].as_str().unwrap().to_string()]);
    let policy_path = format!("/v2.0/rbac-policies/{id}");
    let in_use = format!(
        "RBAC policy on object {sg_id} cannot be removed because other objects depend on it.\nDetails: project_id={demo_project}"
    );
    assert_error_message(
        &as_user(&s, &admin, Method::DELETE, &policy_path, None).await,
        409,
        "RbacPolicyInUse",
        &in_use,
    );
    let moved = json!({"rbac_policy": {"target_tenant": other_project}});
    assert_error(&as_user(&s, &admin, Method::PUT, &policy_path, Some(moved)).await, 409, "RbacPolicyInUse");
    // A `*` policy keeps it shared: then the targeted one may go, and `shared` is the flag.
    let everyone = share(&s, &admin, &sg_id, "*").await;
    let (_, got) = as_user(&s, &admin, Method::GET, &sg_path, None).await;
    assert_eq!(got["security_group"]["shared"], true, "{got}");
    assert_eq!(as_user(&s, &admin, Method::DELETE, &policy_path, None).await.0, StatusCode::NO_CONTENT);
    let everyone_path = format!("/v2.0/rbac-policies/{everyone}");
    assert_error(&as_user(&s, &admin, Method::DELETE, &everyone_path, None).await, 409, "RbacPolicyInUse");
    let port_path = format!("/v2.0/ports/{}", port["id"].as_str().unwrap());
    assert_eq!(as_user(&s, &demo, Method::DELETE, &port_path, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(as_user(&s, &admin, Method::DELETE, &everyone_path, None).await.0, StatusCode::NO_CONTENT);
    let (_, got) = as_user(&s, &admin, Method::GET, &sg_path, None).await;
    assert_eq!(got["security_group"]["shared"], false, "{got}");
    assert_error(&as_user(&s, &demo, Method::GET, &sg_path, None).await, 404, "SecurityGroupNotFound");
    // A group's policies go with it.
    share(&s, &admin, &sg_id, &other_project).await;
    assert_eq!(as_user(&s, &admin, Method::DELETE, &sg_path, None).await.0, StatusCode::NO_CONTENT);
    let (_, left) = as_user(&s, &admin, Method::GET, &format!("/v2.0/rbac-policies?object_id={sg_id}"), None).await;
    assert_eq!(left["rbac_policies"], json!([]), "{left}");
}

/// `?security_groups=` lists the ports using any of the groups named.
#[tokio::test]
async fn ports_are_filtered_by_their_groups() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let mut groups = Vec::new();
    for name in ["a", "b"] {
        let (_, g) = s.post("/v2.0/security-groups", json!({"security_group": {"name": name}})).await;
        groups.push(g["security_group"]["id"].as_str().unwrap().to_string());
    }
    let mut ports = Vec::new();
    for sgs in [json!([groups[0]]), json!([groups[0], groups[1]]), json!([groups[1]]), json!([])] {
        let (st, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "security_groups": sgs}})).await;
        assert_eq!(st, StatusCode::CREATED, "{p}");
        ports.push(p["port"]["id"].as_str().unwrap().to_string());
    }
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let (_, l) = s.get(&format!("/v2.0/ports?security_groups={}", groups[0])).await;
    assert_eq!(sorted(ids(&l, "ports")), sorted(vec![ports[0].clone(), ports[1].clone()]));
    let (_, l) = s.get(&format!("/v2.0/ports?security_groups={}&security_groups={}", groups[0], groups[1])).await;
    assert_eq!(sorted(ids(&l, "ports")), sorted(ports[..3].to_vec()));
    let (_, l) = s.get(&format!("/v2.0/ports?security_groups={}&id={}", groups[1], ports[0])).await;
    assert_eq!(ids(&l, "ports"), Vec::<String>::new());
    let (_, l) = s.get("/v2.0/ports?security_groups=foo").await;
    assert_eq!(ids(&l, "ports"), Vec::<String>::new());
}

/// A host filters a port in another project's shared group with that group's rules.
#[tokio::test]
async fn a_host_filters_a_port_with_a_shared_group() {
    let s = TestServer::start().await;
    let report = json!({"host": "compute-1", "agent_type": "Linux bridge agent", "binary": "neutrino-agent",
        "start_flag": true, "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": "198.18.1.1",
        "l2_population": true, "interface_mappings": {}, "devices": 0}});
    s.post("/agent/v1/agents/report", report).await;
    let owner = [("X-Project-Id", "0a1b2c3d4e5f40718293a4b5c6d7e8f9")];
    let user = [("X-Project-Id", "1b2c3d4e5f6041728394a5b6c7d8e9f0")];
    let (_, g) = s
        .call_with(Method::POST, "/v2.0/security-groups", Some(json!({"security_group": {"name": "web"}})), &owner)
        .await;
    let sg = g["security_group"]["id"].as_str().unwrap().to_string();
    let rule = json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp",
        "port_range_min": 80, "port_range_max": 80}});
    assert_eq!(
        s.call_with(Method::POST, "/v2.0/security-group-rules", Some(rule), &owner).await.0,
        StatusCode::CREATED
    );
    let (st, b) = s.post("/v2.0/rbac-policies", policy(&sg, user[0].1)).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let (_, n) = s.call_with(Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "n"}})), &user).await;
    let net = n["network"]["id"].as_str().unwrap();
    s.call_with(
        Method::POST,
        "/v2.0/subnets",
        Some(json!({"subnet": {"network_id": net, "cidr": "10.9.0.0/24", "ip_version": 4}})),
        &user,
    )
    .await;
    let body = json!({"port": {"network_id": net, "security_groups": [sg], "binding:host_id": "compute-1"}});
    let (st, p) = s.call_with(Method::POST, "/v2.0/ports", Some(body), &user).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let (st, state) = s.get("/agent/v1/hosts/compute-1/state").await;
    assert_eq!(st, StatusCode::OK, "{state}");
    let ps = state["port_security"].as_array().unwrap().iter().find(|x| x["port_id"] == p["port"]["id"]).unwrap();
    assert_eq!(ps["security_group_ids"], json!([sg]));
    let group = state["security_groups"].as_array().unwrap().iter().find(|x| x["id"] == sg.as_str()).unwrap();
    assert!(group["rules"].as_array().unwrap().iter().any(|r| r["port_range_min"] == 80), "{group}");
}
