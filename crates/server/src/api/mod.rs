//! The HTTP layer: routes, request unpacking and response rendering. Handlers are thin:
//! they parse what the request carries, call one application function and render it.

mod address_groups;
mod agents;
mod auto_allocate;
mod body_read;
mod diagnose;
mod flavors;
mod floatingip_pools;
mod handlers;
mod health;
mod ip_availability;
mod keystone;
mod meta;
pub mod metrics;
mod port_bindings;
mod quotas;
mod rbac;

use crate::app::{App, RequestContext};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use neutrino_model::error::Flavour;
use neutrino_model::ApiError;
use std::sync::Arc;

/// Builds the router with every route of the API.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(meta::versions))
        .route("/healthcheck", get(health::get).head(health::head))
        // `/openapi.json`: the `.json` suffix is stripped before routing, as on every URL.
        .route("/openapi", get(meta::openapi))
        .route("/v2.0/", get(meta::resources))
        .route("/v2.0/extensions", get(meta::extensions))
        .route("/v2.0/extensions/{alias}", get(meta::extension))
        .route("/v2.0/{collection}", get(handlers::list).post(handlers::create))
        .route("/v2.0/{collection}/{id}", get(handlers::show).put(handlers::update).delete(handlers::delete))
        // Member actions (`PUT /v2.0/routers/{id}/add_router_interface`, subnet pools'
        // `add_prefixes`) share the `{collection}/{id}` node with the tags routes below, so the
        // static `tags` segment wins over `{action}` for every collection.
        .route("/v2.0/{collection}/{id}/{action}", axum::routing::put(handlers::member_action))
        .route(
            "/v2.0/floatingips/{fip}/port_forwardings",
            get(handlers::port_forwardings).post(handlers::port_forwardings),
        )
        .route(
            "/v2.0/floatingips/{fip}/port_forwardings/{id}",
            get(handlers::port_forwarding).put(handlers::port_forwarding).delete(handlers::port_forwarding),
        )
        .route("/v2.0/{collection}/{id}/tags", tags())
        .route("/v2.0/{collection}/{id}/tags/{tag}", tag())
        .merge(keystone::routes())
        .merge(quotas::routes())
        .merge(agents::routes())
        .merge(rbac::routes())
        .merge(ip_availability::routes())
        .merge(floatingip_pools::routes())
        .merge(flavors::routes())
        .merge(auto_allocate::routes())
        .merge(port_bindings::routes())
        .merge(diagnose::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(log_request))
        .layer(axum::middleware::from_fn_with_state(app.clone(), metrics::record))
        .with_state(app)
}

/// A resource's tags (`standard-attr-tag`, `tag-creation`).
fn tags() -> MethodRouter<Arc<App>> {
    get(handlers::tags_get).put(handlers::tags_replace).post(handlers::tags_create).delete(handlers::tags_clear)
}

/// One tag of a resource.
fn tag() -> MethodRouter<Arc<App>> {
    get(handlers::tag_check).put(handlers::tag_add).delete(handlers::tag_remove)
}

/// Strips a `.json` suffix from the path, which Neutron accepts on every URL.
pub fn strip_json_suffix(mut req: Request) -> Request {
    let path = req.uri().path();
    if let Some(stripped) = path.strip_suffix(".json") {
        let mut uri = stripped.to_string();
        if let Some(q) = req.uri().query() {
            uri.push('?');
            uri.push_str(q);
        }
        if let Ok(parsed) = uri.parse() {
            *req.uri_mut() = parsed;
        }
    }
    req
}

async fn not_found() -> Response {
    ApiErrorResponse(ApiError::http_not_found("The resource could not be found.")).into_response()
}

async fn method_not_allowed(req: Request) -> Response {
    let method = req.method().clone();
    ApiErrorResponse(ApiError::method_not_allowed(method)).into_response()
}

/// Tags every response with `X-Openstack-Request-Id` and logs the request under that id:
/// server errors at `error`, client errors at `info`, everything at `debug`.
async fn log_request(req: Request, next: axum::middleware::Next) -> Response {
    let id = format!("req-{}", uuid::Uuid::new_v4());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let mut res = next.run(req).await;
    let status = res.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match status {
        500.. => tracing::error!(request_id = %id, %method, %path, status, ms, "request failed"),
        400..=499 => tracing::info!(request_id = %id, %method, %path, status, ms, "request refused"),
        _ => tracing::debug!(request_id = %id, %method, %path, status, ms, "request"),
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-openstack-request-id", v);
    }
    res
}

/// An [`ApiError`] as an HTTP response: Neutron's body, JSON content type.
pub struct ApiErrorResponse(pub ApiError);

impl From<ApiError> for ApiErrorResponse {
    fn from(e: ApiError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiErrorResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = json_response(status, self.0.to_json().to_string());
        match self.0.flavour {
            Flavour::Neutron => {}
            // keystonemiddleware's challenge, for 401s on /v2.0 as well as on /v3.
            Flavour::Keystone => {
                if status == StatusCode::UNAUTHORIZED {
                    res.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Keystone uri=\"/v3\""));
                }
            }
        }
        res
    }
}

/// A request body as JSON, refused with 413 beyond `max_request_body_bytes`.
pub(crate) async fn body_json(app: &App, body: Body) -> Result<serde_json::Value, ApiError> {
    let bytes =
        axum::body::to_bytes(body, app.config.max_request_body_bytes).await.map_err(|_| ApiError::too_large())?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::bad_request("Malformed request body"))
}

/// A JSON response from an already serialised body.
pub fn json_response(status: StatusCode, body: String) -> Response {
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// The request context for a call: from the `X-Auth-Token` (a project-scoped token, checked
/// without touching the store), or in `noauth` mode admin of the project in `X-Project-Id`
/// (or the configured default).
pub async fn context(app: &App, headers: &HeaderMap) -> Result<RequestContext, ApiError> {
    if app.config.noauth {
        let project = headers
            .get("x-project-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| app.config.noauth_default_project.clone());
        return Ok(RequestContext::noauth(project, app.rules.clone()));
    }
    let token =
        headers.get("x-auth-token").and_then(|v| v.to_str().ok()).ok_or_else(crate::app::identity::unauthorized)?;
    let claims = app.identity.authenticate(token).await?;
    // Neutron's policies all have scope_types ['project'] and oslo.policy enforces scope by
    // default: a system- or domain-scoped token (even an admin's) may do nothing here.
    if claims.system {
        return Err(ApiError::invalid_scope("system"));
    }
    if claims.domain_id.is_some() {
        return Err(ApiError::invalid_scope("domain"));
    }
    let project_id = claims.project_id.clone().ok_or_else(crate::app::identity::unauthorized)?;
    let roles: Vec<String> = claims.roles.iter().map(|r| r.name.clone()).collect();
    Ok(RequestContext {
        project_id,
        is_admin: roles.iter().any(|r| r == "admin"),
        roles,
        user_id: claims.user_id,
        rules: app.rules.clone(),
    })
}

/// The request's own URL base (`http://host:port`), honouring `X-Forwarded-Proto`.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let scheme = headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("http");
    format!("{scheme}://{host}")
}
