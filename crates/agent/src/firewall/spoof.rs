//! Anti-spoofing of what a port sends (bridge family, so ARP and every ethertype are seen).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use nftables::expr::MetaKey;

use neutrino_agent_api::PortSecurity;

use crate::l2::dataplane::MacAddr;

use super::nft::{
    accept, addr, and, concat, drop, eq, ipv6_bits, jump, meta, n, ne, net, or, payload, prefix, s, set, set_mark,
    transport_bits, Expr, Stmt,
};
use super::rules::{PROTO_ICMPV6, PROTO_UDP};
use super::CompileIssue;

/// What a port may send from: each MAC with the networks it may use as source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Allowed {
    /// MAC → its source networks (fixed IPs, allowed pairs, EUI-64 link-local).
    pub by_mac: BTreeMap<MacAddr, BTreeSet<IpNet>>,
    /// The port's own MAC (ARP probes and DHCP discovery come from it).
    pub port_mac: Option<MacAddr>,
}

/// The EUI-64 IPv6 link-local address of a MAC, as the guest's kernel derives it (and as
/// Neutron allows it): `fe80::` + the MAC with the U/L bit flipped and `ff:fe` inserted.
pub fn eui64_link_local(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    let segments = [
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]]),
    ];
    Ipv6Addr::from(segments)
}

/// Parses an allowed pair's `ip_address` (an address or a CIDR) into a network.
fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>().map(|n| n.trunc()).ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Drops the networks covered by another one of the same set: nftables rejects
/// overlapping intervals in a set.
fn without_covered(nets: BTreeSet<IpNet>) -> BTreeSet<IpNet> {
    nets.iter().filter(|a| !nets.iter().any(|b| b != *a && b.contains(*a))).copied().collect()
}

/// The port's allowed sources; invalid pairs are reported and left out (fail closed).
pub(crate) fn allowed(port: &PortSecurity, issues: &mut Vec<CompileIssue>) -> Allowed {
    let mut out = Allowed::default();
    let Ok(port_mac) = port.mac_address.parse::<MacAddr>() else {
        issues.push(CompileIssue::PortMac { port: port.port_id.clone(), mac: port.mac_address.clone() });
        return out;
    };
    out.port_mac = Some(port_mac);
    let own = out.by_mac.entry(port_mac).or_default();
    own.extend(port.ip_addresses.iter().map(|ip| IpNet::from(*ip)));
    for pair in &port.allowed_address_pairs {
        let mac = if pair.mac_address.is_empty() { Ok(port_mac) } else { pair.mac_address.parse::<MacAddr>() };
        match (mac, parse_net(&pair.ip_address)) {
            (Ok(mac), Some(net)) => {
                out.by_mac.entry(mac).or_default().insert(net);
            }
            _ => issues.push(CompileIssue::Pair {
                port: port.port_id.clone(),
                ip_address: pair.ip_address.clone(),
                mac_address: pair.mac_address.clone(),
            }),
        }
    }
    for (mac, nets) in out.by_mac.iter_mut() {
        nets.insert(IpNet::from(IpAddr::V6(eui64_link_local(*mac))));
        *nets = without_covered(std::mem::take(nets));
    }
    out
}

fn ether_type(t: &str) -> Stmt {
    eq(payload("ether", "type"), s(t))
}

/// `(mac, net)` for every network of one family a MAC may use as source.
fn pairs(allowed: &Allowed, v4: bool) -> Vec<(MacAddr, Expr)> {
    let mut items = Vec::new();
    for (mac, nets) in &allowed.by_mac {
        for n in nets.iter().filter(|n| matches!(n, IpNet::V4(_)) == v4) {
            items.push((*mac, net(n)));
        }
    }
    items
}

/// `ether saddr . <field> <op> { mac . value, … }`: `field` is one of the values its MAC
/// may use. With one MAC (the frame's: the port's second rule dropped every other one) just
/// `<field> <op> { value, … }`, or `<field> <op> value` for one value: each set of a rule is
/// a set of its own in the kernel, and nft loads every set of the namespace before any
/// change, so a port should bring as few as it can.
fn by_source(allowed: &Allowed, field: Expr, items: Vec<(MacAddr, Expr)>, equal: bool) -> Stmt {
    let (left, values): (Expr, Vec<Expr>) = if allowed.by_mac.len() == 1 {
        (field, items.into_iter().map(|(_, v)| v).collect())
    } else {
        let values = items.into_iter().map(|(m, v)| concat(vec![s(m.to_string()), v])).collect();
        (concat(vec![payload("ether", "saddr"), field]), values)
    };
    let right = match <[Expr; 1]>::try_from(values) {
        Ok([one]) => one,
        Err(values) => set(values),
    };
    if equal {
        eq(left, right)
    } else {
        ne(left, right)
    }
}

/// ICMPv6 neighbour advertisement (RFC 4861).
const ICMPV6_NEIGHBOUR_ADVERT: u32 = 136;

/// `(mac, target)` for every IPv6 network a MAC may advertise (never empty: each MAC has
/// its link-local address).
fn advert_targets(allowed: &Allowed) -> Vec<(MacAddr, Expr)> {
    let mut items = Vec::new();
    for (mac, nets) in &allowed.by_mac {
        for n in nets {
            if let IpNet::V6(v6) = n {
                items.push((*mac, ipv6_bits(v6)));
            }
        }
    }
    items
}

/// The bridge table's chain dropping what only a server or router sends (DHCP and DHCPv6
/// server replies, router advertisements and redirects), from any port.
pub(crate) const DENY_SERVERS: &str = "deny-servers";
/// The bridge table's chain accepting duplicate address detection and MLD reports (from
/// `::` to `ff02::/16`), from any port.
pub(crate) const DAD: &str = "dad";

/// The rules of [`DENY_SERVERS`].
pub(crate) fn deny_servers_rules() -> Vec<Vec<Stmt>> {
    vec![
        vec![ether_type("ip"), eq(meta(MetaKey::L4proto), n(PROTO_UDP)), eq(payload("udp", "sport"), n(67)), drop()],
        vec![ether_type("ip6"), eq(meta(MetaKey::L4proto), n(PROTO_UDP)), eq(payload("udp", "sport"), n(547)), drop()],
        vec![
            ether_type("ip6"),
            eq(meta(MetaKey::L4proto), n(PROTO_ICMPV6)),
            eq(payload("icmpv6", "type"), set(vec![n(134), n(137)])),
            drop(),
        ],
    ]
}

/// The rules of [`DAD`].
pub(crate) fn dad_rules() -> Vec<Vec<Stmt>> {
    vec![vec![
        ether_type("ip6"),
        eq(payload("ip6", "saddr"), addr(IpAddr::V6(Ipv6Addr::UNSPECIFIED))),
        eq(payload("ip6", "daddr"), prefix("ff02::", 16)),
        eq(meta(MetaKey::L4proto), n(PROTO_ICMPV6)),
        eq(payload("icmpv6", "type"), set(vec![n(131), n(135), n(143)])),
        accept(),
    ]]
}

/// The rules of a port's `from-tap…` chain: set the egress mark, then accept only well-formed
/// frames from the port's addresses, drop everything else.
pub(crate) fn from_port_rules(allowed: &Allowed, egress_mark: u32) -> Vec<Vec<Stmt>> {
    // The mark first: later verdicts are accept or drop, and inet needs it on what passes.
    let mut rules = vec![vec![set_mark(or(and(meta(MetaKey::Mark), n(0xffff)), n(egress_mark)))]];
    let Some(port_mac) = allowed.port_mac else {
        rules.push(vec![drop()]);
        return rules;
    };
    let macs: Vec<_> = allowed.by_mac.keys().map(|m| s(m.to_string())).collect();
    rules.push(vec![ne(payload("ether", "saddr"), set(macs)), drop()]);
    // A VM must not act as a DHCP server, DHCPv6 server or router (a chain every port shares).
    rules.push(vec![jump(DENY_SERVERS)]);
    // Neighbour advertisements only for the sending MAC's own IPv6 addresses (fixed IPs,
    // allowed pairs, EUI-64 link-local), as Neutron's OVS firewall matches `nd_target`: an NA
    // for a neighbour's address would take over its traffic in every cache that heard it.
    // The target sits 64 bits into the ICMPv6 header (nft 1.0.6 has no name for it).
    rules.push(vec![
        ether_type("ip6"),
        eq(meta(MetaKey::L4proto), n(PROTO_ICMPV6)),
        eq(payload("icmpv6", "type"), n(ICMPV6_NEIGHBOUR_ADVERT)),
        by_source(allowed, transport_bits(64, 128), advert_targets(allowed), false),
        drop(),
    ]);
    // ARP: the sender hardware address is the frame's, the sender IP one of the MAC's.
    let sha = allowed.by_mac.keys().map(|m| (*m, s(m.to_string()))).collect();
    rules.push(vec![ether_type("arp"), by_source(allowed, payload("arp", "saddr ether"), sha, false), drop()]);
    let mut arp = pairs(allowed, true);
    arp.push((port_mac, s("0.0.0.0")));
    rules.push(vec![ether_type("arp"), by_source(allowed, payload("arp", "saddr ip"), arp, true), accept()]);
    // DHCP discovery and requests before the port has an address.
    rules.push(vec![
        ether_type("ip"),
        eq(payload("ip", "saddr"), s("0.0.0.0")),
        eq(payload("ip", "daddr"), s("255.255.255.255")),
        eq(meta(MetaKey::L4proto), n(PROTO_UDP)),
        eq(payload("udp", "sport"), n(68)),
        eq(payload("udp", "dport"), n(67)),
        accept(),
    ]);
    let v4 = pairs(allowed, true);
    if !v4.is_empty() {
        rules.push(vec![ether_type("ip"), by_source(allowed, payload("ip", "saddr"), v4, true), accept()]);
    }
    // Duplicate address detection and MLD reports before an IPv6 address is usable (a chain
    // every port shares).
    rules.push(vec![jump(DAD)]);
    let v6 = pairs(allowed, false);
    rules.push(vec![ether_type("ip6"), by_source(allowed, payload("ip6", "saddr"), v6, true), accept()]);
    // Everything else: other ethertypes (802.1Q included: VLAN-aware VMs are not supported),
    // spoofed sources, and IP without a valid source.
    rules.push(vec![drop()]);
    rules
}
