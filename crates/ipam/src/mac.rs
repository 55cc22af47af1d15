//! MAC addresses: parsing as netaddr does, neutron-lib's validators, and Neutron's
//! `base_mac` generation with the randomness supplied by the caller.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A 48-bit MAC address, shown lower-case and colon-separated (`fa:16:3e:12:34:56`), the
/// form neutron-lib's `convert_to_sanitized_mac_address` returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddress([u8; 6]);

/// Why a MAC address is refused; the texts are neutron-lib validator reasons, which the API
/// layer wraps as `Invalid input for <attribute>. Reason: <text>.`
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// Not a MAC address in any notation netaddr reads, or all-zero or broadcast.
    #[error("'{0}' is not a valid MAC address")]
    Invalid(String),
    /// A group address, refused where a host's address is needed (allowed address pairs).
    #[error("MAC address {0} is a multicast address, which is not supported.")]
    Multicast(String),
}

impl MacAddress {
    pub const ZERO: MacAddress = MacAddress([0; 6]);
    pub const BROADCAST: MacAddress = MacAddress([0xff; 6]);

    pub fn new(octets: [u8; 6]) -> Self {
        Self(octets)
    }

    pub fn octets(&self) -> [u8; 6] {
        self.0
    }

    /// The group bit: the least significant bit of the first octet.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }
}

/// neutron-lib's `validate_mac_address`: any netaddr notation, but not all-zero nor
/// broadcast. Multicast addresses pass, as they do for a port's `mac_address`.
pub fn validate_mac_address(text: &str) -> Result<MacAddress, MacError> {
    match text.parse::<MacAddress>() {
        Ok(mac) if mac != MacAddress::ZERO && mac != MacAddress::BROADCAST => Ok(mac),
        _ => Err(MacError::Invalid(text.to_string())),
    }
}

/// [`validate_mac_address`] followed by `validate_mac_address_not_multicast`, as allowed
/// address pairs check their `mac_address`.
pub fn validate_unicast_mac_address(text: &str) -> Result<MacAddress, MacError> {
    let mac = validate_mac_address(text)?;
    if mac.is_multicast() {
        return Err(MacError::Multicast(text.to_string()));
    }
    Ok(mac)
}

impl FromStr for MacAddress {
    type Err = MacError;

    /// Accepts netaddr's EUI-48 notations, in any case: six groups of 1-2 hex digits joined
    /// by `:` or `-`, three groups of 1-4 joined by `:`, `-` or `.`, two groups of 5-6 joined
    /// by `:` or `-`, or 11-12 bare hex digits.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_eui48(text)
            .map(|value| {
                let b = value.to_be_bytes();
                MacAddress([b[2], b[3], b[4], b[5], b[6], b[7]])
            })
            .ok_or_else(|| MacError::Invalid(text.to_string()))
    }
}

/// The 48-bit value of `text`, or `None` when netaddr would not read it.
fn parse_eui48(text: &str) -> Option<u64> {
    let is_hex = |s: &str, digits: std::ops::RangeInclusive<usize>| {
        digits.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let separators: Vec<char> = text.chars().filter(|c| matches!(c, ':' | '-' | '.')).collect();
    let Some(&sep) = separators.first() else {
        return is_hex(text, 11..=12).then(|| u64::from_str_radix(text, 16).ok()).flatten();
    };
    if separators.iter().any(|&c| c != sep) {
        return None;
    }
    let groups: Vec<&str> = text.split(sep).collect();
    let (bits, digits) = match (groups.len(), sep) {
        (6, ':' | '-') => (8, 1..=2),
        (3, _) => (16, 1..=4),
        (2, ':' | '-') => (24, 5..=6),
        _ => return None,
    };
    groups.iter().try_fold(0u64, |acc, group| {
        is_hex(group, digits.clone()).then(|| u64::from_str_radix(group, 16).ok()).flatten().map(|w| acc << bits | w)
    })
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3], o[4], o[5])
    }
}

impl Serialize for MacAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Neutron's `base_mac` option: generated MACs keep its first three octets, and its fourth
/// too when that is not `00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseMac(MacAddress);

impl BaseMac {
    /// The MAC `get_random_mac` would build from `random` (the caller's random bytes, so this
    /// crate stays deterministic). With a fixed fourth octet, `random[0]` is unused.
    pub fn generate(&self, random: [u8; 3]) -> MacAddress {
        let b = self.0.octets();
        let fourth = if b[3] == 0 { random[0] } else { b[3] };
        MacAddress([b[0], b[1], b[2], fourth, random[1], random[2]])
    }
}

impl From<MacAddress> for BaseMac {
    fn from(mac: MacAddress) -> Self {
        Self(mac)
    }
}

/// Three fixed octets, the usual `fa:16:3e:00:00:00`.
impl From<[u8; 3]> for BaseMac {
    fn from(o: [u8; 3]) -> Self {
        Self(MacAddress([o[0], o[1], o[2], 0, 0, 0]))
    }
}

impl FromStr for BaseMac {
    type Err = MacError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse::<MacAddress>().map(Self)
    }
}

/// A MAC for a new port: `base` (a [`BaseMac`], or its three fixed octets) filled in with
/// `random`. See [`BaseMac::generate`].
pub fn generate_mac(base: impl Into<BaseMac>, random: [u8; 3]) -> MacAddress {
    base.into().generate(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(s: &str) -> Result<String, MacError> {
        s.parse::<MacAddress>().map(|m| m.to_string())
    }

    #[test]
    fn reads_every_netaddr_notation() {
        let want = Ok("fa:16:3e:0a:0b:0c".to_string());
        for text in [
            "fa:16:3e:0a:0b:0c",
            "FA-16-3E-0A-0B-0C",
            "fa:16:3e:a:b:c",
            "fa16:3e0a:0b0c",
            "fa16-3e0a-0b0c",
            "fa16.3e0a.0b0c",
            "fa163e:0a0b0c",
            "fa163e-0a0b0c",
            "fa163e0a0b0c",
        ] {
            assert_eq!(mac(text), want, "{text}");
        }
        assert_eq!(mac("a163e0a0b0c"), Ok("0a:16:3e:0a:0b:0c".into()), "11 bare digits");
        assert_eq!(mac("a:b:c"), Ok("00:0a:00:0b:00:0c".into()));
    }

    #[test]
    fn refuses_other_text() {
        for text in [
            "",
            "fa:16:3e:0a:0b",
            "fa:16:3e:0a:0b:0c:0d",
            "fa:16:3e:0a:0b:zz",
            "fa:16:3e:0a:0b:0c ",
            " fa:16:3e:0a:0b:0c",
            "fa:16:3e-0a:0b:0c",
            "fa.16.3e.0a.0b.0c",
            "fa163.e0a0b0c",
            "fa:163:e0a:0b0c",
            "fa163e0a0b0c0",
            "fa:16:3e:0a:0b:0c\n",
            "+a:16:3e:0a:0b:0c",
        ] {
            assert_eq!(mac(text), Err(MacError::Invalid(text.into())), "{text:?}");
        }
    }

    #[test]
    fn port_and_pair_validators() {
        assert_eq!(validate_mac_address("fa:16:3e:00:00:01").unwrap().to_string(), "fa:16:3e:00:00:01");
        assert_eq!(validate_mac_address("01:00:5e:00:00:01").unwrap().to_string(), "01:00:5e:00:00:01");
        for bad in ["00:00:00:00:00:00", "FF:FF:FF:FF:FF:FF", "nonsense"] {
            assert_eq!(
                validate_mac_address(bad).unwrap_err().to_string(),
                format!("'{bad}' is not a valid MAC address")
            );
        }
        assert_eq!(
            validate_unicast_mac_address("01:00:5e:00:00:01").unwrap_err().to_string(),
            "MAC address 01:00:5e:00:00:01 is a multicast address, which is not supported."
        );
        assert!(validate_unicast_mac_address("fa:16:3e:00:00:01").is_ok());
    }

    #[test]
    fn generation_follows_base_mac() {
        assert_eq!(generate_mac([0xfa, 0x16, 0x3e], [1, 2, 3]).to_string(), "fa:16:3e:01:02:03");
        let base: BaseMac = "fa:16:3e:00:00:00".parse().unwrap();
        assert_eq!(base.generate([0xab, 0xcd, 0xef]).to_string(), "fa:16:3e:ab:cd:ef");
        let base: BaseMac = "fa:16:3e:4f:00:00".parse().unwrap();
        assert_eq!(generate_mac(base, [0xab, 0xcd, 0xef]).to_string(), "fa:16:3e:4f:cd:ef");
    }

    #[test]
    fn serde_as_string() {
        let m: MacAddress = serde_json::from_str("\"FA:16:3E:12:34:56\"").unwrap();
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"fa:16:3e:12:34:56\"");
        assert!(serde_json::from_str::<MacAddress>("\"fa:16\"").is_err());
    }
}
