//! Address scopes (`address-scope`, Neutron's `address_scope_db`): a name, an IP version and
//! whether others may use it. Subnet pools join a scope ([`super::subnetpools`] checks that
//! their prefixes stay apart); a scope with pools is kept.

use super::lookup;
use super::policy::{self, Action};
use super::sharing;
use super::{encode, App, RequestContext};
use neutrino_model::bodies::subnetpools::{AddressScopeCreate, AddressScopeUpdate};
use neutrino_model::bodies::{Body, Update};
use neutrino_model::types::{AddressScope, SubnetPool};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, IndexFilter, Tx};
use std::sync::Arc;

pub(crate) fn doc(s: &AddressScope) -> Result<Doc, ApiError> {
    Ok(Doc {
        id: s.id.clone(),
        project_id: s.project_id.clone(),
        name: s.name.clone(),
        body: encode(s)?,
        ..Doc::default()
    })
}

/// Creates address scopes (bulk is atomic).
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Body<AddressScopeCreate>>,
) -> Result<Vec<AddressScope>, ApiError> {
    super::bulk_create(app, ctx, items, create_one).await
}

fn create_one(
    tx: &mut dyn Tx,
    _app: &App,
    ctx: &RequestContext,
    body: &Body<AddressScopeCreate>,
    _now: &str,
) -> Result<AddressScope, ApiError> {
    let a = &body.fields;
    policy::authorize(ctx, Resource::AddressScope, Action::Create, &a.project_id, Some(&body.attrs))?;
    let scope = AddressScope {
        id: uuid::Uuid::new_v4().to_string(),
        name: a.name.clone(),
        tenant_id: a.project_id.clone(),
        project_id: a.project_id.clone(),
        shared: a.shared,
        ip_version: a.ip_version,
    };
    tx.doc_insert(Resource::AddressScope, &doc(&scope)?)?;
    if scope.shared {
        sharing::ensure_wildcard_of(tx, sharing::ADDRESS_SCOPE, &scope.id, &scope.project_id, sharing::SHARED)?;
    }
    tx.change_record(Resource::AddressScope, &scope.id, ChangeOp::Create, &scope.project_id)?;
    Ok(scope)
}

/// Updates one address scope; a shared scope stays shared.
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    change: Update<AddressScopeUpdate>,
) -> Result<AddressScope, ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut s = lookup::visible::<AddressScope>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::AddressScope, Action::Update, &s.project_id, Some(&change.body.attrs))?;
            let a = change.body.fields;
            if s.shared && a.shared == Some(false) {
                return Err(ApiError::address_scope_update_error(&id, "Shared address scope can't be unshared"));
            }
            if let Some(v) = a.shared {
                s.shared = v;
                if v {
                    sharing::ensure_wildcard_of(tx, sharing::ADDRESS_SCOPE, &id, &s.project_id, sharing::SHARED)?;
                }
            }
            if let Some(v) = a.name {
                s.name = v;
            }
            tx.doc_update(Resource::AddressScope, &doc(&s)?)?;
            tx.change_record(Resource::AddressScope, &id, ChangeOp::Update, &s.project_id)?;
            Ok(s)
        })
        .await
}

/// Deletes an address scope no subnet pool belongs to.
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, id: String) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let s = lookup::visible::<AddressScope>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::AddressScope, Action::Delete, &s.project_id, None)?;
            for body in tx.doc_list(Resource::SubnetPool, &IndexFilter::default())? {
                let p: SubnetPool = super::decode(Resource::SubnetPool, "?", &body)?;
                if p.address_scope_id.as_deref() == Some(id.as_str()) {
                    return Err(ApiError::address_scope_in_use(&id));
                }
            }
            tx.doc_delete(Resource::AddressScope, &id)?;
            tx.rbac_policy_delete_by_object(&id)?;
            tx.change_record(Resource::AddressScope, &id, ChangeOp::Delete, &s.project_id)?;
            Ok(())
        })
        .await
}
