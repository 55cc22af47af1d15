//! `floatingip-pools` (Neutron's `l3_fip_pools_db`): the subnets floating IPs can come from,
//! that is every IPv4 subnet of an external network (IPv6 ones only with `fip64`, which is
//! not offered). Neutron reads them elevated, so a caller sees pools on external networks
//! it cannot otherwise read; each pool names the caller's own project.

use super::{decode, policy, sharing, App, RequestContext};
use neutrino_model::types::Subnet;
use neutrino_model::{ApiError, Resource};
use neutrino_store::{IndexFilter, Tx};
use serde::Serialize;
use std::sync::Arc;

/// One pool, in the key order of Neutron's `_make_floatingip_pool_dict` (with the
/// `project_id` the API adds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FloatingIpPool {
    pub subnet_id: String,
    pub subnet_name: String,
    pub tenant_id: String,
    pub network_id: String,
    pub cidr: String,
    pub project_id: String,
}

/// Networks with any `access_as_external` policy: Neutron's `ExternalNetwork` rows.
fn external_networks(tx: &mut dyn Tx) -> Result<Vec<String>, ApiError> {
    let mut ids: Vec<String> = tx
        .rbac_policy_list(None)?
        .into_iter()
        .filter(|p| p.object_type == sharing::NETWORK && p.action == sharing::EXTERNAL)
        .map(|p| p.object_id)
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

fn collect(tx: &mut dyn Tx, project: &str) -> Result<Vec<FloatingIpPool>, ApiError> {
    let networks = external_networks(tx)?;
    if networks.is_empty() {
        return Ok(Vec::new());
    }
    let filter = IndexFilter { network_ids: Some(networks), ..IndexFilter::default() };
    let mut pools = Vec::new();
    for body in tx.doc_list(Resource::Subnet, &filter)? {
        let s: Subnet = decode(Resource::Subnet, "?", &body)?;
        if s.ip_version == 4 {
            pools.push(FloatingIpPool {
                subnet_id: s.id,
                subnet_name: s.name,
                tenant_id: project.to_string(),
                network_id: s.network_id,
                cidr: s.cidr,
                project_id: project.to_string(),
            });
        }
    }
    Ok(pools)
}

/// `GET /v2.0/floatingip_pools`: empty for a caller the policy refuses, as Neutron's list
/// drops the items the policy hides.
pub async fn list(app: &Arc<App>, ctx: &RequestContext) -> Result<Vec<FloatingIpPool>, ApiError> {
    if policy::authorize_rule(ctx, "get_floatingip_pool", &ctx.project_id).is_err() {
        return Ok(Vec::new());
    }
    let project = ctx.project_id.clone();
    app.store.read(move |tx| collect(tx, &project)).await
}
