//! A tenant on networks it does not own (issue 11, points 1-6): project B, a plain member
//! with its own Keystone token, tries what Neutron's network-owner rules, router ownership
//! checks and MTU bounds refuse, against admin's shared and external networks and project
//! A's network and router. Every refusal is checked for its status, its Neutron error type
//! and that nothing was written; the owners, admin and the service role still succeed.

use crate::common::{assert_error, dhcp_report, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Admin's shared and external networks, project A's network and router, project B's own
/// network and router, and a service (Nova) user.
struct Cloud {
    s: TestServer,
    admin: String,
    a: String,
    b: String,
    b_project: String,
    nova: String,
    shared_net: String,
    shared_sub: String,
    ext_net: String,
    a_net: String,
    a_sub: String,
    a_router: String,
    b_net: String,
    b_sub: String,
    b_router: String,
}

fn id(v: &Value, kind: &str) -> String {
    v[kind]["id"].as_str().unwrap_or_else(|| panic!("no {kind} id in {v}")).to_string()
}

impl Cloud {
    async fn new() -> Self {
        let s = TestServer::start_auth().await;
        let admin = s.admin_token().await;
        let (a, _) = s.member(&admin, "project-a", "alice", "member").await;
        let (b, b_project) = s.member(&admin, "project-b", "bob", "member").await;
        let (nova, _) = s.member(&admin, "service", "nova", "service").await;
        let mut c = Cloud {
            s,
            admin,
            a,
            b,
            b_project,
            nova,
            shared_net: String::new(),
            shared_sub: String::new(),
            ext_net: String::new(),
            a_net: String::new(),
            a_sub: String::new(),
            a_router: String::new(),
            b_net: String::new(),
            b_sub: String::new(),
            b_router: String::new(),
        };
        let admin = c.admin.clone();
        c.shared_net = c
            .created(&admin, "/v2.0/networks", json!({"network": {"name": "shared", "shared": true}}), "network")
            .await;
        c.shared_sub = c.subnet(&admin, &c.shared_net.clone(), "10.50.0.0/24").await;
        c.ext_net = c
            .created(
                &admin,
                "/v2.0/networks",
                json!({"network": {"name": "public", "router:external": true}}),
                "network",
            )
            .await;
        c.subnet(&admin, &c.ext_net.clone(), "203.0.113.0/24").await;
        let a = c.a.clone();
        c.a_net = c.created(&a, "/v2.0/networks", json!({"network": {"name": "a-net"}}), "network").await;
        c.a_sub = c.subnet(&a, &c.a_net.clone(), "10.1.0.0/24").await;
        c.a_router = c.created(&a, "/v2.0/routers", json!({"router": {"name": "a-router"}}), "router").await;
        let b = c.b.clone();
        c.b_net = c.created(&b, "/v2.0/networks", json!({"network": {"name": "b-net"}}), "network").await;
        c.b_sub = c.subnet(&b, &c.b_net.clone(), "10.2.0.0/24").await;
        c.b_router = c.created(&b, "/v2.0/routers", json!({"router": {"name": "b-router"}}), "router").await;
        c
    }

    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.s.call_with(method, path, body, &[("X-Auth-Token", token)]).await
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(token, Method::POST, path, Some(body)).await
    }

    async fn put(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(token, Method::PUT, path, Some(body)).await
    }

    async fn get(&self, token: &str, path: &str) -> Value {
        let (st, b) = self.call(token, Method::GET, path, None).await;
        assert_eq!(st, StatusCode::OK, "GET {path}: {b}");
        b
    }

    async fn created(&self, token: &str, path: &str, body: Value, kind: &str) -> String {
        let got = self.post(token, path, body).await;
        assert_eq!(got.0, StatusCode::CREATED, "POST {path}: {}", got.1);
        id(&got.1, kind)
    }

    async fn subnet(&self, token: &str, net: &str, cidr: &str) -> String {
        let v = if cidr.contains(':') { 6 } else { 4 };
        self.created(
            token,
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": cidr, "ip_version": v}}),
            "subnet",
        )
        .await
    }

    /// Every port on a network, as admin sees them.
    async fn ports_on(&self, net: &str) -> Vec<Value> {
        self.get(&self.admin, &format!("/v2.0/ports?network_id={net}")).await["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The ports naming `device_id`, as admin sees them.
    async fn ports_of_device(&self, device: &str) -> Vec<Value> {
        self.get(&self.admin, &format!("/v2.0/ports?device_id={device}")).await["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn port(&self, token: &str, id: &str) -> Value {
        self.get(token, &format!("/v2.0/ports/{id}")).await["port"].clone()
    }
}

/// Asserts a refused create left the network's ports as they were.
async fn refused_create(c: &Cloud, net: &str, body: Value, status: u16, kind: &str) -> (StatusCode, Value) {
    let before = c.ports_on(net).await.len();
    let got = c.post(&c.b, "/v2.0/ports", body.clone()).await;
    assert_error(&got, status, kind);
    assert_eq!(c.ports_on(net).await.len(), before, "a refused create wrote a port: {body}");
    got
}

/// Asserts a refused update left the port as it was (same revision, same document).
async fn refused_update(
    c: &Cloud,
    token: &str,
    port: &str,
    body: Value,
    status: u16,
    kind: &str,
) -> (StatusCode, Value) {
    let before = c.port(&c.admin, port).await;
    let got = c.put(token, &format!("/v2.0/ports/{port}"), body.clone()).await;
    assert_error(&got, status, kind);
    assert_eq!(c.port(&c.admin, port).await, before, "a refused update changed the port: {body}");
    got
}

// --- Point 1: Neutron's network-owner rules, checked against the network's owner. ---

async fn point1_network_owner_attributes(c: &Cloud) {
    let net = c.shared_net.clone();
    let sub = c.shared_sub.clone();
    // B may create a plain port on the shared network, and name its subnet (rule:shared).
    let plain = c.created(&c.b, "/v2.0/ports", json!({"port": {"network_id": net}}), "port").await;
    let by_subnet = c
        .created(&c.b, "/v2.0/ports", json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": sub}]}}), "port")
        .await;
    assert_eq!(c.port(&c.b, &by_subnet).await["fixed_ips"][0]["subnet_id"], sub.as_str());

    // Everything the network's owner alone may choose: 403 for B, nothing written.
    let got = refused_create(
        c,
        &net,
        json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": sub, "ip_address": "10.50.0.77"}]}}),
        403,
        "PolicyNotAuthorized",
    )
    .await;
    assert_eq!(
        got.1["NeutronError"]["message"],
        "(rule:create_port and (rule:create_port:fixed_ips and (rule:create_port:fixed_ips:ip_address and rule:create_port:fixed_ips:subnet_id))) is disallowed by policy"
    );
    let got = refused_create(
        c,
        &net,
        json!({"port": {"network_id": net, "mac_address": "fa:16:3e:11:22:33"}}),
        403,
        "PolicyNotAuthorized",
    )
    .await;
    assert_eq!(
        got.1["NeutronError"]["message"],
        "(rule:create_port and rule:create_port:mac_address) is disallowed by policy"
    );
    for body in [
        json!({"port": {"network_id": net, "device_owner": "network:dhcp"}}),
        json!({"port": {"network_id": net, "device_owner": "network:router_interface"}}),
        json!({"port": {"network_id": net, "port_security_enabled": false}}),
        json!({"port": {"network_id": net, "allowed_address_pairs": [{"ip_address": "10.50.0.0/24"}]}}),
        json!({"port": {"network_id": net, "allowed_address_pairs": [{"ip_address": "10.50.0.9", "mac_address": "fa:16:3e:00:00:09"}]}}),
        json!({"port": {"network_id": net, "binding:host_id": "compute-1"}}),
        json!({"port": {"network_id": net, "binding:profile": {"pci_slot": "0000:00:01.0"}}}),
    ] {
        refused_create(c, &net, body, 403, "PolicyNotAuthorized").await;
    }
    // A device owner outside `network:*` is B's to choose.
    c.created(&c.b, "/v2.0/ports", json!({"port": {"network_id": net, "device_owner": "compute:nova"}}), "port").await;

    // Updates of B's own port on the shared network: the same attributes, 403, unchanged.
    for body in [
        json!({"port": {"mac_address": "fa:16:3e:11:22:34"}}),
        json!({"port": {"fixed_ips": [{"subnet_id": sub, "ip_address": "10.50.0.78"}]}}),
        json!({"port": {"fixed_ips": [{"subnet_id": sub}]}}),
        json!({"port": {"device_owner": "network:foo"}}),
        json!({"port": {"port_security_enabled": false}}),
        json!({"port": {"allowed_address_pairs": [{"ip_address": "10.50.0.0/24"}]}}),
        json!({"port": {"binding:host_id": "compute-1"}}),
    ] {
        refused_update(c, &c.b, &plain, body, 403, "PolicyNotAuthorized").await;
    }
    let (st, b) = c.put(&c.b, &format!("/v2.0/ports/{plain}"), json!({"port": {"name": "mine"}})).await;
    assert_eq!(st, StatusCode::OK, "B still updates its port's plain attributes: {b}");

    // The network's owner, admin and the service role still can.
    let mine = c
        .created(
            &c.a,
            "/v2.0/ports",
            json!({"port": {"network_id": c.a_net, "mac_address": "fa:16:3e:aa:00:01", "device_owner": "network:foo",
                   "port_security_enabled": false, "fixed_ips": [{"subnet_id": c.a_sub, "ip_address": "10.1.0.50"}]}}),
            "port",
        )
        .await;
    let (st, b) = c
        .put(
            &c.a,
            &format!("/v2.0/ports/{mine}"),
            json!({"port": {"allowed_address_pairs": [], "port_security_enabled": true}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    c.created(
        &c.admin,
        "/v2.0/ports",
        json!({"port": {"network_id": net, "mac_address": "fa:16:3e:ad:00:01",
               "fixed_ips": [{"subnet_id": sub, "ip_address": "10.50.0.60"}]}}),
        "port",
    )
    .await;
    c.created(
        &c.nova,
        "/v2.0/ports",
        json!({"port": {"network_id": net, "mac_address": "fa:16:3e:5e:00:01", "binding:host_id": "compute-1",
               "fixed_ips": [{"subnet_id": sub, "ip_address": "10.50.0.61"}]}}),
        "port",
    )
    .await;

    // Nova (the service role) binds B's port on the shared network.
    let (st, b) =
        c.put(&c.nova, &format!("/v2.0/ports/{plain}"), json!({"port": {"binding:host_id": "compute-1"}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(c.port(&c.admin, &plain).await["binding:host_id"], "compute-1");

    // Changing a MAC is admin's (and the service's) alone, even on one's own network.
    let got = refused_update(
        c,
        &c.a,
        &mine,
        json!({"port": {"mac_address": "fa:16:3e:aa:00:02"}}),
        403,
        "PolicyNotAuthorized",
    )
    .await;
    assert_eq!(
        got.1["NeutronError"]["message"],
        "(rule:update_port and rule:update_port:mac_address) is disallowed by policy"
    );
    let (st, b) =
        c.put(&c.admin, &format!("/v2.0/ports/{mine}"), json!({"port": {"mac_address": "fa:16:3e:aa:00:02"}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["port"]["mac_address"], "fa:16:3e:aa:00:02");
}

// --- Point 3: a router's device_id with a router owner needs the router's project. ---

async fn point3_router_claims(c: &Cloud) {
    let before = c.ports_of_device(&c.a_router).await.len();
    // On B's own network (the owner rules let B choose `network:*` owners there) B still may
    // not plug a port into A's router, by create or by update, as interface or gateway.
    for owner in ["network:router_interface", "network:router_gateway", "network:router_interface_distributed"] {
        let got = refused_create(
            c,
            &c.b_net,
            json!({"port": {"network_id": c.b_net, "device_owner": owner, "device_id": c.a_router}}),
            409,
            "DeviceIDNotOwnedByTenant",
        )
        .await;
        assert_eq!(
            got.1["NeutronError"]["message"],
            format!(
                "The following device_id {} is not owned by your tenant or matches another tenants router.",
                c.a_router
            )
        );
    }
    let vm = c.created(&c.b, "/v2.0/ports", json!({"port": {"network_id": c.b_net}}), "port").await;
    refused_update(
        c,
        &c.b,
        &vm,
        json!({"port": {"device_owner": "network:router_interface", "device_id": c.a_router}}),
        409,
        "DeviceIDNotOwnedByTenant",
    )
    .await;
    // In two steps: first the owner, then the device.
    let (st, b) =
        c.put(&c.b, &format!("/v2.0/ports/{vm}"), json!({"port": {"device_owner": "network:router_interface"}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    refused_update(c, &c.b, &vm, json!({"port": {"device_id": c.a_router}}), 409, "DeviceIDNotOwnedByTenant").await;
    assert_eq!(c.ports_of_device(&c.a_router).await.len(), before, "A's router gained a port");
    // On a network B does not own the owner rules refuse first.
    refused_create(
        c,
        &c.shared_net,
        json!({"port": {"network_id": c.shared_net, "device_owner": "network:router_interface", "device_id": c.a_router}}),
        403,
        "PolicyNotAuthorized",
    )
    .await;
    // The router's own project may, and so may admin.
    c.created(
        &c.a,
        "/v2.0/ports",
        json!({"port": {"network_id": c.a_net, "device_owner": "network:router_interface", "device_id": c.a_router}}),
        "port",
    )
    .await;
    c.created(
        &c.admin,
        "/v2.0/ports",
        json!({"port": {"network_id": c.b_net, "project_id": c.b_project, "device_owner": "network:router_interface", "device_id": c.a_router}}),
        "port",
    )
    .await;
}

// --- Point 4: router interfaces on subnets the caller's project does not own. ---

async fn point4_router_interfaces(c: &Cloud) {
    let shared_gateway = "10.50.0.1";
    let path = format!("/v2.0/routers/{}/add_router_interface", c.b_router);
    let got = c.put(&c.b, &path, json!({"subnet_id": c.shared_sub})).await;
    assert_error(&got, 400, "BadRequest");
    assert_eq!(
        got.1["NeutronError"]["message"],
        format!(
            "Bad router request: Cannot add interface to router because subnet {} is not owned by project making the request.",
            c.shared_sub
        )
    );
    assert!(c.ports_of_device(&c.b_router).await.is_empty(), "B's router gained an interface");
    let holders: Vec<Value> = c
        .ports_on(&c.shared_net)
        .await
        .into_iter()
        .filter(|p| p["fixed_ips"].as_array().is_some_and(|f| f.iter().any(|f| f["ip_address"] == shared_gateway)))
        .collect();
    assert!(holders.is_empty(), "the shared subnet's gateway was taken: {holders:?}");

    // A port may not take a subnet's gateway address by claiming a router owner: only the
    // router ports the server makes hold it.
    let got = refused_create(
        c,
        &c.b_net,
        json!({"port": {"network_id": c.b_net, "device_owner": "network:router_interface", "device_id": c.b_router,
               "fixed_ips": [{"subnet_id": c.b_sub, "ip_address": "10.2.0.1"}]}}),
        409,
        "IpAddressAlreadyAllocated",
    )
    .await;
    assert_eq!(
        got.1["NeutronError"]["message"],
        format!("IP address 10.2.0.1 already allocated in subnet {}", c.b_sub)
    );

    // B's own subnet attaches and its interface takes the gateway.
    let (st, b) = c.put(&c.b, &path, json!({"subnet_id": c.b_sub})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let port = c.port(&c.b, b["port_id"].as_str().unwrap_or_default()).await;
    assert_eq!(port["fixed_ips"][0]["ip_address"], "10.2.0.1");
    // A subnet whose network A shares with B by name attaches (Neutron, LP#1975603).
    let (st, b) = c
        .post(
            &c.a,
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "network", "object_id": c.a_net, "action": "access_as_shared",
                   "target_tenant": c.b_project}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let (st, b) = c.put(&c.b, &path, json!({"subnet_id": c.a_sub})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    // Admin may attach any subnet.
    let admin_router = c.created(&c.admin, "/v2.0/routers", json!({"router": {"name": "admin-r"}}), "router").await;
    let (st, b) = c
        .put(
            &c.admin,
            &format!("/v2.0/routers/{admin_router}/add_router_interface"),
            json!({"subnet_id": c.shared_sub}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
}

// --- Point 5: external networks that are not shared take no tenant ports. ---

async fn point5_external_network(c: &Cloud) {
    let net = c.ext_net.clone();
    let got = refused_create(c, &net, json!({"port": {"network_id": net}}), 403, "PolicyNotAuthorized").await;
    assert_eq!(got.1["NeutronError"]["message"], "rule:create_port is disallowed by policy");
    refused_create(
        c,
        &net,
        json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "203.0.113.50"}]}}),
        403,
        "PolicyNotAuthorized",
    )
    .await;
    // B still sees it and uses it as Neutron lets it: a gateway and a floating IP.
    let (st, b) = c
        .put(
            &c.b,
            &format!("/v2.0/routers/{}", c.b_router),
            json!({"router": {"external_gateway_info": {"network_id": net}}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    c.created(&c.b, "/v2.0/floatingips", json!({"floatingip": {"floating_network_id": net}}), "floatingip").await;
    // Admin (the owner) still creates ports there.
    c.created(&c.admin, "/v2.0/ports", json!({"port": {"network_id": net}}), "port").await;
}

// --- Point 6: network MTU bounds. ---

async fn point6_mtu(c: &Cloud) {
    let path = format!("/v2.0/networks/{}", c.b_net);
    let before = c.get(&c.b, &path).await["network"]["mtu"].clone();
    for (mtu, status, kind) in
        [(1, 409, "NetworkMTUSubnetConflict"), (67, 409, "NetworkMTUSubnetConflict"), (100_000, 400, "InvalidInput")]
    {
        let got = c.put(&c.b, &path, json!({"network": {"mtu": mtu}})).await;
        assert_error(&got, status, kind);
        assert_eq!(c.get(&c.b, &path).await["network"]["mtu"], before, "mtu {mtu} was written");
    }
    let got = c.put(&c.b, &path, json!({"network": {"mtu": 1}})).await;
    assert_eq!(
        got.1["NeutronError"]["message"],
        format!("MTU of {} is not valid, subnet requires a minimum of 68", c.b_net)
    );
    // An IPv6 subnet needs 1280.
    c.subnet(&c.b, &c.b_net, "2001:db8:2::/64").await;
    let got = c.put(&c.b, &path, json!({"network": {"mtu": 1279}})).await;
    assert_error(&got, 409, "NetworkMTUSubnetConflict");
    assert_eq!(
        got.1["NeutronError"]["message"],
        format!("MTU of {} is not valid, subnet requires a minimum of 1280", c.b_net)
    );
    assert_eq!(c.get(&c.b, &path).await["network"]["mtu"], before);
    let (st, b) = c.put(&c.b, &path, json!({"network": {"mtu": 1280}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["network"]["mtu"], 1280);
}

#[tokio::test]
async fn point1_a_member_cannot_set_network_owner_attributes_on_a_shared_network() {
    point1_network_owner_attributes(&Cloud::new().await).await;
}

#[tokio::test]
async fn point3_a_port_cannot_claim_another_projects_router() {
    point3_router_claims(&Cloud::new().await).await;
}

#[tokio::test]
async fn point4_router_interfaces_need_the_subnets_project() {
    point4_router_interfaces(&Cloud::new().await).await;
}

#[tokio::test]
async fn point5_no_tenant_ports_on_an_unshared_external_network() {
    point5_external_network(&Cloud::new().await).await;
}

#[tokio::test]
async fn point6_network_mtu_keeps_neutrons_bounds() {
    point6_mtu(&Cloud::new().await).await;
}

/// The whole scenario on one cloud: B tries every point in turn, and what the owners,
/// admin and the service did in between does not open anything for B.
#[tokio::test]
async fn hostile_tenant_scenario() {
    let c = Cloud::new().await;
    point1_network_owner_attributes(&c).await;
    point2_tenant_network_owner_keeps_filtering(&c).await;
    point3_router_claims(&c).await;
    point4_router_interfaces(&c).await;
    point5_external_network(&c).await;
    point6_mtu(&c).await;
    // A's network is now RBAC-shared with B: B may put plain ports there, and still none of
    // what only the network's owner chooses.
    c.created(
        &c.b,
        "/v2.0/ports",
        json!({"port": {"network_id": c.a_net, "fixed_ips": [{"subnet_id": c.a_sub}]}}),
        "port",
    )
    .await;
    refused_create(
        &c,
        &c.a_net,
        json!({"port": {"network_id": c.a_net, "mac_address": "fa:16:3e:bb:00:01"}}),
        403,
        "PolicyNotAuthorized",
    )
    .await;
    refused_create(
        &c,
        &c.a_net,
        json!({"port": {"network_id": c.a_net, "port_security_enabled": false}}),
        403,
        "PolicyNotAuthorized",
    )
    .await;
    // B never saw A's router on the way.
    assert_error(
        &c.call(&c.b, Method::GET, &format!("/v2.0/routers/{}", c.a_router), None).await,
        404,
        "RouterNotFound",
    );
}

// --- Point 2: no port a tenant controls becomes trusted by the host's firewall. ---

fn l2_report(host: &str, ip: &str) -> Value {
    json!({"host": host, "agent_type": "Linux bridge agent", "binary": "neutrino-agent", "start_flag": true,
           "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": ip, "l2_population": true,
                              "interface_mappings": {}, "devices": 0}})
}

/// The firewall entry of a port in a host's state.
async fn filtering(c: &Cloud, host: &str, port: &str) -> Value {
    let state = c.get(&c.admin, &format!("/agent/v1/hosts/{host}/state")).await;
    state["port_security"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["port_id"] == port).cloned())
        .unwrap_or_else(|| panic!("port {port} not in {host}'s state: {state}"))
}

async fn point2_tenant_network_owner_keeps_filtering(c: &Cloud) {
    let host = "compute-7";
    let (st, b) = c.post(&c.admin, "/agent/v1/agents/report", l2_report(host, "198.18.7.1")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    // Nova binds B's VM port (on B's own network) to the host.
    let vm = c
        .created(
            &c.admin,
            "/v2.0/ports",
            json!({"port": {"network_id": c.b_net, "project_id": c.b_project, "binding:host_id": host}}),
            "port",
        )
        .await;
    let bound = c.port(&c.admin, &vm).await;
    assert_eq!(bound["binding:vif_type"], "bridge", "{bound}");
    let groups = c.port(&c.b, &vm).await["security_groups"].clone();
    assert_eq!(groups.as_array().map(Vec::len), Some(1), "the default group: {groups}");
    let entry = filtering(c, host, &vm).await;
    assert_eq!(entry["port_security_enabled"], true);
    assert_eq!(entry["security_group_ids"], groups);

    // B owns the network, so the owner rules let it call its port `network:*`: the host's
    // firewall keeps filtering it with its groups all the same.
    for (owner, device) in
        [("network:foo", "vm-1"), ("network:router_interface", "vm-1"), ("network:router_gateway", "")]
    {
        let (st, b) = c
            .put(&c.b, &format!("/v2.0/ports/{vm}"), json!({"port": {"device_owner": owner, "device_id": device}}))
            .await;
        assert_eq!(st, StatusCode::OK, "{b}");
        let now = c.port(&c.admin, &vm).await;
        assert_eq!(now["binding:host_id"], host, "{now}");
        let entry = filtering(c, host, &vm).await;
        assert_eq!(entry["port_security_enabled"], true, "{owner}: {entry}");
        assert_eq!(entry["security_group_ids"], groups, "{owner}: {entry}");
    }
    // The owner the DHCP scheduler finds its ports by is the server's alone.
    let dhcp_id = format!("dhcp{}-{}", uuid_v5_dns(host), c.b_net);
    refused_update(
        c,
        &c.b,
        &vm,
        json!({"port": {"device_owner": "network:dhcp", "device_id": dhcp_id}}),
        403,
        "PolicyNotAuthorized",
    )
    .await;
    let (st, b) = c
        .put(&c.b, &format!("/v2.0/ports/{vm}"), json!({"port": {"device_owner": "compute:nova", "device_id": "vm-1"}}))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    // A port B creates with a `network:*` owner still gets its default group.
    let (st, b) =
        c.post(&c.b, "/v2.0/ports", json!({"port": {"network_id": c.b_net, "device_owner": "network:foo"}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["port"]["security_groups"].as_array().map(Vec::len), Some(1), "{b}");

    // The DHCP port the server's scheduler makes for this host's DHCP agent is trusted.
    let (st, b) = c.post(&c.admin, "/agent/v1/agents/report", dhcp_report(host)).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let dhcp_port = loop {
        let ports = c.get(&c.admin, &format!("/v2.0/ports?network_id={}&device_id={dhcp_id}", c.b_net)).await;
        let made = ports["ports"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["id"] != vm.as_str() && p["device_owner"] == "network:dhcp").cloned());
        if let Some(p) = made {
            break p;
        }
        assert!(Instant::now() < deadline, "no DHCP port scheduled: {ports}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let dhcp_port = dhcp_port["id"].as_str().unwrap_or_default().to_string();
    let entry = filtering(c, host, &dhcp_port).await;
    assert_eq!(entry["port_security_enabled"], false, "the server's own DHCP port: {entry}");
    assert_eq!(filtering(c, host, &vm).await["port_security_enabled"], true);
}

/// `uuid5(NAMESPACE_DNS, host)`, as the DHCP port's `device_id` uses it.
fn uuid_v5_dns(host: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, host.as_bytes()).to_string()
}

#[tokio::test]
async fn point2_a_tenants_network_device_owner_does_not_switch_filtering_off() {
    point2_tenant_network_owner_keeps_filtering(&Cloud::new().await).await;
}
