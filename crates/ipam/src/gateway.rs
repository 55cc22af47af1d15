//! The subnet gateway: Neutron's default, the API check on a requested one, and the IPAM
//! driver's re-check.

use crate::addr::{from_u128, same_family, span, to_u128};
use crate::IpamError;
use ipnet::IpNet;
use std::net::IpAddr;

/// The gateway Neutron gives a subnet created without `gateway_ip` (`_gateway_ip_str`):
/// IPv4 takes the address after the network address, even when that lies outside a /32;
/// IPv6 takes the network address itself, the subnet-router anycast address (Neutron since
/// Ussuri). `None` only for `255.255.255.255/32`, where Neutron's arithmetic overflows.
///
/// On an IPv4 /31 the result is the last address, which [`validate_ipam_gateway`] refuses
/// exactly as Neutron refuses such a subnet.
pub fn default_gateway(net: &IpNet) -> Option<IpAddr> {
    let first = to_u128(net.network());
    match net {
        IpNet::V4(_) if first == u128::from(u32::MAX) => None,
        IpNet::V4(_) => Some(from_u128(true, first + 1)),
        IpNet::V6(_) => Some(net.network()),
    }
}

/// `_validate_subnet`'s check of a requested `gateway_ip`: it must be of the subnet's IP
/// version and, on IPv4, not the network or last address of the subnet. A gateway outside
/// the subnet is accepted (it is assumed on-link), and on IPv6 any address is.
pub fn validate_gateway(net: &IpNet, gateway: IpAddr) -> Result<(), IpamError> {
    if !same_family(gateway, net.addr()) {
        let version = if net.addr().is_ipv4() { 4 } else { 6 };
        return Err(IpamError::InvalidInput(format!(
            "gateway_ip '{gateway}' does not match the ip_version '{version}'"
        )));
    }
    if is_reserved_for_gateway(net, gateway) {
        return Err(IpamError::InvalidInput("Gateway is not valid on subnet".into()));
    }
    Ok(())
}

/// The IPAM subnet request's check (`_validate_gateway_ip_in_subnet`), run on every subnet
/// allocation including the default gateway: the same rule as [`validate_gateway`], but a
/// 409 `IpamValueInvalid`. In practice only a defaulted gateway on an IPv4 /31 reaches it.
pub fn validate_ipam_gateway(net: &IpNet, gateway: IpAddr) -> Result<(), IpamError> {
    if is_reserved_for_gateway(net, gateway) {
        return Err(IpamError::IpamValueInvalid { gateway_ip: gateway, subnet_cidr: *net });
    }
    Ok(())
}

/// `check_gateway_invalid_in_subnet`: an IPv4 gateway inside the subnet may be neither its
/// first nor its last address, whatever the prefix length.
fn is_reserved_for_gateway(net: &IpNet, gateway: IpAddr) -> bool {
    let (first, last) = span(net);
    net.addr().is_ipv4() && net.contains(&gateway) && (to_u128(gateway) == first || to_u128(gateway) == last)
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

    #[test]
    fn defaults() {
        assert_eq!(default_gateway(&net("10.0.0.0/24")), Some(ip("10.0.0.1")));
        assert_eq!(default_gateway(&net("10.0.0.0/31")), Some(ip("10.0.0.1")));
        assert_eq!(default_gateway(&net("10.0.0.5/32")), Some(ip("10.0.0.6")), "outside the /32, as in Neutron");
        assert_eq!(default_gateway(&net("255.255.255.255/32")), None);
        assert_eq!(default_gateway(&net("2001:db8::/64")), Some(ip("2001:db8::")));
        assert_eq!(default_gateway(&net("2001:db8::/128")), Some(ip("2001:db8::")));
    }

    #[test]
    fn requested_gateway() {
        let n = net("10.0.0.0/24");
        assert_eq!(validate_gateway(&n, ip("10.0.0.1")), Ok(()));
        assert_eq!(validate_gateway(&n, ip("10.0.0.254")), Ok(()));
        assert_eq!(validate_gateway(&n, ip("192.168.0.1")), Ok(()), "off-subnet gateways are on-link");
        for reserved in ["10.0.0.0", "10.0.0.255"] {
            let err = validate_gateway(&n, ip(reserved)).unwrap_err();
            assert_eq!(err.to_string(), "Invalid input for operation: Gateway is not valid on subnet.");
            assert_eq!(err.http_status(), 400);
        }
        assert!(validate_gateway(&net("10.0.0.0/31"), ip("10.0.0.1")).is_err());
        assert!(validate_gateway(&net("10.0.0.0/31"), ip("10.0.0.0")).is_err());
        assert!(validate_gateway(&net("10.0.0.5/32"), ip("10.0.0.5")).is_err());
        assert_eq!(validate_gateway(&net("10.14.0.20/31"), ip("10.14.0.19")), Ok(()));
        assert_eq!(validate_gateway(&net("2001::/64"), ip("2001::")), Ok(()));
        assert_eq!(validate_gateway(&net("2001::/112"), ip("2001::ffff")), Ok(()));
        assert_eq!(
            validate_gateway(&n, ip("fd00::1")).unwrap_err().to_string(),
            "Invalid input for operation: gateway_ip 'fd00::1' does not match the ip_version '4'."
        );
    }

    #[test]
    fn ipam_recheck_refuses_the_default_gateway_of_a_slash_31() {
        let n = net("10.0.0.0/31");
        let gw = default_gateway(&n).unwrap();
        let err = validate_ipam_gateway(&n, gw).unwrap_err();
        assert_eq!(err.to_string(), "Gateway IP 10.0.0.1 cannot be the network or broadcast IP address 10.0.0.0/31");
        assert_eq!((err.neutron_type(), err.http_status()), ("IpamValueInvalid", 409));
        for cidr in ["10.0.0.0/24", "10.0.0.0/30", "10.0.0.5/32", "fd00::/64", "fd00::/127"] {
            let n = net(cidr);
            assert_eq!(validate_ipam_gateway(&n, default_gateway(&n).unwrap()), Ok(()), "{cidr}");
        }
    }
}
