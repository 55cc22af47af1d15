//! Stateless (SLAAC) IPv6 addresses.

use ipnet::Ipv6Net;
use std::net::Ipv6Addr;

/// The address a host with `mac` configures on `prefix` by SLAAC: the modified EUI-64
/// interface identifier (RFC 4291 appendix A: `ff:fe` inserted in the middle, the
/// universal/local bit flipped) on the /64 network, as oslo's `get_ipv6_addr_by_EUI64` that
/// Neutron uses. `None` for other prefix lengths, which Neutron refuses for SLAAC subnets.
pub fn eui64_address(prefix: &Ipv6Net, mac: [u8; 6]) -> Option<Ipv6Addr> {
    if prefix.prefix_len() != 64 {
        return None;
    }
    let interface_id = u64::from_be_bytes([mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]]);
    Some(Ipv6Addr::from(u128::from(prefix.network()) | u128::from(interface_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(s: &str) -> Ipv6Net {
        s.parse().unwrap()
    }

    #[test]
    fn matches_neutron_examples() {
        // Neutron's unit tests: prefix 2001:db8::/64 with 00:16:3e:33:44:55.
        assert_eq!(
            eui64_address(&prefix("2001:db8::/64"), [0x00, 0x16, 0x3e, 0x33, 0x44, 0x55]),
            Some("2001:db8::216:3eff:fe33:4455".parse().unwrap())
        );
        assert_eq!(
            eui64_address(&prefix("fd00:0:0:1::/64"), [0xfa, 0x16, 0x3e, 0x00, 0x00, 0x01]),
            Some("fd00::1:f816:3eff:fe00:1".parse().unwrap())
        );
        assert_eq!(
            eui64_address(&prefix("2001:db8:1:2::5/64"), [0x02, 0, 0, 0, 0, 0]),
            Some("2001:db8:1:2::ff:fe00:0".parse().unwrap()),
            "host bits of the prefix are ignored"
        );
    }

    #[test]
    fn only_slash_64() {
        assert_eq!(eui64_address(&prefix("2001:db8::/80"), [0; 6]), None);
        assert_eq!(eui64_address(&prefix("2001:db8::/48"), [0; 6]), None);
    }
}
