//! The allocation pool type shared by the API model, the validators and the allocator.

use crate::addr::{same_family, to_u128};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// An inclusive range of addresses a subnet hands out, as Neutron's `{"start", "end"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AllocationPool {
    pub start: IpAddr,
    pub end: IpAddr,
}

impl AllocationPool {
    pub fn new(start: IpAddr, end: IpAddr) -> Self {
        Self { start, end }
    }

    /// Both ends of one family and `start <= end`; netaddr refuses to build any other range.
    /// Malformed pools contain nothing, so the allocator never walks them.
    pub fn is_well_formed(&self) -> bool {
        same_family(self.start, self.end) && to_u128(self.start) <= to_u128(self.end)
    }

    /// Whether `ip` is inside the pool (never, for another IP family).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.is_well_formed()
            && same_family(self.start, ip)
            && (to_u128(self.start)..=to_u128(self.end)).contains(&to_u128(ip))
    }

    /// Number of addresses in the pool; `u128` because an IPv6 pool may span a /64 or more.
    /// Saturates at `u128::MAX` for a pool covering all of IPv6.
    pub fn size(&self) -> u128 {
        if !self.is_well_formed() {
            return 0;
        }
        (to_u128(self.end) - to_u128(self.start)).saturating_add(1)
    }

    /// The pool as Neutron prints the request dict in `InvalidAllocationPool` raised before the
    /// pool became a range: `{'start': '10.0.0.9', 'end': '10.0.0.2'}`.
    pub(crate) fn python_dict_repr(&self) -> String {
        format!("{{'start': '{}', 'end': '{}'}}", self.start, self.end)
    }
}

impl fmt::Display for AllocationPool {
    /// netaddr's `IPRange` text, `10.0.0.2-10.0.0.254`, which Neutron's messages embed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(a: &str, b: &str) -> AllocationPool {
        AllocationPool::new(a.parse().unwrap(), b.parse().unwrap())
    }

    #[test]
    fn size_and_contains() {
        let p = pool("10.0.0.2", "10.0.0.254");
        assert_eq!(p.size(), 253);
        assert!(p.contains("10.0.0.2".parse().unwrap()));
        assert!(p.contains("10.0.0.254".parse().unwrap()));
        assert!(!p.contains("10.0.0.1".parse().unwrap()));
        assert!(!p.contains("::a00:2".parse().unwrap()), "another family never matches");
        assert_eq!(pool("fd00::", "fd00::ffff:ffff:ffff:ffff").size(), 1 << 64);
        assert_eq!(pool("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").size(), u128::MAX);
    }

    #[test]
    fn malformed_pools_are_empty() {
        for p in [pool("10.0.0.9", "10.0.0.2"), pool("10.0.0.1", "fd00::1")] {
            assert!(!p.is_well_formed());
            assert_eq!(p.size(), 0);
            assert!(!p.contains("10.0.0.5".parse().unwrap()));
        }
    }

    #[test]
    fn wire_and_message_forms() {
        let p = pool("10.0.0.2", "10.0.0.9");
        assert_eq!(p.to_string(), "10.0.0.2-10.0.0.9");
        assert_eq!(p.python_dict_repr(), "{'start': '10.0.0.2', 'end': '10.0.0.9'}");
        let json = r#"{"start":"fd00::2","end":"fd00::9"}"#;
        let back: AllocationPool = serde_json::from_str(json).unwrap();
        assert_eq!(back, pool("fd00::2", "fd00::9"));
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
    }
}
