//! The service catalog as data (Keystone's services and endpoints), so an operator can
//! register Nova or any other service; and the token body that carries it.
//!
//! The first start seeds this server's own identity and network services. Their URLs are
//! stored as `$(public_url)s` templates, replaced when the catalog is rendered, so a changed
//! `public_url` needs no catalog edit (Keystone substitutes `$(...)s` in endpoint URLs too).

use crate::app::App;
use neutrino_identity::Claims;
use neutrino_model::ApiError;
use neutrino_store::identity::{Endpoint, Service};
use neutrino_store::{StoreError, Tx};
use serde_json::{json, Value};

/// The template seeded endpoints use for this server's URL.
pub const PUBLIC_URL_TEMPLATE: &str = "$(public_url)s";
/// Endpoint interfaces Keystone knows.
pub const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Seeds the identity and network services with this server's endpoints, once per store
/// (an operator's later deletions stick).
pub fn seed_catalog(tx: &mut dyn Tx, region: &str) -> Result<(), StoreError> {
    if !tx.catalog_mark_seeded()? {
        return Ok(());
    }
    for (kind, name, path) in [("network", "neutron", ""), ("identity", "keystone", "/v3")] {
        let service =
            Service { id: new_id(), kind: kind.into(), name: name.into(), description: String::new(), enabled: true };
        tx.service_insert(&service)?;
        for interface in INTERFACES {
            tx.endpoint_insert(&Endpoint {
                id: new_id(),
                service_id: service.id.clone(),
                interface: interface.into(),
                region_id: Some(region.into()),
                url: format!("{PUBLIC_URL_TEMPLATE}{path}"),
                enabled: true,
            })?;
        }
    }
    Ok(())
}

/// An endpoint's URL with the templates replaced.
pub fn render_url(app: &App, url: &str) -> String {
    url.replace(PUBLIC_URL_TEMPLATE, &app.config.public_url())
}

/// The catalog in a token's shape: enabled services with their enabled endpoints.
pub async fn catalog(app: &App) -> Result<Value, ApiError> {
    let (services, endpoints) =
        app.store.read(|tx| -> Result<_, ApiError> { Ok((tx.service_list(None)?, tx.endpoint_list()?)) }).await?;
    let list: Vec<Value> = services
        .iter()
        .filter(|s| s.enabled)
        .map(|s| {
            let endpoints: Vec<Value> = endpoints
                .iter()
                .filter(|e| e.enabled && e.service_id == s.id)
                .map(|e| {
                    json!({"id": e.id, "interface": e.interface, "region": e.region_id, "region_id": e.region_id,
                        "url": render_url(app, &e.url)})
                })
                .collect();
            json!({"id": s.id, "type": s.kind, "name": s.name, "endpoints": endpoints})
        })
        .collect();
    Ok(Value::Array(list))
}

fn iso(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S.000000Z").to_string()
}

/// The Keystone token body for claims; a scoped token carries its roles and the catalog.
pub async fn token_body(app: &App, c: &Claims) -> Result<Value, ApiError> {
    let mut audit_ids = vec![c.audit_id.clone()];
    audit_ids.extend(c.audit_chain_id.clone());
    let mut token = json!({
        "methods": c.methods,
        "user": {"id": c.user_id, "name": c.user_name, "domain": {"id": c.user_domain_id, "name": c.user_domain_name}, "password_expires_at": null},
        "audit_ids": audit_ids,
        "issued_at": iso(c.issued_at),
        "expires_at": iso(c.expires_at),
    });
    if let (Some(id), Some(name)) = (&c.project_id, &c.project_name) {
        token["project"] = json!({"id": id, "name": name,
            "domain": {"id": c.project_domain_id, "name": c.project_domain_name}});
        token["is_domain"] = json!(false);
    } else if let (Some(id), Some(name)) = (&c.domain_id, &c.domain_name) {
        token["domain"] = json!({"id": id, "name": name});
    } else if c.system {
        token["system"] = json!({"all": true});
    } else {
        token["is_domain"] = json!(false);
    }
    if c.is_scoped() {
        token["roles"] = json!(c.roles.iter().map(|r| json!({"id": r.id, "name": r.name})).collect::<Vec<_>>());
        token["catalog"] = catalog(app).await?;
    }
    if let Some(cred) = &c.app_cred {
        token["application_credential"] = json!({"id": cred.id, "name": cred.name, "restricted": cred.restricted});
    }
    Ok(json!({ "token": token }))
}
