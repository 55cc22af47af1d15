//! The Keystone v3 subset clients use: discovery, tokens, and the admin API for domains,
//! projects, users, roles and role assignments (what `openstack project/user/role` and
//! Tempest's dynamic credentials call).

use super::{base_url, json_response, ApiErrorResponse};
use crate::app::identity::{self, unauthorized, DEFAULT_DOMAIN_ID};
use crate::app::identity::{LoginRefused, RevocationScope};
use crate::app::App;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use neutrino_identity::Claims;
use neutrino_model::ApiError;
use neutrino_store::identity::{Domain, Project, Role, User};
use neutrino_store::StoreError;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

mod app_creds;
mod assignments;
mod catalog;
mod listings;
mod users;

use users::{user_change_password, user_create, user_delete, user_list, user_show, user_update};

type Result<T> = std::result::Result<T, ApiErrorResponse>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v3", get(version))
        .route("/v3/", get(version))
        .route("/v3/auth/tokens", get(token_show).head(token_check).post(token_create).delete(token_revoke))
        .route("/v3/domains", get(domain_list))
        .route("/v3/domains/{id}", get(domain_show))
        .route("/v3/projects", get(project_list).post(project_create))
        .route("/v3/projects/{id}", get(project_show).patch(project_update).delete(project_delete))
        .route("/v3/users", get(user_list).post(user_create))
        .route("/v3/users/{id}", get(user_show).patch(user_update).delete(user_delete))
        .route("/v3/users/{id}/password", post(user_change_password))
        .route("/v3/roles", get(role_list).post(role_create))
        .route("/v3/roles/{id}", get(role_show))
        .route("/v3/projects/{p}/users/{u}/roles", get(assignment_list))
        .route(
            "/v3/projects/{p}/users/{u}/roles/{r}",
            put(assignment_grant).head(assignment_check).delete(assignment_revoke),
        )
        .merge(app_creds::routes())
        .merge(assignments::routes())
        .merge(catalog::routes())
        .merge(listings::routes())
}

async fn version(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    let body = json!({"version": {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}});
    json_response(StatusCode::OK, body.to_string())
}

fn caller(app: &App, headers: &HeaderMap) -> std::result::Result<Claims, ApiError> {
    let token = headers.get("x-auth-token").and_then(|v| v.to_str().ok()).ok_or_else(unauthorized)?;
    app.identity.validate(token).map_err(|_| unauthorized())
}

fn admin(app: &App, headers: &HeaderMap) -> std::result::Result<Claims, ApiError> {
    let c = caller(app, headers)?;
    if identity::is_cloud_admin(&c) {
        Ok(c)
    } else {
        Err(ApiError::keystone_forbidden("admin required"))
    }
}

async fn read_body(body: Body) -> std::result::Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.map_err(|_| ApiError::keystone_too_large())?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::keystone_malformed_body())
}

/// The client's address, from the connection (never from headers a client can forge).
fn client_address(request: &Request) -> Option<IpAddr> {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// A refused login as a response: Keystone's body, plus `Retry-After` for 429 and 503.
fn refused(r: LoginRefused) -> Response {
    let mut res = ApiErrorResponse(r.error).into_response();
    if let Some(secs) = r.retry_after {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

async fn token_create(State(app): State<Arc<App>>, request: Request) -> Result<Response> {
    let client = client_address(&request);
    let req = identity::parse_auth(&read_body(request.into_body()).await?)?;
    let (claims, issued_at_us) = match identity::authenticate(&app, req, client).await {
        Ok(done) => done,
        Err(r) => return Ok(refused(r)),
    };
    let token = app.identity.signer.issue_at(&claims, issued_at_us).map_err(|e| {
        tracing::error!(error = %e, "cannot sign a token");
        ApiError::internal()
    })?;
    let mut res = json_response(StatusCode::CREATED, identity::token_body(&app, &claims).await?.to_string());
    if let Ok(v) = HeaderValue::from_str(&token) {
        res.headers_mut().insert("x-subject-token", v);
    }
    Ok(res)
}

fn subject(app: &App, headers: &HeaderMap) -> std::result::Result<(String, Claims), ApiError> {
    caller(app, headers)?;
    let token =
        headers.get("x-subject-token").and_then(|v| v.to_str().ok()).ok_or_else(ApiError::keystone_token_not_found)?;
    let claims = app.identity.validate(token).map_err(|_| ApiError::keystone_token_not_found())?;
    Ok((token.to_string(), claims))
}

async fn token_show(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response> {
    let (token, claims) = subject(&app, &headers)?;
    let mut res = json_response(StatusCode::OK, identity::token_body(&app, &claims).await?.to_string());
    if let Ok(v) = HeaderValue::from_str(&token) {
        res.headers_mut().insert("x-subject-token", v);
    }
    Ok(res)
}

async fn token_check(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response> {
    subject(&app, &headers)?;
    Ok(StatusCode::OK.into_response())
}

async fn token_revoke(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response> {
    let (_, claims) = subject(&app, &headers)?;
    identity::revoke(&app, &claims).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn domain_json(d: &Domain) -> Value {
    json!({"id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled, "links": {}, "tags": [], "options": {}})
}

fn project_json(p: &Project) -> Value {
    json!({"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description, "enabled": p.enabled,
        "parent_id": p.domain_id, "is_domain": false, "tags": [], "options": {}, "links": {}})
}

fn user_json(u: &User) -> Value {
    let mut v = json!({"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "default_project_id": u.default_project_id, "password_expires_at": null, "options": {}, "links": {}});
    // Keystone keeps these as extra attributes: present only once set.
    if let Some(e) = &u.email {
        v["email"] = json!(e);
    }
    if let Some(d) = &u.description {
        v["description"] = json!(d);
    }
    v
}

fn role_json(r: &Role) -> Value {
    json!({"id": r.id, "name": r.name, "domain_id": null, "description": null, "options": {}, "links": {}})
}

fn ok(key: &str, value: Value) -> Response {
    json_response(StatusCode::OK, json!({ key: value }).to_string())
}

fn created(key: &str, value: Value) -> Response {
    json_response(StatusCode::CREATED, json!({ key: value }).to_string())
}

/// A new user or project names an existing domain (Keystone: 400 otherwise).
fn require_domain(tx: &mut dyn neutrino_store::Tx, domain_id: &str) -> std::result::Result<(), ApiError> {
    match tx.domain_get(domain_id)? {
        Some(_) => Ok(()),
        None => Err(ApiError::keystone_unknown_domain(domain_id)),
    }
}

fn conflict(e: StoreError, what: &str) -> ApiError {
    match e {
        StoreError::UniqueViolation { .. } => ApiError::keystone_duplicate(what),
        other => other.into(),
    }
}

async fn domain_list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    caller(&app, &headers)?;
    let domains = app.store.read(|tx| -> std::result::Result<_, ApiError> { Ok(tx.domain_list()?) }).await?;
    let list: Vec<Value> =
        domains.iter().filter(|d| q.get("name").is_none_or(|n| *n == d.name)).map(domain_json).collect();
    Ok(ok("domains", json!(list)))
}

async fn domain_show(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    caller(&app, &headers)?;
    let id2 = id.clone();
    let d = app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.domain_get(&id2)?) }).await?;
    let d = d.ok_or_else(|| ApiError::keystone_not_found("domain", &id))?;
    Ok(ok("domain", domain_json(&d)))
}

async fn project_list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let c = caller(&app, &headers)?;
    let name = q.get("name").cloned();
    let projects =
        app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.project_list(name.as_deref())?) }).await?;
    let list: Vec<Value> = projects
        .iter()
        .filter(|p| identity::is_cloud_admin(&c) || c.project_id.as_deref() == Some(p.id.as_str()))
        .filter(|p| q.get("domain_id").is_none_or(|d| *d == p.domain_id))
        .map(project_json)
        .collect();
    Ok(ok("projects", json!(list)))
}

async fn project_show(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let c = caller(&app, &headers)?;
    let id2 = id.clone();
    let p = app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.project_get(&id2)?) }).await?;
    let p = p
        .filter(|p| identity::is_cloud_admin(&c) || c.project_id.as_deref() == Some(p.id.as_str()))
        .ok_or_else(|| ApiError::keystone_not_found("project", &id))?;
    Ok(ok("project", project_json(&p)))
}

async fn project_create(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response> {
    admin(&app, &headers)?;
    let b = read_body(body).await?;
    let p = &b["project"];
    let name =
        p["name"].as_str().filter(|n| !n.is_empty()).ok_or_else(|| ApiError::keystone_required_property("name"))?;
    let project = Project {
        id: uuid::Uuid::new_v4().simple().to_string(),
        domain_id: p["domain_id"].as_str().unwrap_or(DEFAULT_DOMAIN_ID).to_string(),
        name: name.to_string(),
        description: p["description"].as_str().unwrap_or_default().to_string(),
        enabled: p["enabled"].as_bool().unwrap_or(true),
    };
    let saved = project.clone();
    app.store
        .write(move |tx| -> std::result::Result<(), ApiError> {
            require_domain(tx, &saved.domain_id)?;
            tx.project_insert(&saved).map_err(|e| conflict(e, "project"))
        })
        .await?;
    Ok(created("project", project_json(&project)))
}

async fn project_delete(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    admin(&app, &headers)?;
    let id2 = id.clone();
    let ttl = app.config.identity.token_ttl_seconds;
    let event = app
        .store
        .write(move |tx| -> std::result::Result<_, ApiError> {
            if !tx.project_delete(&id2)? {
                return Ok(None);
            }
            tx.quota_delete_project(&id2)?;
            Ok(Some(identity::record_revocation(tx, ttl, RevocationScope::project(&id2))?))
        })
        .await?;
    let Some(event) = event else {
        return Err(ApiError::keystone_not_found("project", &id).into());
    };
    identity::apply_revocations(&app, &[event]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH /v3/projects/{id}`: name, description, enabled. Disabling revokes the project's
/// tokens, as Keystone does.
async fn project_update(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    admin(&app, &headers)?;
    let b = read_body(body).await?;
    let p =
        b.get("project").filter(|p| p.is_object()).ok_or_else(|| ApiError::keystone_required_property("project"))?;
    let name = optional_string(p, "name")?;
    if name.is_some_and(str::is_empty) {
        return Err(ApiError::keystone_invalid_field("name", "the name must not be empty").into());
    }
    let description = optional_string(p, "description")?.map(str::to_string);
    let name = name.map(str::to_string);
    let enabled = optional_bool(p, "enabled")?;
    let ttl = app.config.identity.token_ttl_seconds;
    let id2 = id.clone();
    let (project, event) = app
        .store
        .write(move |tx| -> std::result::Result<_, ApiError> {
            let mut project = tx.project_get(&id2)?.ok_or_else(|| ApiError::keystone_not_found("project", &id2))?;
            let disabling = project.enabled && enabled == Some(false);
            if let Some(n) = name {
                project.name = n;
            }
            if let Some(d) = description {
                project.description = d;
            }
            if let Some(e) = enabled {
                project.enabled = e;
            }
            tx.project_update(&project).map_err(|e| conflict(e, "project"))?;
            let event = match disabling {
                true => Some(identity::record_revocation(tx, ttl, RevocationScope::project(&id2))?),
                false => None,
            };
            Ok((project, event))
        })
        .await?;
    identity::apply_revocations(&app, event.as_slice());
    Ok(ok("project", project_json(&project)))
}

fn optional_string<'a>(v: &'a Value, field: &str) -> std::result::Result<Option<&'a str>, ApiError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::keystone_invalid_field(field, "it must be a string")),
    }
}

fn optional_bool(v: &Value, field: &str) -> std::result::Result<Option<bool>, ApiError> {
    match v.get(field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::keystone_invalid_field(field, "it must be a boolean")),
    }
}

async fn role_list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    caller(&app, &headers)?;
    let name = q.get("name").cloned();
    let roles =
        app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.role_list(name.as_deref())?) }).await?;
    Ok(ok("roles", json!(roles.iter().map(role_json).collect::<Vec<_>>())))
}

async fn role_show(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    caller(&app, &headers)?;
    let id2 = id.clone();
    let r = app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.role_get(&id2)?) }).await?;
    let r = r.ok_or_else(|| ApiError::keystone_not_found("role", &id))?;
    Ok(ok("role", role_json(&r)))
}

async fn role_create(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response> {
    admin(&app, &headers)?;
    let b = read_body(body).await?;
    let name = b["role"]["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::keystone_required_property("name"))?;
    let role = Role { id: uuid::Uuid::new_v4().simple().to_string(), name: name.to_string() };
    let saved = role.clone();
    app.store
        .write(move |tx| -> std::result::Result<(), ApiError> {
            tx.role_insert(&saved).map_err(|e| conflict(e, "role"))
        })
        .await?;
    Ok(created("role", role_json(&role)))
}

async fn assignment_list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((p, u)): Path<(String, String)>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let roles =
        app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.role_assignment_roles(&p, &u)?) }).await?;
    Ok(ok("roles", json!(roles.iter().map(role_json).collect::<Vec<_>>())))
}

async fn assignment_grant(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((p, u, r)): Path<(String, String, String)>,
) -> Result<Response> {
    admin(&app, &headers)?;
    app.store
        .write(move |tx| -> std::result::Result<(), ApiError> {
            if tx.project_get(&p)?.is_none() {
                return Err(ApiError::keystone_not_found("project", &p));
            }
            if tx.user_get(&u)?.is_none() {
                return Err(ApiError::keystone_not_found("user", &u));
            }
            if tx.role_get(&r)?.is_none() {
                return Err(ApiError::keystone_not_found("role", &r));
            }
            Ok(tx.role_assignment_insert(&p, &u, &r)?)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn assignment_check(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((p, u, r)): Path<(String, String, String)>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let roles =
        app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.role_assignment_roles(&p, &u)?) }).await?;
    if roles.iter().any(|x| x.id == r) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::keystone_assignment_not_found().into())
    }
}

async fn assignment_revoke(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((p, u, r)): Path<(String, String, String)>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let ttl = app.config.identity.token_ttl_seconds;
    let event = app
        .store
        .write(move |tx| -> std::result::Result<_, ApiError> {
            if !tx.role_assignment_delete(&p, &u, &r)? {
                return Ok(None);
            }
            let mut events = vec![identity::record_revocation(tx, ttl, RevocationScope::grant(&p, &u, &r))?];
            // Keystone deletes the user's application credentials on the project.
            let creds = tx.app_cred_ids_on_project(&u, &p)?;
            events.extend(identity::app_creds::delete_in(tx, ttl, &creds)?);
            Ok(Some(events))
        })
        .await?;
    let Some(events) = event else {
        return Err(ApiError::keystone_assignment_not_found().into());
    };
    identity::apply_revocations(&app, &events);
    Ok(StatusCode::NO_CONTENT.into_response())
}
