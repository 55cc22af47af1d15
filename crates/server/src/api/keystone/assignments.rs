//! `/v3/role_assignments` with its filters, and role grants on a domain or on the system
//! (what domain- and system-scoped tokens need). Project grants live in keystone.rs.

use super::*;
use axum::routing::get;
use neutrino_store::identity::{AssignmentTarget, RoleAssignment};

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v3/role_assignments", get(list))
        .route("/v3/domains/{d}/users/{u}/roles", get(domain_roles))
        .route("/v3/domains/{d}/users/{u}/roles/{r}", put(domain_grant).head(domain_check).delete(domain_revoke))
        .route("/v3/system/users/{u}/roles", get(system_roles))
        .route("/v3/system/users/{u}/roles/{r}", put(system_grant).head(system_check).delete(system_revoke))
}

/// The query filters Keystone's `GET /v3/role_assignments` takes.
#[derive(Debug, Default)]
struct Filters {
    user: Option<String>,
    role: Option<String>,
    project: Option<String>,
    domain: Option<String>,
    system: bool,
    group: bool,
    include_names: bool,
}

impl Filters {
    fn from(q: &HashMap<String, String>) -> Self {
        let flag = |k: &str| q.get(k).is_some_and(|v| !matches!(v.to_ascii_lowercase().as_str(), "false" | "0"));
        Self {
            user: q.get("user.id").cloned(),
            role: q.get("role.id").cloned(),
            project: q.get("scope.project.id").cloned(),
            domain: q.get("scope.domain.id").cloned(),
            system: q.contains_key("scope.system"),
            group: q.contains_key("group.id"),
            include_names: flag("include_names"),
        }
    }

    fn keeps(&self, a: &RoleAssignment) -> bool {
        let target = match (&a.target, &self.project, &self.domain, self.system) {
            (_, None, None, false) => true,
            (AssignmentTarget::Project(p), Some(want), _, _) => p == want,
            (AssignmentTarget::Domain(d), _, Some(want), _) => d == want,
            (AssignmentTarget::System, _, _, true) => true,
            _ => false,
        };
        // No groups exist here: a group filter matches nothing.
        target && !self.group
    }
}

fn named(id: &str, name: Option<(&str, Option<(&str, &str)>)>) -> Value {
    match name {
        None => json!({"id": id}),
        Some((n, None)) => json!({"id": id, "name": n}),
        Some((n, Some((did, dname)))) => json!({"id": id, "name": n, "domain": {"id": did, "name": dname}}),
    }
}

/// Names for `include_names`, read once per list.
#[derive(Default)]
struct Names {
    roles: HashMap<String, String>,
    users: HashMap<String, (String, String)>,
    projects: HashMap<String, (String, String)>,
    domains: HashMap<String, String>,
}

impl Names {
    fn read(tx: &mut dyn neutrino_store::Tx) -> std::result::Result<Self, StoreError> {
        Ok(Self {
            roles: tx.role_list(None)?.into_iter().map(|r| (r.id, r.name)).collect(),
            users: tx.user_list(None)?.into_iter().map(|u| (u.id, (u.name, u.domain_id))).collect(),
            projects: tx.project_list(None)?.into_iter().map(|p| (p.id, (p.name, p.domain_id))).collect(),
            domains: tx.domain_list()?.into_iter().map(|d| (d.id, d.name)).collect(),
        })
    }

    fn with_domain<'a>(&'a self, entry: Option<&'a (String, String)>) -> Option<(&'a str, Option<(&'a str, &'a str)>)> {
        entry.map(|(name, did)| {
            let dname = self.domains.get(did).map_or("", String::as_str);
            (name.as_str(), Some((did.as_str(), dname)))
        })
    }
}

fn assignment_json(base: &str, a: &RoleAssignment, names: Option<&Names>) -> Value {
    let role = named(&a.role_id, names.and_then(|n| n.roles.get(&a.role_id)).map(|r| (r.as_str(), None)));
    let user = named(&a.user_id, names.and_then(|n| n.with_domain(n.users.get(&a.user_id))));
    let (scope, link) = match &a.target {
        AssignmentTarget::Project(p) => (
            json!({"project": named(p, names.and_then(|n| n.with_domain(n.projects.get(p))))}),
            format!("{base}/v3/projects/{p}/users/{}/roles/{}", a.user_id, a.role_id),
        ),
        AssignmentTarget::Domain(d) => (
            json!({"domain": named(d, names.and_then(|n| n.domains.get(d)).map(|x| (x.as_str(), None)))}),
            format!("{base}/v3/domains/{d}/users/{}/roles/{}", a.user_id, a.role_id),
        ),
        AssignmentTarget::System => {
            (json!({"system": {"all": true}}), format!("{base}/v3/system/users/{}/roles/{}", a.user_id, a.role_id))
        }
    };
    json!({"role": role, "user": user, "scope": scope, "links": {"assignment": link}})
}

/// `GET /v3/role_assignments` (admin). Without groups or implied roles, the effective
/// assignments are the direct ones, so `effective` changes nothing.
async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response> {
    let c = caller(&app, &headers)?;
    if !identity::is_cloud_admin(&c) {
        return Err(ApiError::keystone_forbidden("identity:list_role_assignments").into());
    }
    let f = Filters::from(&q);
    let (user, role, include_names) = (f.user.clone(), f.role.clone(), f.include_names);
    let (all, names) = app
        .store
        .read(move |tx| -> std::result::Result<_, ApiError> {
            let all = tx.role_assignment_list(user.as_deref(), role.as_deref())?;
            let names = if include_names { Some(Names::read(tx)?) } else { None };
            Ok((all, names))
        })
        .await?;
    let base = base_url(&headers);
    let list: Vec<Value> =
        all.iter().filter(|a| f.keeps(a)).map(|a| assignment_json(&base, a, names.as_ref())).collect();
    let query = headers_query(&q);
    let links = json!({"self": format!("{base}/v3/role_assignments{query}"), "previous": null, "next": null});
    Ok(json_response(StatusCode::OK, json!({"role_assignments": list, "links": links}).to_string()))
}

fn headers_query(q: &HashMap<String, String>) -> String {
    if q.is_empty() {
        return String::new();
    }
    let mut pairs: Vec<String> =
        q.iter().map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k}={v}") }).collect();
    pairs.sort();
    format!("?{}", pairs.join("&"))
}

/// Grants a role on a domain or the system (admin); each of the three must exist.
async fn grant(app: &App, headers: &HeaderMap, a: RoleAssignment) -> Result<Response> {
    admin(app, headers)?;
    app.store
        .write(move |tx| -> std::result::Result<(), ApiError> {
            if let AssignmentTarget::Domain(d) = &a.target {
                if tx.domain_get(d)?.is_none() {
                    return Err(ApiError::keystone_not_found("domain", d));
                }
            }
            if tx.user_get(&a.user_id)?.is_none() {
                return Err(ApiError::keystone_not_found("user", &a.user_id));
            }
            if tx.role_get(&a.role_id)?.is_none() {
                return Err(ApiError::keystone_not_found("role", &a.role_id));
            }
            Ok(tx.scoped_assignment_insert(&a)?)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn roles_on(app: &App, headers: &HeaderMap, target: AssignmentTarget, user: String) -> Result<Vec<Role>> {
    admin(app, headers)?;
    Ok(app
        .store
        .read(move |tx| -> std::result::Result<_, ApiError> { Ok(tx.scoped_assignment_roles(&target, &user)?) })
        .await?)
}

async fn check(app: &App, headers: &HeaderMap, a: RoleAssignment) -> Result<Response> {
    let roles = roles_on(app, headers, a.target, a.user_id).await?;
    if roles.iter().any(|r| r.id == a.role_id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::keystone_assignment_not_found().into())
    }
}

/// Revokes a domain or system grant and the user's tokens carrying the role.
async fn revoke(app: &App, headers: &HeaderMap, a: RoleAssignment) -> Result<Response> {
    admin(app, headers)?;
    let ttl = app.config.identity.token_ttl_seconds;
    let event = app
        .store
        .write(move |tx| -> std::result::Result<_, ApiError> {
            if !tx.scoped_assignment_delete(&a)? {
                return Ok(None);
            }
            Ok(Some(identity::record_revocation(tx, ttl, RevocationScope::user_role(&a.user_id, &a.role_id))?))
        })
        .await?;
    let Some(event) = event else {
        return Err(ApiError::keystone_assignment_not_found().into());
    };
    identity::apply_revocations(app, &[event]);
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn on_domain(d: String, u: String, r: String) -> RoleAssignment {
    RoleAssignment { target: AssignmentTarget::Domain(d), user_id: u, role_id: r }
}

fn on_system(u: String, r: String) -> RoleAssignment {
    RoleAssignment { target: AssignmentTarget::System, user_id: u, role_id: r }
}

type Triple = Path<(String, String, String)>;

async fn domain_grant(State(app): State<Arc<App>>, headers: HeaderMap, Path((d, u, r)): Triple) -> Result<Response> {
    grant(&app, &headers, on_domain(d, u, r)).await
}

async fn domain_check(State(app): State<Arc<App>>, headers: HeaderMap, Path((d, u, r)): Triple) -> Result<Response> {
    check(&app, &headers, on_domain(d, u, r)).await
}

async fn domain_revoke(State(app): State<Arc<App>>, headers: HeaderMap, Path((d, u, r)): Triple) -> Result<Response> {
    revoke(&app, &headers, on_domain(d, u, r)).await
}

async fn domain_roles(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((d, u)): Path<(String, String)>,
) -> Result<Response> {
    let roles = roles_on(&app, &headers, AssignmentTarget::Domain(d), u).await?;
    Ok(ok("roles", json!(roles.iter().map(role_json).collect::<Vec<_>>())))
}

async fn system_grant(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((u, r)): Path<(String, String)>,
) -> Result<Response> {
    grant(&app, &headers, on_system(u, r)).await
}

async fn system_check(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((u, r)): Path<(String, String)>,
) -> Result<Response> {
    check(&app, &headers, on_system(u, r)).await
}

async fn system_revoke(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((u, r)): Path<(String, String)>,
) -> Result<Response> {
    revoke(&app, &headers, on_system(u, r)).await
}

async fn system_roles(State(app): State<Arc<App>>, headers: HeaderMap, Path(u): Path<String>) -> Result<Response> {
    let roles = roles_on(&app, &headers, AssignmentTarget::System, u).await?;
    Ok(ok("roles", json!(roles.iter().map(role_json).collect::<Vec<_>>())))
}
