//! MAC addresses and Neutron's `base_mac` generation.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A 48-bit MAC address, shown as lower-case `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddress([u8; 6]);

impl MacAddress {
    /// From raw octets.
    pub fn new(octets: [u8; 6]) -> Self {
        Self(octets)
    }

    /// The raw octets.
    pub fn octets(&self) -> [u8; 6] {
        self.0
    }
}

/// Not a MAC address in any of the accepted notations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid MAC address")]
pub struct InvalidMac(pub String);

impl FromStr for MacAddress {
    type Err = InvalidMac;

    /// Accepts `aa:bb:cc:dd:ee:ff` and `aa-bb-cc-dd-ee-ff` in any case, as netaddr does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidMac(s.to_string());
        let sep = if s.contains(':') { ':' } else { '-' };
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() != 6 {
            return Err(bad());
        }
        let mut out = [0u8; 6];
        for (slot, part) in out.iter_mut().zip(parts) {
            if part.is_empty() || part.len() > 2 || !part.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(bad());
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| bad())?;
        }
        Ok(Self(out))
    }
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

/// A MAC with the operator's three fixed leading octets and three random ones; the caller
/// supplies the randomness so this crate stays deterministic.
pub fn generate_mac(base: [u8; 3], random: [u8; 3]) -> MacAddress {
    MacAddress([base[0], base[1], base[2], random[0], random[1], random[2]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let m: MacAddress = "FA-16-3E-0A-0b-0C".parse().unwrap();
        assert_eq!(m.to_string(), "fa:16:3e:0a:0b:0c");
        assert!("fa:16:3e:0a:0b".parse::<MacAddress>().is_err());
        assert!("fa:16:3e:0a:0b:zz".parse::<MacAddress>().is_err());
        assert_eq!(generate_mac([0xfa, 0x16, 0x3e], [1, 2, 3]).to_string(), "fa:16:3e:01:02:03");
    }
}
