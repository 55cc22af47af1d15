//! Property tests of the allocator and the pool rules over random small subnets (small so
//! that a brute-force reference can enumerate every address).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use ipnet::IpNet;
use neutrino_ipam::{
    default_allocation_pools, default_gateway, first_free, free_count, validate_allocation_pools, validate_cidr,
    validate_gateway, AllocationPool, MacAddress,
};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Where the gateway of a generated subnet sits.
#[derive(Debug, Clone, Copy)]
enum Gateway {
    None,
    /// Neutron's default for the subnet.
    Default,
    /// The address at this offset from the network address (modulo the subnet size).
    Inside(u128),
    /// An address just past the subnet.
    Outside,
}

fn gateway_strategy() -> impl Strategy<Value = Gateway> {
    prop_oneof![
        Just(Gateway::None),
        Just(Gateway::Default),
        any::<u16>().prop_map(|o| Gateway::Inside(u128::from(o))),
        Just(Gateway::Outside),
    ]
}

/// Subnets of 2 to 1024 addresses, both families, at a random place in the address space.
fn subnet_strategy() -> impl Strategy<Value = IpNet> {
    let v4 = (any::<u32>(), 22u8..=31).prop_map(|(a, len)| IpNet::new(IpAddr::V4(Ipv4Addr::from(a)), len).unwrap());
    let v6 = (any::<u128>(), 118u8..=127).prop_map(|(a, len)| IpNet::new(IpAddr::V6(Ipv6Addr::from(a)), len).unwrap());
    prop_oneof![v4, v6].prop_map(|n| n.trunc())
}

fn num(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn addr_of(net: &IpNet, n: u128) -> IpAddr {
    match net {
        IpNet::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpNet::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

fn addresses(net: &IpNet) -> impl Iterator<Item = IpAddr> + '_ {
    (num(net.network())..=num(net.broadcast())).map(|n| addr_of(net, n))
}

fn place(net: &IpNet, gateway: Gateway) -> Option<IpAddr> {
    let (first, last) = (num(net.network()), num(net.broadcast()));
    match gateway {
        Gateway::None => None,
        Gateway::Default => default_gateway(net),
        Gateway::Inside(offset) => Some(addr_of(net, first + offset % (last - first + 1))),
        Gateway::Outside => Some(addr_of(net, last.wrapping_add(1))).filter(|gw| !net.contains(gw)),
    }
}

/// Whether Neutron's default pools must hold `ip`: every address but the network address,
/// the IPv4 broadcast (up to /30) and the gateway.
fn is_pool_address(net: &IpNet, ip: IpAddr, gateway: Option<IpAddr>) -> bool {
    let reserved = match net {
        IpNet::V4(n) if n.prefix_len() <= 30 => ip == net.network() || ip == net.broadcast(),
        IpNet::V4(_) => false,
        IpNet::V6(_) => ip == net.network(),
    };
    !reserved && Some(ip) != gateway
}

/// Non-overlapping pools carved out of a 200-address IPv4 window, in random order.
fn pools_strategy() -> impl Strategy<Value = Vec<AllocationPool>> {
    proptest::collection::btree_set(0u32..200, 0..12)
        .prop_map(|cuts| {
            let base = u32::from(Ipv4Addr::new(10, 9, 0, 0));
            let ip = |n: u32| IpAddr::V4(Ipv4Addr::from(base + n));
            let sorted: Vec<u32> = cuts.into_iter().collect();
            sorted.chunks_exact(2).map(|pair| AllocationPool::new(ip(pair[0]), ip(pair[1]))).collect::<Vec<_>>()
        })
        .prop_shuffle()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Allocating until exhaustion hands out each pool address once, lowest first, never one
    /// outside the pools nor the gateway, and stops exactly when `free_count` reaches 0.
    #[test]
    fn allocation_until_exhaustion_is_exact(
        net in subnet_strategy(),
        gateway in gateway_strategy(),
        taken in proptest::collection::vec(any::<u16>(), 0..24),
    ) {
        let gw = place(&net, gateway);
        let pools = default_allocation_pools(&net, gw);
        let size = num(net.broadcast()) - num(net.network()) + 1;
        let mut used: BTreeSet<IpAddr> =
            taken.iter().map(|o| addr_of(&net, num(net.network()) + u128::from(*o) % size)).collect();
        // An address of the other family must not disturb anything.
        used.insert(if net.addr().is_ipv4() { "fd00::1".parse().unwrap() } else { "192.0.2.1".parse().unwrap() });
        // Brute force: every pool address not taken yet, in ascending order.
        let mut expected =
            addresses(&net).filter(|a| pools.iter().any(|p| p.contains(*a)) && !used.contains(a)).collect::<Vec<_>>()
                .into_iter();
        let gw_in_pools = gw.is_some_and(|g| pools.iter().any(|p| p.contains(g)));
        let mut handed_out = BTreeSet::new();
        loop {
            let free = free_count(&pools, &used);
            let got = first_free(&pools, &used);
            prop_assert_eq!(got, expected.next());
            let Some(a) = got else {
                prop_assert_eq!(free, 0);
                break;
            };
            prop_assert!(free > 0);
            prop_assert!(pools.iter().any(|p| p.contains(a)));
            if !gw_in_pools {
                prop_assert_ne!(Some(a), gw);
            }
            prop_assert!(handed_out.insert(a), "{} handed out twice", a);
            prop_assert!(used.insert(a));
            prop_assert_eq!(free_count(&pools, &used), free - 1);
        }
    }

    /// The allocator agrees with a brute-force scan on arbitrary (non-overlapping, unsorted)
    /// pools.
    #[test]
    fn allocator_matches_brute_force(
        pools in pools_strategy(),
        taken in proptest::collection::btree_set(0u32..210, 0..150),
    ) {
        let base = u32::from(Ipv4Addr::new(10, 9, 0, 0));
        let used: BTreeSet<IpAddr> = taken.iter().map(|n| IpAddr::V4(Ipv4Addr::from(base + n))).collect();
        let in_pools = |n: u32| pools.iter().any(|p| p.contains(IpAddr::V4(Ipv4Addr::from(base + n))));
        let free: Vec<u32> = (0..210).filter(|n| in_pools(*n) && !taken.contains(n)).collect();
        let expected = free.first().map(|n| IpAddr::V4(Ipv4Addr::from(base + n)));
        prop_assert_eq!(first_free(&pools, &used), expected);
        prop_assert_eq!(free_count(&pools, &used), free.len() as u128);
    }

    /// Default pools hold exactly the addresses that are neither the network address, the
    /// IPv4 broadcast nor the gateway, as sorted, disjoint, well-formed ranges.
    #[test]
    fn default_pools_cover_exactly_the_hosts(net in subnet_strategy(), gateway in gateway_strategy()) {
        let gw = place(&net, gateway);
        let pools = default_allocation_pools(&net, gw);
        for ip in addresses(&net) {
            let inside = pools.iter().filter(|p| p.contains(ip)).count();
            prop_assert_eq!(inside, usize::from(is_pool_address(&net, ip, gw)), "{} in {}", ip, net);
        }
        prop_assert!(pools.iter().all(AllocationPool::is_well_formed));
        prop_assert!(pools.windows(2).all(|w| num(w[0].end) + 1 < num(w[1].start)));
    }

    /// Neutron accepts its own default pools back, whenever it accepts the gateway.
    #[test]
    fn default_pools_validate(net in subnet_strategy(), gateway in gateway_strategy()) {
        let gw = place(&net, gateway).filter(|g| validate_gateway(&net, *g).is_ok());
        let pools = default_allocation_pools(&net, gw);
        prop_assert_eq!(validate_allocation_pools(&net, &pools, gw), Ok(()));
    }

    /// Any IPv4 or IPv6 CIDR written canonically validates to its network.
    #[test]
    fn cidr_round_trip(a in any::<u32>(), b in any::<u128>(), len4 in 1u8..=32, len6 in 1u8..=128) {
        let v4 = IpNet::new(IpAddr::V4(Ipv4Addr::from(a)), len4).unwrap();
        prop_assert_eq!(validate_cidr(&v4.to_string(), 4), Ok(v4.trunc()));
        let v6 = IpNet::new(IpAddr::V6(Ipv6Addr::from(b)), len6).unwrap();
        if v6.network() != IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
            prop_assert_eq!(validate_cidr(&v6.to_string(), 6), Ok(v6.trunc()));
        }
    }

    /// Every MAC reads back from its colon, dash and bare forms.
    #[test]
    fn mac_round_trip(octets in any::<[u8; 6]>()) {
        let mac = MacAddress::new(octets);
        let text = mac.to_string();
        prop_assert_eq!(text.parse::<MacAddress>(), Ok(mac));
        prop_assert_eq!(text.to_uppercase().replace(':', "-").parse::<MacAddress>(), Ok(mac));
        prop_assert_eq!(text.replace(':', "").parse::<MacAddress>(), Ok(mac));
    }
}

#[test]
fn a_slash_29_gives_exactly_five_addresses_with_a_gateway() {
    let net: IpNet = "10.0.0.8/29".parse().unwrap();
    let pools = default_allocation_pools(&net, default_gateway(&net));
    let mut used = BTreeSet::new();
    while let Some(a) = first_free(&pools, &used) {
        used.insert(a);
    }
    assert_eq!(used.len(), 5);
    assert_eq!(free_count(&pools, &used), 0);
}
