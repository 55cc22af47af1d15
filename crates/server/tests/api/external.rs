//! External networks through RBAC `access_as_external` policies, as Neutron's
//! `external_net_db` keeps them: the first policy makes a network external (without a `*`
//! one), the last one's removal makes it internal again, a targeted policy lets only its
//! project use the network (floating IPs, router gateways), and a policy may not go while
//! routers of the projects it lets in have their gateway there.

use crate::common::{assert_error, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn id(v: &Value, kind: &str) -> String {
    v[kind]["id"].as_str().unwrap_or_else(|| panic!("no {kind} id in {v}")).to_string()
}

/// An authenticated client of one project.
struct Client<'a> {
    s: &'a TestServer,
    token: String,
}

impl Client<'_> {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.s.call_with(method, path, body, &[("X-Auth-Token", &self.token)]).await
    }

    async fn policy(&self, net: &str, target: &str) -> (StatusCode, Value) {
        let body = json!({"rbac_policy": {"object_type": "network", "object_id": net, "action": "access_as_external", "target_tenant": target}});
        self.call(Method::POST, "/v2.0/rbac-policies", Some(body)).await
    }

    async fn external(&self, net: &str) -> Value {
        let (st, n) = self.call(Method::GET, &format!("/v2.0/networks/{net}"), None).await;
        assert_eq!(st, StatusCode::OK, "{n}");
        n["network"]["router:external"].clone()
    }

    async fn wildcards(&self, net: &str) -> usize {
        let path = format!("/v2.0/rbac-policies?object_id={net}&action=access_as_external&target_tenant=*");
        let (_, l) = self.call(Method::GET, &path, None).await;
        l["rbac_policies"].as_array().unwrap().len()
    }

    async fn router(&self, net: &str) -> (StatusCode, Value) {
        let body = json!({"router": {"name": "r", "external_gateway_info": {"network_id": net}}});
        self.call(Method::POST, "/v2.0/routers", Some(body)).await
    }
}

/// A server with admin and two member projects; admin's internal network with a subnet.
async fn cloud(s: &TestServer) -> (Client<'_>, Client<'_>, String, Client<'_>, String) {
    let token = s.admin_token().await;
    let (b, b_project) = s.member(&token, "project-b", "bob", "member").await;
    let (c, _) = s.member(&token, "project-c", "carol", "member").await;
    let admin = Client { s, token };
    let (st, n) = admin.call(Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "ext"}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    let net = id(&n, "network");
    let sub = json!({"subnet": {"network_id": net, "cidr": "203.0.113.0/24", "ip_version": 4, "enable_dhcp": false}});
    let (st, b2) = admin.call(Method::POST, "/v2.0/subnets", Some(sub)).await;
    assert_eq!(st, StatusCode::CREATED, "{b2}");
    (admin, Client { s, token: b }, b_project, Client { s, token: c }, net)
}

#[tokio::test]
async fn the_first_policy_makes_a_network_external_and_the_last_one_internal() {
    let s = TestServer::start_auth().await;
    let (admin, _b, b_project, _c, net) = cloud(&s).await;
    let (st, p1) = admin.policy(&net, &b_project).await;
    assert_eq!(st, StatusCode::CREATED, "{p1}");
    assert_eq!(admin.external(&net).await, true);
    assert_eq!(admin.wildcards(&net).await, 0, "a targeted policy adds no `*` one");
    // Saying `router:external: true` again changes nothing (still no `*` policy).
    let (st, _) = admin
        .call(Method::PUT, &format!("/v2.0/networks/{net}"), Some(json!({"network": {"router:external": true}})))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(admin.wildcards(&net).await, 0);
    let (_, p2) = admin.policy(&net, "*").await;
    let (st, _) = admin.call(Method::DELETE, &format!("/v2.0/rbac-policies/{}", id(&p2, "rbac_policy")), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(admin.external(&net).await, true, "one policy is left");
    let (st, _) = admin.call(Method::DELETE, &format!("/v2.0/rbac-policies/{}", id(&p1, "rbac_policy")), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(admin.external(&net).await, false);
    // `router:external: false` drops every `access_as_external` policy, targeted ones too.
    admin.policy(&net, &b_project).await;
    let (st, _) = admin
        .call(Method::PUT, &format!("/v2.0/networks/{net}"), Some(json!({"network": {"router:external": false}})))
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, l) = admin.call(Method::GET, &format!("/v2.0/rbac-policies?object_id={net}"), None).await;
    assert_eq!(l["rbac_policies"], json!([]));
}

#[tokio::test]
async fn a_targeted_policy_lets_only_its_project_use_the_network() {
    let s = TestServer::start_auth().await;
    let (admin, b, b_project, c, net) = cloud(&s).await;
    admin.policy(&net, &b_project).await;
    let fip = json!({"floatingip": {"floating_network_id": net}});
    // Project C is not let in: the external network does not exist for it.
    assert_error(&c.call(Method::POST, "/v2.0/floatingips", Some(fip.clone())).await, 404, "NetworkNotFound");
    assert_error(&c.router(&net).await, 404, "NetworkNotFound");
    let (_, l) = c.call(Method::GET, "/v2.0/networks", None).await;
    assert!(!l["networks"].as_array().unwrap().iter().any(|n| n["id"] == net.as_str()), "{l}");
    // Project B sees it, allocates from it and puts a gateway on it.
    let (_, l) = b.call(Method::GET, "/v2.0/networks", None).await;
    assert!(l["networks"].as_array().unwrap().iter().any(|n| n["id"] == net.as_str()), "{l}");
    let (st, f) = b.call(Method::POST, "/v2.0/floatingips", Some(fip)).await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    let (st, r) = b.router(&net).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
}

#[tokio::test]
async fn a_policy_stays_while_routers_depend_on_it() {
    let s = TestServer::start_auth().await;
    let (admin, b, b_project, _c, net) = cloud(&s).await;
    let (_, w) = admin.policy(&net, "*").await;
    let wildcard = id(&w, "rbac_policy");
    let (st, r) = b.router(&net).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let router = id(&r, "router");
    let delete = |p: String| {
        let admin = &admin;
        async move { admin.call(Method::DELETE, &format!("/v2.0/rbac-policies/{p}"), None).await }
    };
    let in_use = format!(
        "RBAC policy on object {net} cannot be removed because other objects depend on it.\nDetails: There are routers attached to this network that depend on this policy for access."
    );
    let refused = delete(wildcard.clone()).await;
    assert_error(&refused, 409, "RbacPolicyInUse");
    assert_eq!(refused.1["NeutronError"]["message"], in_use.as_str());
    let (_, t) = admin.policy(&net, &b_project).await;
    let targeted = id(&t, "rbac_policy");
    assert_eq!(delete(wildcard).await.0, StatusCode::NO_CONTENT);
    assert_error(&delete(targeted.clone()).await, 409, "RbacPolicyInUse");
    // Moving it is checked as its deletion is (Neutron looks at the policy's old target).
    let moved = admin
        .call(
            Method::PUT,
            &format!("/v2.0/rbac-policies/{targeted}"),
            Some(json!({"rbac_policy": {"target_tenant": "*"}})),
        )
        .await;
    assert_error(&moved, 409, "RbacPolicyInUse");
    // With a `*` policy back, B no longer needs its own.
    let (_, w) = admin.policy(&net, "*").await;
    assert_eq!(delete(targeted).await.0, StatusCode::NO_CONTENT);
    assert_eq!(admin.call(Method::DELETE, &format!("/v2.0/routers/{router}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(delete(id(&w, "rbac_policy")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(admin.external(&net).await, false);
    assert_error(&b.router(&net).await, 404, "NetworkNotFound");
}
