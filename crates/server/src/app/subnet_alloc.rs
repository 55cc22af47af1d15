//! Subnet pools as subnets read them (the pool a request names, the default pool, a pool's
//! subnets), and subnets carved from a pool, as Neutron's `SubnetAllocator` does: by size (`prefixlen`,
//! else the pool's default: the smallest free block that fits, lowest address first), or a
//! given CIDR that must be free; the prefix-length bounds and the per-project quota checked.
//!
//! Never two overlapping subnets from one pool: the free space is computed from the pool's
//! subnets read inside the write transaction that inserts the new one, and the store runs
//! write transactions one at a time (its single writer), so no other allocation can slip in
//! between the read and the insert. Neutron gets the same from a compare-and-swap on the
//! pool row's `hash` and a retry.

use super::lookup::Visible;
use super::RequestContext;
use ipnet::IpNet;
use neutrino_ipam::prefixes;
use neutrino_model::bodies::subnets::SubnetCreate;
use neutrino_model::types::{Network, Subnet, SubnetPool};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{IndexFilter, Tx};
use std::net::IpAddr;

/// The pools the caller may see (own, shared with it or with all, or every one for an admin).
pub(crate) fn visible_pools(tx: &mut dyn Tx, ctx: &RequestContext) -> Result<Vec<SubnetPool>, ApiError> {
    let mut out = Vec::new();
    for body in tx.doc_list(Resource::SubnetPool, &IndexFilter::default())? {
        let p: SubnetPool = super::decode(Resource::SubnetPool, "?", &body)?;
        if p.visible_to(tx, ctx)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// `get_default_subnetpool`: the default pool of an IP version among those the caller sees.
pub(crate) fn default_pool(tx: &mut dyn Tx, ctx: &RequestContext, version: u8) -> Result<Option<SubnetPool>, ApiError> {
    Ok(visible_pools(tx, ctx)?.into_iter().find(|p| p.is_default && p.ip_version == version))
}

/// The subnets allocated from a pool.
pub(crate) fn pool_subnets(tx: &mut dyn Tx, pool_id: &str) -> Result<Vec<Subnet>, ApiError> {
    let filter = IndexFilter { subnetpool_ids: Some(vec![pool_id.into()]), ..Default::default() };
    tx.doc_list(Resource::Subnet, &filter)?.iter().map(|b| super::decode(Resource::Subnet, pool_id, b)).collect()
}

/// The CIDRs of the subnets allocated from a pool.
pub(crate) fn allocated_prefixes(tx: &mut dyn Tx, pool_id: &str) -> Result<Vec<IpNet>, ApiError> {
    let mut out = Vec::new();
    for s in pool_subnets(tx, pool_id)? {
        out.push(s.cidr.parse::<IpNet>().map_err(|_| {
            tracing::error!(subnet = %s.id, cidr = %s.cidr, "stored subnet has an invalid cidr");
            ApiError::internal()
        })?);
    }
    Ok(out)
}

/// A pool by id as `_get_subnetpool` finds it for a subnet request: one the caller sees.
pub(crate) fn find(tx: &mut dyn Tx, ctx: &RequestContext, id: &str) -> Result<SubnetPool, ApiError> {
    super::lookup::visible::<SubnetPool>(tx, ctx, id)
}

/// A new subnet's addressing as its pool gave it.
#[derive(Debug)]
pub(crate) struct FromPool {
    pub pool: SubnetPool,
    pub cidr: IpNet,
    /// The gateway, when the pool chose the CIDR (`Some(None)`: none was wanted); `None`
    /// when the request named the CIDR, whose gateway follows the usual defaults.
    pub gateway: Option<Option<IpAddr>>,
}

fn bad(msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request_for("subnets", msg)
}

/// `_get_subnetpool_id`: the pool named, or with `use_default_subnetpool` the default pool
/// of the subnet's IP version.
fn requested_pool(tx: &mut dyn Tx, ctx: &RequestContext, a: &SubnetCreate) -> Result<Option<SubnetPool>, ApiError> {
    if a.use_default_subnetpool && a.subnetpool_id.is_some() {
        return Err(bad("subnetpool_id and use_default_subnetpool cannot both be specified"));
    }
    if let Some(id) = &a.subnetpool_id {
        return find(tx, ctx, id).map(Some);
    }
    if !a.use_default_subnetpool {
        return Ok(None);
    }
    let version = match a.cidr.as_deref().map(str::parse::<IpNet>) {
        Some(Ok(IpNet::V6(_))) => 6,
        Some(Ok(IpNet::V4(_))) => 4,
        _ => a.ip_version,
    };
    match default_pool(tx, ctx, version)? {
        Some(p) => Ok(Some(p)),
        None => Err(bad(format!("No default subnetpool found for IPv{version}"))),
    }
}

/// Takes the new subnet's CIDR from its pool, if it names one (or asks for the default);
/// `None` for a subnet without a pool.
pub(crate) fn allocate(tx: &mut dyn Tx, ctx: &RequestContext, a: &SubnetCreate) -> Result<Option<FromPool>, ApiError> {
    if a.cidr.is_some() && a.prefixlen.is_some() {
        return Err(bad("cidr and prefixlen must not be supplied together"));
    }
    let Some(pool) = requested_pool(tx, ctx, a)? else { return Ok(None) };
    if a.cidr.is_none() && a.allocation_pools.is_some() {
        return Err(bad("allocation_pools allowed only for specific subnet requests."));
    }
    if a.ip_version != pool.ip_version {
        return Err(bad(format!("Cannot allocate IPv{} subnet from IPv{} subnet pool", a.ip_version, pool.ip_version)));
    }
    let requested = match (&a.cidr, a.gateway_ip) {
        (Some(text), _) => Some(text.parse::<IpNet>().map_err(|_| ApiError::internal())?.trunc()),
        (None, Some(Some(gw))) => {
            let len = a.prefixlen.unwrap_or(u64::from(pool.default_prefixlen));
            check_bounds(&pool, len)?;
            Some(IpNet::new(gw, prefixlen_u8(len)).map_err(|_| ApiError::internal())?.trunc())
        }
        (None, _) => None,
    };
    let len = requested.map_or(a.prefixlen.unwrap_or(u64::from(pool.default_prefixlen)), |c| u64::from(c.prefix_len()));
    check_bounds(&pool, len)?;
    let len = prefixlen_u8(len);
    let subnets = pool_subnets(tx, &pool.id)?;
    check_quota(&pool, &subnets, &a.project_id, len)?;
    let available: Vec<IpNet> = parse(&pool.prefixes)?;
    let allocated: Vec<IpNet> = subnets.iter().map(|s| parse_one(&s.cidr)).collect::<Result<_, _>>()?;
    let (cidr, gateway) = match requested {
        Some(cidr) if prefixes::is_free(&available, &allocated, &cidr) => (cidr, None),
        Some(_) => {
            return Err(ApiError::subnet_allocation_error(
                "Cannot allocate requested subnet from the available set of prefixes",
            ))
        }
        None => {
            let cidr = prefixes::allocate_any(&available, &allocated, len).ok_or_else(|| {
                ApiError::subnet_allocation_error(format!("Insufficient prefix space to allocate subnet size /{len}"))
            })?;
            // The allocator's own default: the first address after the network's, also on IPv6.
            let gateway = match a.gateway_ip {
                Some(None) => None,
                _ => first_host(&cidr),
            };
            (cidr, Some(gateway))
        }
    };
    Ok(Some(FromPool { pool, cidr, gateway }))
}

/// Bounds are at most 128 once checked.
fn prefixlen_u8(len: u64) -> u8 {
    u8::try_from(len).unwrap_or(u8::MAX)
}

fn check_bounds(pool: &SubnetPool, len: u64) -> Result<(), ApiError> {
    if len > u64::from(pool.max_prefixlen) {
        return Err(ApiError::max_prefix_subnet_allocation_error(len, pool.max_prefixlen));
    }
    if len < u64::from(pool.min_prefixlen) {
        return Err(ApiError::min_prefix_subnet_allocation_error(len, pool.min_prefixlen));
    }
    Ok(())
}

/// `_check_subnetpool_project_quota`: the project's subnets from the pool and the new one
/// may hold at most `default_quota` units (addresses, or /64s on IPv6); 0 is no limit.
fn check_quota(pool: &SubnetPool, subnets: &[Subnet], project_id: &str, len: u8) -> Result<(), ApiError> {
    let Some(quota) = pool.default_quota.filter(|q| *q > 0) else { return Ok(()) };
    let v6 = pool.ip_version == 6;
    let mut used = 0.0;
    for s in subnets.iter().filter(|s| s.project_id == project_id) {
        used += prefixes::quota_units(parse_one(&s.cidr)?.prefix_len(), v6);
    }
    if used + prefixes::quota_units(len, v6) > quota as f64 {
        return Err(ApiError::subnet_pool_quota_exceeded());
    }
    Ok(())
}

fn first_host(cidr: &IpNet) -> Option<IpAddr> {
    match cidr {
        IpNet::V4(n) => u32::from(n.network()).checked_add(1).map(|a| IpAddr::V4(a.into())),
        IpNet::V6(n) => u128::from(n.network()).checked_add(1).map(|a| IpAddr::V6(a.into())),
    }
}

fn parse_one(text: &str) -> Result<IpNet, ApiError> {
    text.parse().map_err(|_| {
        tracing::error!(cidr = %text, "stored prefix is invalid");
        ApiError::internal()
    })
}

fn parse(texts: &[String]) -> Result<Vec<IpNet>, ApiError> {
    texts.iter().map(|t| parse_one(t)).collect()
}

fn network_subnets(tx: &mut dyn Tx, net: &Network) -> Result<Vec<Subnet>, ApiError> {
    net.subnets.iter().map(|id| super::load_required::<Subnet>(tx, Resource::Subnet, id)).collect()
}

/// `get_network_address_scope`: the scope of a pool one of the subnets of this IP version
/// comes from.
fn scope_of(tx: &mut dyn Tx, subnets: &[Subnet], version: u8) -> Result<Option<String>, ApiError> {
    let mut scope = None;
    for s in subnets.iter().filter(|s| s.ip_version == version) {
        let Some(pool_id) = &s.subnetpool_id else { continue };
        let p: Option<SubnetPool> = super::load(tx, Resource::SubnetPool, pool_id)?;
        if let Some(id) = p.and_then(|p| p.address_scope_id) {
            scope = Some(id);
        }
    }
    Ok(scope)
}

/// Sets a network's `ipv4_address_scope` / `ipv6_address_scope` (its document keeps them).
pub(crate) fn set_network_scope(net: &mut Network, version: u8, scope: Option<String>) {
    if version == 6 {
        net.ipv6_address_scope = scope;
    } else {
        net.ipv4_address_scope = scope;
    }
}

/// Recomputes a network's scope of one IP version from its subnets (after one left).
pub(crate) fn refresh_network_scope(tx: &mut dyn Tx, net: &mut Network, version: u8) -> Result<(), ApiError> {
    let subnets = network_subnets(tx, net)?;
    let scope = scope_of(tx, &subnets, version)?;
    set_network_scope(net, version, scope);
    Ok(())
}

/// `_validate_network_subnetpools`: the subnets of one IP version on a network come from one
/// pool, or all from pools of the network's address scope.
pub(crate) fn check_network_affinity(
    tx: &mut dyn Tx,
    net: &Network,
    pool: Option<&SubnetPool>,
    version: u8,
) -> Result<(), ApiError> {
    let subnets = network_subnets(tx, net)?;
    let scope = scope_of(tx, &subnets, version)?;
    if let (Some(scope), Some(p)) = (&scope, pool) {
        if p.address_scope_id.as_ref() != Some(scope) {
            return Err(ApiError::network_address_scope_affinity_error());
        }
    }
    for s in &subnets {
        let clash = match pool {
            Some(p) => s.subnetpool_id.as_ref() != Some(&p.id) && s.ip_version == p.ip_version && scope.is_none(),
            None => s.subnetpool_id.is_some() && s.ip_version == version,
        };
        if clash {
            return Err(ApiError::network_subnet_pool_affinity_error());
        }
    }
    Ok(())
}
