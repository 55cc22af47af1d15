//! Subnet CIDR checks, in the order Neutron's API layer and `create_subnet` apply them:
//! the `ip_version` values check, the `cidr` converter and validator, the normalisation to
//! the network address, `_validate_subnet` and `_validate_subnet_cidr`.

use crate::IpamError;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What Neutron's input stage makes of a `cidr` string.
enum CidrText {
    /// Accepted by the converter and the validator; host bits may still be set.
    Subnet(IpNet),
    /// netaddr parses it, but neutron-lib's `validate_subnet` refuses the spelling
    /// (no prefix, or an IPv4 form other than `a.b.c.d/n`).
    NotASubnet,
    /// netaddr cannot parse it; the converter raises `InvalidInput`.
    NotACidr,
}

/// Validates a subnet's `cidr` for the given `ip_version` and returns it normalised to its
/// network address, as Neutron stores it: `10.0.0.5/24` becomes `10.0.0.0/24` (neutron-lib
/// has accepted host bits since 2024; the old "isn't a recognized IP subnet cidr" message is
/// gone).
///
/// Refused: an `ip_version` other than 4 or 6, unparsable text, a bare address or an IPv4 CIDR
/// spelt other than `a.b.c.d/n`, a CIDR of the other version, an IPv6 CIDR whose network is
/// `::` (Neutron keeps it for prefix delegation) and a prefix length of 0. Enabling DHCP
/// adds [`validate_dhcp_cidr`]; Neutron runs those checks just before the prefix-length-0
/// one, so only for an IPv4 `/0` with DHCP does its message differ from ours.
pub fn validate_cidr(cidr: &str, ip_version: u8) -> Result<IpNet, IpamError> {
    if ip_version != 4 && ip_version != 6 {
        let reason = format!("{ip_version} is not in valid_values");
        return Err(IpamError::InvalidAttribute { attr: "ip_version", reason });
    }
    let net = match classify(cidr) {
        CidrText::Subnet(net) => net.trunc(),
        CidrText::NotASubnet => {
            let reason = format!("'{cidr}' is not a valid IP subnet");
            return Err(IpamError::InvalidAttribute { attr: "cidr", reason });
        }
        CidrText::NotACidr => return Err(IpamError::InvalidInput(format!("{cidr} is not in a CIDR format"))),
    };
    let version = if net.addr().is_ipv4() { 4 } else { 6 };
    if version != ip_version {
        return Err(IpamError::InvalidInput(format!("cidr '{net}' does not match the ip_version '{ip_version}'")));
    }
    if net.network() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        return Err(IpamError::InvalidInput("IPv6 subnet '::' is not supported".into()));
    }
    if net.prefix_len() == 0 {
        return Err(IpamError::InvalidInput("0 is not allowed as CIDR prefix length".into()));
    }
    Ok(net)
}

/// The extra rules `_validate_subnet` applies when DHCP is being enabled on a subnet: room for
/// a DHCP port (IPv4 at most /30, IPv6 at most /126), no multicast or loopback range, and no
/// IPv4 subnet starting at `0.0.0.0`.
pub fn validate_dhcp_cidr(net: &IpNet) -> Result<(), IpamError> {
    let refuse = |message: &str| Err(IpamError::InvalidInput(message.into()));
    let too_long = match net {
        IpNet::V4(n) => n.prefix_len() > 30,
        IpNet::V6(n) => n.prefix_len() > 126,
    };
    if too_long {
        return refuse("Subnet has a prefix length that is incompatible with DHCP service enabled");
    }
    if within(net, "224.0.0.0/4") || within(net, "ff00::/8") {
        return refuse("Multicast IP subnet is not supported if enable_dhcp is True");
    }
    // netaddr's IPv6 loopback test matches only ::1/128, which the prefix rule already refused.
    if within(net, "127.0.0.0/8") {
        return refuse("Loopback IP subnet is not supported if enable_dhcp is True");
    }
    if net.network() == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
        return refuse("First IP '0.0.0.0' of network is not supported if enable_dhcp is True.");
    }
    Ok(())
}

/// netaddr's `net in range`: the whole of `net` lies inside `range`.
fn within(net: &IpNet, range: &str) -> bool {
    range.parse::<IpNet>().is_ok_and(|range| range.contains(net))
}

/// Mirrors netaddr's parse (the converter) followed by neutron-lib's `validate_subnet`.
fn classify(text: &str) -> CidrText {
    let Some((addr, prefix)) = text.split_once('/') else {
        return match text.parse::<IpAddr>() {
            Ok(_) => CidrText::NotASubnet,
            Err(_) => CidrText::NotACidr,
        };
    };
    if let Ok(addr) = addr.parse::<Ipv4Addr>() {
        return classify_v4(text, addr, prefix);
    }
    if let Ok(addr) = addr.parse::<Ipv6Addr>() {
        return match decimal_prefix(prefix).and_then(|len| Ipv6Net::new(addr, len).ok()) {
            Some(net) => CidrText::Subnet(IpNet::V6(net)),
            None => CidrText::NotACidr,
        };
    }
    CidrText::NotACidr
}

/// IPv4 must read back exactly as written; netaddr also takes a netmask or hostmask, or a
/// prefix with leading zeros, which the validator then refuses.
fn classify_v4(text: &str, addr: Ipv4Addr, prefix: &str) -> CidrText {
    let len = decimal_prefix(prefix).or_else(|| prefix.parse::<Ipv4Addr>().ok().and_then(mask_prefix_len));
    match len.and_then(|len| Ipv4Net::new(addr, len).ok()) {
        Some(net) if net.to_string() == text => CidrText::Subnet(IpNet::V4(net)),
        Some(_) => CidrText::NotASubnet,
        None => CidrText::NotACidr,
    }
}

fn decimal_prefix(text: &str) -> Option<u8> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The prefix length a contiguous netmask (`255.255.255.0`) or hostmask (`0.0.0.255`) means.
fn mask_prefix_len(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let netmask = if bits.leading_ones() + bits.trailing_zeros() == 32 { Some(bits) } else { None };
    let hostmask = if bits.leading_zeros() + bits.trailing_ones() == 32 { Some(!bits) } else { None };
    netmask.or(hostmask).map(|m| m.leading_ones() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(cidr: &str, version: u8) -> String {
        validate_cidr(cidr, version).unwrap_err().to_string()
    }

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(validate_cidr("10.0.2.0/24", 4).unwrap().to_string(), "10.0.2.0/24");
        assert_eq!(validate_cidr("192.168.1.77/24", 4).unwrap().to_string(), "192.168.1.0/24");
        assert_eq!(validate_cidr("fe80::/24", 6).unwrap().to_string(), "fe80::/24");
        assert_eq!(validate_cidr("fe80:0:0:0:0:0:0:0/128", 6).unwrap().to_string(), "fe80::/128");
        assert_eq!(validate_cidr("2001::0:1:0:0:1100/120", 6).unwrap().to_string(), "2001::1:0:0:1100/120");
        assert_eq!(validate_cidr("2001:db8::1/64", 6).unwrap().to_string(), "2001:db8::/64");
        assert_eq!(validate_cidr("10.0.0.5/32", 4).unwrap().to_string(), "10.0.0.5/32");
    }

    #[test]
    fn refuses_spellings_like_neutron_lib() {
        assert_eq!(message("10.0.2.0", 4), "Invalid input for cidr. Reason: '10.0.2.0' is not a valid IP subnet.");
        assert_eq!(message("fe80::", 6), "Invalid input for cidr. Reason: 'fe80::' is not a valid IP subnet.");
        assert_eq!(
            message("10.0.0.0/255.255.255.0", 4),
            "Invalid input for cidr. Reason: '10.0.0.0/255.255.255.0' is not a valid IP subnet."
        );
        assert_eq!(
            message("10.0.0.0/024", 4),
            "Invalid input for cidr. Reason: '10.0.0.0/024' is not a valid IP subnet."
        );
        assert_eq!(message("10/24", 4), "Invalid input for operation: 10/24 is not in a CIDR format.");
        assert_eq!(message("invalid", 4), "Invalid input for operation: invalid is not in a CIDR format.");
        assert_eq!(message("10.0.0.0/33", 4), "Invalid input for operation: 10.0.0.0/33 is not in a CIDR format.");
        assert_eq!(message("010.0.0.0/24", 4), "Invalid input for operation: 010.0.0.0/24 is not in a CIDR format.");
        assert_eq!(message("10.0.2.0/24\r", 4), "Invalid input for operation: 10.0.2.0/24\r is not in a CIDR format.");
        assert_eq!(validate_cidr("10.0.0.0/1.2.3.4", 4).unwrap_err().neutron_type(), "InvalidInput");
        let err = validate_cidr("10.0.2.0", 4).unwrap_err();
        assert_eq!((err.neutron_type(), err.http_status()), ("HTTPBadRequest", 400));
    }

    #[test]
    fn refuses_version_mismatch_unspecified_and_zero_prefix() {
        assert_eq!(
            message("10.0.0.9/24", 6),
            "Invalid input for operation: cidr '10.0.0.0/24' does not match the ip_version '6'."
        );
        assert_eq!(
            message("fd00::/64", 4),
            "Invalid input for operation: cidr 'fd00::/64' does not match the ip_version '4'."
        );
        assert_eq!(message("10.0.0.0/24", 5), "Invalid input for ip_version. Reason: 5 is not in valid_values.");
        assert_eq!(message("::/64", 6), "Invalid input for operation: IPv6 subnet '::' is not supported.");
        assert_eq!(message("::5/64", 6), "Invalid input for operation: IPv6 subnet '::' is not supported.");
        assert_eq!(message("::/0", 6), "Invalid input for operation: IPv6 subnet '::' is not supported.");
        assert_eq!(message("0.0.0.0/0", 4), "Invalid input for operation: 0 is not allowed as CIDR prefix length.");
        assert_eq!(message("8000::/0", 6), "Invalid input for operation: IPv6 subnet '::' is not supported.");
        assert!(validate_cidr("0.0.0.0/8", 4).is_ok(), "only DHCP forbids a subnet starting at 0.0.0.0");
    }

    #[test]
    fn dhcp_rules() {
        let check = |cidr: &str| validate_dhcp_cidr(&cidr.parse().unwrap()).map_err(|e| e.to_string());
        assert_eq!(check("10.0.0.0/30"), Ok(()));
        assert_eq!(check("fd00::/126"), Ok(()));
        let prefix = "Invalid input for operation: Subnet has a prefix length that is incompatible with DHCP \
                      service enabled.";
        assert_eq!(check("10.0.0.0/31").unwrap_err(), prefix);
        assert_eq!(check("fd00::/127").unwrap_err(), prefix);
        assert_eq!(
            check("224.1.0.0/16").unwrap_err(),
            "Invalid input for operation: Multicast IP subnet is not supported if enable_dhcp is True."
        );
        assert_eq!(
            check("ff02::/64").unwrap_err(),
            "Invalid input for operation: Multicast IP subnet is not supported if enable_dhcp is True."
        );
        assert_eq!(check("192.0.0.0/3"), Ok(()), "netaddr: a network larger than 224/4 is not multicast");
        assert_eq!(
            check("127.0.0.0/24").unwrap_err(),
            "Invalid input for operation: Loopback IP subnet is not supported if enable_dhcp is True."
        );
        assert_eq!(
            check("0.0.0.0/8").unwrap_err(),
            "Invalid input for operation: First IP '0.0.0.0' of network is not supported if enable_dhcp is True.."
        );
    }

    #[test]
    fn masks() {
        assert_eq!(mask_prefix_len("255.255.255.0".parse().unwrap()), Some(24));
        assert_eq!(mask_prefix_len("0.0.0.255".parse().unwrap()), Some(24));
        assert_eq!(mask_prefix_len("0.0.0.0".parse().unwrap()), Some(0));
        assert_eq!(mask_prefix_len("255.0.255.0".parse().unwrap()), None);
    }
}
