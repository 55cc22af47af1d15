//! Sets of prefixes, as Neutron's subnet pools handle them with netaddr's `IPSet`: a pool's
//! prefix list is stored merged (`IPSet(prefixes).compact()`), a subnet is carved out of what
//! the pool's subnets leave free, and a pool's quota counts addresses in fixed units.
//!
//! A set is a list of CIDRs of one family; every function returns the fewest CIDRs that cover
//! exactly the result, sorted by address (netaddr's `iter_cidrs` order). Nothing iterates over
//! addresses: splitting a prefix only descends where an allocation lies, so an IPv6 pool costs
//! what its allocations cost.

use ipnet::IpNet;

/// The fewest CIDRs covering the union of `prefixes` (netaddr's `cidr_merge`), host bits
/// cleared, sorted (IPv4 first).
pub fn merge(prefixes: &[IpNet]) -> Vec<IpNet> {
    IpNet::aggregate(&prefixes.iter().map(IpNet::trunc).collect())
}

/// `IPSet(a) - IPSet(b)` as merged CIDRs.
pub fn difference(a: &[IpNet], b: &[IpNet]) -> Vec<IpNet> {
    let b = merge(b);
    let mut out = Vec::new();
    for p in merge(a) {
        subtract(p, &b, &mut out);
    }
    merge(&out)
}

/// Adds to `out` what is left of `p` once `taken` is removed: all of `p` when nothing taken
/// lies inside it, nothing when a taken prefix covers it, else each half in turn.
fn subtract(p: IpNet, taken: &[IpNet], out: &mut Vec<IpNet>) {
    if taken.iter().any(|t| t.contains(&p)) {
        return;
    }
    let inside: Vec<IpNet> = taken.iter().filter(|t| p.contains(*t)).copied().collect();
    if inside.is_empty() {
        out.push(p);
        return;
    }
    let Ok(halves) = p.subnets(p.prefix_len() + 1) else { return };
    for half in halves {
        subtract(half, &inside, out);
    }
}

/// Whether the two sets share an address.
pub fn intersects(a: &[IpNet], b: &[IpNet]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.contains(y) || y.contains(x)))
}

/// Whether every address of `a` is in `b`.
pub fn is_subset(a: &[IpNet], b: &[IpNet]) -> bool {
    difference(a, b).is_empty()
}

/// Neutron's `SubnetAllocator._allocate_any_subnet`: the free blocks smallest first (address
/// order among equals), and the first `/prefixlen` of the first block that can hold one. So a
/// request fills the holes before it splits a large block.
pub fn allocate_any(pool: &[IpNet], allocated: &[IpNet], prefixlen: u8) -> Option<IpNet> {
    let mut free = difference(pool, allocated);
    // A stable sort: blocks of the same size stay in address order.
    free.sort_by_key(|p| std::cmp::Reverse(p.prefix_len()));
    let block = free.into_iter().find(|p| p.prefix_len() <= prefixlen)?;
    IpNet::new(block.network(), prefixlen).ok()
}

/// Neutron's `_allocate_specific_subnet`: `cidr` must lie inside one free block.
pub fn is_free(pool: &[IpNet], allocated: &[IpNet], cidr: &IpNet) -> bool {
    difference(pool, allocated).iter().any(|block| block.contains(cidr))
}

/// The quota units a prefix of `prefixlen` is worth: addresses for IPv4 (`/32`s), `/64`s for
/// IPv6 (`SubnetPoolHelper`'s `quota_units`); a prefix longer than a unit is a fraction.
pub fn quota_units(prefixlen: u8, ipv6: bool) -> f64 {
    let unit: i32 = if ipv6 { 64 } else { 32 };
    2f64.powi(unit - i32::from(prefixlen))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn merging_joins_neighbours_and_drops_covered_prefixes() {
        assert_eq!(merge(&nets(&["10.0.1.0/24", "10.0.0.0/24"])), nets(&["10.0.0.0/23"]));
        assert_eq!(merge(&nets(&["10.11.12.0/24", "10.11.0.0/16"])), nets(&["10.11.0.0/16"]));
        assert_eq!(merge(&nets(&["10.11.15.0/24", "10.11.12.0/24"])), nets(&["10.11.12.0/24", "10.11.15.0/24"]));
        assert_eq!(merge(&nets(&["10.0.0.5/24"])), nets(&["10.0.0.0/24"]));
        assert_eq!(merge(&nets(&["2001:db8:3::/48", "2001:db8::/32"])), nets(&["2001:db8::/32"]));
    }

    #[test]
    fn the_difference_is_the_fewest_cidrs() {
        let d = difference(&nets(&["10.0.0.0/24"]), &nets(&["10.0.0.0/26"]));
        assert_eq!(d, nets(&["10.0.0.64/26", "10.0.0.128/25"]));
        assert!(difference(&nets(&["10.0.0.0/24"]), &nets(&["10.0.0.0/16"])).is_empty());
        let v6 = difference(&nets(&["2001:db8::/32"]), &nets(&["2001:db8::/64"]));
        assert_eq!(v6.len(), 32);
    }

    #[test]
    fn subsets_and_intersections() {
        assert!(is_subset(&nets(&["10.11.12.0/24"]), &nets(&["10.11.0.0/16"])));
        assert!(!is_subset(&nets(&["10.11.12.0/24"]), &nets(&["10.11.12.0/26"])));
        assert!(is_subset(&nets(&["10.0.0.0/24", "10.0.1.0/24"]), &nets(&["10.0.0.0/23"])));
        assert!(intersects(&nets(&["30.0.0.0/18"]), &nets(&["40.0.0.0/18", "30.0.0.0/12"])));
        assert!(!intersects(&nets(&["20.0.0.0/18"]), &nets(&["20.10.0.0/24"])));
    }

    #[test]
    fn any_allocation_fills_holes_first_then_splits_in_address_order() {
        let pool = nets(&["10.11.12.0/24"]);
        assert_eq!(allocate_any(&pool, &[], 29), Some("10.11.12.0/29".parse().unwrap()));
        let taken = nets(&["10.11.12.0/29", "10.11.12.16/28"]);
        // The free /29 at .8 is the smallest block that fits.
        assert_eq!(allocate_any(&pool, &taken, 29), Some("10.11.12.8/29".parse().unwrap()));
        assert_eq!(allocate_any(&pool, &taken, 28), Some("10.11.12.32/28".parse().unwrap()));
        assert_eq!(allocate_any(&pool, &[], 23), None);
        assert_eq!(allocate_any(&pool, &pool, 30), None);
    }

    #[test]
    fn a_specific_cidr_must_be_free() {
        let pool = nets(&["10.11.12.0/24"]);
        let taken = nets(&["10.11.12.0/29"]);
        assert!(is_free(&pool, &taken, &"10.11.12.8/29".parse().unwrap()));
        assert!(!is_free(&pool, &taken, &"10.11.12.0/28".parse().unwrap()));
        assert!(!is_free(&pool, &taken, &"10.11.13.0/29".parse().unwrap()));
    }

    #[test]
    fn quota_units_count_addresses_or_slash_64s() {
        assert_eq!(quota_units(30, false), 4.0);
        assert_eq!(quota_units(64, true), 1.0);
        assert_eq!(quota_units(48, true), 65536.0);
        assert_eq!(quota_units(65, true), 0.5);
    }
}
