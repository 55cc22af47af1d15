//! `/v2.0/floatingip_pools` (floatingip-pools).

use super::{context, json_response, ApiErrorResponse};
use crate::app::floatingip_pools;
use crate::app::App;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use neutrino_model::ApiError;
use serde_json::{Map, Value};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/v2.0/floatingip-pools", get(list))
}

/// The `fields` asked for (Neutron's `resource_fields`); other parameters are ignored, as
/// Neutron's `get_floatingip_pools` ignores its filters.
fn fields(raw: Option<String>) -> Vec<String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.into_owned())
        .collect()
}

async fn list(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiErrorResponse> {
    let ctx = context(&app, &headers).await?;
    let fields = fields(raw);
    let pools = floatingip_pools::list(&app, &ctx).await?;
    let mut items = Vec::with_capacity(pools.len());
    for pool in pools {
        let Value::Object(mut item) = serde_json::to_value(pool).map_err(|_| ApiError::internal())? else {
            return Err(ApiError::internal().into());
        };
        if !fields.is_empty() {
            item.retain(|k, _| fields.iter().any(|f| f == k));
        }
        items.push(Value::Object(item));
    }
    let mut body = Map::new();
    body.insert("floatingip_pools".into(), Value::Array(items));
    let text = serde_json::to_string(&body).map_err(|_| ApiError::internal())?;
    Ok(json_response(StatusCode::OK, text))
}
