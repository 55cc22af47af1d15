//! The OpenAPI document of the served Networking API v2.0 (`GET /openapi.json`), generated
//! from the tables the server itself runs on: the collections of
//! [`resources::COLLECTIONS`], each resource's attribute map (request bodies from
//! `post`/`put`, types from the validators, responses from what is shown) and the extension
//! catalog. Nothing here is written twice, so the document cannot describe an attribute the
//! validator refuses or miss one it accepts.
//!
//! OpenAPI 3.0.3 rather than 3.1: the client generators and gateways operators feed such a
//! document to (openapi-generator, Kong, AWS API Gateway) read 3.0, and nothing here needs
//! 3.1's full JSON Schema (`nullable` covers Neutron's `*_or_none` validators).
//!
//! Keystone's `/v3` (served only when neutrino is its own identity service) and the agents'
//! `/agent/v1` are left out: neither is the Networking API.

mod extra;
mod paths;
pub mod schema;

use crate::extensions::EXTENSIONS;
use crate::resources::{self, COLLECTIONS};
use serde_json::{json, Map, Value};

/// The OpenAPI version the document declares.
pub const OPENAPI_VERSION: &str = "3.0.3";

/// The whole document.
pub fn document(version: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for (segment, resource) in COLLECTIONS {
        let def = resources::def(*resource);
        paths::collection(&mut paths, segment, def);
        schemas.insert(def.singular.into(), schema::response_object(def));
        schemas.insert(format!("{}.create", def.singular), schema::request_object(def, true));
        schemas.insert(format!("{}.update", def.singular), schema::request_object(def, false));
    }
    extra::add(&mut paths);
    schemas.insert("NeutronError".into(), neutron_error());
    schemas.insert("links".into(), links());
    let aliases: Vec<&str> = EXTENSIONS.iter().map(|e| e.alias).collect();
    json!({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "OpenStack Networking API (neutrino)",
            "version": version,
            "description": format!(
                "The Networking API v2.0 as this server serves it. Extensions: {}.", aliases.join(", ")),
        },
        "servers": [{"url": "/"}],
        "security": [{"keystone": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"keystone": {"type": "apiKey", "in": "header", "name": "X-Auth-Token",
                "description": "A project-scoped Keystone token."}},
            "schemas": schemas,
            "parameters": paths::list_parameters(),
            "responses": error_responses(),
        },
    })
}

/// Neutron's error body (`{"NeutronError": {type, message, detail}}`).
fn neutron_error() -> Value {
    json!({"type": "object", "required": ["NeutronError"], "properties": {"NeutronError": {
    "type": "object", "required": ["type", "message", "detail"], "properties": {
        "type": {"type": "string", "description": "The exception's name, e.g. NetworkNotFound."},
        "message": {"type": "string"},
        "detail": {"type": "string"},
    }}}})
}

/// Pagination links (`<collection>_links`).
fn links() -> Value {
    json!({"type": "array", "items": {"type": "object", "properties": {
        "rel": {"type": "string", "enum": ["next", "previous"]}, "href": {"type": "string"}}}})
}

/// The 4xx answers every operation may give, all with a `NeutronError` body.
const ERRORS: &[(&str, &str)] = &[
    ("400", "The request is malformed or an attribute is invalid."),
    ("401", "No valid token."),
    ("403", "The policy forbids it."),
    ("404", "No such resource, or one the caller may not see."),
    ("409", "The request conflicts with the resource's state."),
    ("412", "An If-Match revision did not match."),
    ("413", "The body is larger than the server accepts."),
];

fn error_responses() -> Value {
    let body = json!({"application/json": {"schema": {"$ref": "#/components/schemas/NeutronError"}}});
    let m: Map<String, Value> =
        ERRORS.iter().map(|(code, text)| (code.to_string(), json!({"description": text, "content": body}))).collect();
    Value::Object(m)
}

/// `responses` entries referring to [`error_responses`].
pub(crate) fn with_errors(mut ok: Map<String, Value>) -> Value {
    for (code, _) in ERRORS {
        ok.insert(code.to_string(), json!({"$ref": format!("#/components/responses/{code}")}));
    }
    Value::Object(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_collection_has_its_five_operations_and_every_postable_attribute() {
        let doc = document("test");
        for (segment, resource) in COLLECTIONS {
            let def = resources::def(*resource);
            let coll = &doc["paths"][format!("/v2.0/{segment}")];
            assert!(coll["get"].is_object() && coll["post"].is_object(), "{segment}");
            let member = &doc["paths"][format!("/v2.0/{segment}/{{id}}")];
            for verb in ["get", "put", "delete"] {
                assert!(member[verb].is_object(), "{segment} {verb}");
            }
            let create = &doc["components"]["schemas"][format!("{}.create", def.singular)]["properties"];
            for a in def.attrs.iter().filter(|a| a.post) {
                assert!(create.get(a.name).is_some(), "{segment}: {}", a.name);
            }
        }
        let params = doc["paths"]["/v2.0/subnets"]["get"]["parameters"].as_array().cloned().unwrap_or_default();
        let sort = params.iter().find(|p| p["name"] == "sort_key").map(|p| p["schema"]["items"]["enum"].clone());
        let sortable: Vec<&str> = resources::SUBNET.attrs.iter().filter(|a| a.sort).map(|a| a.name).collect();
        assert_eq!(sort, Some(json!(sortable)));
        assert!(params.iter().any(|p| p["name"] == "cidr"), "filters are parameters");
        let err = &doc["components"]["schemas"]["NeutronError"]["properties"]["NeutronError"]["required"];
        assert_eq!(err, &json!(["type", "message", "detail"]));
    }

    /// The document is checked in (`tests/output/openapi.json`) so a change to what the API
    /// accepts shows up in review; `NEUTRINO_UPDATE_GOLDEN=1` rewrites it.
    #[test]
    fn the_document_matches_the_checked_in_copy() {
        let mut out = serde_json::to_string_pretty(&document("golden")).unwrap();
        out.push('\n');
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/output/openapi.json");
        if std::env::var_os("NEUTRINO_UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &out).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        let first = expected.lines().zip(out.lines()).position(|(a, b)| a != b);
        assert!(
            expected == out,
            "the API document changed (first differing line: {first:?}): review and regenerate with \
             NEUTRINO_UPDATE_GOLDEN=1 cargo test -p neutrino-model openapi"
        );
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document("test");
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/").skip(1) {
            let target = part.split('"').next().unwrap_or_default();
            let pointer = format!("/{target}");
            assert!(doc.pointer(&pointer).is_some(), "dangling $ref {pointer}");
        }
    }
}
