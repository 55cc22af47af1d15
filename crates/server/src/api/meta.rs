//! Version discovery, the resource index, the extension catalog and the OpenAPI document.

use super::{base_url, json_response, ApiErrorResponse};
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use neutrino_model::extensions::{self, EXTENSIONS};
use neutrino_model::ApiError;
use serde_json::json;

/// `GET /`: the version document (no authentication).
pub async fn versions(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let body = json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": format!("{base}/v2.0/")}]}]});
    json_response(StatusCode::OK, body.to_string())
}

/// `GET /v2.0/`: the core resources.
pub async fn resources(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let layout: Vec<_> = [("network", "networks"), ("subnet", "subnets"), ("port", "ports")]
        .iter()
        .map(|(name, coll)| json!({"name": name, "collection": coll, "links": [{"rel": "self", "href": format!("{base}/v2.0/{coll}")}]}))
        .collect();
    json_response(StatusCode::OK, json!({"resources": layout}).to_string())
}

/// `GET /v2.0/extensions`.
pub async fn extensions() -> Response {
    let list: Vec<_> = EXTENSIONS.iter().map(|e| e.to_json()).collect();
    json_response(StatusCode::OK, json!({"extensions": list}).to_string())
}

/// `GET /v2.0/extensions/{alias}`.
pub async fn extension(Path(alias): Path<String>) -> Result<Response, ApiErrorResponse> {
    let ext = extensions::find(&alias)
        .ok_or_else(|| ApiError::http_not_found(format!("Extension with alias {alias} does not exist")))?;
    Ok(json_response(StatusCode::OK, json!({"extension": ext.to_json()}).to_string()))
}

/// `GET /openapi.json`: the API document, built once from the attribute maps (pure and the
/// same for every caller, so no token is asked: it says nothing about any project).
pub async fn openapi() -> Response {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let doc = DOC.get_or_init(|| neutrino_model::openapi::document(env!("CARGO_PKG_VERSION")).to_string());
    json_response(StatusCode::OK, doc.clone())
}
