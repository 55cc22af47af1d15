//! `binding-extended`: `/v2.0/ports/{port}/bindings` (GET, POST),
//! `/v2.0/ports/{port}/bindings/{host}` (GET, DELETE) and
//! `/v2.0/ports/{port}/bindings/{host}/activate` (PUT).

use super::handlers::{query_pairs, read_json, refuse_delete_body};
use super::{context, json_response, ApiErrorResponse};
use crate::app::port_bindings::{self, BindingFilter};
use crate::app::App;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use neutrino_model::bodies::port_bindings::PortBindingCreate;
use neutrino_model::pystr::py_repr;
use neutrino_model::query::fields_of;
use neutrino_model::types::PortBindingDoc;
use neutrino_model::ApiError;
use serde_json::{json, Map, Value};
use std::sync::Arc;

type Result<T> = std::result::Result<T, ApiErrorResponse>;

/// The routes, merged into the API's router.
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2.0/ports/{port}/bindings", get(list).post(create))
        .route("/v2.0/ports/{port}/bindings/{host}", get(show).delete(delete))
        .route("/v2.0/ports/{port}/bindings/{host}/activate", put(activate))
}

/// Query keys a list accepts besides the filters (paging and sorting are accepted; a port
/// has a handful of bindings).
const LIST_KEYS: &[&str] = &["fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"];

/// The filters of a list (the attributes Neutron marks `is_filter`), refusing any other key
/// with Neutron's message.
fn filter_of(pairs: &[(String, String)]) -> std::result::Result<BindingFilter, ApiError> {
    let mut f = BindingFilter::default();
    let mut unknown: Vec<Value> = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "host" => f.host.push(v.clone()),
            "vif_type" => f.vif_type.push(v.clone()),
            "vnic_type" => f.vnic_type.push(v.clone()),
            "status" => f.status.push(v.clone()),
            k if LIST_KEYS.contains(&k) => {}
            k => {
                let k = Value::String(k.to_string());
                if !unknown.contains(&k) {
                    unknown.push(k);
                }
            }
        }
    }
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{} is invalid attribute for filtering",
            py_repr(&Value::Array(unknown))
        )));
    }
    Ok(f)
}

/// A binding as JSON, only the `fields` asked for (all when none).
fn rendered(b: &PortBindingDoc, fields: &[String]) -> Value {
    let mut m = match serde_json::to_value(b) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if !fields.is_empty() {
        m.retain(|k, _| fields.contains(k));
    }
    Value::Object(m)
}

async fn list(
    State(app): State<Arc<App>>,
    Path(port): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let pairs = query_pairs(raw);
    let filter = filter_of(&pairs)?;
    let fields = fields_of(&pairs);
    let all = port_bindings::list(&app, &ctx, port, filter).await?;
    let items: Vec<Value> = all.iter().map(|b| rendered(b, &fields)).collect();
    Ok(json_response(StatusCode::OK, json!({ "bindings": items }).to_string()))
}

async fn show(
    State(app): State<Arc<App>>,
    Path((port, host)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let fields = fields_of(&query_pairs(raw));
    let b = port_bindings::show(&app, &ctx, port, host).await?;
    Ok(json_response(StatusCode::OK, json!({ "binding": rendered(&b, &fields) }).to_string()))
}

async fn create(
    State(app): State<Arc<App>>,
    Path(port): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let json = read_json(&app, &headers, body).await?;
    let request = PortBindingCreate::parse(&json)?;
    let b = port_bindings::create(&app, &ctx, port, request).await?;
    Ok(json_response(StatusCode::CREATED, json!({ "binding": b }).to_string()))
}

async fn delete(
    State(app): State<Arc<App>>,
    Path((port, host)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    refuse_delete_body(&headers, body).await?;
    port_bindings::delete(&app, &ctx, port, host).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Answers the binding itself, unwrapped, as Neutron answers a member action.
async fn activate(
    State(app): State<Arc<App>>,
    Path((port, host)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let b = port_bindings::activate(&app, &ctx, port, host).await?;
    Ok(json_response(StatusCode::OK, json!(b).to_string()))
}
