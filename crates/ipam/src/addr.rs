//! Addresses as `u128` so IPv4 and IPv6 share one implementation of the range arithmetic.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address as an integer; IPv4 occupies the low 32 bits.
pub(crate) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address `n` of the given family; for IPv4 only the low 32 bits are used.
pub(crate) fn from_u128(ipv4: bool, n: u128) -> IpAddr {
    if ipv4 {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(n))
    }
}

pub(crate) fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

/// First and last address of the network (netaddr's `net.first` and `net.last`).
pub(crate) fn span(net: &IpNet) -> (u128, u128) {
    (to_u128(net.network()), to_u128(net.broadcast()))
}
