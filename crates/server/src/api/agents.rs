//! `/v2.0/agents` and `/v2.0/availability_zones` (`agent`, `availability_zone`): the API
//! shapes, admin-only. No host agent registers yet, so both lists are empty — honestly so:
//! availability zones are derived from the agents that report them, as in Neutron.

use super::{context, json_response, ApiErrorResponse};
use crate::app::App;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use neutrino_model::ApiError;
use serde_json::json;
use std::sync::Arc;

type Result<T> = std::result::Result<T, ApiErrorResponse>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2.0/agents", get(list))
        .route("/v2.0/agents/{id}", get(show).put(show).delete(show))
        .route("/v2.0/availability_zones", get(zones))
}

async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response> {
    // Non-admins get the list filtered by policy (get_agent is admin-only): empty.
    context(&app, &headers).await?;
    Ok(json_response(StatusCode::OK, json!({"agents": []}).to_string()))
}

async fn show(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    context(&app, &headers).await?;
    Err(ApiError::new(404, "AgentNotFound", format!("Agent {id} could not be found")).into())
}

async fn zones(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response> {
    context(&app, &headers).await?;
    Ok(json_response(StatusCode::OK, json!({"availability_zones": []}).to_string()))
}
