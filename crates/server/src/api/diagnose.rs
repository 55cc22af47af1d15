//! `neutrino diagnose`'s routes:
//!
//! * `GET /v2.0/diagnose/ports/{id}?to=<port id | address>&protocol=icmp|tcp|udp&port=N`:
//!   the port's path judged hop by hop, `{"diagnosis": ...}` (admin only).
//! * `GET /agent/v1/hosts/{host}/questions?wait=<s>`: the agent's long poll for the
//!   questions pending for its host (at once when there is one; `{"questions": []}` after
//!   `wait` seconds, capped by `agent_watch_timeout`).
//! * `POST /agent/v1/hosts/{host}/answers`: an agent's answer to one of them (a
//!   `HostAnswer`, at most `diagnose_max_answer_bytes`).

use super::agents::{query_pairs, watch_deadline};
use super::body_read::read_bytes;
use super::{context, json_response, ApiErrorResponse};
use crate::app::{agents, diagnose, questions, App};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use neutrino_agent_api::diagnose::HostAnswer;
use neutrino_model::ApiError;
use serde_json::json;
use std::sync::Arc;

type Result<T> = std::result::Result<T, ApiErrorResponse>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2.0/diagnose/ports/{id}", get(port))
        .route("/agent/v1/hosts/{host}/questions", get(poll))
        .route("/agent/v1/hosts/{host}/answers", post(answer))
}

async fn port(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let query = diagnose::Query::parse(query_pairs(q))?;
    let diagnosis = diagnose::diagnose(&app, &ctx, id, query).await?;
    let body = serde_json::to_string(&json!({ "diagnosis": diagnosis })).map_err(|_| ApiError::internal())?;
    Ok(json_response(StatusCode::OK, body))
}

async fn poll(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(host): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    agents::authorize_agent(&ctx)?;
    let deadline = watch_deadline(&app, &query_pairs(q))?;
    let pending = questions::poll(&app, host, deadline).await?;
    Ok(json_response(StatusCode::OK, serde_json::to_string(&pending).map_err(|_| ApiError::internal())?))
}

async fn answer(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(host): Path<String>,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    agents::authorize_agent(&ctx)?;
    let bytes = read_bytes(&headers, body, app.config.diagnose_max_answer_bytes).await?;
    let answer: HostAnswer =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_request(format!("Invalid answer: {e}")))?;
    questions::answer(&app, host, answer).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
