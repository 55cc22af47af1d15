//! `GET|HEAD /healthcheck`, as oslo.middleware's `Healthcheck` app answers it in front of
//! Neutron: no authentication; `GET` is 200 with the body `OK` when the server can serve
//! and 503 with the reason when it cannot; `HEAD` is 204 or 503 without a body. The plain
//! text answer is the default; `Accept: application/json` gets oslo's non-detailed JSON
//! (`{"detailed": false, "reasons": [...]}`). Details (oslo's `detailed` mode: versions,
//! threads, host) are never shown.

use crate::app::App;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use std::sync::Arc;

/// `GET /healthcheck`.
pub async fn get(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let verdict = app.health.check(&app.store).await;
    let status = if verdict.healthy() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    if wants_json(&headers) {
        let body = serde_json::json!({"detailed": false, "reasons": [verdict.reason()]});
        return answer(status, "application/json", body.to_string());
    }
    answer(status, "text/plain; charset=UTF-8", verdict.reason().to_string())
}

/// `HEAD /healthcheck`.
pub async fn head(State(app): State<Arc<App>>) -> Response {
    let verdict = app.health.check(&app.store).await;
    let status = if verdict.healthy() { StatusCode::NO_CONTENT } else { StatusCode::SERVICE_UNAVAILABLE };
    answer(status, "text/plain; charset=UTF-8", String::new())
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A load balancer must see every probe's own answer, never a cached one.
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Whether the client prefers JSON to plain text: webob's `acceptable_offers` over oslo's
/// offers, where plain text wins ties (it is offered first) and is the default.
fn wants_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return false };
    quality(accept, "application", "json") > quality(accept, "text", "plain")
}

/// The quality the `Accept` header gives `kind/sub`: its most specific matching range's
/// `q` (1 when absent), 0 when no range matches.
fn quality(accept: &str, kind: &str, sub: &str) -> f32 {
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let Some((k, s)) = media.split_once('/') else { continue };
        let specificity = match (k, s) {
            (k, s) if k == kind && s == sub => 2,
            (k, "*") if k == kind => 1,
            ("*", "*") => 0,
            _ => continue,
        };
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").and_then(|v| v.trim().parse::<f32>().ok()))
            .next()
            .unwrap_or(1.0);
        if best.is_none_or(|(spec, _)| specificity > spec) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::health::Verdict;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn plain_text_unless_json_is_preferred() {
        assert!(!wants_json(&HeaderMap::new()));
        assert!(!wants_json(&accept("*/*")));
        assert!(!wants_json(&accept("application/json, text/plain")));
        assert!(!wants_json(&accept("text/html")));
        assert!(wants_json(&accept("application/json")));
        assert!(wants_json(&accept("text/plain;q=0.5, application/json")));
        assert!(wants_json(&accept("application/*, text/*;q=0.2")));
        assert!(!wants_json(&accept("application/json;q=0, */*")));
    }

    #[test]
    fn verdicts_name_no_details() {
        assert_eq!(Verdict::Ok.reason(), "OK");
        assert!(!Verdict::StoreBusy.healthy());
    }
}
