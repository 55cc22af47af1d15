//! What a token's user may scope to and what it sees: `/v3/auth/projects`,
//! `/v3/auth/domains`, `/v3/auth/catalog` and `/v3/users/{id}/projects` (Horizon's login
//! asks for the last, then rescopes to one of them).

use super::*;
use neutrino_store::identity::AssignmentTarget;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v3/auth/projects", get(auth_projects))
        .route("/v3/auth/domains", get(auth_domains))
        .route("/v3/auth/catalog", get(auth_catalog))
        .route("/v3/users/{id}/projects", get(user_projects))
}

fn collection(headers: &HeaderMap, key: &str, path: &str, list: Vec<Value>) -> Response {
    let links = json!({"self": format!("{}{path}", base_url(headers)), "previous": null, "next": null});
    json_response(StatusCode::OK, json!({ key: list, "links": links }).to_string())
}

/// The projects a user holds a role on.
async fn projects_of(app: &App, user_id: String) -> std::result::Result<Vec<Project>, ApiError> {
    app.store
        .read(move |tx| -> std::result::Result<_, ApiError> {
            let mut ids: Vec<String> = tx
                .role_assignment_list(Some(&user_id), None)?
                .into_iter()
                .filter_map(|a| match a.target {
                    AssignmentTarget::Project(p) => Some(p),
                    _ => None,
                })
                .collect();
            ids.dedup();
            let mut projects = Vec::new();
            for id in ids {
                projects.extend(tx.project_get(&id)?);
            }
            Ok(projects)
        })
        .await
}

async fn auth_projects(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response> {
    let c = caller(&app, &headers)?;
    let projects = projects_of(&app, c.user_id).await?;
    Ok(collection(&headers, "projects", "/v3/auth/projects", projects.iter().map(project_json).collect()))
}

async fn auth_domains(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response> {
    let c = caller(&app, &headers)?;
    let user_id = c.user_id;
    let domains = app
        .store
        .read(move |tx| -> std::result::Result<_, ApiError> {
            let mut ids: Vec<String> = tx
                .role_assignment_list(Some(&user_id), None)?
                .into_iter()
                .filter_map(|a| match a.target {
                    AssignmentTarget::Domain(d) => Some(d),
                    _ => None,
                })
                .collect();
            ids.dedup();
            let mut domains = Vec::new();
            for id in ids {
                domains.extend(tx.domain_get(&id)?);
            }
            Ok(domains)
        })
        .await?;
    Ok(collection(&headers, "domains", "/v3/auth/domains", domains.iter().map(domain_json).collect()))
}

/// The catalog of a project-scoped token (Keystone: 403 for any other token).
async fn auth_catalog(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response> {
    let c = caller(&app, &headers)?;
    if c.project_id.is_none() {
        return Err(ApiError::keystone_forbidden_plain().into());
    }
    let catalog = identity::catalog(&app).await?;
    let links = json!({"self": format!("{}/v3/auth/catalog", base_url(&headers))});
    Ok(json_response(StatusCode::OK, json!({"catalog": catalog, "links": links}).to_string()))
}

/// `GET /v3/users/{id}/projects`: the user themself, or an admin.
async fn user_projects(State(app): State<Arc<App>>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response> {
    let c = caller(&app, &headers)?;
    if c.user_id != id && !identity::is_cloud_admin(&c) {
        return Err(ApiError::keystone_forbidden("identity:list_user_projects").into());
    }
    let id2 = id.clone();
    if app.store.read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.user_get(&id2)?) }).await?.is_none() {
        return Err(ApiError::keystone_not_found("user", &id).into());
    }
    let projects = projects_of(&app, id.clone()).await?;
    let path = format!("/v3/users/{id}/projects");
    Ok(collection(&headers, "projects", &path, projects.iter().map(project_json).collect()))
}
