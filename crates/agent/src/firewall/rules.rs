//! One security group rule → the match statements of one nftables rule (inet family).

use ipnet::IpNet;
use nftables::expr::MetaKey;

use neutrino_agent_api::SecurityRule;

use super::nft::{concat, eq, meta, n, net, payload, range, s, set_ref, Stmt};
use super::sets::{set_name, Remote, RemoteSets};

/// IP protocol numbers.
pub(crate) const PROTO_ICMP: u32 = 1;
pub(crate) const PROTO_TCP: u32 = 6;
pub(crate) const PROTO_UDP: u32 = 17;
pub(crate) const PROTO_ICMPV6: u32 = 58;

/// An address family as the rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Family {
    V4,
    V6,
}

impl Family {
    pub(crate) fn of(ethertype: &str) -> Option<Family> {
        match ethertype {
            "IPv4" => Some(Family::V4),
            "IPv6" => Some(Family::V6),
            _ => None,
        }
    }

    /// `meta nfproto` value.
    pub(crate) fn nfproto(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }

    /// Payload protocol of the network header (`ip`, `ip6`).
    pub(crate) fn header(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    fn matches(self, net: &IpNet) -> bool {
        matches!((self, net), (Family::V4, IpNet::V4(_)) | (Family::V6, IpNet::V6(_)))
    }
}

/// Whether a rule applies to traffic into the port or out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Ingress,
    Egress,
}

/// Why a rule could not be compiled (it is then left out, which denies what it allowed).
pub(crate) type RuleError = String;

/// Protocol names Neutron accepts, by number (IANA).
const PROTOCOL_NAMES: &[(&str, u32)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipip", 4),
    ("tcp", 6),
    ("egp", 8),
    ("udp", 17),
    ("dccp", 33),
    ("ipv6-encap", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ospf", 89),
    ("encap", 98),
    ("pgm", 113),
    ("vrrp", 112),
    ("sctp", 132),
    ("udplite", 136),
];

/// `None` for any protocol.
fn protocol_number(protocol: Option<&str>, family: Family) -> Result<Option<u32>, RuleError> {
    let Some(p) = protocol.map(str::trim).filter(|p| !p.is_empty() && *p != "any") else { return Ok(None) };
    let number = match p.parse::<u32>() {
        Ok(v) if v <= 255 => v,
        Ok(v) => return Err(format!("protocol number {v} is out of range")),
        Err(_) => PROTOCOL_NAMES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(p))
            .map(|(_, v)| *v)
            .ok_or_else(|| format!("unknown protocol {p:?}"))?,
    };
    // Neutron treats `icmp` in an IPv6 rule as ICMPv6.
    Ok(Some(if family == Family::V6 && number == PROTO_ICMP { PROTO_ICMPV6 } else { number }))
}

fn port_value(v: u32, what: &str) -> Result<u32, RuleError> {
    if (1..=65535).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{what} {v} is not a port"))
    }
}

fn icmp_value(v: u32, what: &str) -> Result<u32, RuleError> {
    if v <= 255 {
        Ok(v)
    } else {
        Err(format!("ICMP {what} {v} is out of range"))
    }
}

/// The match statements of `rule` for traffic in `direction` of a port (the verdict is the
/// caller's). The remote groups and address groups it names are added to `sets`.
pub(crate) fn rule_matches(
    rule: &SecurityRule,
    direction: Direction,
    sets: &mut RemoteSets,
) -> Result<Vec<Stmt>, RuleError> {
    let family = Family::of(&rule.ethertype).ok_or_else(|| format!("unknown ethertype {:?}", rule.ethertype))?;
    let mut out = vec![eq(meta(MetaKey::Nfproto), s(family.nfproto()))];
    // The remote end: the source of what comes in, the destination of what goes out.
    let remote = payload(
        family.header(),
        match direction {
            Direction::Ingress => "saddr",
            Direction::Egress => "daddr",
        },
    );
    if let Some(prefix) = rule.remote_ip_prefix.as_deref() {
        let parsed = prefix
            .parse::<IpNet>()
            .or_else(|_| prefix.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| format!("invalid remote_ip_prefix {prefix:?}"))?;
        if !family.matches(&parsed) {
            return Err(format!("remote_ip_prefix {prefix} is not {}", rule.ethertype));
        }
        if parsed.prefix_len() != 0 {
            out.push(eq(remote.clone(), net(&parsed.trunc())));
        }
    }
    // The API allows one remote; should a rule carry both, both must hold.
    let named = [
        rule.remote_group_id.clone().map(Remote::Group),
        rule.remote_address_group_id.clone().map(Remote::AddressGroup),
    ];
    for set in named.into_iter().flatten() {
        // `meta nfproto . <address>`: a concatenated interval set, whose elements nft does not
        // load before an element change (it loads every plain interval set's; see `sets`).
        out.push(eq(concat(vec![meta(MetaKey::Nfproto), remote.clone()]), set_ref(&set_name(family, &set))));
        sets.insert((family, set));
    }
    let Some(proto) = protocol_number(rule.protocol.as_deref(), family)? else {
        if rule.port_range_min.is_some() || rule.port_range_max.is_some() {
            return Err("a port range needs a protocol".into());
        }
        return Ok(out);
    };
    out.push(eq(meta(MetaKey::L4proto), n(proto)));
    match proto {
        PROTO_TCP | PROTO_UDP | 33 | 132 | 136 => match (rule.port_range_min, rule.port_range_max) {
            (None, None) => {}
            (Some(min), None) | (None, Some(min)) => {
                out.push(eq(payload("th", "dport"), n(port_value(min, "port")?)));
            }
            (Some(min), Some(max)) => {
                let (min, max) = (port_value(min, "port_range_min")?, port_value(max, "port_range_max")?);
                if min > max {
                    return Err(format!("port range {min}-{max} is empty"));
                }
                let right = if min == max { n(min) } else { range(min, max) };
                out.push(eq(payload("th", "dport"), right));
            }
        },
        PROTO_ICMP | PROTO_ICMPV6 => {
            let header = if proto == PROTO_ICMP { "icmp" } else { "icmpv6" };
            match (rule.port_range_min, rule.port_range_max) {
                (None, None) => {}
                (None, Some(_)) => return Err("an ICMP code needs an ICMP type".into()),
                (Some(t), code) => {
                    out.push(eq(payload(header, "type"), n(icmp_value(t, "type")?)));
                    if let Some(c) = code {
                        out.push(eq(payload(header, "code"), n(icmp_value(c, "code")?)));
                    }
                }
            }
        }
        other => {
            if rule.port_range_min.is_some() || rule.port_range_max.is_some() {
                return Err(format!("protocol {other} has no ports"));
            }
        }
    }
    Ok(out)
}
