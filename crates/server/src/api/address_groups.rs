//! `PUT /v2.0/address-groups/{id}/{action}`: `add_addresses` and `remove_addresses`
//! (`address-group`'s member actions).

use super::handlers::{adds, read_json};
use super::{context, json_response, ApiErrorResponse};
use crate::app::{address_groups, App};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use std::sync::Arc;

/// Counts the addresses before reading them; the app checks the group, the policy and
/// then the body, in Neutron's order.
pub async fn action(
    State(app): State<Arc<App>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiErrorResponse> {
    let adding = adds(&action, "add_addresses", "remove_addresses")?;
    let ctx = context(&app, &headers).await?;
    let json = read_json(&app, &headers, body).await?;
    app.config.list_limits().check_address_ops(&json)?;
    let out = address_groups::edit_addresses(&app, &ctx, id, json, adding).await?;
    Ok(json_response(StatusCode::OK, out.to_string()))
}
