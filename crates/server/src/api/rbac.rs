//! `/v2.0/rbac-policies` handlers.

use super::handlers::refuse_delete_body;
use super::{body_json, context, json_response, ApiErrorResponse};
use crate::app::{rbac, App};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use neutrino_model::bodies::rbac::{RbacPolicyCreate, RbacPolicyUpdate};
use std::sync::Arc;

type Result<T> = std::result::Result<T, ApiErrorResponse>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2.0/rbac-policies", get(list).post(create))
        .route("/v2.0/rbac-policies/{id}", get(show).put(update).delete(delete))
}

async fn list(State(app): State<Arc<App>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let filters: Vec<(String, String)> = q
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default();
    Ok(json_response(StatusCode::OK, rbac::list(&app, &ctx, filters).await?.to_string()))
}

async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let json = body_json(&app, body).await?;
    Ok(json_response(StatusCode::CREATED, rbac::create(&app, &ctx, RbacPolicyCreate::parse(&json)?).await?.to_string()))
}

async fn show(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    Ok(json_response(StatusCode::OK, rbac::show(&app, &ctx, id).await?.to_string()))
}

async fn update(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let json = body_json(&app, body).await?;
    Ok(json_response(StatusCode::OK, rbac::update(&app, &ctx, id, RbacPolicyUpdate::parse(&json)?).await?.to_string()))
}

async fn delete(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    refuse_delete_body(&headers, body).await?;
    rbac::delete(&app, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
