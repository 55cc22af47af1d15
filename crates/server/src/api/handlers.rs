//! Collection and member handlers shared by networks, subnets and ports (bodies are read,
//! bounded, by `body_read`).

use super::{base_url, context, json_response, ApiErrorResponse};
use crate::app::tags::{self, TagOp};
use crate::app::{
    address_groups, address_scopes, default_sg_rules, flavors, floatingips, listing, networks, policy, ports, routers,
    security_groups, subnetpools, subnets, App, RequestContext,
};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use neutrino_model::bodies::{self, Update};
use neutrino_model::body::{prepare_create, prepare_update};
use neutrino_model::if_match::IfMatch;
use neutrino_model::limits::{tags_exhausted, MAX_TAGS};
use neutrino_model::query::{fields_of, ListQuery};
use neutrino_model::resources::def;
use neutrino_model::{ApiError, Resource};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::sync::Arc;

type Result<T> = std::result::Result<T, ApiErrorResponse>;

use super::body_read::{off_runtime, parse_json, read_bytes};
pub(super) use super::body_read::{read_json, refuse_delete_body};

fn resource_of(collection: &str) -> std::result::Result<Resource, ApiError> {
    neutrino_model::resources::by_collection(collection)
        .ok_or_else(|| ApiError::http_not_found("The resource could not be found."))
}

pub(super) fn query_pairs(raw: Option<String>) -> Vec<(String, String)> {
    raw.map(|q| url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

/// The `If-Match: revision_number=N` precondition, as Neutron reads it (repeated headers
/// joined with ", ", as a WSGI server hands them on).
fn if_match(headers: &HeaderMap) -> std::result::Result<Option<IfMatch>, ApiError> {
    let values: Vec<&[u8]> = headers.get_all(header::IF_MATCH).iter().map(|v| v.as_bytes()).collect();
    if values.is_empty() {
        return Ok(None);
    }
    neutrino_model::if_match::parse(&values.join(&b", "[..]))
}

/// One resource as the caller may see it.
fn visible_json<T: Serialize>(
    ctx: &RequestContext,
    resource: Resource,
    value: &T,
) -> std::result::Result<Value, ApiError> {
    match serde_json::to_value(value).map_err(|_| ApiError::internal())? {
        Value::Object(mut m) => {
            policy::strip_hidden(ctx, resource, &mut m);
            Ok(Value::Object(m))
        }
        other => Ok(other),
    }
}

fn render<T: Serialize>(ctx: &RequestContext, resource: Resource, status: StatusCode, value: &T) -> Result<Response> {
    let mut body = Map::new();
    body.insert(def(resource).singular.into(), visible_json(ctx, resource, value)?);
    Ok(json_response(status, Value::Object(body).to_string()))
}

fn render_created<T: Serialize>(
    ctx: &RequestContext,
    resource: Resource,
    items: Vec<T>,
    bulk: bool,
) -> Result<Response> {
    if bulk {
        let list = items.iter().map(|i| visible_json(ctx, resource, i)).collect::<std::result::Result<Vec<_>, _>>()?;
        let mut body = Map::new();
        body.insert(def(resource).plural.into(), Value::Array(list));
        Ok(json_response(StatusCode::CREATED, Value::Object(body).to_string()))
    } else {
        let one = items.into_iter().next().ok_or_else(ApiError::internal)?;
        render(ctx, resource, StatusCode::CREATED, &one)
    }
}

pub async fn list(
    State(app): State<Arc<App>>,
    Path(collection): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    let ctx = context(&app, &headers).await?;
    let max = (app.config.pagination_max_limit > 0).then_some(app.config.pagination_max_limit);
    let q = ListQuery::parse(def(resource), query_pairs(raw), max)?;
    if resource == Resource::SecurityGroup {
        // Neutron creates the listed project's default group when its groups are listed.
        security_groups::ensure_default_for(&app, &ctx, &q).await?;
    }
    let self_url = format!("{}/v2.0/{collection}", base_url(&headers));
    let body = listing::list(&app, &ctx, resource, q, self_url).await?;
    Ok(json_response(StatusCode::OK, body))
}

pub async fn show(
    State(app): State<Arc<App>>,
    Path((collection, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    let ctx = context(&app, &headers).await?;
    let fields = fields_of(&query_pairs(raw));
    let body = listing::show(&app, &ctx, resource, id, fields).await?;
    Ok(json_response(StatusCode::OK, body))
}

pub async fn create(
    State(app): State<Arc<App>>,
    Path(collection): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    let ctx = context(&app, &headers).await?;
    let bytes = read_bytes(&headers, body, app.config.max_request_body_bytes).await?;
    let (caller_ctx, limits, domain) = (ctx.clone(), app.config.list_limits(), app.dns_domain.clone());
    let (items, bulk) = off_runtime(bytes.len(), move || {
        let json = parse_json(&bytes)?;
        if resource == Resource::DefaultSecurityGroupRule && json.get(def(resource).plural).is_some() {
            // Neutron's controller for templates is made without bulk.
            return Err(ApiError::bad_request("Bulk operation not supported"));
        }
        let (items, bulk) = prepare_create(def(resource), &json, &caller_ctx.caller(), &limits)?;
        items.iter().filter(|_| resource == Resource::Port).try_for_each(|i| domain.check_port_body(i))?;
        Ok((items, bulk))
    })
    .await?;
    match resource {
        Resource::Network => created(&ctx, resource, items, bulk, |b| networks::create(&app, &ctx, b)).await,
        Resource::Subnet => created(&ctx, resource, items, bulk, |b| subnets::create(&app, &ctx, b)).await,
        Resource::Port => created(&ctx, resource, items, bulk, |b| ports::create(&app, &ctx, b)).await,
        Resource::SecurityGroup => {
            created(&ctx, resource, items, bulk, |b| security_groups::create(&app, &ctx, b)).await
        }
        Resource::SecurityGroupRule => {
            created(&ctx, resource, items, bulk, |b| security_groups::rule_create(&app, &ctx, b)).await
        }
        Resource::Router => created(&ctx, resource, items, bulk, |b| routers::create(&app, &ctx, b)).await,
        Resource::FloatingIp => created(&ctx, resource, items, bulk, |b| floatingips::create(&app, &ctx, b)).await,
        Resource::SubnetPool => created(&ctx, resource, items, bulk, |b| subnetpools::create(&app, &ctx, b)).await,
        Resource::AddressScope => created(&ctx, resource, items, bulk, |b| address_scopes::create(&app, &ctx, b)).await,
        Resource::Flavor => created(&ctx, resource, items, bulk, |b| flavors::create(&app, &ctx, b)).await,
        Resource::ServiceProfile => {
            created(&ctx, resource, items, bulk, |b| flavors::create_profiles(&app, &ctx, b)).await
        }
        Resource::DefaultSecurityGroupRule => {
            created(&ctx, resource, items, bulk, |b| default_sg_rules::create(&app, &ctx, b)).await
        }
        Resource::AddressGroup => created(&ctx, resource, items, bulk, |b| address_groups::create(&app, &ctx, b)).await,
    }
}

/// Types a create's prepared items and renders what the resource's `create` made of them.
async fn created<B, T, F>(
    ctx: &RequestContext,
    resource: Resource,
    items: Vec<Map<String, Value>>,
    bulk: bool,
    create: impl FnOnce(Vec<bodies::Body<B>>) -> F,
) -> Result<Response>
where
    B: serde::de::DeserializeOwned,
    T: Serialize,
    F: std::future::Future<Output = std::result::Result<Vec<T>, ApiError>>,
{
    let items = bodies::Body::from_validated_all(items)?;
    render_created(ctx, resource, create(items).await?, bulk)
}

/// Types an update's prepared attributes and renders the resource `update` returned.
async fn updated<B, T, F>(
    ctx: &RequestContext,
    resource: Resource,
    attrs: Map<String, Value>,
    if_match: Option<neutrino_model::if_match::IfMatch>,
    update: impl FnOnce(Update<B>) -> F,
) -> Result<Response>
where
    B: serde::de::DeserializeOwned,
    T: Serialize,
    F: std::future::Future<Output = std::result::Result<T, ApiError>>,
{
    let change = Update::from_validated(attrs, if_match)?;
    render(ctx, resource, StatusCode::OK, &update(change).await?)
}

pub async fn update(
    State(app): State<Arc<App>>,
    Path((collection, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    let ctx = context(&app, &headers).await?;
    let bytes = read_bytes(&headers, body, app.config.max_request_body_bytes).await?;
    let (caller_ctx, limits, router_id) = (ctx.clone(), app.config.list_limits(), id.clone());
    let domain = app.dns_domain.clone();
    let attrs = off_runtime(bytes.len(), move || {
        let json = parse_json(&bytes)?;
        if resource == Resource::Router {
            limits.check_router_routes(&router_id, &json)?;
        }
        let attrs = prepare_update(def(resource), &json, &caller_ctx.caller(), &limits)?;
        if resource == Resource::Port {
            domain.check_port_body(&attrs)?;
        }
        Ok(attrs)
    })
    .await?;
    let if_match = if_match(&headers)?;
    match resource {
        Resource::Network => updated(&ctx, resource, attrs, if_match, |u| networks::update(&app, &ctx, id, u)).await,
        Resource::Subnet => updated(&ctx, resource, attrs, if_match, |u| subnets::update(&app, &ctx, id, u)).await,
        Resource::Port => updated(&ctx, resource, attrs, if_match, |u| ports::update(&app, &ctx, id, u)).await,
        Resource::SecurityGroup => {
            updated(&ctx, resource, attrs, if_match, |u| security_groups::update(&app, &ctx, id, u)).await
        }
        Resource::SecurityGroupRule => Err(ApiError::bad_request("Security group rules cannot be updated").into()),
        Resource::DefaultSecurityGroupRule => {
            Err(ApiError::bad_request("Default security group rules cannot be updated").into())
        }
        Resource::Router => updated(&ctx, resource, attrs, if_match, |u| routers::update(&app, &ctx, id, u)).await,
        Resource::FloatingIp => {
            updated(&ctx, resource, attrs, if_match, |u| floatingips::update(&app, &ctx, id, u)).await
        }
        Resource::SubnetPool => {
            let update = Update::from_validated(attrs, if_match)?;
            let pool = subnetpools::update(&app, &ctx, id, update).await?;
            render(&ctx, resource, StatusCode::OK, &subnetpools::updated_view(&pool)?)
        }
        Resource::AddressScope => {
            updated(&ctx, resource, attrs, if_match, |u| address_scopes::update(&app, &ctx, id, u)).await
        }
        Resource::Flavor => updated(&ctx, resource, attrs, if_match, |u| flavors::update(&app, &ctx, id, u)).await,
        Resource::ServiceProfile => {
            updated(&ctx, resource, attrs, if_match, |u| flavors::update_profile(&app, &ctx, id, u)).await
        }
        Resource::AddressGroup => {
            updated(&ctx, resource, attrs, if_match, |u| address_groups::update(&app, &ctx, id, u)).await
        }
    }
}

pub async fn delete(
    State(app): State<Arc<App>>,
    Path((collection, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    let ctx = context(&app, &headers).await?;
    refuse_delete_body(&headers, body).await?;
    let rev = if_match(&headers)?;
    match resource {
        Resource::Network => networks::delete(&app, &ctx, id, rev).await?,
        Resource::Subnet => subnets::delete(&app, &ctx, id, rev).await?,
        Resource::Port => ports::delete(&app, &ctx, id, rev).await?,
        Resource::SecurityGroup => security_groups::delete(&app, &ctx, id, rev).await?,
        Resource::SecurityGroupRule => security_groups::rule_delete(&app, &ctx, id).await?,
        Resource::Router => routers::delete(&app, &ctx, id, rev).await?,
        Resource::FloatingIp => floatingips::delete(&app, &ctx, id, rev).await?,
        Resource::SubnetPool => subnetpools::delete(&app, &ctx, id, rev).await?,
        Resource::AddressScope => address_scopes::delete(&app, &ctx, id).await?,
        Resource::Flavor => flavors::delete(&app, &ctx, id).await?,
        Resource::ServiceProfile => flavors::delete_profile(&app, &ctx, id).await?,
        Resource::DefaultSecurityGroupRule => default_sg_rules::delete(&app, &ctx, id).await?,
        Resource::AddressGroup => address_groups::delete(&app, &ctx, id, rev).await?,
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The path of a resource's tags.
#[derive(serde::Deserialize)]
pub struct TagsPath {
    collection: String,
    id: String,
}

/// The path of one tag of a resource.
#[derive(serde::Deserialize)]
pub struct TagPath {
    collection: String,
    id: String,
    tag: String,
}

/// `PUT /v2.0/{collection}/{id}/{action}`: the member actions of routers, subnet pools and
/// address groups; any other is Neutron's 404 for an unknown URL.
pub async fn member_action(
    app: State<Arc<App>>,
    Path((collection, id, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    match collection.as_str() {
        "routers" => router_action(app, Path((id, action)), headers, body).await,
        "subnetpools" => subnetpool_action(app, Path((id, action)), headers, body).await,
        "address-groups" => super::address_groups::action(app, Path((id, action)), headers, body).await,
        _ => Err(ApiError::http_not_found("The resource could not be found.").into()),
    }
}

pub async fn tags_get(
    State(app): State<Arc<App>>,
    Path(TagsPath { collection, id }): Path<TagsPath>,
    headers: HeaderMap,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    let tags = tags::get(&app, &context(&app, &headers).await?, resource, id).await?;
    Ok(json_response(StatusCode::OK, json!({"tags": tags}).to_string()))
}

pub async fn tags_replace(
    State(app): State<Arc<App>>,
    Path(TagsPath { collection, id }): Path<TagsPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    let json = read_json(&app, &headers, body).await?;
    let new = tags_in_body(&json, resource)?;
    let tags = tags::apply(&app, &context(&app, &headers).await?, resource, id, TagOp::ReplaceAll(new)).await?;
    Ok(json_response(StatusCode::OK, json!({"tags": tags}).to_string()))
}

/// `POST .../tags` (`tag-creation`): adds the tags not yet there; answers with the tags
/// asked for, as Neutron's `create_tags` returns its body.
pub async fn tags_create(
    State(app): State<Arc<App>>,
    Path(TagsPath { collection, id }): Path<TagsPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    let json = read_json(&app, &headers, body).await?;
    let new = tags_in_body(&json, resource)?;
    tags::apply(&app, &context(&app, &headers).await?, resource, id, TagOp::AddAll(new.clone())).await?;
    Ok(json_response(StatusCode::CREATED, json!({"tags": new}).to_string()))
}

/// The `{"tags": [...]}` of a tags PUT or POST: Neutron's `validate_tags` (unique strings,
/// each a valid tag) then `validate_tags_limit`; both linear.
fn tags_in_body(json: &Value, resource: Resource) -> std::result::Result<Vec<String>, ApiError> {
    let Some(Value::Array(list)) = json.get("tags") else {
        return Err(ApiError::bad_request("Invalid input for tags. Reason: tags must be a list."));
    };
    let mut seen = HashSet::with_capacity(list.len());
    let mut dups: Vec<&str> = Vec::new();
    for t in list.iter().filter_map(Value::as_str) {
        if !seen.insert(t) && !dups.contains(&t) && dups.len() < MAX_TAGS {
            dups.push(t);
        }
    }
    if !dups.is_empty() {
        return Err(ApiError::invalid_input(format!("Duplicate items in the list: '{}'", dups.join(", "))));
    }
    let mut new = Vec::with_capacity(list.len());
    for t in list {
        let Some(t) = t.as_str() else {
            return Err(ApiError::invalid_input(format!("'{}' is not a valid tag", neutrino_model::pystr::py_str(t))));
        };
        tags::validate_tag(t)?;
        new.push(t.to_string());
    }
    if new.len() > MAX_TAGS {
        return Err(tags_exhausted(def(resource).plural, MAX_TAGS));
    }
    Ok(new)
}

pub async fn tags_clear(
    State(app): State<Arc<App>>,
    Path(TagsPath { collection, id }): Path<TagsPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    let ctx = context(&app, &headers).await?;
    refuse_delete_body(&headers, body).await?;
    tags::apply(&app, &ctx, resource, id, TagOp::ClearAll).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn tag_check(
    State(app): State<Arc<App>>,
    Path(TagPath { collection, id, tag }): Path<TagPath>,
    headers: HeaderMap,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    tags::check(&app, &context(&app, &headers).await?, resource, id, tag).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn tag_add(
    State(app): State<Arc<App>>,
    Path(TagPath { collection, id, tag }): Path<TagPath>,
    headers: HeaderMap,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    tags::validate_tag(&tag)?;
    tags::apply(&app, &context(&app, &headers).await?, resource, id, TagOp::Add(tag)).await?;
    Ok(StatusCode::CREATED.into_response())
}

pub async fn tag_remove(
    State(app): State<Arc<App>>,
    Path(TagPath { collection, id, tag }): Path<TagPath>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let resource = resource_of(&collection)?;
    let ctx = context(&app, &headers).await?;
    refuse_delete_body(&headers, body).await?;
    tags::apply(&app, &ctx, resource, id, TagOp::Remove(tag)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /v2.0/routers/{id}/{action}`: interfaces and extra routes.
pub async fn router_action(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let json = read_json(&app, &headers, body).await?;
    let out = match action.as_str() {
        "add_router_interface" => routers::add_interface(&app, &ctx, id, &json).await?,
        "remove_router_interface" => routers::remove_interface(&app, &ctx, id, &json).await?,
        "add_extraroutes" | "remove_extraroutes" => {
            app.config.list_limits().check_router_routes(&id, &json)?;
            let r = routers::edit_routes(&app, &ctx, id, &json, action == "add_extraroutes").await?;
            return render(&ctx, Resource::Router, StatusCode::OK, &r);
        }
        _ => return Err(ApiError::http_not_found("The resource could not be found.").into()),
    };
    Ok(json_response(StatusCode::OK, out.to_string()))
}

/// Whether a member action is the adding one of a pair (`add_prefixes` / `remove_prefixes`);
/// any other name is Neutron's 404 for an unknown URL.
pub(super) fn adds(action: &str, add: &str, remove: &str) -> std::result::Result<bool, ApiError> {
    match action {
        a if a == add => Ok(true),
        a if a == remove => Ok(false),
        _ => Err(ApiError::http_not_found("The resource could not be found.")),
    }
}

/// `PUT /v2.0/subnetpools/{id}/{action}`: `add_prefixes` and `remove_prefixes`.
pub async fn subnetpool_action(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let add = adds(&action, "add_prefixes", "remove_prefixes")?;
    let ctx = context(&app, &headers).await?;
    let json = read_json(&app, &headers, body).await?;
    app.config.list_limits().check_prefix_ops(&json)?;
    let prefixes = subnetpools::prefix_ops_body(&json)?;
    let out = subnetpools::edit_prefixes(&app, &ctx, id, prefixes, add).await?;
    Ok(json_response(StatusCode::OK, out.to_string()))
}

/// `/v2.0/floatingips/{fip}/port_forwardings` (GET, POST).
pub async fn port_forwardings(
    State(app): State<Arc<App>>,
    Path(fip): Path<String>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    if method == axum::http::Method::POST {
        let json = read_json(&app, &headers, body).await?;
        let out = crate::app::port_forwardings::save(&app, &ctx, fip, None, json).await?;
        return Ok(json_response(StatusCode::CREATED, out.to_string()));
    }
    Ok(json_response(StatusCode::OK, crate::app::port_forwardings::list(&app, &ctx, fip).await?.to_string()))
}

/// `/v2.0/floatingips/{fip}/port_forwardings/{id}` (GET, PUT, DELETE).
pub async fn port_forwarding(
    State(app): State<Arc<App>>,
    Path((fip, id)): Path<(String, String)>,
    method: axum::http::Method,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    match method {
        axum::http::Method::PUT => {
            let json = read_json(&app, &headers, body).await?;
            let out = crate::app::port_forwardings::save(&app, &ctx, fip, Some(id), json).await?;
            Ok(json_response(StatusCode::OK, out.to_string()))
        }
        axum::http::Method::DELETE => {
            refuse_delete_body(&headers, body).await?;
            crate::app::port_forwardings::delete(&app, &ctx, fip, id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Ok(json_response(
            StatusCode::OK,
            crate::app::port_forwardings::show(&app, &ctx, fip, id).await?.to_string(),
        )),
    }
}
