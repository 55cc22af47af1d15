//! `/v3/users/{user_id}/application_credentials`: create (the secret is in this answer
//! only), list, show, delete.

use super::*;
use crate::app::identity::app_creds::{self, NewAppCred, RoleSpec};
use axum::routing::get;
use neutrino_store::identity::AppCredential;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v3/users/{id}/application_credentials", get(list).post(create))
        .route("/v3/users/{id}/application_credentials/{cred}", get(show).delete(delete))
}

fn expiry(ts: Option<i64>) -> Value {
    match ts.and_then(|t| chrono::DateTime::from_timestamp(t, 0)) {
        Some(t) => json!(t.format("%Y-%m-%dT%H:%M:%S.%6f").to_string()),
        None => Value::Null,
    }
}

fn cred_json(base: &str, c: &AppCredential) -> Value {
    json!({
        "id": c.id, "name": c.name, "description": c.description, "user_id": c.user_id,
        "project_id": c.project_id, "system": null, "expires_at": expiry(c.expires_at),
        "unrestricted": c.unrestricted, "access_rules": [],
        "roles": c.roles.iter().map(|r| json!({"id": r.id, "name": r.name, "domain_id": null})).collect::<Vec<_>>(),
        "links": {"self": format!("{base}/v3/users/{}/application_credentials/{}", c.user_id, c.id)},
    })
}

/// `expires_at` as Keystone parses it: ISO 8601, UTC when no zone is given, in the future.
fn parse_expiry(v: &Value) -> std::result::Result<Option<i64>, ApiError> {
    let text = match v.get("expires_at") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim_end_matches('Z'),
        Some(_) => return Err(ApiError::keystone_bad_timestamp()),
    };
    let at = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc().timestamp())
        })
        .map_err(|_| ApiError::keystone_bad_timestamp())?;
    if at <= chrono::Utc::now().timestamp() {
        return Err(ApiError::keystone_expires_in_past());
    }
    Ok(Some(at))
}

fn parse_new(b: &Value) -> std::result::Result<NewAppCred, ApiError> {
    let c = b
        .get("application_credential")
        .filter(|c| c.is_object())
        .ok_or_else(|| ApiError::keystone_required_property("application_credential"))?;
    let name = optional_string(c, "name")?.ok_or_else(|| ApiError::keystone_required_property("name"))?;
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ApiError::keystone_invalid_field("name", "the name must have 1 to 255 characters"));
    }
    let roles = match c.get("roles") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(list)) => list
            .iter()
            .map(|r| match (r.get("id").and_then(Value::as_str), r.get("name").and_then(Value::as_str)) {
                (Some(id), _) => Ok(RoleSpec::Id(id.into())),
                (None, Some(n)) => Ok(RoleSpec::Name(n.into())),
                _ => Err(ApiError::keystone_invalid_field("roles", "each role needs an id or a name")),
            })
            .collect::<std::result::Result<_, _>>()?,
        Some(_) => return Err(ApiError::keystone_invalid_field("roles", "it must be a list")),
    };
    // Access rules narrow what a credential may call; without enforcing them, accepting
    // some would grant more than asked, so a non-empty list is refused.
    if c.get("access_rules").and_then(Value::as_array).is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::keystone_invalid_field("access_rules", "access rules are not supported"));
    }
    Ok(NewAppCred {
        name: name.to_string(),
        description: optional_string(c, "description")?.map(str::to_string),
        secret: optional_string(c, "secret")?.map(str::to_string),
        expires_at: parse_expiry(c)?,
        roles,
        unrestricted: optional_bool(c, "unrestricted")?.unwrap_or(false),
    })
}

async fn create(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    body: Body,
) -> Result<Response> {
    let c = caller(&app, &headers)?;
    let req = parse_new(&read_body(body).await?)?;
    let (cred, secret) = app_creds::create(&app, &c, &user_id, req).await?;
    let mut v = cred_json(&base_url(&headers), &cred);
    v["secret"] = json!(secret);
    Ok(created("application_credential", v))
}

async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(user_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let c = caller(&app, &headers)?;
    app_creds::require_owner_or_admin(&c, &user_id, "list_application_credentials")?;
    let name = q.get("name").cloned();
    let creds = app
        .store
        .read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.app_cred_list(&user_id, name.as_deref())?) })
        .await?;
    let base = base_url(&headers);
    let list: Vec<Value> = creds.iter().map(|cr| cred_json(&base, cr)).collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"application_credentials": list, "links": {"self": null, "previous": null, "next": null}}).to_string(),
    ))
}

async fn show(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((user_id, id)): Path<(String, String)>,
) -> Result<Response> {
    let c = caller(&app, &headers)?;
    app_creds::require_owner_or_admin(&c, &user_id, "get_application_credential")?;
    let cred = app_creds::get(&app, &user_id, &id).await?;
    Ok(ok("application_credential", cred_json(&base_url(&headers), &cred)))
}

async fn delete(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((user_id, id)): Path<(String, String)>,
) -> Result<Response> {
    let c = caller(&app, &headers)?;
    app_creds::require_owner_or_admin(&c, &user_id, "delete_application_credential")?;
    app_creds::delete(&app, &c, &user_id, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
