//! `/v2.0/quotas` handlers.

use super::handlers::refuse_delete_body;
use super::{context, json_response, ApiErrorResponse};
use crate::app::{quotas, App};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use neutrino_model::ApiError;
use std::sync::Arc;

type Result<T> = std::result::Result<T, ApiErrorResponse>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2.0/quotas", get(list))
        .route("/v2.0/quotas/{project}", get(show).put(update).delete(reset))
        .route("/v2.0/quotas/{project}/default", get(defaults))
        .route("/v2.0/quotas/{project}/details", get(details))
}

async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    Ok(json_response(StatusCode::OK, quotas::list(&app, &ctx).await?.to_string()))
}

async fn show(State(app): State<Arc<App>>, headers: HeaderMap, Path(project): Path<String>) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    Ok(json_response(StatusCode::OK, quotas::show(&app, &ctx, project).await?.to_string()))
}

async fn defaults(State(app): State<Arc<App>>, headers: HeaderMap, Path(project): Path<String>) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    Ok(json_response(StatusCode::OK, quotas::defaults(&ctx, &project)?.to_string()))
}

async fn details(State(app): State<Arc<App>>, headers: HeaderMap, Path(project): Path<String>) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    Ok(json_response(StatusCode::OK, quotas::details(&app, &ctx, project).await?.to_string()))
}

async fn update(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let bytes =
        axum::body::to_bytes(body, app.config.max_request_body_bytes).await.map_err(|_| ApiError::too_large())?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| ApiError::bad_request("Malformed request body"))?;
    Ok(json_response(StatusCode::OK, quotas::update(&app, &ctx, project, &json).await?.to_string()))
}

async fn reset(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    refuse_delete_body(&headers, body).await?;
    quotas::reset(&app, &ctx, project).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
