//! The operations of one `/v2.0/{collection}`: list, create (one or bulk), show, update,
//! delete, the tags sub-resource of taggable resources and the member actions.

use super::schema::wrapped;
use super::with_errors;
use crate::resources::ResourceDef;
use serde_json::{json, Map, Value};

/// A `$ref` to a component schema.
pub(crate) fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// A path parameter (always a string: ids, names, tags).
pub(crate) fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

/// A JSON request body.
pub(crate) fn body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// A response with a JSON body.
pub(crate) fn ok(code: &str, description: &str, schema: Value) -> Value {
    let mut m = Map::new();
    m.insert(code.into(), json!({"description": description, "content": {"application/json": {"schema": schema}}}));
    with_errors(m)
}

/// A response without a body.
pub(crate) fn empty(code: &str, description: &str) -> Value {
    let mut m = Map::new();
    m.insert(code.into(), json!({"description": description}));
    with_errors(m)
}

/// An operation.
pub(crate) fn op(id: &str, summary: &str, responses: Value) -> Value {
    json!({"operationId": id, "summary": summary, "responses": responses})
}

/// The query parameters every list operation takes (`fields` also on show); `sort_key`,
/// whose values differ per resource, is added by [`list_params`].
pub fn list_parameters() -> Value {
    let string = json!({"type": "string"});
    json!({
        "fields": {"name": "fields", "in": "query", "required": false, "explode": true,
            "description": "Only these attributes of each item (repeatable).",
            "schema": {"type": "array", "items": string}},
        "sort_dir": {"name": "sort_dir", "in": "query", "required": false, "explode": true,
            "schema": {"type": "array", "items": {"type": "string", "enum": ["asc", "desc"]}}},
        "limit": {"name": "limit", "in": "query", "required": false,
            "description": "At most this many items; the server caps it.",
            "schema": {"type": "integer", "minimum": 0}},
        "marker": {"name": "marker", "in": "query", "required": false,
            "description": "The id of the last item of the previous page.", "schema": {"type": "string"}},
        "page_reverse": {"name": "page_reverse", "in": "query", "required": false,
            "schema": {"type": "boolean"}},
    })
}

fn param_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

/// The list operation's parameters: the paging ones plus each filterable attribute.
fn list_params(def: &ResourceDef) -> Vec<Value> {
    let mut params: Vec<Value> =
        ["fields", "sort_dir", "limit", "marker", "page_reverse"].iter().map(|p| param_ref(p)).collect();
    // Neutron refuses a sort key that is not `is_sort_key`: the enum is exactly those.
    let keys: Vec<&str> = def.attrs.iter().filter(|a| a.sort).map(|a| a.name).collect();
    params.push(json!({"name": "sort_key", "in": "query", "required": false, "explode": true,
        "description": "Sort by this attribute (repeatable, paired with sort_dir).",
        "schema": {"type": "array", "items": {"type": "string", "enum": keys}}}));
    for a in def.attrs.iter().filter(|a| a.filter) {
        params.push(json!({"name": a.name, "in": "query", "required": false, "explode": true,
            "description": "Only items with one of these values (repeatable).",
            "schema": {"type": "array", "items": {"type": "string"}}}));
    }
    params
}

/// Adds the paths of the collection served at `/v2.0/{segment}`.
pub fn collection(paths: &mut Map<String, Value>, segment: &str, def: &ResourceDef) {
    let (one, many) = (def.singular, def.plural);
    let shown = schema_ref(one);
    let mut list_body = wrapped(many, json!({"type": "array", "items": shown}));
    list_body["properties"][format!("{many}_links")] = schema_ref("links");
    let mut list = op(&format!("list_{many}"), &format!("List {many}"), ok("200", "The visible items.", list_body));
    list["parameters"] = Value::Array(list_params(def));
    let create_body = json!({"oneOf": [
        wrapped(one, schema_ref(&format!("{one}.create"))),
        wrapped(many, json!({"type": "array", "items": schema_ref(&format!("{one}.create"))})),
    ]});
    let created =
        json!({"oneOf": [wrapped(one, shown.clone()), wrapped(many, json!({"type": "array", "items": shown}))]});
    let mut create =
        op(&format!("create_{one}"), &format!("Create a {one} (or several: bulk)"), ok("201", "Created.", created));
    create["requestBody"] = body(create_body);
    paths.insert(format!("/v2.0/{segment}"), json!({"get": list, "post": create}));

    let mut show =
        op(&format!("show_{one}"), &format!("Show a {one}"), ok("200", "The item.", wrapped(one, shown.clone())));
    show["parameters"] = json!([param_ref("fields")]);
    let mut update =
        op(&format!("update_{one}"), &format!("Update a {one}"), ok("200", "Updated.", wrapped(one, shown.clone())));
    update["requestBody"] = body(wrapped(one, schema_ref(&format!("{one}.update"))));
    let delete = op(&format!("delete_{one}"), &format!("Delete a {one}"), empty("204", "Deleted."));
    paths.insert(
        format!("/v2.0/{segment}/{{id}}"),
        json!({"parameters": [path_param("id")], "get": show, "put": update, "delete": delete}),
    );
    if def.attr("tags").is_some() {
        tags(paths, segment, one);
    }
    for (action, summary, request) in member_actions(segment) {
        let mut put = op(&format!("{action}_{one}"), summary, ok("200", "Done.", json!({"type": "object"})));
        put["requestBody"] = body(request);
        paths.insert(format!("/v2.0/{segment}/{{id}}/{action}"), json!({"parameters": [path_param("id")], "put": put}));
    }
}

/// `standard-attr-tag`: the tags of one resource, and one tag.
fn tags(paths: &mut Map<String, Value>, segment: &str, one: &str) {
    let list = wrapped("tags", json!({"type": "array", "items": {"type": "string", "maxLength": 255}}));
    let mut replace = op(&format!("replace_tags_{one}"), "Replace every tag", ok("200", "The new tags.", list.clone()));
    replace["requestBody"] = body(list.clone());
    let mut add_many = op(&format!("add_tags_{one}"), "Add tags", ok("201", "The tags now.", list.clone()));
    add_many["requestBody"] = body(list.clone());
    paths.insert(
        format!("/v2.0/{segment}/{{id}}/tags"),
        json!({
            "parameters": [path_param("id")],
            "get": op(&format!("list_tags_{one}"), "The tags", ok("200", "The tags.", list)),
            "put": replace,
            "post": add_many,
            "delete": op(&format!("clear_tags_{one}"), "Remove every tag", empty("204", "Removed.")),
        }),
    );
    paths.insert(
        format!("/v2.0/{segment}/{{id}}/tags/{{tag}}"),
        json!({
            "parameters": [path_param("id"), path_param("tag")],
            "get": op(&format!("check_tag_{one}"), "Whether the tag is set", empty("204", "It is.")),
            "put": op(&format!("add_tag_{one}"), "Add one tag", empty("201", "Added.")),
            "delete": op(&format!("remove_tag_{one}"), "Remove one tag", empty("204", "Removed.")),
        }),
    );
}

/// The member actions (`PUT /v2.0/{segment}/{id}/{action}`) the server answers, with their
/// bodies.
fn member_actions(segment: &str) -> Vec<(&'static str, &'static str, Value)> {
    let interface = json!({"type": "object", "properties": {
        "subnet_id": {"type": "string", "format": "uuid"}, "port_id": {"type": "string", "format": "uuid"}}});
    let routes = wrapped("router", wrapped("routes", super::schema::kind_schema(crate::attrs::Kind::HostRoutes)));
    let prefixes = wrapped("prefixes", super::schema::kind_schema(crate::attrs::Kind::SubnetList));
    match segment {
        "routers" => vec![
            ("add_router_interface", "Attach a subnet or port", interface.clone()),
            ("remove_router_interface", "Detach a subnet or port", interface),
            ("add_extraroutes", "Add static routes", routes.clone()),
            ("remove_extraroutes", "Remove static routes", routes),
        ],
        "subnetpools" => vec![
            ("add_prefixes", "Add prefixes to the pool", prefixes.clone()),
            ("remove_prefixes", "Remove prefixes from the pool", prefixes),
        ],
        _ => vec![],
    }
}
