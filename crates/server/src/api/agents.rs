//! `/v2.0/agents`, `/v2.0/availability_zones`, and the agents' own endpoints under `/agent/v1`:
//!
//! * `POST /agent/v1/agents/report`: registration and heartbeat ([`AgentReport`]).
//! * `GET /agent/v1/hosts/{host}/state?known=<fingerprint>&wait=<s>`: the host's desired
//!   state; a long poll that answers at once when the state differs from `known`, else when
//!   it changes, else `304 Not Modified` after `wait` seconds (capped by
//!   `agent_watch_timeout`).
//! * `POST /agent/v1/hosts/{host}/port-status`: ports the agent wired or lost.

use super::handlers::refuse_delete_body;
use super::{body_json, context, json_response, ApiErrorResponse};
use crate::app::assignments::{self, Kind, DHCP, L3};
use crate::app::{agents, host_state, host_watch, zones, App};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use neutrino_agent_api::{AgentReport, PortStatusReport};
use neutrino_model::ApiError;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

type Result<T> = std::result::Result<T, ApiErrorResponse>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2.0/agents", get(list))
        .route("/v2.0/agents/{id}", get(show).put(update).delete(delete))
        .route("/v2.0/availability_zones", get(zones))
        .route("/v2.0/agents/{id}/dhcp-networks", get(dhcp_networks).post(dhcp_network_add))
        .route("/v2.0/agents/{id}/dhcp-networks/{network_id}", axum::routing::delete(dhcp_network_remove))
        .route("/v2.0/networks/{id}/dhcp-agents", get(dhcp_agents))
        .route("/v2.0/agents/{id}/l3-routers", get(l3_routers).post(l3_router_add))
        .route("/v2.0/agents/{id}/l3-routers/{router_id}", axum::routing::delete(l3_router_remove))
        .route("/v2.0/routers/{id}/l3-agents", get(l3_agents))
        .route("/agent/v1/agents/report", post(report))
        .route("/agent/v1/hosts/{host}/state", get(state))
        .route("/agent/v1/hosts/{host}/port-status", post(port_status))
}

pub(super) fn query_pairs(q: Option<String>) -> Vec<(String, String)> {
    q.map(|q| url::form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

/// Keeps only the `fields=` asked for (all when none).
fn select_fields(mut doc: Map<String, Value>, fields: &[String]) -> Map<String, Value> {
    if !fields.is_empty() {
        doc.retain(|k, _| fields.iter().any(|f| f == k));
    }
    doc
}

async fn list(State(app): State<Arc<App>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let pairs = query_pairs(q);
    let fields: Vec<String> = pairs.iter().filter(|(k, _)| k == "fields").map(|(_, v)| v.clone()).collect();
    let filters = pairs.into_iter().filter(|(k, _)| k != "fields").collect();
    let agents: Vec<Value> = agents::list(&app, &ctx, filters)
        .await?
        .into_iter()
        .map(|a| Value::Object(select_fields(a, &fields)))
        .collect();
    Ok(json_response(StatusCode::OK, json!({ "agents": agents }).to_string()))
}

async fn show(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let fields: Vec<String> = query_pairs(q).into_iter().filter(|(k, _)| k == "fields").map(|(_, v)| v).collect();
    let agent = select_fields(agents::show(&app, &ctx, id).await?, &fields);
    Ok(json_response(StatusCode::OK, json!({ "agent": agent }).to_string()))
}

async fn update(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let body = body_json(&app, body).await?;
    let agent = agents::update(&app, &ctx, id, body).await?;
    Ok(json_response(StatusCode::OK, json!({ "agent": agent }).to_string()))
}

async fn delete(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    refuse_delete_body(&headers, body).await?;
    agents::delete(&app, &ctx, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn zones(State(app): State<Arc<App>>, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let query = zones::ZoneQuery::parse(query_pairs(q))?;
    let zones = zones::list(&app, &ctx, query).await?;
    Ok(json_response(StatusCode::OK, json!({ "availability_zones": zones }).to_string()))
}

async fn report(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let report: AgentReport = serde_json::from_value(body_json(&app, body).await?)
        .map_err(|e| ApiError::bad_request(format!("Invalid agent report: {e}")))?;
    let reply = agents::report(&app, &ctx, report).await?;
    Ok(json_response(StatusCode::OK, serde_json::to_string(&reply).map_err(|_| ApiError::internal())?))
}

/// The long poll: answer when the host's state differs from what the agent has.
async fn state(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(host): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    agents::authorize_agent(&ctx)?;
    let pairs = query_pairs(q);
    let known = pairs.iter().find(|(k, _)| k == "known").map(|(_, v)| v.clone()).unwrap_or_default();
    let deadline = watch_deadline(&app, &pairs)?;
    match host_watch::watch(&app, host, known, deadline).await? {
        Some(state) => {
            let body = serde_json::to_string(&*state).map_err(|_| ApiError::internal())?;
            Ok(json_response(StatusCode::OK, body))
        }
        None => Ok(StatusCode::NOT_MODIFIED.into_response()),
    }
}

/// When an agent's long poll answers at the latest: after its `wait` seconds (none: at
/// once), capped by `agent_watch_timeout`.
pub(super) fn watch_deadline(app: &App, pairs: &[(String, String)]) -> std::result::Result<Instant, ApiError> {
    let wait = match pairs.iter().find(|(k, _)| k == "wait") {
        Some((_, v)) => {
            v.parse::<u64>().map_err(|_| ApiError::invalid_input(format!("'{v}' is not a number of seconds")))?
        }
        None => 0,
    };
    Ok(Instant::now() + Duration::from_secs(wait.min(app.config.agent_watch_timeout)))
}

async fn port_status(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(host): Path<String>,
    body: Body,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let report: PortStatusReport = serde_json::from_value(body_json(&app, body).await?)
        .map_err(|e| ApiError::bad_request(format!("Invalid port status report: {e}")))?;
    let changed = host_state::report_port_status(&app, &ctx, host, report).await?;
    Ok(json_response(StatusCode::OK, json!({ "changed": changed }).to_string()))
}

async fn hosted(app: Arc<App>, headers: HeaderMap, kind: &'static Kind, agent: String, key: &str) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let items = assignments::resources_of(&app, &ctx, kind, agent).await?;
    Ok(json_response(StatusCode::OK, json!({ key: items }).to_string()))
}

async fn host(app: Arc<App>, headers: HeaderMap, kind: &'static Kind, agent: String, body: Body) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let body = body_json(&app, body).await?;
    assignments::add(&app, &ctx, kind, agent, body).await?;
    Ok(json_response(StatusCode::CREATED, "null".into()))
}

async fn unhost(
    app: Arc<App>,
    headers: HeaderMap,
    body: Body,
    kind: &'static Kind,
    agent: String,
    id: String,
) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    refuse_delete_body(&headers, body).await?;
    assignments::remove(&app, &ctx, kind, agent, id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn hosts(app: Arc<App>, headers: HeaderMap, kind: &'static Kind, id: String) -> Result<Response> {
    let ctx = context(&app, &headers).await?;
    let agents = assignments::agents_of(&app, &ctx, kind, id).await?;
    Ok(json_response(StatusCode::OK, json!({ "agents": agents }).to_string()))
}

async fn dhcp_networks(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    hosted(app, headers, &DHCP, id, "networks").await
}

async fn dhcp_network_add(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    host(app, headers, &DHCP, id, body).await
}

async fn dhcp_network_remove(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((id, network_id)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    unhost(app, headers, body, &DHCP, id, network_id).await
}

async fn dhcp_agents(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    hosts(app, headers, &DHCP, id).await
}

async fn l3_routers(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    hosted(app, headers, &L3, id, "routers").await
}

async fn l3_router_add(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    host(app, headers, &L3, id, body).await
}

async fn l3_router_remove(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((id, router_id)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    unhost(app, headers, body, &L3, id, router_id).await
}

async fn l3_agents(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    hosts(app, headers, &L3, id).await
}
