//! Flavors and service profiles (`flavors`, Neutron's `FlavorsDbMixin`), and the choice of a
//! router's provider from its flavor (`l3-flavors`, Neutron's L3 `DriverController`).
//!
//! Both are documents without an owner: admins manage them; any reader sees flavors; only
//! admins see profiles (the `get_*` rules gate whole lists and shows). A write refused by
//! the policy is a 403 when the caller may read the object and a 404 when it may not, as
//! Neutron's controller hides what the caller cannot see. The in-use checks are foreign
//! keys (migration 0015): a profile associated with a flavor, a flavor a router names.

use super::policy::{self, Action};
use super::{decode, encode, App, RequestContext};
use neutrino_model::bodies::flavors::{
    FlavorCreate, FlavorServiceProfile, FlavorUpdate, ServiceProfileCreate, ServiceProfileUpdate,
};
use neutrino_model::bodies::{Body, Update};
use neutrino_model::servicetype::{self, ServiceProvider};
use neutrino_model::types::{Flavor, ServiceProfile};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, StoreError, Tx};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// The rule that lets a caller read flavors or profiles.
fn get_rule(resource: Resource) -> &'static str {
    if resource == Resource::Flavor {
        "get_flavor"
    } else {
        "get_service_profile"
    }
}

/// Whether the caller may read flavors (or profiles): lists are empty and shows 404 without.
pub fn readable(ctx: &RequestContext, resource: Resource) -> bool {
    policy::authorize_rule(ctx, get_rule(resource), "").is_ok()
}

/// Neutron's `HTTPNotFound` for an object the policy hides.
fn hidden() -> ApiError {
    ApiError::http_not_found("The resource could not be found.")
}

/// An update or delete of an existing object: refused with 403 if the caller may read it,
/// else as if it did not exist.
fn authorize_write(
    ctx: &RequestContext,
    resource: Resource,
    action: Action,
    attrs: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<(), ApiError> {
    match policy::authorize(ctx, resource, action, "", attrs) {
        Err(_) if !readable(ctx, resource) => Err(hidden()),
        other => other,
    }
}

fn load_required<T: DeserializeOwned>(tx: &mut dyn Tx, resource: Resource, id: &str) -> Result<T, ApiError> {
    super::load_required(tx, resource, id)
}

fn flavor_doc(f: &Flavor) -> Result<Doc, ApiError> {
    Ok(Doc { id: f.id.clone(), project_id: String::new(), name: f.name.clone(), body: encode(f)?, ..Doc::default() })
}

fn profile_doc(p: &ServiceProfile) -> Result<Doc, ApiError> {
    Ok(Doc { id: p.id.clone(), project_id: String::new(), body: encode(p)?, ..Doc::default() })
}

/// One flavor or profile as the caller may see it (`GET .../{id}` for a non-admin).
pub(crate) fn show(tx: &mut dyn Tx, ctx: &RequestContext, resource: Resource, id: &str) -> Result<String, ApiError> {
    let body = tx.doc_get(resource, id)?.ok_or_else(|| ApiError::not_found(resource, id))?;
    if !readable(ctx, resource) {
        return Err(hidden());
    }
    Ok(body)
}

/// `POST /v2.0/flavors` (bulk is atomic).
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Body<FlavorCreate>>,
) -> Result<Vec<Flavor>, ApiError> {
    super::bulk_create(app, ctx, items, create_flavor).await
}

fn create_flavor(
    tx: &mut dyn Tx,
    _app: &App,
    ctx: &RequestContext,
    body: &Body<FlavorCreate>,
    _now: &str,
) -> Result<Flavor, ApiError> {
    policy::authorize(ctx, Resource::Flavor, Action::Create, "", Some(&body.attrs))?;
    let a = &body.fields;
    let f = Flavor {
        id: uuid::Uuid::new_v4().to_string(),
        name: a.name.clone(),
        description: a.description.clone(),
        service_type: a.service_type.clone(),
        enabled: a.enabled,
        service_profiles: Vec::new(),
    };
    tx.doc_insert(Resource::Flavor, &flavor_doc(&f)?)?;
    tx.change_record(Resource::Flavor, &f.id, ChangeOp::Create, "")?;
    Ok(f)
}

/// `PUT /v2.0/flavors/{id}`.
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    change: Update<FlavorUpdate>,
) -> Result<Flavor, ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut f: Flavor = load_required(tx, Resource::Flavor, &id)?;
            authorize_write(&ctx, Resource::Flavor, Action::Update, Some(&change.body.attrs))?;
            let u = &change.body.fields;
            if let Some(name) = &u.name {
                f.name = name.clone();
            }
            if let Some(description) = &u.description {
                f.description = description.clone();
            }
            if let Some(enabled) = u.enabled {
                f.enabled = enabled;
            }
            tx.doc_update(Resource::Flavor, &flavor_doc(&f)?)?;
            tx.change_record(Resource::Flavor, &id, ChangeOp::Update, "")?;
            Ok(f)
        })
        .await
}

/// `DELETE /v2.0/flavors/{id}`: refused while a router names it; its associations go.
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, id: String) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            load_required::<Flavor>(tx, Resource::Flavor, &id)?;
            authorize_write(&ctx, Resource::Flavor, Action::Delete, None)?;
            if tx.router_flavor_count(&id)? > 0 {
                return Err(ApiError::flavor_in_use(&id));
            }
            tx.doc_delete(Resource::Flavor, &id)?;
            tx.change_record(Resource::Flavor, &id, ChangeOp::Delete, "")?;
            Ok(())
        })
        .await
}

/// Neutron's `_validate_driver`: a non-empty driver must be a provider's.
fn check_driver(driver: &str) -> Result<(), ApiError> {
    match servicetype::provider_by_driver(driver) {
        Some(_) => Ok(()),
        None => Err(ApiError::service_profile_driver_not_found(driver)),
    }
}

/// `POST /v2.0/service_profiles` (bulk is atomic).
pub async fn create_profiles(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Body<ServiceProfileCreate>>,
) -> Result<Vec<ServiceProfile>, ApiError> {
    super::bulk_create(app, ctx, items, create_profile).await
}

fn create_profile(
    tx: &mut dyn Tx,
    _app: &App,
    ctx: &RequestContext,
    body: &Body<ServiceProfileCreate>,
    _now: &str,
) -> Result<ServiceProfile, ApiError> {
    policy::authorize(ctx, Resource::ServiceProfile, Action::Create, "", Some(&body.attrs))?;
    let a = &body.fields;
    if !a.driver.is_empty() {
        check_driver(&a.driver)?;
    } else if a.metainfo.as_deref().unwrap_or_default().is_empty() {
        return Err(ApiError::service_profile_empty());
    }
    let p = ServiceProfile {
        id: uuid::Uuid::new_v4().to_string(),
        description: a.description.clone(),
        driver: a.driver.clone(),
        enabled: a.enabled,
        metainfo: a.metainfo.clone(),
    };
    tx.doc_insert(Resource::ServiceProfile, &profile_doc(&p)?)?;
    tx.change_record(Resource::ServiceProfile, &p.id, ChangeOp::Create, "")?;
    Ok(p)
}

/// `PUT /v2.0/service_profiles/{id}`: refused while a flavor is associated with it.
pub async fn update_profile(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    change: Update<ServiceProfileUpdate>,
) -> Result<ServiceProfile, ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut p: ServiceProfile = load_required(tx, Resource::ServiceProfile, &id)?;
            authorize_write(&ctx, Resource::ServiceProfile, Action::Update, Some(&change.body.attrs))?;
            let u = &change.body.fields;
            if let Some(driver) = u.driver.as_deref().filter(|d| !d.is_empty()) {
                check_driver(driver)?;
            }
            if tx.flavor_profile_count_by_profile(&id)? > 0 {
                return Err(ApiError::service_profile_in_use(&id));
            }
            if let Some(description) = &u.description {
                p.description = description.clone();
            }
            if let Some(driver) = &u.driver {
                p.driver = driver.clone();
            }
            if let Some(metainfo) = &u.metainfo {
                p.metainfo = metainfo.clone();
            }
            if let Some(enabled) = u.enabled {
                p.enabled = enabled;
            }
            tx.doc_update(Resource::ServiceProfile, &profile_doc(&p)?)?;
            tx.change_record(Resource::ServiceProfile, &id, ChangeOp::Update, "")?;
            Ok(p)
        })
        .await
}

/// `DELETE /v2.0/service_profiles/{id}`: refused while a flavor is associated with it.
pub async fn delete_profile(app: &Arc<App>, ctx: &RequestContext, id: String) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            load_required::<ServiceProfile>(tx, Resource::ServiceProfile, &id)?;
            authorize_write(&ctx, Resource::ServiceProfile, Action::Delete, None)?;
            if tx.flavor_profile_count_by_profile(&id)? > 0 {
                return Err(ApiError::service_profile_in_use(&id));
            }
            tx.doc_delete(Resource::ServiceProfile, &id)?;
            tx.change_record(Resource::ServiceProfile, &id, ChangeOp::Delete, "")?;
            Ok(())
        })
        .await
}

/// Rewrites a flavor's document with its associations as the table has them.
fn refresh_profiles(tx: &mut dyn Tx, flavor: &mut Flavor) -> Result<(), ApiError> {
    flavor.service_profiles = tx.flavor_profile_list(&flavor.id)?;
    tx.doc_update(Resource::Flavor, &flavor_doc(flavor)?)?;
    tx.change_record(Resource::Flavor, &flavor.id, ChangeOp::Update, "")?;
    Ok(())
}

/// `POST /v2.0/flavors/{id}/service_profiles` (bulk is atomic): the flavor after each
/// association. Neutron answers an unknown flavor or profile with a 500 (the foreign key);
/// here they are their NotFound errors.
pub async fn associate(
    app: &Arc<App>,
    ctx: &RequestContext,
    flavor_id: String,
    items: Vec<Body<FlavorServiceProfile>>,
) -> Result<Vec<Flavor>, ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut out = Vec::with_capacity(items.len());
            for item in &items {
                policy::authorize_rule(&ctx, "create_flavor_service_profile", "")?;
                let mut flavor: Flavor = load_required(tx, Resource::Flavor, &flavor_id)?;
                let profile = &item.fields.id;
                load_required::<ServiceProfile>(tx, Resource::ServiceProfile, profile)?;
                match tx.flavor_profile_add(&flavor_id, profile) {
                    Err(StoreError::UniqueViolation { .. }) => {
                        return Err(ApiError::flavor_service_profile_binding_exists(profile, &flavor_id))
                    }
                    other => other?,
                }
                refresh_profiles(tx, &mut flavor)?;
                out.push(flavor);
            }
            Ok(out)
        })
        .await
}

/// `DELETE /v2.0/flavors/{id}/service_profiles/{profile}`.
pub async fn dissociate(
    app: &Arc<App>,
    ctx: &RequestContext,
    flavor_id: String,
    profile: String,
) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            policy::authorize_rule(&ctx, "delete_flavor_service_profile", "")?;
            if !tx.flavor_profile_remove(&flavor_id, &profile)? {
                return Err(ApiError::flavor_service_profile_binding_not_found(&profile, &flavor_id));
            }
            let mut flavor: Flavor = load_required(tx, Resource::Flavor, &flavor_id)?;
            refresh_profiles(tx, &mut flavor)
        })
        .await
}

/// `GET /v2.0/flavors/{id}/service_profiles/{profile}`: whether they are associated.
pub async fn association(
    app: &Arc<App>,
    ctx: &RequestContext,
    flavor_id: String,
    profile: String,
) -> Result<(), ApiError> {
    policy::authorize_rule(ctx, "get_flavor_service_profile", "").map_err(|_| hidden())?;
    app.store
        .read(move |tx| {
            if tx.flavor_profile_list(&flavor_id)?.contains(&profile) {
                Ok(())
            } else {
                Err(ApiError::flavor_service_profile_binding_not_found(&profile, &flavor_id))
            }
        })
        .await
}

/// The L3 provider a router created with `flavor_id` gets, or why it cannot have one.
///
/// In the order of the vpnaas and lbaas plugins' flavor checks (Neutron's own L3 plugin
/// checks neither the service type nor `enabled`, so a disabled flavor or another service's
/// flavor would still give routers; here they are refused): the flavor exists, is an
/// L3 flavor and is enabled; then Neutron's `get_flavor_next_provider`: it has a profile,
/// the first enabled one is used, and its driver is one of our L3 providers.
pub(crate) fn l3_provider(tx: &mut dyn Tx, flavor_id: &str) -> Result<&'static ServiceProvider, ApiError> {
    let flavor: Flavor = match tx.doc_get(Resource::Flavor, flavor_id)? {
        Some(body) => decode(Resource::Flavor, flavor_id, &body)?,
        None => return Err(ApiError::not_found(Resource::Flavor, flavor_id)),
    };
    if flavor.service_type != servicetype::L3_ROUTER_NAT {
        return Err(ApiError::invalid_service_type(&flavor.service_type));
    }
    if !flavor.enabled {
        return Err(ApiError::flavor_disabled());
    }
    if flavor.service_profiles.is_empty() {
        return Err(ApiError::flavor_service_profile_binding_not_found("", flavor_id));
    }
    let mut enabled = None;
    for id in &flavor.service_profiles {
        let p: ServiceProfile = load_required(tx, Resource::ServiceProfile, id)?;
        if p.enabled {
            enabled = Some(p);
            break;
        }
    }
    let profile = enabled.ok_or_else(ApiError::service_profile_disabled)?;
    servicetype::provider_by_driver(&profile.driver)
        .filter(|p| p.service_type == servicetype::L3_ROUTER_NAT)
        .ok_or_else(|| ApiError::service_profile_driver_not_found(&profile.driver))
}

/// `GET /v2.0/service-providers`: Neutron's `ServiceTypeManager.get_service_providers`
/// filters (`service_type`, `name`, `driver`, `default`, each any of its values, compared
/// as text: a `default` filter, a string, never equals the boolean, as in Neutron; other
/// keys are ignored). Empty for a caller the policy refuses.
pub fn service_providers(ctx: &RequestContext, filters: &[(String, String)]) -> Vec<&'static ServiceProvider> {
    if policy::authorize_rule(ctx, "get_service_provider", "").is_err() {
        return Vec::new();
    }
    let wanted = |key: &str, value: &str| {
        let mut given = filters.iter().filter(|(k, _)| k == key).peekable();
        given.peek().is_none() || given.any(|(_, v)| v == value)
    };
    servicetype::SERVICE_PROVIDERS
        .iter()
        .filter(|p| {
            wanted("service_type", p.service_type)
                && wanted("name", p.name)
                && wanted("driver", p.driver)
                && !filters.iter().any(|(k, _)| k == "default")
        })
        .collect()
}
