//! The DNS side of a network's dnsmasq, as Neutron's DHCP agent serves it: the guests of a
//! subnet without `dns_nameservers` are given the DHCP port as their resolver, which answers
//! the network's own names (the `--addn-hosts` file) and forwards the rest to the agent's
//! `dnsmasq_dns_servers`, or refuses them when there are none (`--no-resolv`).
//!
//! What a guest can do with that resolver is bounded here, since dnsmasq itself cannot:
//! a table `inet neutrino-dns` in the `qdhcp-` namespace ([`DnsGuard`]) drops DNS queries
//! from sources outside the network's subnets (dnsmasq's `--local-service`, which Neutron
//! relies on, does nothing once `--interface` is given, and a router between two networks
//! would otherwise let one network's guests use the other's resolver), and rate-limits the
//! rest per source address and per network. dnsmasq's own bounds (`--dns-forward-max`,
//! `--cache-size`) are on its command line.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::netns::cidr::Cidr;

/// The nftables table of a `qdhcp-` namespace that guards its DNS service.
pub const GUARD_TABLE: &str = "neutrino-dns";
/// How long a source's rate-limit state outlives its last query.
const CLIENT_TIMEOUT_SECONDS: u32 = 60;
/// Sources tracked at once per family; when the set is full a new source is only under
/// the network-wide limit.
const CLIENT_SET_SIZE: u32 = 65536;

/// One upstream server (`--server=<ip>[#<port>]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsForwarder {
    pub ip: IpAddr,
    pub port: u16,
}

impl fmt::Display for DnsForwarder {
    /// dnsmasq's spelling: the port after `#`, left out when it is 53.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            53 => write!(f, "{}", self.ip),
            port => write!(f, "{}#{port}", self.ip),
        }
    }
}

/// A `dnsmasq_dns_servers` entry that is not `<ip>` or `<ip>#<port>`.
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not an IP address, optionally followed by #<port>")]
pub struct InvalidForwarder(pub String);

impl FromStr for DnsForwarder {
    type Err = InvalidForwarder;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidForwarder(s.to_owned());
        let (ip, port) = match s.trim().split_once('#') {
            Some((ip, port)) => (ip, port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?),
            None => (s.trim(), 53),
        };
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(bad());
        }
        Ok(DnsForwarder { ip, port })
    }
}

/// Bounds of one network's DNS service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsLimits {
    /// Queries dnsmasq forwards upstream at once (`--dns-forward-max`; dnsmasq's 150).
    pub forward_max: u32,
    /// Names dnsmasq caches (`--cache-size`; dnsmasq's 150, at most its hard 10000).
    pub cache_size: u32,
    /// DNS queries (UDP packets, TCP connections) per second one source address may send;
    /// more are dropped. 0: no per-source limit.
    pub query_rate_per_client: u32,
    /// DNS queries per second the whole network may send to its resolver. 0: no limit.
    pub query_rate_per_network: u32,
}

impl Default for DnsLimits {
    fn default() -> Self {
        DnsLimits { forward_max: 150, cache_size: 150, query_rate_per_client: 100, query_rate_per_network: 1000 }
    }
}

/// dnsmasq's hard limit of `--cache-size`.
pub const MAX_CACHE_SIZE: u32 = 10000;

/// The nftables table guarding a namespace's DNS service: the `nft -f` script that replaces
/// it at once, and the fingerprint its comment carries, so an unchanged table is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsGuard {
    pub script: String,
    pub fingerprint: String,
}

/// The guard of a network whose subnets are `cidrs`: queries to port 53 (UDP, and new TCP
/// connections) from elsewhere are dropped, the rest limited per source and in total.
/// IPv6 sources may also be link-local (a guest's DHCPv6/RA-configured resolver address
/// is reached from its link-local address only when it has no global one yet).
pub fn guard(limits: &DnsLimits, cidrs: &[Cidr]) -> DnsGuard {
    let family = |v4: bool| -> Vec<String> {
        cidrs.iter().filter(|c| c.network.is_ipv4() == v4).map(ToString::to_string).collect()
    };
    let (v4, mut v6) = (family(true), family(false));
    v6.insert(0, "fe80::/10".to_owned());
    let mut rules = Vec::new();
    match v4.is_empty() {
        true => rules.push("meta nfproto ipv4 drop".to_owned()),
        false => rules.push(format!("ip saddr != {{ {} }} drop", v4.join(", "))),
    }
    rules.push(format!("ip6 saddr != {{ {} }} drop", v6.join(", ")));
    let rate = |r: u32| format!("limit rate over {r}/second burst {r} packets");
    if limits.query_rate_per_client > 0 {
        let r = rate(limits.query_rate_per_client);
        rules.push(format!("update @clients4 {{ ip saddr {r} }} drop"));
        rules.push(format!("update @clients6 {{ ip6 saddr {r} }} drop"));
    }
    if limits.query_rate_per_network > 0 {
        rules.push(format!("{} drop", rate(limits.query_rate_per_network)));
    }
    let set = |name: &str, ty: &str| {
        format!(
            "  set {name} {{ type {ty}; size {CLIENT_SET_SIZE}; flags dynamic,timeout; \
             timeout {CLIENT_TIMEOUT_SECONDS}s; }}\n"
        )
    };
    let mut body = String::new();
    body.push_str(&set("clients4", "ipv4_addr"));
    body.push_str(&set("clients6", "ipv6_addr"));
    body.push_str("  chain input {\n    type filter hook input priority filter; policy accept;\n");
    body.push_str("    udp dport 53 jump dns\n    tcp dport 53 ct state new jump dns\n  }\n");
    body.push_str("  chain dns {\n");
    for rule in rules {
        body.push_str(&format!("    {rule}\n"));
    }
    body.push_str("  }\n");
    let digest = Sha256::digest(body.as_bytes());
    let fingerprint: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let script = format!(
        "table inet {GUARD_TABLE}\ndelete table inet {GUARD_TABLE}\n\
         table inet {GUARD_TABLE} {{\n  comment \"{fingerprint}\"\n{body}}}\n"
    );
    DnsGuard { script, fingerprint }
}

/// The fingerprint in the comment of `nft list table inet neutrino-dns`'s output.
pub fn read_fingerprint(listing: &str) -> Option<String> {
    listing.lines().find_map(|l| l.trim().strip_prefix("comment \"")?.strip_suffix('"').map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn forwarders_parse_as_dnsmasq_spells_them() {
        let f: DnsForwarder = "192.0.2.53".parse().unwrap();
        assert_eq!((f.port, f.to_string()), (53, "192.0.2.53".to_owned()));
        let f: DnsForwarder = "2001:db8::53#5353".parse().unwrap();
        assert_eq!(f.to_string(), "2001:db8::53#5353");
        for bad in ["", "dns.example", "192.0.2.1#0", "192.0.2.1#x", "0.0.0.0", "224.0.0.1", "1.2.3.4,5.6.7.8"] {
            assert!(bad.parse::<DnsForwarder>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_guard_admits_the_networks_sources_only_and_limits_them() {
        let g = guard(&DnsLimits::default(), &[cidr("10.0.0.0/24"), cidr("2001:db8::/64")]);
        assert!(g.script.starts_with("table inet neutrino-dns\ndelete table inet neutrino-dns\n"), "{}", g.script);
        assert!(g.script.contains("ip saddr != { 10.0.0.0/24 } drop"), "{}", g.script);
        assert!(g.script.contains("ip6 saddr != { fe80::/10, 2001:db8::/64 } drop"), "{}", g.script);
        assert!(g.script.contains("update @clients4 { ip saddr limit rate over 100/second burst 100 packets } drop"));
        assert!(g.script.contains("limit rate over 1000/second burst 1000 packets drop"));
        assert_eq!(read_fingerprint(&g.script).as_deref(), Some(g.fingerprint.as_str()));

        // No IPv4 subnet: no IPv4 source is the network's.
        let v6 = guard(&DnsLimits::default(), &[cidr("2001:db8::/64")]);
        assert!(v6.script.contains("meta nfproto ipv4 drop"), "{}", v6.script);
        assert_ne!(v6.fingerprint, g.fingerprint);

        let off = DnsLimits { query_rate_per_client: 0, query_rate_per_network: 0, ..DnsLimits::default() };
        let g2 = guard(&off, &[cidr("10.0.0.0/24")]);
        assert!(!g2.script.contains("limit"), "{}", g2.script);
        assert_eq!(guard(&off, &[cidr("10.0.0.0/24")]), g2, "deterministic");
    }
}
