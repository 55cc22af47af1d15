//! The two address shapes DHCP needs: a subnet (`10.0.0.0/24`) and an interface address
//! (`10.0.0.2/24`), parsed without a dependency.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The text was not `<address>/<prefix length>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {0:?}")]
pub struct InvalidCidr(pub String);

/// A subnet: its network address (host bits cleared) and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix_len: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/24`; host bits are cleared (`10.0.0.5/24` is `10.0.0.0/24`).
    pub fn parse(text: &str) -> Result<Cidr, InvalidCidr> {
        let err = || InvalidCidr(text.to_owned());
        let (addr, len) = text.trim().split_once('/').ok_or_else(err)?;
        let addr: IpAddr = addr.parse().map_err(|_| err())?;
        let prefix_len: u8 = len.parse().map_err(|_| err())?;
        if prefix_len > max_len(addr) {
            return Err(err());
        }
        Ok(Cidr { network: mask(addr, prefix_len), prefix_len })
    }

    /// `255.255.255.0` for a /24 (IPv4; the prefix length itself for IPv6).
    pub fn netmask(&self) -> IpAddr {
        match self.network {
            IpAddr::V4(_) => {
                IpAddr::V4(Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(self.prefix_len)).unwrap_or(0)))
            }
            IpAddr::V6(_) => {
                IpAddr::V6(Ipv6Addr::from(u128::MAX.checked_shl(128 - u32::from(self.prefix_len)).unwrap_or(0)))
            }
        }
    }

    /// Number of addresses, saturating (an IPv6 /0 has more than `u128::MAX`).
    pub fn size(&self) -> u128 {
        let host_bits = u32::from(max_len(self.network) - self.prefix_len);
        1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix_len) == self.network
    }

    pub fn ip_version(&self) -> u8 {
        if self.network.is_ipv4() {
            4
        } else {
            6
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// An address on an interface with the prefix length of its subnet (`ip addr add 10.0.0.2/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub prefix_len: u8,
}

impl IfAddr {
    /// IPv6 link-local addresses are the kernel's, never configured nor removed by us.
    pub fn is_link_local(&self) -> bool {
        match self.addr {
            IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
            IpAddr::V4(_) => false,
        }
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

fn max_len(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask(addr: IpAddr, prefix_len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(prefix_len)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalizes() {
        let c = Cidr::parse("10.0.0.5/24").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/24");
        assert_eq!(c.netmask().to_string(), "255.255.255.0");
        assert_eq!(c.size(), 256);
        assert!(c.contains("10.0.0.77".parse().unwrap()));
        assert!(!c.contains("10.0.1.1".parse().unwrap()));
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().netmask().to_string(), "0.0.0.0");
        let v6 = Cidr::parse("2001:db8::1/64").unwrap();
        assert_eq!(v6.to_string(), "2001:db8::/64");
        assert_eq!(v6.size(), 1 << 64);
        assert_eq!(Cidr::parse("::/0").unwrap().size(), u128::MAX);
        for bad in ["10.0.0.0", "10.0.0.0/33", "x/24", "10.0.0.0/-1", "2001:db8::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert!(IfAddr { addr: "fe80::1".parse().unwrap(), prefix_len: 64 }.is_link_local());
        assert!(!IfAddr { addr: "2001:db8::1".parse().unwrap(), prefix_len: 64 }.is_link_local());
    }
}
