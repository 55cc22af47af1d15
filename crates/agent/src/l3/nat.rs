//! A router's NAT as one nftables table, compiled from its gateway, subnets, floating IPs,
//! port forwardings and metadata port; and the same table as read back from the kernel.
//!
//! The table (`table inet neutrino-l3`, alone in the router's namespace; both families, for
//! the IPv6 metadata redirect) has three NAT base chains and two filter chains:
//!
//! * `prerouting` (dstnat): the metadata redirects (`iifname "qr-*" ip daddr
//!   169.254.169.254 tcp dport 80 redirect to :9697`, and the same for `ip6 daddr
//!   fe80::a9fe:a9fe`: Neutron's `metadata_nat_rules`, to the proxy's `metadata_port`),
//!   then port forwardings (`ip daddr <fip> tcp dport <p> dnat to <ip>:<port>`), then
//!   floating IPs (`ip daddr <fip> dnat to <fixed>`);
//! * `output` (dstnat): the floating IPs again, for traffic the router itself sends;
//! * `postrouting` (srcnat): hairpin (traffic that was DNATed and did not come in through
//!   the gateway is SNATed to the gateway address, so that a VM reaching another VM's
//!   floating IP gets the answer back through the router, as Neutron does), then each
//!   floating IP's `oifname qg-… ip saddr <fixed> snat to <fip>`, then the router's SNAT
//!   `oifname qg-… ip saddr <subnet> snat to <gateway ip>` per subnet. Rules match the
//!   gateway device, so traffic routed between two of the router's subnets never leaves
//!   through it and is never NATed; the floating IP rules come first, so a VM with a
//!   floating IP leaves with its floating IP;
//! * `input` (filter): connections to the metadata port are accepted only when they came in
//!   on a `qr-` device and were redirected there (`ct status dnat`), all others dropped:
//!   Neutron's `metadata_filter_rules` with its mangle mark (`metadata_access_mark`, set on
//!   `-i qr-+ -d 169.254.169.254 --dport 80`), which marks exactly the packets the redirect
//!   takes. So the proxy is reached neither from the external network nor by asking the
//!   router's own addresses on that port;
//! * `forward` (filter): metadata requests from a `qr-` device are never routed on (to
//!   whatever answers 169.254.169.254 beyond the gateway), whether or not the proxy runs:
//!   Neutron's `scope` chain drops the packets its mangle mark marked and no redirect took.
//!
//! IPv4 NAT matches `ip` addresses and translates with `snat ip to`/`dnat ip to` (the
//! hairpin rule also matches `meta nfproto ipv4`), so IPv6 is routed and never NATed, as in
//! Neutron. Before version 2 the table was `table ip neutrino-l3`; every batch deletes that
//! one too, so an upgraded router keeps one table.
//!
//! Every rule carries a comment that states all it does (`fip 203.0.113.20 -> 10.0.0.5`):
//! reading the table back gives the list of (chain, comment) the kernel holds, which is
//! compared with the compiled one to decide whether anything must be applied, and tells a
//! restarted agent which floating IPs and port forwardings the router had, so that their
//! connection-tracking entries can be deleted when they go away. A change of what a rule
//! compiles to must therefore change its comment (bump [`RULESET_VERSION`] otherwise).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use nftables::expr::{Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, CT};
use nftables::schema::{Chain, NfCmd, NfListObject, NfObject, Nftables, Rule, Table};
use nftables::stmt::{Match, NATFamily, Operator, Statement, NAT};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

use crate::netns::cidr::Cidr;

/// The table of a router's NAT, in its own namespace.
pub const TABLE: &str = "neutrino-l3";
/// Its family.
pub const FAMILY: NfFamily = NfFamily::INet;

/// Version of the compiled rules, in the first comment of `postrouting`: bumping it makes
/// every router reapply its table after an upgrade that changed rules but not comments.
pub const RULESET_VERSION: u32 = 2;

const PRIO_DSTNAT: i32 = -100;
const PRIO_SRCNAT: i32 = 100;
const PRIO_FILTER: i32 = 0;
/// The table of versions before 2, deleted by every batch.
const LEGACY_FAMILY: NfFamily = NfFamily::IP;
/// The devices metadata requests may come in on (Neutron's `qr-+`).
const INTERNAL_DEVICES: &str = "qr-*";

/// A floating IP as the NAT sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FipNat {
    pub floating: Ipv4Addr,
    pub fixed: Ipv4Addr,
}

/// `tcp` or `udp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum L4Proto {
    Tcp,
    Udp,
}

impl L4Proto {
    pub fn parse(text: &str) -> Option<L4Proto> {
        match text {
            "tcp" => Some(L4Proto::Tcp),
            "udp" => Some(L4Proto::Udp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for L4Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A port forwarding as the NAT sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PfNat {
    pub floating: Ipv4Addr,
    pub protocol: L4Proto,
    pub external_port: u16,
    pub internal: Ipv4Addr,
    pub internal_port: u16,
}

/// What a router's NAT is made of, already validated (see [`super::plan`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NatInput {
    /// The gateway device (`qg-…`); no gateway, no NAT.
    pub gateway_dev: Option<String>,
    /// The address SNAT translates to (the gateway port's first IPv4 address); `None` when
    /// SNAT is disabled or the gateway has no IPv4 address.
    pub snat_to: Option<Ipv4Addr>,
    /// The router's IPv4 subnets.
    pub subnets: BTreeSet<Cidr>,
    pub fips: BTreeSet<FipNat>,
    pub pfs: BTreeSet<PfNat>,
    /// The metadata proxy's port in the namespace (`metadata_port`); `None`: no metadata
    /// redirect (the proxy is not configured, or the router is disabled).
    pub metadata_port: Option<u16>,
    /// Drop metadata requests from `qr-` devices that no redirect took, instead of routing
    /// them (every enabled router, as Neutron's `scope` chain; a disabled one has no rules).
    pub drop_unredirected_metadata: bool,
}

/// One compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatRule {
    pub chain: &'static str,
    /// What the rule does, in words; also its identity when read back.
    pub comment: String,
    expr: Vec<Statement<'static>>,
}

/// A base chain as defined and as read back.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ChainSummary {
    pub name: String,
    pub hook: String,
    pub prio: i64,
}

/// The identity of a table: its chains and, in order, each rule's chain and comment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NatSummary {
    pub chains: BTreeSet<ChainSummary>,
    pub rules: Vec<(String, String)>,
}

impl NatSummary {
    /// The floating IPs the table translates (from the `prerouting` comments).
    pub fn fips(&self) -> BTreeSet<FipNat> {
        self.rules.iter().filter(|(c, _)| c == "prerouting").filter_map(|(_, m)| parse_fip_comment(m)).collect()
    }

    /// The port forwardings the table translates.
    pub fn pfs(&self) -> BTreeSet<PfNat> {
        self.rules.iter().filter(|(c, _)| c == "prerouting").filter_map(|(_, m)| parse_pf_comment(m)).collect()
    }
}

/// The compiled table of one router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatRuleset {
    pub input: NatInput,
    pub rules: Vec<NatRule>,
}

/// Reading back a table failed: `nft -j` printed something unexpected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected `nft -j list table` output: {0}")]
pub struct ReadBackError(pub String);

const CHAINS: [(&str, NfChainType, NfHook, i32); 5] = [
    ("prerouting", NfChainType::NAT, NfHook::Prerouting, PRIO_DSTNAT),
    ("output", NfChainType::NAT, NfHook::Output, PRIO_DSTNAT),
    ("postrouting", NfChainType::NAT, NfHook::Postrouting, PRIO_SRCNAT),
    ("input", NfChainType::Filter, NfHook::Input, PRIO_FILTER),
    ("forward", NfChainType::Filter, NfHook::Forward, PRIO_FILTER),
];

fn hook_name(hook: NfHook) -> &'static str {
    match hook {
        NfHook::Prerouting => "prerouting",
        NfHook::Output => "output",
        NfHook::Postrouting => "postrouting",
        NfHook::Input => "input",
        NfHook::Forward => "forward",
        NfHook::Ingress => "ingress",
        NfHook::Egress => "egress",
    }
}

impl NatRuleset {
    /// Compiles the table; deterministic (inputs are sets), so equal inputs give equal
    /// rules in equal order.
    pub fn compile(input: NatInput) -> NatRuleset {
        let mut rules = Vec::new();
        let mut rule = |chain: &'static str, comment: String, expr: Vec<Statement<'static>>| {
            rules.push(NatRule { chain, comment, expr })
        };
        // Rules go in the order of CHAINS, as `nft list table` reads them back.
        let metadata = input.metadata_port.map(metadata::rules).unwrap_or_default();
        let (metadata_input, metadata_prerouting): (Vec<_>, Vec<_>) =
            metadata.into_iter().partition(|(chain, _, _)| *chain == "input");
        for (chain, comment, expr) in metadata_prerouting {
            rule(chain, comment, expr);
        }
        if let Some(qg) = input.gateway_dev.clone() {
            for pf in &input.pfs {
                let expr = vec![
                    eq(payload("ip", "daddr"), addr(pf.floating)),
                    eq(payload(pf.protocol.as_str(), "dport"), Expression::Number(pf.external_port.into())),
                    dnat(pf.internal, Some(pf.internal_port)),
                ];
                rule("prerouting", pf_comment(pf), expr);
            }
            for fip in &input.fips {
                let expr = vec![eq(payload("ip", "daddr"), addr(fip.floating)), dnat(fip.fixed, None)];
                rule("prerouting", fip_comment(fip), expr.clone());
                rule("output", fip_comment(fip), expr);
            }
            let version = format!("neutrino-l3 v{RULESET_VERSION}");
            if let Some(gw) = input.snat_to {
                let expr = vec![
                    eq(meta(MetaKey::Nfproto), Expression::String("ipv4".into())),
                    Statement::Match(Match {
                        left: Expression::Named(NamedExpression::CT(CT {
                            key: "status".into(),
                            family: None,
                            dir: None,
                        })),
                        right: Expression::String("dnat".into()),
                        op: Operator::IN,
                    }),
                    ne(meta(MetaKey::Iifname), Expression::String(qg.clone().into())),
                    snat(gw),
                ];
                rule("postrouting", format!("{version}: hairpin dnat not from {qg} -> snat to {gw}"), expr);
            } else {
                // The version marker still has to be in the table.
                rule("postrouting", format!("{version}: no snat"), vec![Statement::Continue(None)]);
            }
            for fip in &input.fips {
                let expr = vec![
                    eq(meta(MetaKey::Oifname), Expression::String(qg.clone().into())),
                    eq(payload("ip", "saddr"), addr(fip.fixed)),
                    snat(fip.floating),
                ];
                rule("postrouting", format!("fip {} <- {} out {qg}", fip.floating, fip.fixed), expr);
            }
            if let Some(gw) = input.snat_to {
                for subnet in &input.subnets {
                    let expr = vec![
                        eq(meta(MetaKey::Oifname), Expression::String(qg.clone().into())),
                        eq(payload("ip", "saddr"), prefix(subnet)),
                        snat(gw),
                    ];
                    rule("postrouting", format!("snat {subnet} -> {gw} out {qg}"), expr);
                }
            }
        }
        let forward = if input.drop_unredirected_metadata { metadata::never_forwarded() } else { Vec::new() };
        for (chain, comment, expr) in metadata_input.into_iter().chain(forward) {
            rule(chain, comment, expr);
        }
        NatRuleset { input, rules }
    }

    /// What the kernel's table must read back as.
    pub fn summary(&self) -> NatSummary {
        NatSummary {
            chains: CHAINS
                .iter()
                .map(|(name, _, hook, prio)| ChainSummary {
                    name: (*name).to_owned(),
                    hook: hook_name(*hook).to_owned(),
                    prio: i64::from(*prio),
                })
                .collect(),
            rules: self.rules.iter().map(|r| (r.chain.to_owned(), r.comment.clone())).collect(),
        }
    }

    /// The `nft -j -f -` batch replacing the table in one transaction: `add table` (so the
    /// delete cannot fail), `delete table` (the legacy `ip` one too), then the whole new
    /// table. The kernel applies all of it or nothing, and packets never see a half-built
    /// table.
    pub fn batch(&self) -> Nftables<'static> {
        let table = |family| Table { family, name: TABLE.into(), handle: None };
        let mut objects = Vec::new();
        for family in [LEGACY_FAMILY, FAMILY] {
            objects.push(NfObject::CmdObject(NfCmd::Add(NfListObject::Table(table(family)))));
            objects.push(NfObject::CmdObject(NfCmd::Delete(NfListObject::Table(table(family)))));
        }
        objects.push(NfObject::CmdObject(NfCmd::Add(NfListObject::Table(table(FAMILY)))));
        for (name, kind, hook, prio) in CHAINS {
            let chain = Chain {
                family: FAMILY,
                table: TABLE.into(),
                name: name.into(),
                _type: Some(kind),
                hook: Some(hook),
                prio: Some(prio),
                policy: Some(NfChainPolicy::Accept),
                ..Chain::default()
            };
            objects.push(NfObject::CmdObject(NfCmd::Add(NfListObject::Chain(chain))));
        }
        for r in &self.rules {
            let rule = Rule {
                family: FAMILY,
                table: TABLE.into(),
                chain: r.chain.into(),
                expr: Cow::Owned(r.expr.clone()),
                comment: Some(r.comment.clone().into()),
                ..Rule::default()
            };
            objects.push(NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(rule))));
        }
        Nftables { objects: objects.into() }
    }

    /// The batch as `nft -j` reads it.
    pub fn batch_json(&self) -> String {
        // Serialising plain data structures into a String cannot fail.
        serde_json::to_string(&self.batch()).unwrap_or_default()
    }
}

/// Parses `nft -j list table inet neutrino-l3`.
pub fn read_back(json: &str) -> Result<NatSummary, ReadBackError> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| ReadBackError(e.to_string()))?;
    let objects = value
        .get("nftables")
        .and_then(|v| v.as_array())
        .ok_or_else(|| ReadBackError("no \"nftables\" array".into()))?;
    let mut summary = NatSummary::default();
    for obj in objects {
        if let Some(chain) = obj.get("chain") {
            let text = |k: &str| chain.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            summary.chains.insert(ChainSummary {
                name: text("name"),
                hook: text("hook"),
                prio: chain.get("prio").and_then(|v| v.as_i64()).unwrap_or(i64::MIN),
            });
        } else if let Some(rule) = obj.get("rule") {
            let text = |k: &str| rule.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            summary.rules.push((text("chain"), text("comment")));
        }
    }
    Ok(summary)
}

fn fip_comment(fip: &FipNat) -> String {
    format!("fip {} -> {}", fip.floating, fip.fixed)
}

fn parse_fip_comment(text: &str) -> Option<FipNat> {
    let (floating, fixed) = text.strip_prefix("fip ")?.split_once(" -> ")?;
    Some(FipNat { floating: floating.parse().ok()?, fixed: fixed.parse().ok()? })
}

fn pf_comment(pf: &PfNat) -> String {
    format!("pf {} {}:{} -> {}:{}", pf.protocol, pf.floating, pf.external_port, pf.internal, pf.internal_port)
}

fn parse_pf_comment(text: &str) -> Option<PfNat> {
    let (protocol, rest) = text.strip_prefix("pf ")?.split_once(' ')?;
    let (from, to) = rest.split_once(" -> ")?;
    let (floating, external_port) = from.split_once(':')?;
    let (internal, internal_port) = to.split_once(':')?;
    Some(PfNat {
        floating: floating.parse().ok()?,
        protocol: L4Proto::parse(protocol)?,
        external_port: external_port.parse().ok()?,
        internal: internal.parse().ok()?,
        internal_port: internal_port.parse().ok()?,
    })
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(PayloadField {
        protocol: protocol.into(),
        field: field.into(),
    })))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn addr(ip: Ipv4Addr) -> Expression<'static> {
    Expression::String(ip.to_string().into())
}

fn prefix(cidr: &Cidr) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(Expression::String(cidr.network.to_string().into())),
        len: u32::from(cidr.prefix_len),
    }))
}

fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::EQ })
}

fn ne(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match { left, right, op: Operator::NEQ })
}

fn dnat(to: Ipv4Addr, port: Option<u16>) -> Statement<'static> {
    Statement::DNAT(Some(NAT {
        addr: Some(addr(to)),
        family: Some(NATFamily::IP),
        port: port.map(|p| Expression::Number(p.into())),
        flags: None,
    }))
}

fn snat(to: Ipv4Addr) -> Statement<'static> {
    Statement::SNAT(Some(NAT { addr: Some(addr(to)), family: Some(NATFamily::IP), port: None, flags: None }))
}

/// The IPv4 address of `ip`, for the rules (NAT is IPv4 only, as in Neutron).
pub fn v4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

mod metadata;
#[cfg(test)]
mod tests;
