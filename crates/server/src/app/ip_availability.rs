//! `network-ip-availability` (Neutron's `network_ip_availability_db`): per network and per
//! subnet, how many addresses the allocation pools hold (`total_ips`) and how many ports hold
//! (`used_ips`). For admins and the service role (Octavia asks it); others see nothing.
//!
//! Totals are `u128`: an IPv6 pool holds up to 2^128 addresses, and Neutron answers the exact
//! integer, which `serde_json` writes from a `u128` without rounding.

use super::policy;
use super::{decode, App, RequestContext};
use neutrino_model::types::{Network, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{IndexFilter, Tx};
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;

/// One subnet's counts.
#[derive(Debug, Serialize)]
pub struct SubnetAvailability {
    pub subnet_id: String,
    pub ip_version: u8,
    pub cidr: String,
    pub subnet_name: String,
    pub used_ips: u64,
    pub total_ips: u128,
}

/// One network's counts, in the key order of Neutron's answer.
#[derive(Debug, Serialize)]
pub struct NetworkAvailability {
    pub network_id: String,
    pub network_name: String,
    pub project_id: String,
    pub subnet_ip_availability: Vec<SubnetAvailability>,
    pub used_ips: u64,
    pub total_ips: u128,
    pub tenant_id: String,
}

/// The filters Neutron's query takes (`SUPPORTED_FILTERS`); each lists the values allowed.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pub network_ids: Vec<String>,
    pub network_names: Vec<String>,
    pub project_ids: Vec<String>,
    pub ip_versions: Vec<u8>,
}

fn allowed<T: PartialEq>(values: &[T], v: &T) -> bool {
    values.is_empty() || values.contains(v)
}

fn as_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn subnet_availability(tx: &mut dyn Tx, s: Subnet) -> Result<SubnetAvailability, ApiError> {
    let total = s.allocation_pools.iter().map(|p| as_u128(p.end).saturating_sub(as_u128(p.start)) + 1).sum();
    let used = tx.ip_allocation_list_by_subnet(&s.id)?.len() as u64;
    Ok(SubnetAvailability {
        subnet_id: s.id,
        ip_version: s.ip_version,
        cidr: s.cidr,
        subnet_name: s.name,
        used_ips: used,
        total_ips: total,
    })
}

/// The counts of every network the filters let through; with an `ip_version` filter, a
/// network without a subnet of that version is left out (Neutron's outer join, filtered).
fn collect(tx: &mut dyn Tx, f: &Filters) -> Result<Vec<NetworkAvailability>, ApiError> {
    let index =
        IndexFilter { ids: (!f.network_ids.is_empty()).then(|| f.network_ids.clone()), ..IndexFilter::default() };
    let mut out = Vec::new();
    for body in tx.doc_list(Resource::Network, &index)? {
        let net: Network = decode(Resource::Network, "?", &body)?;
        if !allowed(&f.network_names, &net.name) || !allowed(&f.project_ids, &net.project_id) {
            continue;
        }
        let mut subnets = Vec::new();
        for id in &net.subnets {
            let s: Subnet = super::load_required(tx, Resource::Subnet, id)?;
            if allowed(&f.ip_versions, &s.ip_version) {
                subnets.push(subnet_availability(tx, s)?);
            }
        }
        if !f.ip_versions.is_empty() && subnets.is_empty() {
            continue;
        }
        out.push(NetworkAvailability {
            used_ips: subnets.iter().map(|s| s.used_ips).sum(),
            total_ips: subnets.iter().map(|s| s.total_ips).sum(),
            subnet_ip_availability: subnets,
            network_id: net.id,
            network_name: net.name,
            tenant_id: net.project_id.clone(),
            project_id: net.project_id,
        });
    }
    Ok(out)
}

fn may_read(ctx: &RequestContext) -> bool {
    policy::authorize_rule(ctx, "get_network_ip_availability", &ctx.project_id).is_ok()
}

/// `GET /v2.0/network-ip-availabilities`: empty for a caller the policy refuses, as
/// Neutron's list drops the items the policy hides.
pub async fn list(app: &Arc<App>, ctx: &RequestContext, f: Filters) -> Result<Vec<NetworkAvailability>, ApiError> {
    if !may_read(ctx) {
        return Ok(Vec::new());
    }
    app.store.read(move |tx| collect(tx, &f)).await
}

/// `GET /v2.0/network-ip-availabilities/{network_id}`: 404 for a caller the policy refuses.
pub async fn show(app: &Arc<App>, ctx: &RequestContext, network_id: String) -> Result<NetworkAvailability, ApiError> {
    if !may_read(ctx) {
        return Err(ApiError::http_not_found("The resource could not be found."));
    }
    let f = Filters { network_ids: vec![network_id.clone()], ..Filters::default() };
    let found = app.store.read(move |tx| collect(tx, &f)).await?;
    found.into_iter().next().ok_or_else(|| ApiError::not_found(Resource::Network, &network_id))
}
