//! `/v2.0/network-ip-availabilities` (network-ip-availability).

use super::{context, json_response, ApiErrorResponse};
use crate::app::ip_availability::{self, Filters};
use crate::app::App;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use ip_availability::NetworkAvailability;
use neutrino_model::ApiError;
use serde::Serialize;
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v2.0/network-ip-availabilities", get(list))
        .route("/v2.0/network-ip-availabilities/{id}", get(show))
}

/// The envelopes, serialised straight to text: a `serde_json::Value` cannot hold the `u128`
/// totals of IPv6 pools.
#[derive(Serialize)]
struct List<'a> {
    network_ip_availabilities: &'a [NetworkAvailability],
}

#[derive(Serialize)]
struct One<'a> {
    network_ip_availability: &'a NetworkAvailability,
}

fn encoded<T: Serialize>(value: &T) -> Result<Response, ApiErrorResponse> {
    let body = serde_json::to_string(value).map_err(|_| ApiError::internal())?;
    Ok(json_response(StatusCode::OK, body))
}

/// The supported filters of the query string; anything else is ignored.
fn filters(raw: Option<String>) -> Result<Filters, ApiError> {
    let mut f = Filters::default();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let v = v.into_owned();
        match k.as_ref() {
            "network_id" => f.network_ids.push(v),
            "network_name" => f.network_names.push(v),
            "project_id" | "tenant_id" => f.project_ids.push(v),
            "ip_version" => {
                f.ip_versions.push(v.parse().map_err(|_| ApiError::invalid_input(format!("'{v}' is not an integer")))?)
            }
            _ => {}
        }
    }
    Ok(f)
}

async fn list(
    State(app): State<Arc<App>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiErrorResponse> {
    let ctx = context(&app, &headers).await?;
    let items = ip_availability::list(&app, &ctx, filters(raw)?).await?;
    encoded(&List { network_ip_availabilities: &items })
}

async fn show(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiErrorResponse> {
    let ctx = context(&app, &headers).await?;
    let item = ip_availability::show(&app, &ctx, id).await?;
    encoded(&One { network_ip_availability: &item })
}
