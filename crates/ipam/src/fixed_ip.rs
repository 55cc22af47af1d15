//! Whether an explicitly requested address may be a port's fixed IP (`check_subnet_ip`).

use crate::addr::{same_family, span, to_u128};
use crate::IpamError;
use ipnet::IpNet;
use std::net::IpAddr;

/// Device owners allowed to hold an IPv6 subnet's network (subnet-router anycast) address:
/// neutron-lib's `ROUTER_PORT_OWNERS`.
pub const ROUTER_PORT_OWNERS: [&str; 5] = [
    "network:router_interface",
    "network:ha_router_replicated_interface",
    "network:router_interface_distributed",
    "network:router_centralized_snat",
    "network:router_gateway",
];

/// [`validate_ip_for_port`] when the port's owner is unknown or empty, which Neutron treats
/// like a router port.
pub fn validate_ip_for_subnet(net: &IpNet, ip: IpAddr) -> Result<(), IpamError> {
    validate_ip_for_port(net, ip, "")
}

/// Neutron's `check_subnet_ip`, raising `InvalidIpForSubnet`. The address must be inside the
/// subnet; on IPv4 it may not be the network address nor, up to /30, the broadcast address
/// (so a /31 offers only its second address and a /32 none); on IPv6 the network address is
/// reserved for router ports and ports with an empty `device_owner`.
pub fn validate_ip_for_port(net: &IpNet, ip: IpAddr, device_owner: &str) -> Result<(), IpamError> {
    let (first, last) = span(net);
    let n = to_u128(ip);
    let usable = same_family(ip, net.addr())
        && net.contains(&ip)
        && match net {
            IpNet::V4(v4) => n != first && !(v4.prefix_len() <= 30 && n == last),
            IpNet::V6(_) => n != first || device_owner.is_empty() || ROUTER_PORT_OWNERS.contains(&device_owner),
        };
    if usable {
        Ok(())
    } else {
        Err(IpamError::InvalidIpForSubnet { ip_address: ip })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(cidr: &str, ip: &str, owner: &str) -> bool {
        validate_ip_for_port(&cidr.parse().unwrap(), ip.parse().unwrap(), owner).is_ok()
    }

    #[test]
    fn ipv4() {
        assert!(ok("10.0.0.0/24", "10.0.0.1", "compute:nova"));
        assert!(ok("10.0.0.0/24", "10.0.0.254", ""));
        assert!(!ok("10.0.0.0/24", "10.0.0.0", "network:router_interface"));
        assert!(!ok("10.0.0.0/24", "10.0.0.255", ""));
        assert!(!ok("10.0.0.0/24", "10.0.1.1", ""));
        assert!(!ok("10.0.0.0/24", "fd00::1", ""));
        assert!(!ok("10.0.0.0/31", "10.0.0.0", ""), "netaddr: a /31 has a network address");
        assert!(ok("10.0.0.0/31", "10.0.0.1", ""), "but no broadcast address");
        assert!(!ok("10.0.0.5/32", "10.0.0.5", ""));
    }

    #[test]
    fn ipv6_network_address_is_for_routers() {
        assert!(ok("2001::/64", "2001::", "network:router_gateway"));
        assert!(ok("2001::/64", "2001::", "network:router_interface"));
        assert!(ok("2001::/64", "2001::", ""));
        assert!(!ok("2001::/64", "2001::", "fake_owner"));
        assert!(ok("2001::/64", "2001::ffff:ffff:ffff:ffff", "compute:nova"), "IPv6 has no broadcast");
        assert!(!ok("2001::/64", "2001:0:0:1::", ""));
    }

    #[test]
    fn error_carries_the_address() {
        let err = validate_ip_for_subnet(&"10.0.0.0/24".parse().unwrap(), "10.0.0.255".parse().unwrap());
        assert_eq!(err.unwrap_err().to_string(), "IP address 10.0.0.255 is not a valid IP for the specified subnet.");
    }
}
