//! `/v2.0/auto-allocated-topology/{project_id}` (auto-allocated-topology): `GET` (with
//! `fields=dry-run` to only check the deployment) and `DELETE`.

use super::handlers::refuse_delete_body;
use super::{context, json_response, ApiErrorResponse};
use crate::app::{auto_allocate, App};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/v2.0/auto-allocated-topology/{project_id}", get(show).delete(delete))
}

/// The non-empty `fields` of the query.
fn fields(raw: Option<String>) -> Vec<String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .filter(|(k, v)| k == "fields" && !v.is_empty())
        .map(|(_, v)| v.into_owned())
        .collect()
}

async fn show(
    State(app): State<Arc<App>>,
    Path(project): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiErrorResponse> {
    let ctx = context(&app, &headers).await?;
    let body = auto_allocate::get(&app, &ctx, project, fields(raw)).await?;
    Ok(json_response(StatusCode::OK, body.to_string()))
}

async fn delete(
    State(app): State<Arc<App>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiErrorResponse> {
    let ctx = context(&app, &headers).await?;
    refuse_delete_body(&headers, body).await?;
    auto_allocate::delete(&app, &ctx, project).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
