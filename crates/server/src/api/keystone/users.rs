//! `/v3/users`: users, their updates and self-service password changes (each change that
//! should end a user's sessions records a revocation event).

use super::*;

/// A password given in a user body: `Ok(None)` when absent or null (a user without a
/// password cannot password-authenticate), 400 when empty or not a string, as Keystone's
/// schema refuses it.
fn given_password<'a>(u: &'a Value, field: &str) -> std::result::Result<Option<&'a str>, ApiError> {
    match optional_string(u, field)? {
        Some("") => Err(ApiError::keystone_invalid_field(field, "the password must not be empty")),
        other => Ok(other),
    }
}

pub(super) async fn user_list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let name = q.get("name").cloned();
    let users =
        app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.user_list(name.as_deref())?) }).await?;
    Ok(ok("users", json!(users.iter().map(user_json).collect::<Vec<_>>())))
}

pub(super) async fn user_show(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    let c = caller(&app, &headers)?;
    let id2 = id.clone();
    let u = app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.user_get(&id2)?) }).await?;
    let u = u
        .filter(|u| identity::is_cloud_admin(&c) || c.user_id == u.id)
        .ok_or_else(|| ApiError::keystone_not_found("user", &id))?;
    Ok(ok("user", user_json(&u)))
}

pub(super) async fn user_create(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Result<Response> {
    admin(&app, &headers)?;
    let b = read_body(body).await?;
    let u = &b["user"];
    let name =
        u["name"].as_str().filter(|n| !n.is_empty()).ok_or_else(|| ApiError::keystone_required_property("name"))?;
    // No password: no hash that any password matches (the login still spends a dummy hash).
    let hash = match given_password(u, "password")? {
        Some(pw) => app.identity.login_guard(&app.config.identity).hash(pw).await?,
        None => String::new(),
    };
    let user = User {
        id: uuid::Uuid::new_v4().simple().to_string(),
        domain_id: u["domain_id"].as_str().unwrap_or(DEFAULT_DOMAIN_ID).to_string(),
        name: name.to_string(),
        password_hash: hash,
        enabled: u["enabled"].as_bool().unwrap_or(true),
        default_project_id: u["default_project_id"].as_str().map(str::to_string),
        email: optional_string(u, "email")?.map(str::to_string),
        description: optional_string(u, "description")?.map(str::to_string),
    };
    let saved = user.clone();
    app.store
        .write(move |tx| -> std::result::Result<(), ApiError> {
            require_domain(tx, &saved.domain_id)?;
            tx.user_insert(&saved).map_err(|e| conflict(e, "user"))
        })
        .await?;
    Ok(created("user", user_json(&user)))
}

pub(super) async fn user_delete(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    admin(&app, &headers)?;
    let id2 = id.clone();
    let ttl = app.config.identity.token_ttl_seconds;
    let event = app
        .store
        .write(move |tx| -> std::result::Result<_, ApiError> {
            if !tx.user_delete(&id2)? {
                return Ok(None);
            }
            Ok(Some(identity::record_revocation(tx, ttl, RevocationScope::user(&id2))?))
        })
        .await?;
    let Some(event) = event else {
        return Err(ApiError::keystone_not_found("user", &id).into());
    };
    identity::apply_revocations(&app, &[event]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Writes a user back, recording a revocation of every token of theirs when `revoke`.
async fn save_user(app: &Arc<App>, user: User, revoke: bool) -> std::result::Result<User, ApiError> {
    let ttl = app.config.identity.token_ttl_seconds;
    let (user, event) = app
        .store
        .write(move |tx| -> std::result::Result<_, ApiError> {
            if !tx.user_update(&user).map_err(|e| conflict(e, "user"))? {
                return Err(ApiError::keystone_not_found("user", &user.id));
            }
            let event = match revoke {
                true => Some(identity::record_revocation(tx, ttl, RevocationScope::user(&user.id))?),
                false => None,
            };
            Ok((user, event))
        })
        .await?;
    identity::apply_revocations(app, event.as_slice());
    Ok(user)
}

/// `PATCH /v3/users/{id}` (admin): name, password, enabled, default_project_id, email,
/// description. A new
/// password or disabling revokes the user's tokens, as Keystone does.
pub(super) async fn user_update(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response> {
    admin(&app, &headers)?;
    let b = read_body(body).await?;
    let u = b.get("user").filter(|u| u.is_object()).ok_or_else(|| ApiError::keystone_required_property("user"))?;
    let name = optional_string(u, "name")?;
    if name.is_some_and(str::is_empty) {
        return Err(ApiError::keystone_invalid_field("name", "the name must not be empty").into());
    }
    let enabled = optional_bool(u, "enabled")?;
    // Absent: unchanged; null: removed.
    let email = u.get("email").map(|_| optional_string(u, "email").map(|e| e.map(str::to_string))).transpose()?;
    let description =
        u.get("description").map(|_| optional_string(u, "description").map(|d| d.map(str::to_string))).transpose()?;
    let default_project = match u.get("default_project_id") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(p)) => Some(Some(p.clone())),
        Some(_) => return Err(ApiError::keystone_invalid_field("default_project_id", "it must be a string").into()),
    };
    let new_hash = match given_password(u, "password")? {
        Some(pw) => Some(app.identity.login_guard(&app.config.identity).hash(pw).await?),
        None => None,
    };
    let id2 = id.clone();
    let mut user = app
        .store
        .read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.user_get(&id2)?) })
        .await?
        .ok_or_else(|| ApiError::keystone_not_found("user", &id))?;
    let revoke = new_hash.is_some() || (user.enabled && enabled == Some(false));
    if let Some(n) = name {
        user.name = n.to_string();
    }
    if let Some(h) = new_hash {
        user.password_hash = h;
    }
    if let Some(e) = enabled {
        user.enabled = e;
    }
    if let Some(p) = default_project {
        user.default_project_id = p;
    }
    if let Some(e) = email {
        user.email = e;
    }
    if let Some(d) = description {
        user.description = d;
    }
    let user = save_user(&app, user, revoke).await?;
    Ok(ok("user", user_json(&user)))
}

/// `POST /v3/users/{id}/password`: a user changes their own password, proving the current
/// one (throttled like a login). Every token of the user is revoked, as Keystone does.
pub(super) async fn user_change_password(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response> {
    let client = client_address(&request);
    let c = caller(&app, request.headers())?;
    if c.user_id != id {
        return Err(ApiError::keystone_forbidden("update_user_password").into());
    }
    let b = read_body(request.into_body()).await?;
    let u = b.get("user").filter(|u| u.is_object()).ok_or_else(|| ApiError::keystone_required_property("user"))?;
    let original = optional_string(u, "original_password")?
        .ok_or_else(|| ApiError::keystone_required_property("original_password"))?;
    let new = given_password(u, "password")?.ok_or_else(|| ApiError::keystone_required_property("password"))?;
    let id2 = id.clone();
    let mut user = app
        .store
        .read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.user_get(&id2)?) })
        .await?
        .ok_or_else(|| ApiError::keystone_not_found("user", &id))?;
    if let Err(r) = identity::check_password(&app, &user, original, client).await {
        return Ok(refused(r));
    }
    user.password_hash = app.identity.login_guard(&app.config.identity).hash(new).await?;
    save_user(&app, user, true).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
