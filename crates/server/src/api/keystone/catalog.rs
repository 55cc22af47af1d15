//! `/v3/services` and `/v3/endpoints` (admin): the catalog tokens carry is this data.

use super::*;
use axum::routing::get;
use neutrino_store::identity::{Endpoint, Service};

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v3/services", get(service_list).post(service_create))
        .route("/v3/services/{id}", get(service_show).patch(service_update).delete(service_delete))
        .route("/v3/endpoints", get(endpoint_list).post(endpoint_create))
        .route("/v3/endpoints/{id}", get(endpoint_show).patch(endpoint_update).delete(endpoint_delete))
}

fn service_json(base: &str, s: &Service) -> Value {
    json!({"id": s.id, "type": s.kind, "name": s.name, "description": s.description, "enabled": s.enabled,
        "links": {"self": format!("{base}/v3/services/{}", s.id)}})
}

fn endpoint_json(app: &App, base: &str, e: &Endpoint) -> Value {
    json!({"id": e.id, "service_id": e.service_id, "interface": e.interface, "region": e.region_id,
        "region_id": e.region_id, "url": identity::render_url(app, &e.url), "enabled": e.enabled,
        "links": {"self": format!("{base}/v3/endpoints/{}", e.id)}})
}

fn list_response(headers: &HeaderMap, key: &str, list: Vec<Value>) -> Response {
    let links = json!({"self": format!("{}/v3/{key}", base_url(headers)), "previous": null, "next": null});
    json_response(StatusCode::OK, json!({ key: list, "links": links }).to_string())
}

/// Applies the fields a service body gives (create: `type` required).
fn apply_service(s: &mut Service, v: &Value) -> std::result::Result<(), ApiError> {
    if let Some(t) = optional_string(v, "type")? {
        if t.is_empty() || t.len() > 255 {
            return Err(ApiError::keystone_invalid_field("type", "the type must have 1 to 255 characters"));
        }
        s.kind = t.to_string();
    }
    if let Some(n) = optional_string(v, "name")? {
        s.name = n.to_string();
    }
    if let Some(d) = optional_string(v, "description")? {
        s.description = d.to_string();
    }
    if let Some(e) = optional_bool(v, "enabled")? {
        s.enabled = e;
    }
    Ok(())
}

fn member<'a>(b: &'a Value, key: &str) -> std::result::Result<&'a Value, ApiError> {
    b.get(key).filter(|v| v.is_object()).ok_or_else(|| ApiError::keystone_required_property(key))
}

async fn service_create(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response> {
    admin(&app, &headers)?;
    let b = read_body(body).await?;
    let v = member(&b, "service")?;
    if optional_string(v, "type")?.is_none() {
        return Err(ApiError::keystone_required_property("type").into());
    }
    let mut s = Service {
        id: uuid::Uuid::new_v4().simple().to_string(),
        kind: String::new(),
        name: String::new(),
        description: String::new(),
        enabled: true,
    };
    apply_service(&mut s, v)?;
    let saved = s.clone();
    app.store.write(move |tx| -> std::result::Result<(), ApiError> { Ok(tx.service_insert(&saved)?) }).await?;
    Ok(created("service", service_json(&base_url(&headers), &s)))
}

async fn service_list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let kind = q.get("type").cloned();
    let services =
        app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.service_list(kind.as_deref())?) }).await?;
    let base = base_url(&headers);
    let list = services.iter().filter(|s| q.get("name").is_none_or(|n| *n == s.name)).map(|s| service_json(&base, s));
    Ok(list_response(&headers, "services", list.collect()))
}

async fn find_service(app: &App, id: &str) -> std::result::Result<Service, ApiError> {
    let id2 = id.to_string();
    let s = app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.service_get(&id2)?) }).await?;
    s.ok_or_else(|| ApiError::keystone_not_found("service", id))
}

async fn service_show(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    admin(&app, &headers)?;
    let s = find_service(&app, &id).await?;
    Ok(ok("service", service_json(&base_url(&headers), &s)))
}

async fn service_update(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    admin(&app, &headers)?;
    let b = read_body(body).await?;
    let mut s = find_service(&app, &id).await?;
    apply_service(&mut s, member(&b, "service")?)?;
    let saved = s.clone();
    let found =
        app.store.write(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.service_update(&saved)?) }).await?;
    if !found {
        return Err(ApiError::keystone_not_found("service", &id).into());
    }
    Ok(ok("service", service_json(&base_url(&headers), &s)))
}

async fn service_delete(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    admin(&app, &headers)?;
    let id2 = id.clone();
    let found = app.store.write(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.service_delete(&id2)?) }).await?;
    if !found {
        return Err(ApiError::keystone_not_found("service", &id).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Applies the fields an endpoint body gives; `region` is the older name of `region_id`.
fn apply_endpoint(e: &mut Endpoint, v: &Value) -> std::result::Result<(), ApiError> {
    if let Some(s) = optional_string(v, "service_id")? {
        e.service_id = s.to_string();
    }
    if let Some(i) = optional_string(v, "interface")? {
        if !identity::INTERFACES.contains(&i) {
            return Err(ApiError::keystone_invalid_field("interface", "it must be one of public, internal, admin"));
        }
        e.interface = i.to_string();
    }
    if let Some(u) = optional_string(v, "url")? {
        if u.is_empty() {
            return Err(ApiError::keystone_invalid_field("url", "the URL must not be empty"));
        }
        e.url = u.to_string();
    }
    if let Some(r) = optional_string(v, "region_id")?.or(optional_string(v, "region")?) {
        e.region_id = Some(r.to_string());
    }
    if let Some(en) = optional_bool(v, "enabled")? {
        e.enabled = en;
    }
    Ok(())
}

/// Writes an endpoint (insert or update) after checking its service exists (400 otherwise).
async fn save_endpoint(app: &App, e: Endpoint, insert: bool) -> std::result::Result<bool, ApiError> {
    app.store
        .write(move |tx| -> std::result::Result<bool, ApiError> {
            if tx.service_get(&e.service_id)?.is_none() {
                return Err(ApiError::keystone_validation(format!("Could not find service: {}.", e.service_id)));
            }
            if insert {
                tx.endpoint_insert(&e)?;
                Ok(true)
            } else {
                Ok(tx.endpoint_update(&e)?)
            }
        })
        .await
}

async fn endpoint_create(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response> {
    admin(&app, &headers)?;
    let b = read_body(body).await?;
    let v = member(&b, "endpoint")?;
    for required in ["service_id", "interface", "url"] {
        if optional_string(v, required)?.is_none() {
            return Err(ApiError::keystone_required_property(required).into());
        }
    }
    let mut e = Endpoint {
        id: uuid::Uuid::new_v4().simple().to_string(),
        service_id: String::new(),
        interface: String::new(),
        region_id: None,
        url: String::new(),
        enabled: true,
    };
    apply_endpoint(&mut e, v)?;
    save_endpoint(&app, e.clone(), true).await?;
    Ok(created("endpoint", endpoint_json(&app, &base_url(&headers), &e)))
}

async fn endpoint_list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let endpoints = app.store.read(|tx| -> std::result::Result<_, ApiError> { Ok(tx.endpoint_list()?) }).await?;
    let base = base_url(&headers);
    let list = endpoints
        .iter()
        .filter(|e| q.get("interface").is_none_or(|i| *i == e.interface))
        .filter(|e| q.get("service_id").is_none_or(|s| *s == e.service_id))
        .filter(|e| q.get("region_id").is_none_or(|r| e.region_id.as_deref() == Some(r.as_str())))
        .map(|e| endpoint_json(&app, &base, e));
    Ok(list_response(&headers, "endpoints", list.collect()))
}

async fn find_endpoint(app: &App, id: &str) -> std::result::Result<Endpoint, ApiError> {
    let id2 = id.to_string();
    let e = app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.endpoint_get(&id2)?) }).await?;
    e.ok_or_else(|| ApiError::keystone_not_found("endpoint", id))
}

async fn endpoint_show(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    admin(&app, &headers)?;
    let e = find_endpoint(&app, &id).await?;
    Ok(ok("endpoint", endpoint_json(&app, &base_url(&headers), &e)))
}

async fn endpoint_update(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    admin(&app, &headers)?;
    let b = read_body(body).await?;
    let mut e = find_endpoint(&app, &id).await?;
    apply_endpoint(&mut e, member(&b, "endpoint")?)?;
    if !save_endpoint(&app, e.clone(), false).await? {
        return Err(ApiError::keystone_not_found("endpoint", &id).into());
    }
    Ok(ok("endpoint", endpoint_json(&app, &base_url(&headers), &e)))
}

async fn endpoint_delete(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    admin(&app, &headers)?;
    let id2 = id.clone();
    let found =
        app.store.write(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.endpoint_delete(&id2)?) }).await?;
    if !found {
        return Err(ApiError::keystone_not_found("endpoint", &id).into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
