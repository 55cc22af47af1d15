//! A flavor's service profiles (`POST /v2.0/flavors/{id}/service_profiles`, `GET|DELETE
//! .../{profile}`) and `GET /v2.0/service-providers`. Flavors and profiles themselves are
//! collections of the shared handlers.

use super::handlers::refuse_delete_body;
use super::{body_json, context, json_response, ApiErrorResponse};
use crate::app::{flavors, App};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use neutrino_model::bodies::flavors::FlavorServiceProfile;
use neutrino_model::body::prepare_create;
use neutrino_model::resources::FLAVOR_SERVICE_PROFILE;
use neutrino_model::ApiError;
use serde_json::{json, Value};
use std::sync::Arc;

type Result<T> = std::result::Result<T, ApiErrorResponse>;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2.0/flavors/{id}/service_profiles", post(associate))
        .route("/v2.0/flavors/{id}/service_profiles/{profile}", get(association).delete(dissociate))
        .route("/v2.0/service-providers", get(service_providers))
}

/// Answers as Neutron's sub-resource controller renders the flavor the plugin returns: one
/// association shows only the attribute map's `id` (the flavor's), a bulk request the
/// whole flavors.
async fn associate(
    State(app): State<Arc<App>>,
    Path(flavor_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let json = body_json(&app, body).await?;
    let (items, bulk) = prepare_create(&FLAVOR_SERVICE_PROFILE, &json, &ctx.caller(), &app.config.list_limits())?;
    let items = neutrino_model::bodies::Body::<FlavorServiceProfile>::from_validated_all(items)?;
    let flavors = flavors::associate(&app, &ctx, flavor_id, items).await?;
    let out = if bulk {
        json!({"service_profiles": flavors})
    } else {
        let flavor = flavors.first().ok_or_else(ApiError::internal)?;
        json!({"service_profile": {"id": flavor.id}})
    };
    Ok(json_response(StatusCode::CREATED, out.to_string()))
}

/// `{"service_profile": {}}`: Neutron's association has no attribute the map shows.
async fn association(
    State(app): State<Arc<App>>,
    Path((flavor_id, profile)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    flavors::association(&app, &ctx, flavor_id, profile).await?;
    Ok(json_response(StatusCode::OK, json!({"service_profile": {}}).to_string()))
}

async fn dissociate(
    State(app): State<Arc<App>>,
    Path((flavor_id, profile)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    refuse_delete_body(&headers, body).await?;
    flavors::dissociate(&app, &ctx, flavor_id, profile).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `fields=` keeps the shown keys asked for; every other parameter is a filter.
async fn service_providers(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let fields: Vec<&str> = pairs.iter().filter(|(k, _)| k == "fields").map(|(_, v)| v.as_str()).collect();
    let mut items = Vec::new();
    for p in flavors::service_providers(&ctx, &pairs) {
        let Value::Object(mut item) = serde_json::to_value(p).map_err(|_| ApiError::internal())? else {
            return Err(ApiError::internal().into());
        };
        if !fields.is_empty() {
            item.retain(|k, _| fields.contains(&k.as_str()));
        }
        items.push(Value::Object(item));
    }
    Ok(json_response(StatusCode::OK, json!({"service_providers": items}).to_string()))
}
