//! Picking a free address. The cost depends on the pools and the allocated addresses, never
//! on pool size, because an IPv6 pool may hold 2^64 addresses.

use crate::addr::{from_u128, to_u128};
use crate::AllocationPool;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The lowest address inside `pools` that is not in `allocated`, or `None` when all are
/// taken. Malformed pools (see [`AllocationPool::is_well_formed`]) offer nothing.
///
/// Runs in O(pools × log allocated + allocated addresses inside the pools). Neutron's own
/// driver picks at random among the first free addresses to spread concurrent requests;
/// here the caller's store enforces uniqueness and retries, so the lowest is used.
pub fn first_free(pools: &[AllocationPool], allocated: &BTreeSet<IpAddr>) -> Option<IpAddr> {
    pools.iter().filter(|p| p.is_well_formed()).filter_map(|p| first_free_in(p, allocated)).min()
}

/// Addresses inside `pools` that are not allocated. Pools are expected not to overlap (as
/// validated pools never do); an address in two pools would count twice.
pub fn free_count(pools: &[AllocationPool], allocated: &BTreeSet<IpAddr>) -> u128 {
    pools
        .iter()
        .filter(|p| p.is_well_formed())
        .map(|p| p.size() - allocated.range(p.start..=p.end).count() as u128)
        .fold(0u128, u128::saturating_add)
}

/// Walks the allocated addresses from the pool's start while they are contiguous; the first
/// gap is the answer. Invariant: every address in `[start, candidate)` is allocated.
fn first_free_in(pool: &AllocationPool, allocated: &BTreeSet<IpAddr>) -> Option<IpAddr> {
    let end = to_u128(pool.end);
    let mut candidate = to_u128(pool.start);
    for used in allocated.range(pool.start..=pool.end) {
        if to_u128(*used) != candidate {
            break;
        }
        if candidate == end {
            return None;
        }
        candidate += 1;
    }
    Some(from_u128(pool.start.is_ipv4(), candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn pool(a: &str, b: &str) -> AllocationPool {
        AllocationPool::new(ip(a), ip(b))
    }

    #[test]
    fn lowest_free_across_unsorted_pools_until_exhausted() {
        let pools = [pool("10.0.0.10", "10.0.0.12"), pool("10.0.0.2", "10.0.0.3")];
        let mut used = BTreeSet::from([ip("10.0.0.3"), ip("10.0.0.1"), ip("fd00::2")]);
        let mut got = Vec::new();
        while let Some(a) = first_free(&pools, &used) {
            assert!(used.insert(a));
            got.push(a.to_string());
        }
        assert_eq!(got, ["10.0.0.2", "10.0.0.10", "10.0.0.11", "10.0.0.12"]);
        assert_eq!(free_count(&pools, &used), 0);
    }

    #[test]
    fn huge_pools_are_cheap() {
        let big = [pool("fd00::1", "fd00::ffff:ffff:ffff:ffff")];
        let used: BTreeSet<IpAddr> = (1..=1000u32).map(|i| ip(&format!("fd00::{i:x}"))).collect();
        assert_eq!(first_free(&big, &used), Some(ip("fd00::3e9")));
        assert_eq!(free_count(&big, &used), (1 << 64) - 1 - 1000);
        let last = [pool("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")];
        let used = BTreeSet::from([ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")]);
        assert_eq!(first_free(&last, &used), Some(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
    }

    #[test]
    fn malformed_pools_offer_nothing() {
        let pools = [pool("10.0.0.9", "10.0.0.2"), pool("10.0.0.2", "fd00::1")];
        assert_eq!(first_free(&pools, &BTreeSet::new()), None);
        assert_eq!(free_count(&pools, &BTreeSet::new()), 0);
    }

    #[test]
    fn a_slash_29_with_default_pools_gives_exactly_five() {
        let net = "192.168.7.0/29".parse().unwrap();
        let gw = crate::default_gateway(&net);
        let pools = crate::default_allocation_pools(&net, gw);
        let mut used = BTreeSet::new();
        while let Some(a) = first_free(&pools, &used) {
            used.insert(a);
        }
        let got: Vec<String> = used.iter().map(IpAddr::to_string).collect();
        assert_eq!(got, ["192.168.7.2", "192.168.7.3", "192.168.7.4", "192.168.7.5", "192.168.7.6"]);
    }
}
