//! `binding-extended`: a port's bindings as Nova's live migration drives them (bind on the
//! target host, activate, delete the old one), with Neutron's bodies, errors and policy
//! (reads for admin or the service role, writes for the service role only), and what the
//! hosts' agents are told.

use crate::common::{assert_error, assert_error_message, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A cloud with agents on compute-1 (198.18.1.1) and compute-2 (198.18.1.2), a member's
/// network and a server port of that member bound to compute-1.
struct Cloud {
    s: TestServer,
    admin: String,
    service: String,
    member: String,
    net: String,
    port: Value,
}

impl Cloud {
    async fn start() -> Self {
        let s = TestServer::start_auth().await;
        let admin = s.admin_token().await;
        let (service, _) = s.member(&admin, "service", "nova", "service").await;
        let (member, _) = s.member(&admin, "p1", "u1", "member").await;
        let mut c = Cloud { s, admin, service, member, net: String::new(), port: Value::Null };
        for (host, ip) in [("compute-1", "198.18.1.1"), ("compute-2", "198.18.1.2"), ("compute-3", "198.18.1.3")] {
            let report = json!({"host": host, "agent_type": "Linux bridge agent", "binary": "neutrino-agent",
                "start_flag": true, "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": ip,
                    "l2_population": true, "interface_mappings": {}, "devices": 0}});
            let (st, b) = c.admin_call(Method::POST, "/agent/v1/agents/report", Some(report)).await;
            assert_eq!(st, StatusCode::OK, "{b}");
        }
        let (st, b) = c.member_call(Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "n"}}))).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        c.net = b["network"]["id"].as_str().unwrap().to_string();
        let subnet = json!({"subnet": {"network_id": c.net, "cidr": "10.9.0.0/24", "ip_version": 4}});
        let (st, b) = c.member_call(Method::POST, "/v2.0/subnets", Some(subnet)).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        c.port = c.server_port("compute-1").await;
        c
    }

    async fn call(&self, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.s.call_with(method, path, body, &[("x-auth-token", token)]).await
    }

    async fn admin_call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(&self.admin, method, path, body).await
    }

    async fn member_call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(&self.member, method, path, body).await
    }

    async fn nova(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(&self.service, method, path, body).await
    }

    /// A member's port of a server, bound (by Nova) to `host`.
    async fn server_port(&self, host: &str) -> Value {
        let body = json!({"port": {"network_id": self.net, "device_owner": "compute:nova",
            "device_id": uuid::Uuid::new_v4().to_string()}});
        let (st, p) = self.member_call(Method::POST, "/v2.0/ports", Some(body)).await;
        assert_eq!(st, StatusCode::CREATED, "{p}");
        let id = p["port"]["id"].as_str().unwrap().to_string();
        let bind = json!({"port": {"binding:host_id": host}});
        let (st, p) = self.nova(Method::PUT, &format!("/v2.0/ports/{id}"), Some(bind)).await;
        assert_eq!(st, StatusCode::OK, "{p}");
        p["port"].clone()
    }

    fn id(&self) -> &str {
        self.port["id"].as_str().unwrap()
    }

    fn bindings(&self) -> String {
        format!("/v2.0/ports/{}/bindings", self.id())
    }

    async fn bind(&self, host: &str) -> (StatusCode, Value) {
        self.nova(Method::POST, &self.bindings(), Some(json!({"binding": {"host": host}}))).await
    }

    async fn activate(&self, token: &str, host: &str) -> (StatusCode, Value) {
        self.call(token, Method::PUT, &format!("{}/{host}/activate", self.bindings()), None).await
    }

    async fn show_port(&self) -> Value {
        let (st, b) = self.admin_call(Method::GET, &format!("/v2.0/ports/{}", self.id()), None).await;
        assert_eq!(st, StatusCode::OK, "{b}");
        b["port"].clone()
    }

    async fn state(&self, host: &str) -> Value {
        let (st, b) = self.admin_call(Method::GET, &format!("/agent/v1/hosts/{host}/state"), None).await;
        assert_eq!(st, StatusCode::OK, "{b}");
        b
    }

    /// The agent of `host` reports the port wired or not.
    async fn report(&self, host: &str, status: &str) {
        let body = json!({"host": host, "ports": {self.id(): status}});
        let (st, b) = self.admin_call(Method::POST, &format!("/agent/v1/hosts/{host}/port-status"), Some(body)).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
}

fn bridge_details() -> Value {
    json!({"connectivity": "l2", "port_filter": true})
}

/// The port as a host's state lists it, if it does.
fn port_in(state: &Value, port: &str) -> Option<Value> {
    state["ports"].as_array().unwrap().iter().find(|p| p["id"] == port).cloned()
}

/// Where a host's state says the port's MAC lives (l2population), if remote.
fn remote_endpoint(state: &Value, mac: &Value) -> Option<Value> {
    state["networks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["remote_ports"].as_array().unwrap().clone())
        .find(|r| r["mac_address"] == *mac)
        .map(|r| r["endpoint"].clone())
}

#[tokio::test]
async fn a_binding_on_another_host_is_inactive_and_wired_there_until_activated() {
    let c = Cloud::start().await;
    let (id, mac) = (c.id().to_string(), c.port["mac_address"].clone());
    c.server_port("compute-3").await;
    let (st, b) = c.nova(Method::GET, &c.bindings(), None).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let active_1 = json!({"host": "compute-1", "vif_type": "bridge", "vnic_type": "normal", "status": "ACTIVE",
        "profile": {}, "vif_details": bridge_details()});
    assert_eq!(b, json!({"bindings": [active_1]}));

    let revision = c.show_port().await["revision_number"].as_u64().unwrap();
    let (st, b) = c
        .nova(
            Method::POST,
            &c.bindings(),
            Some(json!({"binding": {"host": "compute-2", "profile": {"migrating_to": "compute-2"}}})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let inactive_2 = json!({"host": "compute-2", "vif_type": "bridge", "vnic_type": "normal", "status": "INACTIVE",
        "profile": {"migrating_to": "compute-2"}, "vif_details": bridge_details()});
    assert_eq!(b, json!({"binding": inactive_2}));
    let port = c.show_port().await;
    assert_eq!(port["binding:host_id"], "compute-1", "the port stays where it is");
    assert_eq!(port["revision_number"].as_u64().unwrap(), revision + 1, "a binding revises its port");

    let (_, b) = c.nova(Method::GET, &c.bindings(), None).await;
    assert_eq!(b, json!({"bindings": [active_1, inactive_2]}));
    let (st, b) = c.nova(Method::GET, &format!("{}/compute-2", c.bindings()), None).await;
    assert_eq!((st, b), (StatusCode::OK, json!({"binding": inactive_2})));
    let (_, b) = c.nova(Method::GET, &format!("{}?status=INACTIVE", c.bindings()), None).await;
    assert_eq!(b, json!({"bindings": [inactive_2]}));
    let (_, b) = c.nova(Method::GET, &format!("{}?host=compute-1&fields=host&fields=status", c.bindings()), None).await;
    assert_eq!(b, json!({"bindings": [{"host": "compute-1", "status": "ACTIVE"}]}));
    let (_, b) = c.nova(Method::GET, &format!("{}/compute-2?fields=status", c.bindings()), None).await;
    assert_eq!(b, json!({"binding": {"status": "INACTIVE"}}));
    let got = c.nova(Method::GET, &format!("{}?bogus=1&vif_details=x", c.bindings()), None).await;
    assert_error_message(&got, 400, "HTTPBadRequest", "['bogus', 'vif_details'] is invalid attribute for filtering");

    // Both hosts wire the port; everyone, compute-2 included, still finds it on compute-1.
    let s1 = c.state("compute-1").await;
    let s2 = c.state("compute-2").await;
    let s3 = c.state("compute-3").await;
    assert_eq!(port_in(&s1, &id).unwrap()["binding"], "ACTIVE");
    let on_2 = port_in(&s2, &id).expect("the target host wires the port ahead");
    assert_eq!((on_2["binding"].clone(), on_2["status"].clone()), (json!("INACTIVE"), json!("DOWN")));
    assert_eq!(s2["port_security"][0]["port_id"], id.as_str(), "and filters it");
    assert_eq!(s2["networks"][0]["id"], c.net.as_str());
    assert_eq!(remote_endpoint(&s2, &mac), Some(json!("198.18.1.1")));
    assert!(port_in(&s3, &id).is_none());
    assert_eq!(remote_endpoint(&s3, &mac), Some(json!("198.18.1.1")));

    // The target's agent wires it: the binding, not the port, records it.
    c.report("compute-1", "ACTIVE").await;
    c.report("compute-2", "ACTIVE").await;
    assert_eq!(c.show_port().await["status"], "ACTIVE");
    assert_eq!(port_in(&c.state("compute-2").await, &id).unwrap()["status"], "ACTIVE");

    let (st, b) = c.activate(&c.service, "compute-2").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let active_2 = json!({"host": "compute-2", "vif_type": "bridge", "vnic_type": "normal", "status": "ACTIVE",
        "profile": {"migrating_to": "compute-2"}, "vif_details": bridge_details()});
    assert_eq!(b, active_2, "the binding itself, as Neutron answers an action");
    let port = c.show_port().await;
    assert_eq!(port["binding:host_id"], "compute-2");
    assert_eq!(port["binding:profile"], json!({"migrating_to": "compute-2"}));
    assert_eq!(port["status"], "DOWN", "until the new host reports it wired");
    let (_, b) = c.nova(Method::GET, &c.bindings(), None).await;
    let inactive_1 = json!({"host": "compute-1", "vif_type": "bridge", "vnic_type": "normal", "status": "INACTIVE",
        "profile": {}, "vif_details": bridge_details()});
    assert_eq!(b, json!({"bindings": [inactive_1, active_2]}));

    // The old host stops wiring it and finds it on the new one, as does every other host.
    let s1 = c.state("compute-1").await;
    assert!(port_in(&s1, &id).is_none(), "the old host unwires the port");
    assert_eq!(s1["networks"], json!([]), "and, with no other port there, leaves the network");
    assert_eq!(remote_endpoint(&c.state("compute-3").await, &mac), Some(json!("198.18.1.2")));
    let on_2 = port_in(&c.state("compute-2").await, &id).unwrap();
    assert_eq!((on_2["binding"].clone(), on_2["status"].clone()), (json!("ACTIVE"), json!("DOWN")));
    c.report("compute-2", "ACTIVE").await;
    assert_eq!(c.show_port().await["status"], "ACTIVE");
    // A late report from the old host changes nothing.
    c.report("compute-1", "DOWN").await;
    assert_eq!(c.show_port().await["status"], "ACTIVE");

    assert_error_message(
        &c.activate(&c.service, "compute-2").await,
        409,
        "PortBindingAlreadyActive",
        &format!("Binding for port {id} on host compute-2 is already active."),
    );
    let (st, b) = c.nova(Method::DELETE, &format!("{}/compute-1", c.bindings()), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    let (_, b) = c.nova(Method::GET, &c.bindings(), None).await;
    assert_eq!(b, json!({"bindings": [active_2]}));
    assert_error_message(
        &c.nova(Method::DELETE, &format!("{}/compute-1", c.bindings()), None).await,
        404,
        "PortBindingNotFound",
        &format!("Binding for port {id} for host compute-1 could not be found."),
    );
}

#[tokio::test]
async fn errors_are_neutrons() {
    let c = Cloud::start().await;
    let id = c.id().to_string();
    let missing = "00000000-0000-0000-0000-000000000000";
    let body = |b: Value| Some(json!({ "binding": b }));

    // The request body first.
    let got = c.nova(Method::POST, &c.bindings(), Some(json!({"bind": {"host": "compute-2"}}))).await;
    assert_error_message(&got, 400, "HTTPBadRequest", "Unable to find 'binding' in request body");
    let got = c.nova(Method::POST, &c.bindings(), body(json!({}))).await;
    assert_error_message(
        &got,
        400,
        "HTTPBadRequest",
        "Failed to parse request. Required attribute 'host' not specified",
    );
    let got = c.nova(Method::POST, &c.bindings(), body(json!({"host": "compute-2", "status": "ACTIVE"}))).await;
    assert_error_message(&got, 400, "HTTPBadRequest", "Attribute 'status' not allowed in POST");
    let got = c.nova(Method::POST, &c.bindings(), body(json!({"host": "compute-2", "vnic_type": "bogus"}))).await;
    assert_error_message(
        &got,
        400,
        "HTTPBadRequest",
        "Invalid input for vnic_type. Reason: bogus is not in valid_values.",
    );
    let got = c.nova(Method::POST, &c.bindings(), body(json!({"host": "compute-2", "profile": "x"}))).await;
    assert_error_message(&got, 400, "HTTPBadRequest", "Invalid input for profile. Reason: 'x' is not a dictionary.");
    let got = c.nova(Method::POST, &c.bindings(), body(json!({"host": "compute-2", "foo": 1}))).await;
    assert_error_message(&got, 400, "HTTPBadRequest", "Unrecognized attribute(s) 'foo'");

    // Then the port.
    let gone = format!("/v2.0/ports/{missing}/bindings");
    let not_found = format!("Port {missing} could not be found.");
    assert_error_message(
        &c.nova(Method::POST, &gone, body(json!({"host": "h"}))).await,
        404,
        "PortNotFound",
        &not_found,
    );
    assert_error_message(&c.nova(Method::GET, &gone, None).await, 404, "PortNotFound", &not_found);
    assert_error_message(&c.nova(Method::GET, &format!("{gone}/h"), None).await, 404, "PortNotFound", &not_found);
    assert_error_message(&c.nova(Method::DELETE, &format!("{gone}/h"), None).await, 404, "PortNotFound", &not_found);
    let got = c.nova(Method::PUT, &format!("{gone}/h/activate"), None).await;
    assert_error_message(&got, 404, "PortNotFound", &not_found);

    let (st, plain) = c.member_call(Method::POST, "/v2.0/ports", Some(json!({"port": {"network_id": c.net}}))).await;
    assert_eq!(st, StatusCode::CREATED);
    let plain = plain["port"]["id"].as_str().unwrap().to_string();
    let wrong =
        format!("Bad port request: Invalid port {plain}. Operation only valid on compute and shared filesystem ports.");
    let at = format!("/v2.0/ports/{plain}/bindings");
    assert_error_message(&c.nova(Method::GET, &at, None).await, 400, "BadRequest", &wrong);
    assert_error_message(&c.nova(Method::POST, &at, body(json!({"host": "h"}))).await, 400, "BadRequest", &wrong);
    assert_error_message(&c.nova(Method::GET, &format!("{at}/h"), None).await, 400, "BadRequest", &wrong);
    assert_error_message(&c.nova(Method::DELETE, &format!("{at}/h"), None).await, 400, "BadRequest", &wrong);
    assert_error_message(&c.nova(Method::PUT, &format!("{at}/h/activate"), None).await, 400, "BadRequest", &wrong);

    // Then the bindings.
    let exists = |host: &str| format!("Binding for port {id} on host {host} already exists.");
    assert_error_message(&c.bind("compute-1").await, 409, "PortBindingAlreadyExists", &exists("compute-1"));
    assert_eq!(c.bind("compute-2").await.0, StatusCode::CREATED);
    assert_error_message(&c.bind("compute-2").await, 409, "PortBindingAlreadyExists", &exists("compute-2"));

    // A host that cannot bind the port: nothing is kept, so nothing can be activated there.
    let failed = format!("Binding for port {id} on host compute-9 could not be created or updated.");
    assert_error_message(&c.bind("compute-9").await, 500, "PortBindingError", &failed);
    let unknown = format!("Binding for port {id} for host compute-9 could not be found.");
    assert_error_message(&c.activate(&c.service, "compute-9").await, 404, "PortBindingNotFound", &unknown);
    let at = format!("{}/compute-9", c.bindings());
    assert_error_message(&c.nova(Method::GET, &at, None).await, 404, "PortBindingNotFound", &unknown);
    assert_error_message(&c.nova(Method::DELETE, &at, None).await, 404, "PortBindingNotFound", &unknown);
    let (_, b) = c.nova(Method::GET, &c.bindings(), None).await;
    assert_eq!(b["bindings"].as_array().unwrap().len(), 2, "{b}");
    let (_, p) = c.admin_call(Method::GET, &format!("/v2.0/ports/{id}"), None).await;
    assert_eq!(p["port"]["binding:host_id"], "compute-1");
}

#[tokio::test]
async fn reads_are_admin_or_service_and_writes_the_service_only() {
    let c = Cloud::start().await;
    assert_eq!(c.bind("compute-2").await.0, StatusCode::CREATED);
    let one = format!("{}/compute-2", c.bindings());
    let activate = format!("{one}/activate");

    // An admin reads, and is refused every write (Neutron's defaults: `rule:service_api`).
    let (st, b) = c.admin_call(Method::GET, &c.bindings(), None).await;
    assert_eq!((st, b["bindings"].as_array().unwrap().len()), (StatusCode::OK, 2));
    assert_eq!(c.admin_call(Method::GET, &one, None).await.0, StatusCode::OK);
    let got = c.admin_call(Method::POST, &c.bindings(), Some(json!({"binding": {"host": "compute-3"}}))).await;
    assert_error_message(&got, 403, "PolicyNotAuthorized", "rule:create_port_binding is disallowed by policy");
    let got = c.admin_call(Method::PUT, &activate, None).await;
    assert_error_message(&got, 403, "PolicyNotAuthorized", "rule:activate is disallowed by policy");
    let got = c.admin_call(Method::DELETE, &one, None).await;
    assert_error_message(&got, 403, "PolicyNotAuthorized", "rule:delete_port_binding is disallowed by policy");

    // The port's owner may not even see its bindings.
    let (st, b) = c.member_call(Method::GET, &c.bindings(), None).await;
    assert_eq!((st, b), (StatusCode::OK, json!({"bindings": []})));
    let hidden = "The resource could not be found.";
    assert_error_message(&c.member_call(Method::GET, &one, None).await, 404, "HTTPNotFound", hidden);
    assert_error_message(&c.member_call(Method::PUT, &activate, None).await, 404, "HTTPNotFound", hidden);
    assert_error_message(&c.member_call(Method::DELETE, &one, None).await, 404, "HTTPNotFound", hidden);
    let got = c.member_call(Method::POST, &c.bindings(), Some(json!({"binding": {"host": "compute-3"}}))).await;
    assert_error_message(&got, 403, "PolicyNotAuthorized", "rule:create_port_binding is disallowed by policy");

    // Another project's member does not see the port at all.
    let (other, _) = c.s.member(&c.admin, "p2", "u2", "member").await;
    assert_error(&c.call(&other, Method::GET, &c.bindings(), None).await, 404, "PortNotFound");

    // Nothing was changed by the refusals.
    let (_, b) = c.nova(Method::GET, &c.bindings(), None).await;
    let hosts: Vec<&str> = b["bindings"].as_array().unwrap().iter().map(|b| b["host"].as_str().unwrap()).collect();
    assert_eq!(hosts, ["compute-1", "compute-2"]);
    let (st, _) = c.activate(&c.service, "compute-2").await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn the_active_binding_is_the_ports_own() {
    let c = Cloud::start().await;
    let id = c.id().to_string();
    assert_eq!(c.bind("compute-2").await.0, StatusCode::CREATED);
    // Nova binding the port to compute-2 the old way makes that binding the active one.
    let (st, p) = c
        .nova(Method::PUT, &format!("/v2.0/ports/{id}"), Some(json!({"port": {"binding:host_id": "compute-2"}})))
        .await;
    assert_eq!(st, StatusCode::OK, "{p}");
    let (_, b) = c.nova(Method::GET, &c.bindings(), None).await;
    let hosts: Vec<(&str, &str)> = b["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["host"].as_str().unwrap(), b["status"].as_str().unwrap()))
        .collect();
    assert_eq!(hosts, [("compute-2", "ACTIVE")]);

    // Deleting the active binding unbinds the port.
    assert_eq!(c.bind("compute-3").await.0, StatusCode::CREATED);
    let (st, _) = c.nova(Method::DELETE, &format!("{}/compute-2", c.bindings()), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let port = c.show_port().await;
    assert_eq!((port["binding:host_id"].clone(), port["binding:vif_type"].clone()), (json!(""), json!("unbound")));
    let (_, b) = c.nova(Method::GET, &c.bindings(), None).await;
    assert_eq!(
        b["bindings"][0],
        json!({"host": "", "vif_type": "unbound", "vnic_type": "normal", "status": "ACTIVE", "profile": {}, "vif_details": {}})
    );
    assert_eq!(b["bindings"][1]["host"], "compute-3");
    assert!(port_in(&c.state("compute-2").await, &id).is_none());

    // A deleted port takes its inactive bindings with it.
    assert!(port_in(&c.state("compute-3").await, &id).is_some());
    let (st, _) = c.admin_call(Method::DELETE, &format!("/v2.0/ports/{id}"), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(port_in(&c.state("compute-3").await, &id).is_none());
}

#[tokio::test]
async fn the_extension_is_listed() {
    let s = TestServer::start().await;
    let (st, b) = s.get("/v2.0/extensions/binding-extended").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(
        b,
        json!({"extension": {"name": "Port Bindings Extended", "alias": "binding-extended",
            "description": "Expose port bindings of a virtual port to external application",
            "updated": "2017-07-17T10:00:00-00:00", "links": []}})
    );
}
