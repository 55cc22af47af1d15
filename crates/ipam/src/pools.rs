//! Allocation pools of a subnet: Neutron's defaults (`generate_pools`) and its validation of
//! requested pools (`pools_to_ip_range`, `validate_allocation_pools`,
//! `validate_gw_out_of_pools`).

use crate::addr::{from_u128, same_family, span, to_u128};
use crate::{AllocationPool, IpamError};
use ipnet::IpNet;
use std::net::IpAddr;

/// The pools Neutron generates for a subnet created without `allocation_pools`: every
/// address except the network address (IPv4 and IPv6) and the broadcast address (IPv4 up to
/// /30; a /31 keeps both), with the gateway cut out, splitting the range in two if needed. A
/// single-address subnet (/32, /128) gets that address, even if it is the gateway.
pub fn default_allocation_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<AllocationPool> {
    let ipv4 = net.addr().is_ipv4();
    let pool = |lo: u128, hi: u128| AllocationPool::new(from_u128(ipv4, lo), from_u128(ipv4, hi));
    let (first, last) = span(net);
    if first == last {
        return vec![pool(first, last)];
    }
    let (lo, hi) = match net {
        IpNet::V4(v4) if v4.prefix_len() > 30 => (first, last),
        IpNet::V4(_) => (first + 1, last - 1),
        IpNet::V6(_) => (first + 1, last),
    };
    match gateway.filter(|gw| same_family(*gw, net.addr())).map(to_u128) {
        Some(gw) if (lo..=hi).contains(&gw) => {
            let below = (gw > lo).then(|| pool(lo, gw - 1));
            let above = (gw < hi).then(|| pool(gw + 1, hi));
            below.into_iter().chain(above).collect()
        }
        _ => vec![pool(lo, hi)],
    }
}

/// Validates requested pools in Neutron's order, first failure wins:
/// 1. each pool is a range: ends of one family, start not after end (`InvalidAllocationPool`);
/// 2. each pool is of the subnet's version (`InvalidAllocationPool`) and inside its usable
///    addresses: not the network address, not the IPv4 broadcast up to /30
///    (`OutOfBoundsAllocationPool`);
/// 3. no two pools share an address (`OverlappingAllocationPools`, first pair in order);
/// 4. the gateway, if any, is in no pool (`GatewayConflictWithAllocationPools`).
///
/// As in Neutron, an IPv6 /128 accepts no pool at all, not even its default one.
pub fn validate_allocation_pools(
    net: &IpNet,
    pools: &[AllocationPool],
    gateway: Option<IpAddr>,
) -> Result<(), IpamError> {
    if let Some(bad) = pools.iter().find(|p| !p.is_well_formed()) {
        return Err(IpamError::InvalidAllocationPool { pool: bad.python_dict_repr() });
    }
    for pool in pools {
        if !same_family(pool.start, net.addr()) {
            return Err(IpamError::InvalidAllocationPool { pool: pool.to_string() });
        }
        if !within_usable(net, pool) {
            return Err(IpamError::OutOfBoundsAllocationPool { pool: *pool, subnet_cidr: *net });
        }
    }
    for (i, a) in pools.iter().enumerate() {
        if let Some(b) = pools[i + 1..].iter().find(|b| a.start <= b.end && b.start <= a.end) {
            return Err(IpamError::OverlappingAllocationPools { pool_1: *a, pool_2: *b, subnet_cidr: *net });
        }
    }
    if let Some(gw) = gateway {
        if let Some(pool) = pools.iter().find(|p| p.contains(gw)) {
            return Err(IpamError::GatewayConflictWithAllocationPools { ip_address: gw, pool: *pool });
        }
    }
    Ok(())
}

/// Neutron's bounds for requested pools. Written as comparisons with the subnet's first and
/// last address so that a /128 (whose "first + 1" is past its end) admits nothing.
fn within_usable(net: &IpNet, pool: &AllocationPool) -> bool {
    let (first, last) = span(net);
    let (start, end) = (to_u128(pool.start), to_u128(pool.end));
    match net {
        IpNet::V4(v4) if v4.prefix_len() > 30 => start >= first && end <= last,
        IpNet::V4(_) => start > first && end < last,
        IpNet::V6(_) => start > first && end <= last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn pool(a: &str, b: &str) -> AllocationPool {
        AllocationPool::new(ip(a), ip(b))
    }

    #[test]
    fn generated_like_neutron() {
        let n = net("10.0.0.0/24");
        assert_eq!(default_allocation_pools(&n, Some(ip("10.0.0.1"))), [pool("10.0.0.2", "10.0.0.254")]);
        assert_eq!(
            default_allocation_pools(&n, Some(ip("10.0.0.100"))),
            [pool("10.0.0.1", "10.0.0.99"), pool("10.0.0.101", "10.0.0.254")]
        );
        assert_eq!(default_allocation_pools(&n, Some(ip("10.0.0.254"))), [pool("10.0.0.1", "10.0.0.253")]);
        assert_eq!(default_allocation_pools(&n, Some(ip("192.168.0.1"))), [pool("10.0.0.1", "10.0.0.254")]);
        assert_eq!(default_allocation_pools(&n, None), [pool("10.0.0.1", "10.0.0.254")]);
        assert_eq!(default_allocation_pools(&net("10.0.0.0/30"), Some(ip("10.0.0.1"))), [pool("10.0.0.2", "10.0.0.2")]);
        assert_eq!(default_allocation_pools(&net("10.0.0.0/31"), None), [pool("10.0.0.0", "10.0.0.1")]);
        assert_eq!(default_allocation_pools(&net("10.0.0.0/31"), Some(ip("10.0.0.1"))), [pool("10.0.0.0", "10.0.0.0")]);
        assert_eq!(default_allocation_pools(&net("10.0.0.5/32"), Some(ip("10.0.0.6"))), [pool("10.0.0.5", "10.0.0.5")]);
        assert_eq!(
            default_allocation_pools(&net("fd00::/64"), Some(ip("fd00::"))),
            [pool("fd00::1", "fd00::ffff:ffff:ffff:ffff")]
        );
        assert_eq!(
            default_allocation_pools(&net("fd00::/64"), Some(ip("fd00::1"))),
            [pool("fd00::2", "fd00::ffff:ffff:ffff:ffff")]
        );
        assert_eq!(default_allocation_pools(&net("fd00::/127"), Some(ip("fd00::1"))), []);
        assert_eq!(default_allocation_pools(&net("fd00::1/128"), Some(ip("fd00::1"))), [pool("fd00::1", "fd00::1")]);
    }

    #[test]
    fn reversed_or_mixed_pools_are_reported_as_the_request_dict() {
        let n = net("10.0.0.0/24");
        // A later malformed pool wins over an earlier out-of-bounds one: Neutron builds every
        // range before checking any bounds.
        let err = validate_allocation_pools(&n, &[pool("10.0.1.2", "10.0.1.9"), pool("10.0.0.9", "10.0.0.2")], None)
            .unwrap_err();
        assert_eq!(err.to_string(), "The allocation pool {'start': '10.0.0.9', 'end': '10.0.0.2'} is not valid.");
        let err = validate_allocation_pools(&n, &[pool("10.0.0.2", "fd00::1")], None).unwrap_err();
        assert_eq!(err.to_string(), "The allocation pool {'start': '10.0.0.2', 'end': 'fd00::1'} is not valid.");
    }

    #[test]
    fn other_version_and_bounds() {
        let n = net("10.0.0.0/24");
        let err = validate_allocation_pools(&n, &[pool("fd00::1", "fd00::9")], None).unwrap_err();
        assert_eq!(err.to_string(), "The allocation pool fd00::1-fd00::9 is not valid.");
        assert_eq!(err.http_status(), 400);
        for (start, end) in [("10.0.0.0", "10.0.0.9"), ("10.0.0.2", "10.0.0.255"), ("10.0.0.2", "10.0.1.1")] {
            let err = validate_allocation_pools(&n, &[pool(start, end)], None).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("The allocation pool {start}-{end} spans beyond the subnet cidr 10.0.0.0/24.")
            );
        }
        assert_eq!(validate_allocation_pools(&n, &[pool("10.0.0.1", "10.0.0.254")], None), Ok(()));
        assert_eq!(validate_allocation_pools(&net("10.0.0.0/31"), &[pool("10.0.0.0", "10.0.0.1")], None), Ok(()));
        assert_eq!(validate_allocation_pools(&net("10.0.0.5/32"), &[pool("10.0.0.5", "10.0.0.5")], None), Ok(()));
        let v6 = net("fd00::/64");
        assert!(validate_allocation_pools(&v6, &[pool("fd00::", "fd00::9")], None).is_err());
        assert_eq!(validate_allocation_pools(&v6, &[pool("fd00::1", "fd00::ffff:ffff:ffff:ffff")], None), Ok(()));
        let single = net("fd00::1/128");
        let err = validate_allocation_pools(&single, &default_allocation_pools(&single, None), None).unwrap_err();
        assert_eq!(err.neutron_type(), "OutOfBoundsAllocationPool");
    }

    #[test]
    fn overlap_then_gateway() {
        let n = net("10.0.0.0/24");
        let gw = Some(ip("10.0.0.1"));
        let pools = [pool("10.0.0.20", "10.0.0.30"), pool("10.0.0.2", "10.0.0.9"), pool("10.0.0.9", "10.0.0.20")];
        let err = validate_allocation_pools(&n, &pools, gw).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Found overlapping allocation pools: 10.0.0.20-10.0.0.30 10.0.0.9-10.0.0.20 for subnet 10.0.0.0/24."
        );
        assert_eq!(err.http_status(), 409);
        let pools = [pool("10.0.0.2", "10.0.0.9"), pool("10.0.0.10", "10.0.0.20")];
        assert_eq!(validate_allocation_pools(&n, &pools, gw), Ok(()), "adjacent pools do not overlap");
        let err = validate_allocation_pools(&n, &pools, Some(ip("10.0.0.15"))).unwrap_err();
        assert_eq!(err.to_string(), "Gateway ip 10.0.0.15 conflicts with allocation pool 10.0.0.10-10.0.0.20.");
        assert_eq!(err.http_status(), 409);
        assert_eq!(validate_allocation_pools(&n, &[], gw), Ok(()));
    }
}
