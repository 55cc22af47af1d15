//! The routes outside `/v2.0/{collection}`: discovery, health, quotas, agents and
//! availability zones, RBAC policies, IP availabilities, pools, flavors' profiles, port
//! bindings, port forwardings, auto-allocated topologies and `neutrino diagnose`. Their bodies are not driven by
//! an attribute map, so their schemas are named objects with the documented keys.

use super::paths::{body, empty, ok, op, path_param, schema_ref};
use super::schema::wrapped;
use serde_json::{json, Map, Value};

/// An object whose keys are open (what the server adds beyond the named ones is allowed).
fn object() -> Value {
    json!({"type": "object", "additionalProperties": true})
}

fn list_of(key: &str) -> Value {
    wrapped(key, json!({"type": "array", "items": object()}))
}

/// One operation: method, operation id, summary, success code, response schema (`None`: no
/// body) and request body (`None`: none).
struct Op(&'static str, &'static str, &'static str, &'static str, Option<Value>, Option<Value>);

fn insert(paths: &mut Map<String, Value>, path: &str, ops: Vec<Op>) {
    let mut item = Map::new();
    let params: Vec<Value> =
        path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).map(path_param).collect();
    if !params.is_empty() {
        item.insert("parameters".into(), Value::Array(params));
    }
    for Op(method, id, summary, code, response, request) in ops {
        let responses = match response {
            Some(schema) => ok(code, summary, schema),
            None => empty(code, summary),
        };
        let mut operation = op(id, summary, responses);
        if let Some(schema) = request {
            operation["requestBody"] = body(schema);
        }
        item.insert(method.into(), operation);
    }
    paths.insert(path.into(), Value::Object(item));
}

/// The same operations, answered without a token.
fn insert_open(paths: &mut Map<String, Value>, path: &str, ops: Vec<Op>) {
    insert(paths, path, ops);
    if let Some(Value::Object(item)) = paths.get_mut(path) {
        for (key, operation) in item.iter_mut() {
            if key != "parameters" {
                operation["security"] = json!([]);
            }
        }
    }
}

/// Adds every route outside the collections.
pub fn add(paths: &mut Map<String, Value>) {
    discovery(paths);
    quotas(paths);
    agents(paths);
    diagnose(paths);
    let one = |key: &str| Some(wrapped(key, object()));
    let rbac = || Some(wrapped("rbac_policy", object()));
    insert(
        paths,
        "/v2.0/rbac-policies",
        vec![
            Op("get", "list_rbac_policies", "List RBAC policies", "200", Some(list_of("rbac_policies")), None),
            Op("post", "create_rbac_policy", "Share an object with a project", "201", rbac(), rbac_body(true)),
        ],
    );
    insert(
        paths,
        "/v2.0/rbac-policies/{id}",
        vec![
            Op("get", "show_rbac_policy", "Show an RBAC policy", "200", rbac(), None),
            Op("put", "update_rbac_policy", "Change the target project", "200", rbac(), rbac_body(false)),
            Op("delete", "delete_rbac_policy", "Stop sharing", "204", None, None),
        ],
    );
    insert(
        paths,
        "/v2.0/network-ip-availabilities",
        vec![Op(
            "get",
            "list_network_ip_availabilities",
            "Used and total IPs per network",
            "200",
            Some(list_of("network_ip_availabilities")),
            None,
        )],
    );
    insert(
        paths,
        "/v2.0/network-ip-availabilities/{id}",
        vec![Op(
            "get",
            "show_network_ip_availability",
            "Used and total IPs of a network",
            "200",
            one("network_ip_availability"),
            None,
        )],
    );
    insert(
        paths,
        "/v2.0/floatingip-pools",
        vec![Op(
            "get",
            "list_floatingip_pools",
            "Subnets floating IPs come from",
            "200",
            Some(list_of("floatingip_pools")),
            None,
        )],
    );
    insert(
        paths,
        "/v2.0/service-providers",
        vec![Op(
            "get",
            "list_service_providers",
            "The service providers",
            "200",
            Some(list_of("service_providers")),
            None,
        )],
    );
    let profile = Some(wrapped("service_profile", schema_ref("service_profile")));
    insert(
        paths,
        "/v2.0/flavors/{id}/service_profiles",
        vec![Op("post", "associate_flavor_profile", "Associate a service profile", "201", profile.clone(), profile)],
    );
    insert(
        paths,
        "/v2.0/flavors/{id}/service_profiles/{profile}",
        vec![
            Op("get", "show_flavor_profile", "Show an association", "200", one("service_profile"), None),
            Op("delete", "dissociate_flavor_profile", "Dissociate a service profile", "204", None, None),
        ],
    );
    insert(
        paths,
        "/v2.0/auto-allocated-topology/{project_id}",
        vec![
            Op(
                "get",
                "get_auto_allocated_topology",
                "The project's topology, built on first use",
                "200",
                one("auto_allocated_topology"),
                None,
            ),
            Op("delete", "delete_auto_allocated_topology", "Tear it down", "204", None, None),
        ],
    );
    bindings_and_forwardings(paths);
}

fn discovery(paths: &mut Map<String, Value>) {
    insert_open(paths, "/", vec![Op("get", "list_versions", "API versions", "200", Some(list_of("versions")), None)]);
    insert_open(
        paths,
        "/healthcheck",
        vec![
            Op(
                "get",
                "healthcheck",
                "OK, or 503 when the store cannot serve",
                "200",
                Some(
                    json!({"type": "object", "properties": {"detailed": {"type": "boolean"}, "reasons": {"type": "array"}}}),
                ),
                None,
            ),
            Op("head", "healthcheck_head", "204, or 503 when the store cannot serve", "204", None, None),
        ],
    );
    insert_open(paths, "/openapi.json", vec![Op("get", "openapi", "This document", "200", Some(object()), None)]);
    insert(
        paths,
        "/v2.0/",
        vec![Op("get", "list_resources", "The core resources", "200", Some(list_of("resources")), None)],
    );
    insert(
        paths,
        "/v2.0/extensions",
        vec![Op("get", "list_extensions", "The extensions served", "200", Some(list_of("extensions")), None)],
    );
    insert(
        paths,
        "/v2.0/extensions/{alias}",
        vec![Op("get", "show_extension", "One extension", "200", Some(wrapped("extension", object())), None)],
    );
}

/// `neutrino diagnose` (admin only): a port's path, hop by hop (`crate::diagnose`).
fn diagnose(paths: &mut Map<String, Value>) {
    let path = "/v2.0/diagnose/ports/{id}";
    let hop = json!({"type": "object", "required": ["check", "object", "status", "evidence"], "properties": {
        "check": {"type": "string"}, "host": {"type": "string", "nullable": true}, "object": {"type": "string"},
        "status": {"type": "string", "enum": ["ok", "wrong", "unknown"]}, "evidence": {"type": "string"}}});
    let diagnosis = json!({"type": "object", "required": ["port_id", "healthy", "summary", "hops"], "properties": {
        "port_id": {"type": "string"}, "to": {"type": "string", "nullable": true},
        "protocol": {"type": "string", "enum": ["icmp", "tcp", "udp"], "nullable": true},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "nullable": true},
        "healthy": {"type": "boolean"}, "first_wrong_hop": {"type": "integer", "nullable": true},
        "summary": {"type": "string"}, "hops": {"type": "array", "items": hop}}});
    let summary = "Walk a port's path and name the first wrong hop";
    insert(paths, path, vec![Op("get", "diagnose_port", summary, "200", Some(wrapped("diagnosis", diagnosis)), None)]);
    let query = |name: &str, description: &str, schema: Value| json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema});
    if let Some(get) = paths.get_mut(path).and_then(|item| item.get_mut("get")) {
        get["parameters"] = json!([
            query("to", "the other end: a port id or an IP address", json!({"type": "string"})),
            query(
                "protocol",
                "the flow judged against the security groups (default icmp)",
                json!({"type": "string", "enum": ["icmp", "tcp", "udp"]})
            ),
            query(
                "port",
                "the flow's destination port (tcp, udp)",
                json!({"type": "integer", "minimum": 1, "maximum": 65535})
            ),
        ]);
    }
}

fn quotas(paths: &mut Map<String, Value>) {
    let quota = || {
        Some(wrapped("quota", json!({"type": "object", "additionalProperties": {"type": "integer", "minimum": -1}})))
    };
    insert(
        paths,
        "/v2.0/quotas",
        vec![Op("get", "list_quotas", "Projects with quotas set", "200", Some(list_of("quotas")), None)],
    );
    insert(
        paths,
        "/v2.0/quotas/{project}",
        vec![
            Op("get", "show_quota", "A project's limits", "200", quota(), None),
            Op("put", "update_quota", "Set limits (-1: unlimited)", "200", quota(), quota()),
            Op("delete", "reset_quota", "Back to the defaults", "204", None, None),
        ],
    );
    insert(
        paths,
        "/v2.0/quotas/{project}/default",
        vec![Op("get", "show_quota_default", "The default limits", "200", quota(), None)],
    );
    insert(
        paths,
        "/v2.0/quotas/{project}/details",
        vec![Op(
            "get",
            "show_quota_details",
            "Limits with used and reserved",
            "200",
            Some(wrapped("quota", object())),
            None,
        )],
    );
}

fn agents(paths: &mut Map<String, Value>) {
    let agent = || Some(wrapped("agent", object()));
    insert(paths, "/v2.0/agents", vec![Op("get", "list_agents", "The agents", "200", Some(list_of("agents")), None)]);
    insert(
        paths,
        "/v2.0/agents/{id}",
        vec![
            Op("get", "show_agent", "An agent", "200", agent(), None),
            Op("put", "update_agent", "Set admin_state_up or description", "200", agent(), agent()),
            Op("delete", "delete_agent", "Forget an agent", "204", None, None),
        ],
    );
    insert(
        paths,
        "/v2.0/availability_zones",
        vec![Op(
            "get",
            "list_availability_zones",
            "Availability zones of the agents",
            "200",
            Some(list_of("availability_zones")),
            None,
        )],
    );
    let network = Some(wrapped("network_id", json!({"type": "string", "format": "uuid"})));
    let router = Some(wrapped("router_id", json!({"type": "string", "format": "uuid"})));
    insert(
        paths,
        "/v2.0/agents/{id}/dhcp-networks",
        vec![
            Op(
                "get",
                "list_agent_dhcp_networks",
                "Networks this DHCP agent serves",
                "200",
                Some(list_of("networks")),
                None,
            ),
            Op("post", "add_agent_dhcp_network", "Schedule a network", "201", None, network),
        ],
    );
    insert(
        paths,
        "/v2.0/agents/{id}/dhcp-networks/{network_id}",
        vec![Op("delete", "remove_agent_dhcp_network", "Unschedule a network", "204", None, None)],
    );
    insert(
        paths,
        "/v2.0/networks/{id}/dhcp-agents",
        vec![Op("get", "list_network_dhcp_agents", "DHCP agents of a network", "200", Some(list_of("agents")), None)],
    );
    insert(
        paths,
        "/v2.0/agents/{id}/l3-routers",
        vec![
            Op("get", "list_agent_l3_routers", "Routers this L3 agent hosts", "200", Some(list_of("routers")), None),
            Op("post", "add_agent_l3_router", "Schedule a router", "201", None, router),
        ],
    );
    insert(
        paths,
        "/v2.0/agents/{id}/l3-routers/{router_id}",
        vec![Op("delete", "remove_agent_l3_router", "Unschedule a router", "204", None, None)],
    );
    insert(
        paths,
        "/v2.0/routers/{id}/l3-agents",
        vec![Op("get", "list_router_l3_agents", "L3 agents of a router", "200", Some(list_of("agents")), None)],
    );
}

fn bindings_and_forwardings(paths: &mut Map<String, Value>) {
    let binding = || Some(wrapped("binding", object()));
    insert(
        paths,
        "/v2.0/ports/{port}/bindings",
        vec![
            Op("get", "list_port_bindings", "A port's bindings", "200", Some(list_of("bindings")), None),
            Op("post", "create_port_binding", "Bind the port on another host", "201", binding(), binding()),
        ],
    );
    insert(
        paths,
        "/v2.0/ports/{port}/bindings/{host}",
        vec![
            Op("get", "show_port_binding", "One binding", "200", binding(), None),
            Op("delete", "delete_port_binding", "Drop an inactive binding", "204", None, None),
        ],
    );
    insert(
        paths,
        "/v2.0/ports/{port}/bindings/{host}/activate",
        vec![Op("put", "activate_port_binding", "Make this binding the active one", "200", binding(), None)],
    );
    let pf = || Some(wrapped("port_forwarding", object()));
    insert(
        paths,
        "/v2.0/floatingips/{fip}/port_forwardings",
        vec![
            Op(
                "get",
                "list_port_forwardings",
                "A floating IP's port forwardings",
                "200",
                Some(list_of("port_forwardings")),
                None,
            ),
            Op("post", "create_port_forwarding", "Forward a port", "201", pf(), forwarding_body(true)),
        ],
    );
    insert(
        paths,
        "/v2.0/floatingips/{fip}/port_forwardings/{id}",
        vec![
            Op("get", "show_port_forwarding", "One port forwarding", "200", pf(), None),
            Op("put", "update_port_forwarding", "Change a port forwarding", "200", pf(), forwarding_body(false)),
            Op("delete", "delete_port_forwarding", "Stop forwarding", "204", None, None),
        ],
    );
}

/// An RBAC policy's create or update body, as `bodies::rbac` reads it.
fn rbac_body(create: bool) -> Option<Value> {
    use crate::bodies::rbac::{ACCESS_AS_EXTERNAL, ACCESS_AS_SHARED, SUPPORTED_TYPES};
    let target = json!({"type": "string", "description": "The project shared with, or * for all."});
    let mut props = Map::new();
    props.insert("target_tenant".into(), target.clone());
    props.insert("target_project".into(), target);
    let mut schema = json!({"type": "object", "additionalProperties": false});
    if create {
        props.insert("object_type".into(), json!({"type": "string", "enum": SUPPORTED_TYPES}));
        props.insert("object_id".into(), json!({"type": "string", "format": "uuid"}));
        props.insert("action".into(), json!({"type": "string", "enum": [ACCESS_AS_SHARED, ACCESS_AS_EXTERNAL]}));
        props.insert("project_id".into(), json!({"type": "string"}));
        props.insert("tenant_id".into(), json!({"type": "string"}));
        schema["required"] = json!(["object_type", "object_id", "action"]);
    }
    schema["properties"] = Value::Object(props);
    Some(wrapped("rbac_policy", schema))
}

/// A port forwarding's create or update body, as `bodies::port_forwardings` reads it: a
/// create needs every attribute but `description`.
fn forwarding_body(create: bool) -> Option<Value> {
    let port = json!({"type": "integer", "minimum": 1, "maximum": 65535});
    let mut schema = json!({"type": "object", "additionalProperties": false, "properties": {
        "external_port": port,
        "internal_port": port,
        "protocol": {"type": "string", "enum": crate::bodies::port_forwardings::PROTOCOLS},
        "internal_ip_address": {"type": "string", "format": "ip-address"},
        "internal_port_id": {"type": "string", "format": "uuid"},
        "description": {"type": "string", "maxLength": 255},
        "project_id": {"type": "string"},
        "tenant_id": {"type": "string"},
    }});
    if create {
        schema["required"] =
            json!(["external_port", "internal_port", "protocol", "internal_ip_address", "internal_port_id"]);
    }
    Some(wrapped("port_forwarding", schema))
}
