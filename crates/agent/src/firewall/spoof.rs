//! Anti-spoofing of what a port sends (bridge family, so ARP and every ethertype are seen).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use nftables::expr::MetaKey;

use neutrino_agent_api::PortSecurity;

use crate::l2::dataplane::MacAddr;

use serde_json::json;

use super::nft::{accept, addr, concat, drop, eq, jump, meta, n, ne, payload, prefix, s, set, set_ref, Expr, Stmt};
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

/// `table bridge neutrino`'s anti-spoofing chain, shared by every filtered port: the port's
/// data is in the named sets below, keyed by the device (`iifname`), so a port coming or
/// going is element updates, never a chain of its own (nft loads every chain and set of
/// the namespace before any change; elements it does not load).
pub(crate) const SPOOF: &str = "spoof";
/// `iifname . ether saddr`: every MAC a port may send from (its own and its pairs').
pub(crate) const SPOOF_MACS: &str = "spoof-macs";
/// `iifname . ether saddr`: the port's own MAC (ARP probes from 0.0.0.0).
pub(crate) const SPOOF_OWN: &str = "spoof-own";
/// `iifname . ether saddr . arp saddr ether`: each MAC with itself (ARP's sender MAC is
/// the frame's).
pub(crate) const SPOOF_ARP: &str = "spoof-arp";
/// `iifname . ether saddr . ip saddr` (and ARP's sender IP): the MAC's IPv4 sources.
pub(crate) const SPOOF_V4: &str = "spoof-v4";
/// `iifname . ether saddr . ip6 saddr`: the MAC's IPv6 sources (EUI-64 link-local too).
pub(crate) const SPOOF_V6: &str = "spoof-v6";

/// The named sets of [`SPOOF`]: name, key types, interval (allowed pairs may be CIDRs).
pub(crate) const SPOOF_SETS: [(&str, &[&str], bool); 5] = [
    (SPOOF_MACS, &["ifname", "ether_addr"], false),
    (SPOOF_OWN, &["ifname", "ether_addr"], false),
    (SPOOF_ARP, &["ifname", "ether_addr", "ether_addr"], false),
    (SPOOF_V4, &["ifname", "ether_addr", "ipv4_addr"], true),
    (SPOOF_V6, &["ifname", "ether_addr", "ipv6_addr"], true),
];

/// `iifname . ether saddr [. field]`.
fn by_port(field: Option<Expr>) -> Expr {
    let mut items = vec![meta(MetaKey::Iifname), payload("ether", "saddr")];
    items.extend(field);
    concat(items)
}

/// One element of a named set, as JSON text: `{"concat": [tap, mac, …]}`.
fn element(tap: &str, mac: MacAddr, last: Option<serde_json::Value>) -> String {
    let mut items = vec![json!(tap), json!(mac.to_string())];
    items.extend(last);
    json!({ "concat": items }).to_string()
}

/// A network as a set element: the address, or `{"prefix": …}`.
pub(crate) fn net_value(n: &IpNet) -> serde_json::Value {
    if n.prefix_len() == n.max_prefix_len() {
        json!(n.addr().to_string())
    } else {
        json!({"prefix": {"addr": n.network().to_string(), "len": n.prefix_len()}})
    }
}

/// An IPv6 network as the 128-bit integer (or range) of `@th,64,128` (the ND target).
fn target_value(n: &ipnet::Ipv6Net) -> serde_json::Value {
    let hex = |a: Ipv6Addr| json!(format!("0x{:032x}", u128::from(a)));
    if n.prefix_len() == 128 {
        hex(n.addr())
    } else {
        json!({"range": [hex(n.network()), hex(n.broadcast())]})
    }
}

/// A port's elements: (set name, element JSON) for the [`SPOOF_SETS`] and the neighbour
/// advertisement targets ([`super::nd::ND_TARGETS`]). None for a port without a valid MAC:
/// the shared chain then drops everything it sends.
pub(crate) fn port_elements(tap: &str, allowed: &Allowed) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(own) = allowed.port_mac {
        out.push((SPOOF_OWN, element(tap, own, None)));
    }
    for (mac, nets) in &allowed.by_mac {
        out.push((SPOOF_MACS, element(tap, *mac, None)));
        out.push((SPOOF_ARP, element(tap, *mac, Some(json!(mac.to_string())))));
        for n in nets {
            match n {
                IpNet::V4(_) => out.push((SPOOF_V4, element(tap, *mac, Some(net_value(n))))),
                IpNet::V6(v6) => {
                    out.push((SPOOF_V6, element(tap, *mac, Some(net_value(n)))));
                    out.push((super::nd::ND_TARGETS, element(tap, *mac, Some(target_value(v6)))));
                }
            }
        }
    }
    out
}

/// The rules of [`SPOOF`]: accept only well-formed frames from the port's addresses, drop
/// everything else. Neighbour advertisements are checked in `table bridge neutrino-nd`
/// (module `nd`): only for the sending MAC's own IPv6 addresses.
pub(crate) fn spoof_rules() -> Vec<Vec<Stmt>> {
    vec![
        vec![ne(by_port(None), set_ref(SPOOF_MACS)), drop()],
        // A VM must not act as a DHCP server, DHCPv6 server or router (a chain every port shares).
        vec![jump(DENY_SERVERS)],
        // ARP: the sender hardware address is the frame's, the sender IP one of the MAC's.
        vec![ether_type("arp"), ne(by_port(Some(payload("arp", "saddr ether"))), set_ref(SPOOF_ARP)), drop()],
        vec![ether_type("arp"), eq(by_port(Some(payload("arp", "saddr ip"))), set_ref(SPOOF_V4)), accept()],
        vec![
            ether_type("arp"),
            eq(payload("arp", "saddr ip"), s("0.0.0.0")),
            eq(by_port(None), set_ref(SPOOF_OWN)),
            accept(),
        ],
        // DHCP discovery and requests before the port has an address.
        vec![
            ether_type("ip"),
            eq(payload("ip", "saddr"), s("0.0.0.0")),
            eq(payload("ip", "daddr"), s("255.255.255.255")),
            eq(meta(MetaKey::L4proto), n(PROTO_UDP)),
            eq(payload("udp", "sport"), n(68)),
            eq(payload("udp", "dport"), n(67)),
            accept(),
        ],
        vec![ether_type("ip"), eq(by_port(Some(payload("ip", "saddr"))), set_ref(SPOOF_V4)), accept()],
        // Duplicate address detection and MLD reports before an IPv6 address is usable (a
        // chain every port shares).
        vec![jump(DAD)],
        vec![ether_type("ip6"), eq(by_port(Some(payload("ip6", "saddr"))), set_ref(SPOOF_V6)), accept()],
        // Everything else: other ethertypes (802.1Q included: VLAN-aware VMs are not
        // supported), spoofed sources, and IP without a valid source.
        vec![drop()],
    ]
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
