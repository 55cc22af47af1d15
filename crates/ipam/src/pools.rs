//! Subnet address math over `u128` so IPv4 and IPv6 share one implementation.

use crate::IpamError;
use ipnet::{IpNet, Ipv6Net};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An inclusive range of addresses handed out on a subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationPool {
    pub start: IpAddr,
    pub end: IpAddr,
}

impl AllocationPool {
    /// Whether `ip` is inside the pool.
    pub fn contains(&self, ip: IpAddr) -> bool {
        same_family(self.start, ip) && num(self.start) <= num(ip) && num(ip) <= num(self.end)
    }

    /// Number of addresses in the pool.
    pub fn size(&self) -> u128 {
        num(self.end).saturating_sub(num(self.start)).saturating_add(1)
    }
}

impl std::fmt::Display for AllocationPool {
    /// netaddr's `IPRange` form, used in Neutron's messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

fn num(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

fn addr(v4: bool, n: u128) -> IpAddr {
    if v4 {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

/// First and last address of the network.
fn bounds(net: &IpNet) -> (u128, u128) {
    (num(net.network()), num(net.broadcast()))
}

/// The range addresses may be handed out from: Neutron excludes the network address (and the
/// IPv4 broadcast) except on IPv4 /31 and /32.
fn usable(net: &IpNet) -> (u128, u128) {
    let (first, last) = bounds(net);
    match net {
        IpNet::V4(n) if n.prefix_len() <= 30 => (first + 1, last - 1),
        IpNet::V4(_) => (first, last),
        IpNet::V6(_) if first == last => (first, last),
        IpNet::V6(_) => (first + 1, last),
    }
}

/// Parses a CIDR of the given IP version; host bits must be clear, as Neutron requires.
pub fn validate_cidr(cidr: &str, ip_version: u8) -> Result<IpNet, IpamError> {
    let net: IpNet = cidr.parse().map_err(|_| {
        IpamError::InvalidInput(format!("Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet"))
    })?;
    let version = if net.addr().is_ipv4() { 4 } else { 6 };
    if version != ip_version {
        return Err(IpamError::InvalidInput(format!(
            "Invalid input for cidr. Reason: '{cidr}' is not a valid IPv{ip_version} subnet"
        )));
    }
    if net.addr() != net.network() {
        return Err(IpamError::InvalidInput(format!(
            "'{cidr}' isn't a recognized IP subnet cidr, '{}/{}' is recommended",
            net.network(),
            net.prefix_len()
        )));
    }
    if net.prefix_len() == 0 {
        return Err(IpamError::InvalidInput("0 is not allowed as CIDR prefix length".into()));
    }
    Ok(net)
}

/// Neutron's default gateway: the first address after the network address.
pub fn default_gateway(net: &IpNet) -> Option<IpAddr> {
    let (first, last) = bounds(net);
    (first < last).then(|| addr(net.addr().is_ipv4(), first + 1))
}

/// Neutron's `generate_pools`: the usable range with the gateway cut out.
pub fn default_allocation_pools(net: &IpNet, gateway: Option<IpAddr>) -> Vec<AllocationPool> {
    let v4 = net.addr().is_ipv4();
    let (first, last) = bounds(net);
    if first == last {
        return vec![AllocationPool { start: addr(v4, first), end: addr(v4, last) }];
    }
    let (lo, hi) = usable(net);
    let mut out = Vec::new();
    match gateway.filter(|g| same_family(*g, net.addr())).map(num) {
        Some(g) if g >= lo && g <= hi => {
            if g > lo {
                out.push(AllocationPool { start: addr(v4, lo), end: addr(v4, g - 1) });
            }
            if g < hi {
                out.push(AllocationPool { start: addr(v4, g + 1), end: addr(v4, hi) });
            }
        }
        _ => out.push(AllocationPool { start: addr(v4, lo), end: addr(v4, hi) }),
    }
    out
}

/// Neutron's `validate_allocation_pools`, plus the gateway-in-pool conflict.
pub fn validate_allocation_pools(
    net: &IpNet,
    pools: &[AllocationPool],
    gateway: Option<IpAddr>,
) -> Result<(), IpamError> {
    let (lo, hi) = usable(net);
    for p in pools {
        if !same_family(p.start, net.addr()) || !same_family(p.end, net.addr()) || num(p.start) > num(p.end) {
            return Err(IpamError::InvalidAllocationPool { pool: p.to_string() });
        }
        if num(p.start) < lo || num(p.end) > hi {
            return Err(IpamError::OutOfBoundsAllocationPool { pool: p.to_string(), cidr: net.to_string() });
        }
    }
    for (i, a) in pools.iter().enumerate() {
        for b in &pools[i + 1..] {
            if num(a.start) <= num(b.end) && num(b.start) <= num(a.end) {
                return Err(IpamError::OverlappingAllocationPools {
                    pool_1: a.to_string(),
                    pool_2: b.to_string(),
                    cidr: net.to_string(),
                });
            }
        }
    }
    if let Some(gw) = gateway {
        if let Some(p) = pools.iter().find(|p| p.contains(gw)) {
            return Err(IpamError::GatewayConflictWithAllocationPools { ip: gw, pool: p.to_string() });
        }
    }
    Ok(())
}

/// A gateway may lie outside the subnet (Neutron allows it), but never be the network
/// address or the IPv4 broadcast address of it.
pub fn validate_gateway(net: &IpNet, gateway: IpAddr) -> Result<(), IpamError> {
    if !same_family(gateway, net.addr()) {
        return Err(IpamError::InvalidInput("Gateway IP version inconsistent with allocation pool version".into()));
    }
    if net.contains(&gateway) {
        let (first, last) = bounds(net);
        let g = num(gateway);
        let reserved = match net {
            IpNet::V4(n) if n.prefix_len() <= 30 => g == first || g == last,
            IpNet::V4(_) => false,
            IpNet::V6(_) => g == first && first != last,
        };
        if reserved {
            return Err(IpamError::InvalidInput("Gateway is not valid on subnet".into()));
        }
    }
    Ok(())
}

/// Whether `ip` can be a port's fixed IP on the subnet.
pub fn validate_ip_for_subnet(net: &IpNet, ip: IpAddr) -> Result<(), IpamError> {
    let (lo, hi) = usable(net);
    if !same_family(ip, net.addr()) || num(ip) < lo || num(ip) > hi {
        return Err(IpamError::InvalidIpForSubnet { ip });
    }
    Ok(())
}

/// The lowest address inside the pools not yet allocated, in O(pools + allocated).
pub fn first_free(pools: &[AllocationPool], allocated: &BTreeSet<IpAddr>) -> Option<IpAddr> {
    let mut sorted: Vec<&AllocationPool> = pools.iter().collect();
    sorted.sort_by_key(|p| num(p.start));
    for p in sorted {
        let v4 = p.start.is_ipv4();
        let mut candidate = num(p.start);
        let end = num(p.end);
        for used in allocated.range(p.start..=p.end) {
            let u = num(*used);
            if u > candidate {
                break;
            }
            if u == candidate {
                if candidate == end {
                    break;
                }
                candidate += 1;
            }
        }
        if !allocated.contains(&addr(v4, candidate)) && candidate <= end {
            return Some(addr(v4, candidate));
        }
    }
    None
}

/// Addresses in the pools that are not allocated.
pub fn free_count(pools: &[AllocationPool], allocated: &BTreeSet<IpAddr>) -> u128 {
    pools
        .iter()
        .map(|p| {
            let used = allocated.range(p.start..=p.end).count() as u128;
            p.size().saturating_sub(used)
        })
        .sum()
}

/// The SLAAC address of a MAC on a /64 (modified EUI-64, RFC 4291 appendix A).
pub fn eui64_address(prefix: &Ipv6Net, mac: [u8; 6]) -> Option<Ipv6Addr> {
    if prefix.prefix_len() != 64 {
        return None;
    }
    let net = u128::from(prefix.network());
    let iid = [mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]];
    let iid = u64::from_be_bytes(iid);
    Some(Ipv6Addr::from(net | u128::from(iid)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn pool(a: &str, b: &str) -> AllocationPool {
        AllocationPool { start: ip(a), end: ip(b) }
    }

    #[test]
    fn default_pools_follow_neutron() {
        let n = net("10.0.0.0/24");
        assert_eq!(default_gateway(&n), Some(ip("10.0.0.1")));
        assert_eq!(default_allocation_pools(&n, Some(ip("10.0.0.1"))), vec![pool("10.0.0.2", "10.0.0.254")]);
        assert_eq!(
            default_allocation_pools(&n, Some(ip("10.0.0.100"))),
            vec![pool("10.0.0.1", "10.0.0.99"), pool("10.0.0.101", "10.0.0.254")]
        );
        assert_eq!(default_allocation_pools(&n, None), vec![pool("10.0.0.1", "10.0.0.254")]);
        assert_eq!(default_allocation_pools(&net("10.0.0.0/31"), None), vec![pool("10.0.0.0", "10.0.0.1")]);
        assert_eq!(default_allocation_pools(&net("10.0.0.5/32"), None), vec![pool("10.0.0.5", "10.0.0.5")]);
        let v6 = net("fd00::/64");
        assert_eq!(default_gateway(&v6), Some(ip("fd00::1")));
        assert_eq!(
            default_allocation_pools(&v6, Some(ip("fd00::1"))),
            vec![pool("fd00::2", "fd00::ffff:ffff:ffff:ffff")]
        );
    }

    #[test]
    fn cidr_validation() {
        assert!(validate_cidr("10.0.0.0/24", 4).is_ok());
        assert_eq!(
            validate_cidr("10.0.0.1/24", 4).unwrap_err().to_string(),
            "Invalid input for operation: '10.0.0.1/24' isn't a recognized IP subnet cidr, '10.0.0.0/24' is recommended."
        );
        assert!(validate_cidr("10.0.0.0/24", 6).is_err());
        assert!(validate_cidr("0.0.0.0/0", 4).is_err());
    }

    #[test]
    fn pool_validation_errors() {
        let n = net("10.0.0.0/24");
        let gw = Some(ip("10.0.0.1"));
        assert_eq!(
            validate_allocation_pools(&n, &[pool("10.0.0.9", "10.0.0.2")], gw).unwrap_err().neutron_type(),
            "InvalidAllocationPool"
        );
        assert_eq!(
            validate_allocation_pools(&n, &[pool("10.0.0.2", "10.0.0.255")], gw).unwrap_err().neutron_type(),
            "OutOfBoundsAllocationPool"
        );
        let e = validate_allocation_pools(&n, &[pool("10.0.0.2", "10.0.0.9"), pool("10.0.0.9", "10.0.0.20")], gw)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Found overlapping allocation pools: 10.0.0.2-10.0.0.9 10.0.0.9-10.0.0.20 for subnet 10.0.0.0/24."
        );
        assert_eq!(e.http_status(), 409);
        assert_eq!(
            validate_allocation_pools(&n, &[pool("10.0.0.1", "10.0.0.9")], gw).unwrap_err().neutron_type(),
            "GatewayConflictWithAllocationPools"
        );
        assert_eq!(
            validate_allocation_pools(&n, &[pool("fd00::1", "fd00::9")], gw).unwrap_err().neutron_type(),
            "InvalidAllocationPool"
        );
    }

    #[test]
    fn gateway_and_fixed_ip_rules() {
        let n = net("10.0.0.0/24");
        assert!(validate_gateway(&n, ip("10.0.0.0")).is_err());
        assert!(validate_gateway(&n, ip("10.0.0.255")).is_err());
        assert!(validate_gateway(&n, ip("192.168.0.1")).is_ok());
        assert!(validate_ip_for_subnet(&n, ip("10.0.0.0")).is_err());
        assert!(validate_ip_for_subnet(&n, ip("10.0.0.254")).is_ok());
        assert!(validate_ip_for_subnet(&n, ip("10.0.1.1")).is_err());
    }

    #[test]
    fn eui64_matches_neutron() {
        let p: Ipv6Net = "2001:db8::/64".parse().unwrap();
        assert_eq!(
            eui64_address(&p, [0xfa, 0x16, 0x3e, 0x00, 0x00, 0x01]),
            Some("2001:db8::f816:3eff:fe00:1".parse().unwrap())
        );
        assert_eq!(eui64_address(&"2001:db8::/80".parse().unwrap(), [0; 6]), None);
    }

    #[test]
    fn allocator_skips_used_and_exhausts() {
        let pools = vec![pool("10.0.0.10", "10.0.0.12"), pool("10.0.0.2", "10.0.0.3")];
        let mut used = BTreeSet::new();
        let mut got = Vec::new();
        while let Some(a) = first_free(&pools, &used) {
            used.insert(a);
            got.push(a.to_string());
        }
        assert_eq!(got, ["10.0.0.2", "10.0.0.3", "10.0.0.10", "10.0.0.11", "10.0.0.12"]);
        let big = vec![pool("fd00::2", "fd00::ffff:ffff:ffff:ffff")];
        assert_eq!(first_free(&big, &BTreeSet::new()), Some(ip("fd00::2")));
        assert_eq!(free_count(&big, &BTreeSet::from([ip("fd00::2")])), big[0].size() - 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Allocating until exhaustion hands out every pool address exactly once, never the
        /// gateway, never anything outside the pools, and stops exactly at free_count == 0.
        #[test]
        fn allocation_is_exact_and_unique(prefix in 24u8..=30, gw_offset in 1u32..6, pre in proptest::collection::vec(0u32..64, 0..20)) {
            let n: IpNet = format!("10.1.0.0/{prefix}").parse().unwrap();
            let gw = addr(true, num(n.network()) + u128::from(gw_offset) % (bounds(&n).1 - bounds(&n).0));
            let pools = default_allocation_pools(&n, Some(gw));
            prop_assert!(validate_allocation_pools(&n, &pools, Some(gw)).is_ok() || pools.iter().any(|p| p.contains(gw)));
            let mut used: BTreeSet<IpAddr> = pre.iter().map(|o| addr(true, num(n.network()) + u128::from(*o))).filter(|a| pools.iter().any(|p| p.contains(*a))).collect();
            let mut seen = BTreeSet::new();
            loop {
                let free = free_count(&pools, &used);
                match first_free(&pools, &used) {
                    Some(a) => {
                        prop_assert!(free > 0);
                        prop_assert!(pools.iter().any(|p| p.contains(a)));
                        prop_assert_ne!(a, gw);
                        prop_assert!(seen.insert(a));
                        prop_assert!(used.insert(a));
                    }
                    None => {
                        prop_assert_eq!(free, 0);
                        break;
                    }
                }
            }
        }

        /// Default pools never contain the network, broadcast or gateway address and cover
        /// every other host address.
        #[test]
        fn default_pools_cover_hosts(prefix in 22u8..=30, gw_offset in 1u32..200) {
            let n: IpNet = format!("172.16.0.0/{prefix}").parse().unwrap();
            let (first, last) = bounds(&n);
            let gw = addr(true, first + u128::from(gw_offset) % (last - first));
            let pools = default_allocation_pools(&n, Some(gw));
            for x in first..=last {
                let a = addr(true, x);
                let inside = pools.iter().any(|p| p.contains(a));
                prop_assert_eq!(inside, x != first && x != last && a != gw);
            }
        }
    }
}
